"""Latency and size of the exports (Keras, SavedModel, TFLite float32/float16/dynamic/
int8) and, with ``--agreement``, their bit agreement with the Keras model on BSDS500 val.

Latency: one 321x481 photo at image scale, batch 1, median of ``--repeats`` after
``--warmup`` calls; every path includes the resize by ``upscale``:

* keras: ``cv2.resize`` + the BinaryMapModel called under ``tf.function`` (traced once);
* saved_model: the ``serving_default`` signature of ``tf.saved_model.load`` (resizes in
  the graph);
* tflite_*: ``TFLiteCodeMapper.encode`` (the LiteRT interpreter, ``--threads`` threads;
  the graph resizes, bit for bit as the SavedModel).

Example:

    python benchmarks/bench_export.py --agreement --json bench_export.json
    python benchmarks/bench_export.py --itq /tmp/itq.npz --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BSDS_VAL = REPO.parent / "shared" / "data" / "BSDS500" / "data" / "images" / "val"
VARIANTS = (None, "float16", "dynamic", "int8")


def photo(size):
    """A real photo of exactly ``size`` (BSDS500 val if present, else coffee)."""
    import cv2

    from tf_binmap.io import list_images, read_image_rgb

    if BSDS_VAL.is_dir():
        for path in list_images(BSDS_VAL):
            image = read_image_rgb(path)
            if image.shape[:2] == tuple(size):
                return image, path.name
    import skimage.data

    image = skimage.data.coffee()
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA), "coffee"


def median_seconds(run, warmup, repeats):
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def size_mb(path):
    path = Path(path)
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="binmap_conv5")
    parser.add_argument("--weights", default=None, help="backbone weights file")
    parser.add_argument("--itq", default=None, help="ITQ parameter file (default: the "
                        "preset's)")
    parser.add_argument("--size", type=int, nargs=2, default=(321, 481))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--agreement", action="store_true",
                        help="bit agreement with Keras on the BSDS500 val images")
    parser.add_argument("--images", default=str(BSDS_VAL),
                        help="images for --agreement (default: BSDS500 val)")
    parser.add_argument("--out-dir", default=None, help="keep the exports here")
    parser.add_argument("--json", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    import tensorflow as tf
    from tqdm.auto import tqdm

    from tf_binmap.export.runners import (
        SavedModelCodeMapper,
        TFLiteCodeMapper,
        codes_agreement,
    )
    from tf_binmap.export.saved_model import export_saved_model
    from tf_binmap.export.tflite import export_tflite
    from tf_binmap.io import list_images, read_image_rgb
    from tf_binmap.models.binary_map import BinaryMapModel

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    model = BinaryMapModel.from_preset(args.preset, weights_path=args.weights,
                                       itq_path=args.itq)
    work = Path(args.out_dir or tempfile.mkdtemp(prefix="bench_export_"))
    work.mkdir(parents=True, exist_ok=True)

    exports = {}
    start = time.perf_counter()
    exports["saved_model"] = export_saved_model(model, work / "saved_models",
                                                overwrite=True)
    for variant in VARIANTS:
        name = f"tflite_{variant or 'float32'}"
        exports[name] = export_tflite(model, work / f"{name}.tflite", quantization=variant,
                                      overwrite=True)
    export_seconds = time.perf_counter() - start

    runners = {"saved_model": SavedModelCodeMapper(exports["saved_model"])}
    for name, path in exports.items():
        if name.startswith("tflite"):
            runners[name] = TFLiteCodeMapper(path, num_threads=args.threads)

    image, image_name = photo(args.size)
    batch = image[None]
    forward = tf.function(model, reduce_retracing=True)

    def keras_encode(images):
        return forward(tf.constant(model.resize_for_network(images))).numpy()

    results = {"preset": args.preset, "itq": args.itq, "image": image_name,
               "size": list(args.size), "upscale": model.upscale, "bits": model.bits,
               "threads": args.threads, "repeats": args.repeats,
               "export_seconds": round(export_seconds, 1), "rows": []}
    rows = results["rows"]
    keras_seconds = median_seconds(lambda: keras_encode(batch), args.warmup, args.repeats)
    rows.append({"format": "keras", "seconds": keras_seconds, "mb": None})
    reference = keras_encode(batch)
    for name, runner in runners.items():
        seconds = median_seconds(lambda runner=runner: runner.encode(batch), args.warmup,
                                 args.repeats)
        agreement = codes_agreement(reference, runner.encode(batch), model.bits)
        rows.append({"format": name, "seconds": seconds, "mb": size_mb(exports[name]),
                     "photo_bit_agreement": agreement["bit_agreement"]})

    if args.agreement:
        paths = list_images(args.images)
        references = {name: [] for name in runners}
        keras_maps = []
        for path in tqdm(paths, desc="agreement", unit="image"):
            images = read_image_rgb(path)[None]
            keras_maps.append(keras_encode(images)[0])
            for name, runner in runners.items():
                references[name].append(runner.encode(images)[0])
        for row in rows[1:]:
            agreement = codes_agreement(keras_maps, references[row["format"]], model.bits)
            row["bit_agreement"] = agreement["bit_agreement"]
            row["code_agreement"] = agreement["code_agreement"]
        results["agreement_images"] = len(paths)

    header = f"{'format':<16}{'ms/image':>10}{'MB':>8}"
    if args.agreement:
        header += f"{'bit agr.':>10}{'code agr.':>11}"
    print(f"\n{args.preset}, {args.size[0]}x{args.size[1]} photo ({image_name}), x"
          f"{model.upscale:g}, {model.bits} bits, batch 1, {args.threads} threads, "
          f"median of {args.repeats}")
    print(header)
    for row in rows:
        line = f"{row['format']:<16}{row['seconds'] * 1e3:>10.1f}"
        line += f"{row['mb']:>8.2f}" if row["mb"] is not None else f"{'-':>8}"
        if args.agreement:
            if "bit_agreement" in row:
                line += f"{row['bit_agreement'] * 100:>9.3f}%{row['code_agreement'] * 100:>10.2f}%"
            else:
                line += f"{'(ref)':>10}{'(ref)':>11}"
        print(line)
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
