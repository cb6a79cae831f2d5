"""Large photos at a working size (`Segmenter(max_side=...)`, `tf-binmap segment
--max-side`): what it saves and what it costs.

1. Speed and memory on one large photo (scikit-image's chelsea enlarged to ``--photo W H``,
   4000x2667 by default), the default working size against ``max_side=0`` (the full
   size): each setting in its own process, so each peak memory is its own; one run, so
   the ratio is taken on the same machine under the same load.
2. What segmenting at a smaller size costs, on BSDS500 val with its full-size ground truth:
   every 481x321 image segmented at ``--max-side`` (321: 2/3 of it) and its labels
   brought back to full size by nearest neighbour or snapped to the image's edges
   (`snap_labels`, the default), beside the pipeline at full size; 30, 100 and 300
   segments.

    python benchmarks/working_size.py                  # ~3 min
    python benchmarks/working_size.py --max-side 241   # half size
    python benchmarks/working_size.py --skip-speed --skip-quality \
        --picture docs/images/large_photo_snap.jpg     # the README's picture
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_BINMAP_CACHE", "/tmp/tfbm_cache")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _child(width, height, max_side):
    """Segment the enlarged photo once (after a warm-up); print JSON seconds and peak MB."""
    import cv2
    import skimage.data

    from tf_binmap.segmentation.segmenter import Segmenter

    photo = cv2.resize(skimage.data.chelsea(), (width, height), interpolation=cv2.INTER_CUBIC)
    segmenter = Segmenter.from_preset(**({} if max_side is None else {"max_side": max_side}))
    segmenter.segment(skimage.data.chelsea())  # warm-up: graph tracing, the scorer file
    start = time.perf_counter()
    result = segmenter.segment(photo, return_intermediates=True)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "timings": result.timings,
                      "segments": int(result.labels.max()) + 1,
                      "shape": list(result.labels.shape)}))


def speed(width, height):
    rows = {}
    for name, max_side in (("default (max_side 512)", None), ("full size (max_side 0)", 0)):
        args = [sys.executable, __file__, "--child", str(width), str(height),
                "default" if max_side is None else str(max_side)]
        out = subprocess.run(args, capture_output=True, text=True, check=True,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        rows[name] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n{width}x{height} photo (chelsea enlarged), one image after a warm-up:\n")
    print("| setting | seconds | peak memory MB | segments | label image |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['seconds']:.2f} | {row['peak_mb']:.0f} | {row['segments']} | "
              f"{row['shape'][1]}x{row['shape'][0]} |")
    default, full = rows["default (max_side 512)"], rows["full size (max_side 0)"]
    print(f"\nfull size / default: {full['seconds'] / default['seconds']:.1f}x the time, "
          f"{full['peak_mb'] / default['peak_mb']:.1f}x the peak memory")


def quality(max_side, counts=(30, 100, 300)):
    import cv2

    from tf_binmap.evaluation.datasets import BSDS500
    from tf_binmap.evaluation.metrics import SegmentationScores
    from tf_binmap.segmentation.hierarchy import hierarchical_segmentation
    from tf_binmap.segmentation.placement import pixel_projections
    from tf_binmap.segmentation.segmenter import Segmenter
    from tf_binmap.segmentation.tree import cut
    from tf_binmap.segmentation.working_size import (
        enlarge_labels,
        snap_labels,
        working_size,
    )

    segmenter = Segmenter.from_preset()
    params = dict(segmenter.hierarchy_params, scorer=segmenter.merge_scorer, size_exponent=None)
    scores = {}
    start = time.perf_counter()
    for sample in BSDS500(DATA, split="val"):
        image, gts = sample.image, sample.ground_truths
        h, w = working_size(*image.shape[:2], max_side)
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        trees = {}
        for key, picture in (("small", small), ("full", image)):
            values = pixel_projections(segmenter.model, picture)[0]
            trees[key] = hierarchical_segmentation(picture, values, **params)
        for n in counts:
            labels = cut(trees["small"], n)
            for name, full_labels in (
                    ("full size (max_side 0)", cut(trees["full"], n)),
                    (f"at max_side {max_side}, nearest", enlarge_labels(labels, image.shape)),
                    (f"at max_side {max_side}, snapped (default)",
                     snap_labels(labels, image, small))):
                scores.setdefault((n, name), SegmentationScores()).add(sample.name, gts,
                                                                        full_labels)
    print(f"\nBSDS500 val ({len(scores[(counts[0], 'full size (max_side 0)')].records)} images) "
          f"segmented at max_side {max_side}, scored at full size "
          f"({time.perf_counter() - start:.0f} s):\n")
    print("| segments | labels | Seg-IoU | covering | PRI | VOI | segments/image |")
    print("|---|---|---|---|---|---|---|")
    for (n, name), score in sorted(scores.items(), key=lambda item: item[0][0]):
        s = score.summary()
        print(f"| {n} | {name} | {s['seg_iou_pooled']:.2f} | {s['covering']:.1f} | "
              f"{s['pri']:.3f} | {s['voi']:.3f} | {s['segments_per_image']:.1f} |")


def picture(path, width, height):
    """Crops of the enlarged photo at full size: labels enlarged by nearest neighbour
    (left) and snapped to the photo's edges (right, the default)."""
    import cv2
    import skimage.data

    from tf_binmap.segmentation.segmenter import Segmenter
    from tf_binmap.segmentation.working_size import (
        enlarge_labels,
        snap_labels,
        working_size,
    )
    from tf_binmap.visualize import boundary_overlay, side_by_side

    photo = cv2.resize(skimage.data.chelsea(), (width, height), interpolation=cv2.INTER_CUBIC)
    h, w = working_size(height, width, 512)
    small = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
    labels = Segmenter.from_preset(max_side=0).segment(small)
    top, left = int(0.26 * height), int(0.27 * width)  # the cat's left eye
    crop = (slice(top, top + int(0.24 * height)), slice(left, left + int(0.22 * width)))
    panels = [boundary_overlay(photo[crop], full[crop]) for full in
              (enlarge_labels(labels, photo.shape), snap_labels(labels, photo, small))]
    figure = side_by_side(*panels)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), figure[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {path}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        width, height, max_side = sys.argv[2:5]
        return _child(int(width), int(height), None if max_side == "default" else int(max_side))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=int, nargs=2, default=(4000, 2667), metavar=("W", "H"))
    parser.add_argument("--max-side", type=int, default=321,
                        help="working size of the BSDS500 val part (default 321: 2/3)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--picture", default=None, metavar="PATH",
                        help="also draw nearest-neighbour vs snapped labels on a crop")
    args = parser.parse_args()
    if not args.skip_speed:
        speed(*args.photo)
    if not args.skip_quality:
        quality(args.max_side)
    if args.picture:
        picture(args.picture, *args.photo)


if __name__ == "__main__":
    sys.exit(main())
