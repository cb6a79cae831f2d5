"""Region metrics for a predicted segmentation against human ground truths.

All metrics come from the contingency table of two label maps (pixel counts of each
(ground-truth segment, predicted segment) pair). Ground-truth pixels with a negative
label are void: they are left out of every computation (also of the predicted segments'
areas). Predicted labels must be >= 0.

- Segmentation-IoU (the paper): for each ground-truth segment, the best IoU with any
  predicted segment; averaged over all ground-truth segments ("pooled") or per image.
- Segmentation covering (BSDS): the same best IoUs weighted by ground-truth area.
- Probabilistic Rand Index: the Rand index (fraction of pixel pairs on which the two
  segmentations agree, same / different segment) averaged over the annotations.
- Variation of information: H(gt | pred) + H(pred | gt), in nats (natural log).

Several annotations of one image are given as a list of label maps (`gts`).

For BSDS500's region benchmark of a hierarchy (covering, PRI and VOI in bits, at ODS and
OIS, as its MATLAB code computes them) see `tf_binmap.evaluation.region_benchmark`. On
one segmentation without void, covering and PRI here equal its per-image figures and VOI
here is its VOI times ln 2.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SegmentationScores",
    "best_ious",
    "contingency",
    "covering",
    "probabilistic_rand_index",
    "rand_index",
    "segmentation_iou",
    "variation_of_information",
]


def _as_list(gts) -> list[np.ndarray]:
    if isinstance(gts, np.ndarray):
        return [gts]
    gts = list(gts)
    if not gts:
        raise ValueError("expected at least one ground-truth label map")
    return [np.asarray(gt) for gt in gts]


def contingency(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Contingency table of two label maps.

    Args:
        gt: (H, W) integer ground truth; labels < 0 are void and not counted.
        pred: (H, W) integer prediction, labels >= 0.

    Returns:
        (n_gt, n_pred) int64 table with ``table[i, j]`` = number of non-void pixels with
        ground-truth label i and predicted label j; n_gt = max(gt) + 1 and
        n_pred = max(pred) + 1 (rows / columns of absent labels are zero).
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"gt and pred must have the same shape, got {gt.shape} and {pred.shape}")
    if not (np.issubdtype(gt.dtype, np.integer) and np.issubdtype(pred.dtype, np.integer)):
        raise ValueError(f"expected integer label maps, got {gt.dtype} and {pred.dtype}")
    if pred.size == 0:
        raise ValueError("expected non-empty label maps")
    if pred.min() < 0:
        raise ValueError("predicted labels must be >= 0")
    valid = gt >= 0
    gt_valid = gt[valid].astype(np.int64)
    pred_valid = pred[valid].astype(np.int64)
    n_gt = int(gt_valid.max()) + 1 if gt_valid.size else 0
    n_pred = int(pred.max()) + 1
    counts = np.bincount(gt_valid * n_pred + pred_valid, minlength=n_gt * n_pred)
    return counts.reshape(n_gt, n_pred).astype(np.int64, copy=False)


def best_ious_from_table(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best IoU of each ground-truth segment (rows) with any predicted segment (columns)
    of a contingency ``table``, and the segments' areas."""
    gt_areas = table.sum(axis=1)
    pred_areas = table.sum(axis=0)
    present = gt_areas > 0
    table = table[present]
    gt_areas = gt_areas[present]
    if table.size == 0:
        return np.zeros(len(gt_areas)), gt_areas
    union = gt_areas[:, None] + pred_areas[None, :] - table
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(table > 0, table / np.maximum(union, 1), 0.0)
    return iou.max(axis=1), gt_areas


def best_ious(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best IoU of each ground-truth segment with any predicted segment.

    Returns:
        (best_iou, area): float64 and int64 arrays with one entry per ground-truth label
        present in `gt` (in label order); area is the segment's pixel count.
    """
    return best_ious_from_table(contingency(gt, pred))


def segmentation_iou(gts, pred: np.ndarray) -> dict[str, np.ndarray | float]:
    """Segmentation-IoU of one image with one or several annotations.

    Every segment of every annotation is one ground-truth segment.

    Returns:
        dict with "best_ious" (all ground-truth segments of all annotations, to be
        pooled across images by the caller), "areas" (their pixel counts) and "mean"
        (their mean: this image's value for the per-image average).
    """
    results = [best_ious(gt, pred) for gt in _as_list(gts)]
    ious = np.concatenate([iou for iou, _ in results])
    areas = np.concatenate([area for _, area in results])
    return {"best_ious": ious, "areas": areas, "mean": float(ious.mean()) if ious.size else float("nan")}


def covering(gts, pred: np.ndarray) -> float:
    """Segmentation covering of the ground truth by the prediction, in 0..1.

    Sum over annotations and their segments of area * best IoU, divided by the summed
    areas (BSDS convention: annotations pooled).
    """
    weighted = 0.0
    total = 0
    for gt in _as_list(gts):
        ious, areas = best_ious(gt, pred)
        weighted += float(np.sum(ious * areas))
        total += int(areas.sum())
    return weighted / total if total else float("nan")


def _pairs(counts: np.ndarray) -> int:
    counts = counts.astype(np.int64)
    return int(np.sum(counts * (counts - 1) // 2))


def rand_index(gt: np.ndarray, pred: np.ndarray) -> float:
    """Rand index: fraction of unordered pixel pairs (non-void) on which gt and pred
    agree (both same segment or both different segments)."""
    table = contingency(gt, pred)
    n = int(table.sum())
    total = n * (n - 1) // 2
    if total == 0:
        return float("nan")
    both = _pairs(table[table > 0])
    same_gt = _pairs(table.sum(axis=1))
    same_pred = _pairs(table.sum(axis=0))
    return (total + 2 * both - same_gt - same_pred) / total


def probabilistic_rand_index(gts, pred: np.ndarray) -> float:
    """Probabilistic Rand Index: the Rand index averaged over the annotations."""
    return float(np.mean([rand_index(gt, pred) for gt in _as_list(gts)]))


def _entropy(counts: np.ndarray, total: int) -> float:
    p = counts[counts > 0] / total
    return float(-np.sum(p * np.log(p)))


def variation_of_information(gts, pred: np.ndarray) -> float:
    """Variation of information H(gt | pred) + H(pred | gt) in nats (natural log),
    averaged over the annotations (0 = identical partitions).

    ``skimage.metrics.variation_of_information`` returns the two conditional entropies
    in bits (log2): its sum times ln 2 equals this value.
    """
    values = []
    for gt in _as_list(gts):
        table = contingency(gt, pred)
        n = int(table.sum())
        if n == 0:
            values.append(float("nan"))
            continue
        joint = _entropy(table.ravel(), n)
        values.append(2 * joint - _entropy(table.sum(axis=1), n) - _entropy(table.sum(axis=0), n))
    return float(np.mean(values))


class SegmentationScores:
    """Accumulates the scores of a method over a dataset, one image at a time.

    >>> scores = SegmentationScores()
    >>> for sample in dataset:
    ...     scores.add(sample.name, sample.ground_truths, segment(sample.image))
    >>> scores.summary()["seg_iou_pooled"]
    """

    def __init__(self):
        self.records: list[dict] = []

    def __len__(self) -> int:
        return len(self.records)

    def add(self, name: str, gts, pred: np.ndarray) -> dict:
        """Score one image (`gts`: a label map or a list of them) and store the result."""
        gts = _as_list(gts)
        pred = np.asarray(pred)
        tables = [contingency(gt, pred) for gt in gts]
        ious_and_areas = [best_ious_from_table(table) for table in tables]
        ious = np.concatenate([iou for iou, _ in ious_and_areas])
        areas = np.concatenate([area for _, area in ious_and_areas])
        record = {
            "name": name,
            "n_segments": int(np.unique(pred).size),
            "best_ious": ious,
            "areas": areas,
            "seg_iou": float(ious.mean()) if ious.size else float("nan"),
            "covering_weighted": float(np.sum(ious * areas)),
            "covering_area": int(areas.sum()),
            "pri": probabilistic_rand_index(gts, pred),
            "voi": variation_of_information(gts, pred),
        }
        record["covering"] = (
            record["covering_weighted"] / record["covering_area"] if record["covering_area"] else float("nan")
        )
        self.records.append(record)
        return record

    def summary(self) -> dict[str, float | int]:
        """Dataset figures.

        In percent: "seg_iou_pooled" (mean over all ground-truth segments of all
        images), "seg_iou_per_image" (mean of the per-image means), "covering" (area-
        weighted best IoU pooled over all annotations of all images, as METHOD.md's
        reference figures) and "covering_per_image" (mean of per-image coverings).
        "pri" (0..1) and "voi" (nats) are means over images; "segments_per_image" the
        mean number of predicted segments; "n_gt_segments" and "n_images" counts.
        """
        if not self.records:
            raise ValueError("no image has been added")
        all_ious = np.concatenate([r["best_ious"] for r in self.records])
        return {
            "seg_iou_pooled": 100.0 * float(all_ious.mean()),
            "seg_iou_per_image": 100.0 * float(np.mean([r["seg_iou"] for r in self.records])),
            "covering": 100.0
            * sum(r["covering_weighted"] for r in self.records)
            / sum(r["covering_area"] for r in self.records),
            "covering_per_image": 100.0 * float(np.mean([r["covering"] for r in self.records])),
            "pri": float(np.mean([r["pri"] for r in self.records])),
            "voi": float(np.mean([r["voi"] for r in self.records])),
            "segments_per_image": float(np.mean([r["n_segments"] for r in self.records])),
            "n_gt_segments": int(all_ious.size),
            "n_images": len(self.records),
        }
