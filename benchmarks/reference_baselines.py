"""Check our metrics against METHOD.md's reference figures for the EGS and SLIC baselines.

Runs ``felzenszwalb(scale=100, sigma=1.0, min_size=20)`` and
``slic(n_segments=200, compactness=10, start_label=1)`` over BSDS500 val, scores them
with tf_binmap.evaluation, prints a table beside the reference figures and writes JSON.

    python benchmarks/reference_baselines.py --out outputs/reference_baselines.json

Reference (BSDS500 val, 100 images, 10,698 ground-truth segments, scikit-image 0.26):
EGS 32.70 / 32.19 / 30.7 / 545 and SLIC 18.72 / 17.92 / 10.5 / 135
(Seg-IoU pooled / per-image / covering / segments per image).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import skimage
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from tf_binmap.evaluation import BSDS500, SegmentationScores, default_data_root
from tf_binmap.segmentation import BASELINES, superpixels

REFERENCE = {
    "egs": {"seg_iou_pooled": 32.70, "seg_iou_per_image": 32.19, "covering": 30.7, "segments_per_image": 545},
    "slic": {"seg_iou_pooled": 18.72, "seg_iou_per_image": 17.92, "covering": 10.5, "segments_per_image": 135},
}
REFERENCE_GT_SEGMENTS = 10698
TOLERANCE = 0.3  # points, on Seg-IoU pooled / per image and covering


def run(data_root: Path, split: str, limit: int | None) -> dict:
    dataset = BSDS500(data_root, split=split)
    samples = range(len(dataset)) if limit is None else range(min(limit, len(dataset)))
    scores = {method: SegmentationScores() for method in BASELINES}
    seconds = dict.fromkeys(BASELINES, 0.0)
    for index in tqdm(samples, desc=f"BSDS500 {split}", unit="image", disable=None):
        sample = dataset[index]
        image, ground_truths = sample.image, sample.ground_truths
        for method, params in BASELINES.items():
            start = time.perf_counter()
            labels = superpixels(image, method=method, **params)
            seconds[method] += time.perf_counter() - start
            scores[method].add(sample.name, ground_truths, labels)
    return {
        method: {**scores[method].summary(), "params": BASELINES[method], "superpixel_seconds": seconds[method]}
        for method in BASELINES
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=None, help="folder with BSDS500/ (default: $TF_BINMAP_DATA or ../shared/data)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images (quick check)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    data_root = args.data_root or default_data_root()
    if data_root is None:
        parser.error("no data root: pass --data-root or set TF_BINMAP_DATA")
    start = time.perf_counter()
    results = run(data_root, args.split, args.limit)
    elapsed = time.perf_counter() - start

    header = f"{'method':<6} {'SegIoU pooled':>14} {'per-image':>10} {'covering':>9} {'cov/img':>9} {'PRI':>6} {'VOI':>6} {'seg/img':>8} {'GT segs':>8}"
    print(header)
    print("-" * len(header))
    all_ok = True
    for method, result in results.items():
        print(
            f"{method:<6} {result['seg_iou_pooled']:>14.2f} {result['seg_iou_per_image']:>10.2f} "
            f"{result['covering']:>9.1f} {result['covering_per_image']:>9.1f} {result['pri']:>6.3f} "
            f"{result['voi']:>6.3f} {result['segments_per_image']:>8.1f} {result['n_gt_segments']:>8d}"
        )
        reference = REFERENCE[method]
        print(
            f"{'  ref':<6} {reference['seg_iou_pooled']:>14.2f} {reference['seg_iou_per_image']:>10.2f} "
            f"{reference['covering']:>9.1f} {'':>9} {'':>6} {'':>6} {reference['segments_per_image']:>8d} "
            f"{REFERENCE_GT_SEGMENTS:>8d}"
        )
        if args.split == "val" and args.limit is None:
            deltas = {key: result[key] - reference[key] for key in ("seg_iou_pooled", "seg_iou_per_image", "covering")}
            result["delta_to_reference"] = deltas
            result["matches_reference"] = (
                all(abs(d) <= TOLERANCE for d in deltas.values())
                and result["n_gt_segments"] == REFERENCE_GT_SEGMENTS
            )
            all_ok &= result["matches_reference"]
    print(f"total {elapsed:.1f} s; scikit-image {skimage.__version__}")
    if args.split == "val" and args.limit is None:
        print("matches the reference within", TOLERANCE, "points:", all_ok)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "dataset": f"BSDS500 {args.split}",
            "limit": args.limit,
            "scikit_image": skimage.__version__,
            "seconds": elapsed,
            "reference": REFERENCE,
            "results": results,
        }
        args.out.write_text(json.dumps(payload, indent=2) + "\n")
        print("wrote", args.out)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
