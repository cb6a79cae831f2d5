"""The BSDS500 region benchmark of Arbelaez, Maire, Fowlkes and Malik (TPAMI 2011):
segmentation covering, probabilistic Rand index and variation of information of a
hierarchy (one segmentation per scale), each at ODS and OIS, as the benchmark's MATLAB
code defines them (BSR ``bench/benchmarks``: ``evaluation_reg_image.m``,
``match_segmentations.m``, ``match_segmentations2.m``, ``collect_eval_reg.m``).

Per image and scale, against the image's K annotations:

- **covering** of the ground truth by the segmentation: every region R of every
  annotation takes its best overlap |R & S| / |R | S| with any segment S, weighted by
  |R|; the numerator ``cntR`` and denominator ``sumR`` are sums over all annotations
  (``sumR`` = K * pixels without void), so an image's covering is their ratio.
- **PRI**: the mean over annotations of the Rand index, the fraction of unordered pixel
  pairs (no self-pairs) on which segmentation and annotation agree.
- **VOI**: the mean over annotations of H(S) + H(G) - 2 I(S; G), logarithm base 2 (bits).

Over a dataset (`ods_ois`): covering pools ``sum cntR / sum sumR`` (images weighted by
annotations x pixels, not a mean of images); PRI and VOI are plain means over images.
ODS takes the one scale best for the whole dataset, chosen for each metric on its own
(largest covering, largest PRI, smallest VOI; the first on ties); OIS takes each image's
best scale (the last on ties, as ``ff(end)``), then pools the same way. "Best" covering
lets every ground-truth region take its best overlap over all segments of all scales.

Labels are used as given (a disconnected label is one region). Ground-truth pixels with
a negative label are void (the benchmark's label 0): they are no region to cover and not
in ``sumR``, but, as in ``match_segmentations.m``, they still count in the size of the
segment that holds them; PRI and VOI leave them out (the MATLAB code stops with an error
on a label 0, and BSDS500 has none). Predicted labels are >= 0 and every one is a region
(MATLAB's labels are these plus one). Everything is exact float64; the MATLAB code
passes its per-image numbers through ``%10g`` text files (6 significant digits), which
moves the dataset figures by about 1e-6.

These are not the project's own metrics in `tf_binmap.evaluation.metrics` (VOI there is
in nats; covering and PRI there score one segmentation): names here say ``bsds``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tf_binmap.evaluation.metrics import contingency

__all__ = ["BSDS_METRICS", "RegionImageScores", "benchmark_tables", "bsds_covering_matches",
           "bsds_rand_index", "bsds_variation_of_information", "image_region_scores",
           "merge_table_columns", "ods_ois"]

#: The benchmark's metrics and whether larger is better.
BSDS_METRICS = {"covering": True, "pri": True, "voi": False}


def _ground_truths(ground_truths) -> list[np.ndarray]:
    if isinstance(ground_truths, np.ndarray):
        ground_truths = [ground_truths]
    ground_truths = [np.asarray(gt) for gt in ground_truths]
    if not ground_truths:
        raise ValueError("expected at least one ground-truth label map (annotation)")
    return ground_truths


def benchmark_tables(ground_truths, labels: np.ndarray) -> list[np.ndarray]:
    """One contingency table per annotation, void first.

    Args:
        ground_truths: a label map or a list of them (one per annotation); labels < 0
            are void.
        labels: (H, W) predicted labels >= 0.

    Returns:
        per annotation an int64 table of shape (1 + max(gt) + 1, max(labels) + 1):
        row 0 counts the void pixels of each predicted label, row 1 + g ground-truth
        label g (absent labels give zero rows and columns, which change nothing).
    """
    labels = np.asarray(labels)
    tables = []
    for gt in _ground_truths(ground_truths):
        if not np.issubdtype(gt.dtype, np.integer):
            raise ValueError(f"expected integer ground-truth labels, got {gt.dtype}")
        # Void (< 0) becomes row 0; `contingency` drops nothing then.
        tables.append(contingency(np.where(gt < 0, 0, gt.astype(np.int64) + 1), labels))
    return tables


def merge_table_columns(tables: Sequence[np.ndarray], assignment: np.ndarray) -> list[np.ndarray]:
    """The tables of a coarser segmentation: column j (a leaf) joins column
    ``assignment[j]`` (its segment), for a segmentation that unites whole leaves.

    Equals `benchmark_tables` of the coarser label map, without touching the pixels.
    """
    assignment = np.asarray(assignment, dtype=np.int64)
    n_segments = int(assignment.max()) + 1 if assignment.size else 0
    merged = []
    for table in tables:
        if table.shape[1] != assignment.size:
            raise ValueError(f"the assignment has {assignment.size} leaves, the table "
                             f"{table.shape[1]} columns")
        out = np.zeros((table.shape[0], n_segments), dtype=np.int64)
        np.add.at(out.T, assignment, table.T)
        merged.append(out)
    return merged


def bsds_covering_matches(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best overlap of each ground-truth region with any segment (``matchesGT`` of
    ``evaluation_reg_image.m``), and the regions' areas (``regionsGT``).

    Args:
        table: one annotation's table from `benchmark_tables` (row 0 void).

    Returns:
        (best_iou, area), float64 and int64, one entry per ground-truth label 0..max.
    """
    table = np.asarray(table, dtype=np.int64)
    segment_areas = table.sum(axis=0)  # void pixels included, as in MATLAB
    regions = table[1:]
    areas = regions.sum(axis=1)
    if regions.shape[1] == 0:
        return np.zeros(len(areas)), areas
    union = areas[:, None] + segment_areas[None, :] - regions
    iou = regions / np.maximum(union, 1)  # union 0 only where both are empty
    return iou.max(axis=1), areas


def bsds_rand_index(table: np.ndarray) -> float:
    """Rand index of a contingency table without void (``rand_index`` of
    ``match_segmentations2.m``): 1 - disagreeing pairs / (N (N - 1) / 2), over the
    unordered pairs of distinct pixels."""
    table = np.asarray(table, dtype=np.int64)
    n = int(table.sum())
    if n < 2:
        raise ValueError("the Rand index needs at least two (non-void) pixels")
    rows = table.sum(axis=1)
    cols = table.sum(axis=0)
    # Twice the disagreeing pairs, exact in integers.
    twice_disagree = int(np.sum(rows * rows)) + int(np.sum(cols * cols)) \
        - 2 * int(np.sum(table * table))
    return 1.0 - twice_disagree / (n * (n - 1))


def _entropy_bits(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-np.sum(p * np.log2(p)))


def bsds_variation_of_information(table: np.ndarray) -> float:
    """Variation of information of a contingency table without void, in bits
    (``variation_of_information`` of ``match_segmentations2.m``: H1 + H2 - 2 MI, log2)."""
    table = np.asarray(table, dtype=np.float64)
    n = table.sum()
    if n <= 0:
        raise ValueError("the variation of information needs (non-void) pixels")
    joint = table / n
    rows = joint.sum(axis=1)
    cols = joint.sum(axis=0)
    nonzero = joint > 0
    outer = np.outer(rows, cols)[nonzero]
    mutual = float(np.sum(joint[nonzero] * np.log2(joint[nonzero] / outer)))
    return _entropy_bits(rows) + _entropy_bits(cols) - 2.0 * mutual


class RegionImageScores:
    """One image's benchmark statistics, one scale at a time (the numbers
    ``evaluation_reg_image.m`` writes).

    >>> scores = RegionImageScores()
    >>> for labels in segmentations:             # coarse or fine, in parameter order
    ...     scores.add(benchmark_tables(ground_truths, labels))
    >>> scores.as_dict()["pri"]
    """

    def __init__(self):
        self.covering_numerator: list[float] = []   # cntR per scale
        self.covering_denominator: float | None = None   # sumR (the same at every scale)
        self.pri: list[float] = []
        self.voi: list[float] = []
        self.n_segments: list[int] = []
        self._best: list[np.ndarray] | None = None   # per annotation, best IoU over scales
        self._areas: list[np.ndarray] | None = None

    def add(self, tables: Sequence[np.ndarray]) -> None:
        """Add the next scale, given its `benchmark_tables`."""
        tables = [np.asarray(table) for table in tables]
        matches = [bsds_covering_matches(table) for table in tables]
        areas = [area for _, area in matches]
        if self._areas is None:
            self._areas = areas
            self._best = [iou for iou, _ in matches]
            self.covering_denominator = float(sum(int(area.sum()) for area in areas))
        else:
            if [len(a) for a in areas] != [len(a) for a in self._areas]:
                raise ValueError("every scale must be scored against the same annotations")
            self._best = [np.maximum(best, iou) for best, (iou, _) in zip(self._best, matches)]
        self.covering_numerator.append(float(sum(np.sum(iou * area) for iou, area in matches)))
        self.pri.append(float(np.mean([bsds_rand_index(table[1:]) for table in tables])))
        self.voi.append(float(np.mean([bsds_variation_of_information(table[1:])
                                       for table in tables])))
        self.n_segments.append(int(np.count_nonzero(tables[0].sum(axis=0))))

    def as_dict(self) -> dict:
        """{"covering_numerator", "pri", "voi", "n_segments"} (lists over scales),
        "covering_denominator" and "best_covering_numerator" (numbers), and
        "covering" (per scale, numerator / denominator)."""
        if not self.pri:
            raise ValueError("no scale has been added")
        denominator = self.covering_denominator
        best = float(sum(np.sum(b * a) for b, a in zip(self._best, self._areas)))
        return {
            "covering_numerator": list(self.covering_numerator),
            "covering_denominator": denominator,
            "best_covering_numerator": best,
            "covering": [c / (denominator or 1.0) for c in self.covering_numerator],
            "pri": list(self.pri),
            "voi": list(self.voi),
            "n_segments": list(self.n_segments),
        }


def image_region_scores(ground_truths, segmentations: Sequence[np.ndarray]) -> dict:
    """`RegionImageScores.as_dict` of one image's segmentations (one per scale)."""
    ground_truths = _ground_truths(ground_truths)
    scores = RegionImageScores()
    for labels in segmentations:
        scores.add(benchmark_tables(ground_truths, labels))
    return scores.as_dict()


def _first(values: np.ndarray, larger: bool) -> int:
    best = values.max() if larger else values.min()
    return int(np.flatnonzero(values == best)[0])


def _last(values: np.ndarray, larger: bool) -> int:
    best = values.max() if larger else values.min()
    return int(np.flatnonzero(values == best)[-1])


def ods_ois(per_image: Sequence[dict]) -> dict:
    """Dataset figures from per-image `RegionImageScores.as_dict` results (the same
    number of scales for every image), as ``collect_eval_reg.m``.

    Returns:
        {"covering", "pri", "voi"}, each {"ods", "ods_index" (0-based scale), "ois",
        "ois_index" (per image), "per_scale" (the dataset figure at each scale)};
        "covering" also has "best". Scale indices point into the images' lists.
    """
    if not per_image:
        raise ValueError("no image to aggregate")
    n_scales = len(per_image[0]["pri"])
    if n_scales == 0 or any(len(image["pri"]) != n_scales for image in per_image):
        raise ValueError("every image needs the same, non-zero number of scales")
    numerators = np.array([image["covering_numerator"] for image in per_image], np.float64)
    denominators = np.array([image["covering_denominator"] for image in per_image], np.float64)
    total = denominators.sum()
    safe = lambda x: x + (x == 0)  # noqa: E731 - MATLAB's  x + (x == 0)
    results = {}

    pooled = numerators.sum(axis=0) / safe(total)
    image_covering = numerators / safe(denominators)[:, None]
    ois_index = [_last(row, True) for row in image_covering]
    ods_index = _first(pooled, True)
    best = sum(image["best_covering_numerator"] for image in per_image)
    results["covering"] = {
        "ods": float(pooled[ods_index]), "ods_index": ods_index,
        "ois": float(sum(numerators[i, t] for i, t in enumerate(ois_index)) / safe(total)),
        "ois_index": ois_index,
        "best": float(best / safe(total)),
        "per_scale": pooled.tolist(),
    }
    for metric in ("pri", "voi"):
        larger = BSDS_METRICS[metric]
        values = np.array([image[metric] for image in per_image], np.float64)
        mean = values.mean(axis=0)
        ods_index = _first(mean, larger)
        ois_index = [_last(row, larger) for row in values]
        results[metric] = {
            "ods": float(mean[ods_index]), "ods_index": ods_index,
            "ois": float(np.mean([values[i, t] for i, t in enumerate(ois_index)])),
            "ois_index": ois_index,
            "per_scale": mean.tolist(),
        }
    return results
