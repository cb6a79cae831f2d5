"""Choose the default binary map (feature layer, bit count, input upscale) by measurement.

For every (layer, upscale): features of BSDS500 *train* are sampled once and ITQ is
fitted for each bit count (quantization loss vs PCA-then-sign, bit balance); then the
codes of BSDS500 *val* images go through the Segmenter's merge on EGS (k=100) and SLIC
(200) superpixels, and the segmentations are scored (pooled Seg-IoU, covering,
segments per image). Writes a JSON and prints a Markdown table.

    python experiments/choose_binary_map.py --layers conv5 --upscales 1 2 --bits 8 16 24 \
        --out outputs/choose_binary_map.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import types
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from tf_binmap.evaluation.datasets import BSDS500, default_data_root  # noqa: E402
from tf_binmap.evaluation.metrics import SegmentationScores  # noqa: E402
from tf_binmap.hashing.codes import pack_bits  # noqa: E402
from tf_binmap.hashing.itq import fit_itq  # noqa: E402
from tf_binmap.hashing.params import extract_feature_sample  # noqa: E402
from tf_binmap.models.alexnet import AlexNetFCN
from tf_binmap.models.architecture import feature_geometry
from tf_binmap.segmentation.segmenter import Segmenter
from tf_binmap.segmentation.superpixels import superpixels  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="alexnet_torchvision_lpips")
    parser.add_argument("--layers", nargs="+", default=["conv5"])
    parser.add_argument("--upscales", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 16, 24])
    parser.add_argument("--vectors-per-image", type=int, default=500)
    parser.add_argument("--limit", type=int, default=None, help="val images (default all)")
    parser.add_argument("--train-limit", type=int, default=None, help="train images")
    parser.add_argument("--save-itq", default=None,
                        help="folder to save each fitted ITQ file in")
    parser.add_argument("--out", default="outputs/choose_binary_map.json")
    args = parser.parse_args()

    root = default_data_root()
    train, val = BSDS500(root, "train"), BSDS500(root, "val")
    if args.train_limit:
        train = [train[i] for i in range(args.train_limit)]
    val_samples = [val[i] for i in range(len(val) if args.limit is None else args.limit)]
    val_images = [s.image for s in val_samples]
    val_gts = [s.ground_truths for s in val_samples]
    base = {"egs": [superpixels(im, "egs") for im in tqdm(val_images, desc="EGS")],
            "slic": [superpixels(im, "slic") for im in tqdm(val_images, desc="SLIC")]}

    rows = []
    for layer in args.layers:
        backbone = AlexNetFCN.from_preset(args.preset, feature_layers=(layer,))
        for upscale in args.upscales:
            start = time.perf_counter()
            chunks = list(extract_feature_sample(
                backbone, layer, ((s.name, s.image) for s in train), upscale=upscale,
                vectors_per_image=args.vectors_per_image))
            train_seconds = time.perf_counter() - start
            fake = types.SimpleNamespace(upscale=upscale,
                                         geometry=feature_geometry(backbone.variant, layer))
            val_features = list(extract_feature_sample(
                backbone, layer, ((s.name, s.image) for s in val_samples),
                upscale=upscale, vectors_per_image=0))
            shapes = [backbone.feature_map_size(layer, *(int(round(d * upscale))
                                                       for d in im.shape[:2]))
                      for im in val_images]
            for bits in args.bits:
                result = fit_itq(chunks, bits)
                if args.save_itq:
                    from tf_binmap.hashing.params import save_itq_parameters

                    save_itq_parameters(
                        Path(args.save_itq) / f"{layer}_x{upscale:g}_{bits}bit.npz", result,
                        layer=layer, bits=bits, upscale=upscale, backbone=args.preset,
                        images=len(chunks), seed=0,
                        vectors_per_image=args.vectors_per_image)
                fake.bits = bits
                row = {"layer": layer, "upscale": upscale, "bits": bits,
                       "itq_loss": result.losses[-1], "pca_loss": result.pca_loss,
                       "bit_balance_min": float(result.bit_balance.min()),
                       "bit_balance_max": float(result.bit_balance.max()),
                       "train_feature_seconds": train_seconds}
                code_maps = [pack_bits(result.encode(f)).reshape(shape)
                             for f, shape in zip(val_features, shapes)]
                row["regions_per_code_map"] = float(np.mean(
                    [_connected_regions(c) for c in code_maps]))
                for method in ("egs", "slic"):
                    segmenter = Segmenter(fake, superpixel_method=method, merge="codes")
                    scores = SegmentationScores()
                    for index, (image, code_map) in enumerate(zip(val_images, code_maps)):
                        pixel_codes = segmenter.pixel_codes(code_map, image.shape)
                        from tf_binmap.segmentation.merge import (
                            merge_superpixels, superpixel_codes)

                        codes = superpixel_codes(base[method][index], pixel_codes, bits)
                        labels = merge_superpixels(base[method][index], codes, bits)
                        scores.add(val_samples[index].name, val_gts[index], labels)
                    summary = scores.summary()
                    row[f"{method}_seg_iou"] = summary["seg_iou_pooled"]
                    row[f"{method}_covering"] = summary["covering"]
                    row[f"{method}_segments"] = summary["segments_per_image"]
                rows.append(row)
                print(json.dumps(row), flush=True)

    print("\n| layer | upscale | bits | ITQ loss (PCA) | bit balance | regions/map | "
          "EGS100+codes Seg-IoU / cover / segs | SLIC200+codes Seg-IoU / cover / segs |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['layer']} | x{r['upscale']:g} | {r['bits']} | {r['itq_loss']:.3f} "
              f"({r['pca_loss']:.3f}) | {r['bit_balance_min']:.2f}-{r['bit_balance_max']:.2f}"
              f" | {r['regions_per_code_map']:.0f} | {r['egs_seg_iou']:.2f} / "
              f"{r['egs_covering']:.1f} / {r['egs_segments']:.0f} | {r['slic_seg_iou']:.2f}"
              f" / {r['slic_covering']:.1f} / {r['slic_segments']:.0f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=1)


def _connected_regions(code_map):
    from skimage.measure import label

    return int(label(code_map + 1, background=0, connectivity=1).max())


if __name__ == "__main__":
    main()
