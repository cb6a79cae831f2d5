"""Images per second of `tf-binmap segment` over a folder, beside another checkout's in
the same run, and whether their label PNGs are identical.

Each configuration runs `python -m tf_binmap.cli segment FOLDER --out OUT` in its own
process (the default segmentation, 100 segments), alternating between configurations for
``--repeats`` rounds; the figure is the run's own seconds per image (wall time of the
folder loop, without the process start and model loading), as `segment` reports it.
The folder holds the first ``--images`` BSDS500 val photos (symbolic links in a temporary
folder; nothing is copied).

    python benchmarks/folder_throughput.py --images 100 --repeats 2 \
        --baseline-checkout /path/to/an/older/checkout     # e.g. a `git worktree` of main
    python benchmarks/folder_throughput.py --images 40     # this checkout: streaming vs
                                                           # one image at a time
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def run(checkout: Path, folder: Path, out: Path, extra: list[str]) -> float:
    """Seconds per image of one `segment` run of ``checkout``'s package."""
    env = dict(os.environ, PYTHONPATH=str(checkout), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-m", "tf_binmap.cli", "segment", str(folder),
                             "--out", str(out), *extra], env=env, capture_output=True,
                            text=True, cwd=checkout)
    match = re.search(r"\(([0-9.]+) s per image\)", result.stdout)
    if result.returncode not in (0, 1) or not match:
        raise SystemExit(f"{checkout}: segment failed:\n{result.stdout}\n{result.stderr[-2000:]}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--baseline-checkout", default=None,
                        help="another checkout of tf_binmap to run beside this one")
    args = parser.parse_args()

    photos = sorted((Path(args.data_root) / "BSDS500/data/images/val").glob("*.jpg"))
    photos = photos[:args.images]
    if not photos:
        raise SystemExit(f"no BSDS500 val images under {args.data_root}")
    configurations = {"this checkout (streaming, 2 merge threads)": (REPO, [])}
    if args.baseline_checkout:
        configurations["baseline checkout"] = (Path(args.baseline_checkout).resolve(), [])
    else:
        configurations["this checkout, one image at a time (--workers 0)"] = (
            REPO, ["--workers", "0"])
    with tempfile.TemporaryDirectory() as temporary:
        temporary = Path(temporary)
        folder = temporary / "photos"
        folder.mkdir()
        for photo in photos:
            (folder / photo.name).symlink_to(photo)
        seconds = {name: [] for name in configurations}
        outputs = {}
        for round_index in range(args.repeats):
            for index, (name, (checkout, extra)) in enumerate(configurations.items()):
                out = temporary / f"out{index}_{round_index}"
                seconds[name].append(run(checkout, folder, out, extra))
                outputs[name] = out
        reference = list(configurations)[-1]  # the baseline, or one image at a time
        print(f"{len(photos)} BSDS500 val images, {args.repeats} round(s), seconds per "
              "image of each run:\n")
        print(f"| configuration | s / image (median) | images/s | x images/s of: {reference} |"
              "\n|---|---|---|---|")
        base = float(np.median(seconds[reference]))
        for name, values in seconds.items():
            median = float(np.median(values))
            print(f"| {name} | {median:.3f} | {1 / median:.2f} | {base / median:.2f} |")
        for name, out in outputs.items():
            if name == reference:
                continue
            same = sum(np.array_equal(cv2.imread(str(outputs[reference] / f"{p.stem}.png"), -1),
                                      cv2.imread(str(out / f"{p.stem}.png"), -1))
                       for p in photos)
            print(f"\nlabel PNGs of {name} identical to {reference}'s: {same}/{len(photos)}")


if __name__ == "__main__":
    main()
