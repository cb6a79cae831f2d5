"""What the network's precision does to the default segmentation's quality on BSDS500
val: the hierarchy's curve (20-600 segments) with the network in float32 (the
reference), bfloat16 (`--precision bfloat16`) and the int8 TFLite export of its preset,
beside EGS; per count, the difference to float32 with a paired bootstrap over images.

    python benchmarks/precision_quality.py                # 100 val images, ~10 min
    python benchmarks/precision_quality.py --limit 20     # a quick look
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()

    from tf_binmap.evaluation.command import open_dataset
    from tf_binmap.evaluation.compare import compare_curves
    from tf_binmap.evaluation.hierarchy_method import HierarchyMethod
    from tf_binmap.evaluation.method_specs import EGS_SCALES, HIERARCHY_SEGMENTS, sweep_methods
    from tf_binmap.evaluation.runner import evaluate
    from tf_binmap.export.runners import TFLiteCodeMapper
    from tf_binmap.export.tflite import export_tflite
    from tf_binmap.models.binary_map import BinaryMapModel

    data = open_dataset("bsds500", "val", args.data_root, "gt_bmp")
    with tempfile.TemporaryDirectory() as folder:
        int8 = TFLiteCodeMapper(export_tflite(BinaryMapModel.from_preset("binmap_conv5_x1"),
                                              Path(folder) / "int8.tflite",
                                              quantization="int8"), num_threads=2)
        curves = {"float32": {}, "bfloat16": {"precision": "bfloat16"},
                  "TFLite int8": {"model": int8}}
        methods = list(sweep_methods("egs", EGS_SCALES))
        names = {}
        for label, options in curves.items():
            sweep = [HierarchyMethod(n_segments=n, **options) for n in HIERARCHY_SEGMENTS]
            for method in sweep:
                method.name = f"{label} n={method.n_segments}"
            names[label] = sweep[0].curve
            methods += sweep
        results = evaluate(data, methods, limit=args.limit)
    print(f"BSDS500 val, {results['n_images']} images\n")
    for label in ("bfloat16", "TFLite int8"):
        rows = compare_curves(results, names[label], names["float32"],
                              n_resamples=args.bootstrap)
        print(f"## {label} minus float32 (paired bootstrap, 95%)\n")
        print("| segments | Seg-IoU | minus float32 | covering | minus float32 |\n"
              "|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['segments']:.0f} | {row['seg_iou']:.2f} | "
                  f"{row['d_seg_iou']:+.2f} [{row['d_seg_iou_low']:+.2f}, "
                  f"{row['d_seg_iou_high']:+.2f}] | {row['covering']:.1f} | "
                  f"{row['d_covering']:+.2f} [{row['d_covering_low']:+.2f}, "
                  f"{row['d_covering_high']:+.2f}] |")
        print()
    for label in curves:
        rows = compare_curves(results, names[label], "EGS", n_resamples=0)
        low = min(min(r["d_seg_iou"], r["d_covering"]) for r in rows
                  if r["d_seg_iou"] == r["d_seg_iou"])  # not NaN: a matched EGS point
        print(f"{label}: smallest margin over EGS (Seg-IoU or covering, any count): {low:+.2f}")


if __name__ == "__main__":
    main()
