"""The default segmentation's network (torchvision AlexNet to conv5 at the image's own
size, plus the ITQ projection: preset binmap_conv5_x1) at each precision, beside the
same network and weights in PyTorch, in one run: milliseconds per image, GFLOP/s, and
how many bits agree with the float32 reference (Keras, eager: what `Segmenter()` runs).

Each variant runs in its own process (runtimes' idle thread pools would otherwise steal
the cores from one another), in rounds over the variants, on the same BSDS500 val photos
(481x321 and 321x481), batch 1: Keras float32 eager and traced (`tf.function`), Keras
bfloat16 traced (`--precision bfloat16`), the TFLite float32 and int8 exports of the
preset (made in a temporary folder), and PyTorch float32 and bfloat16 (channels-last;
skipped without torch).

    python benchmarks/bench_network.py --images 8 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def torch_projections(model, dtype):
    """The network and the ITQ projection in PyTorch with the Keras weights, or None."""
    try:
        import torch
    except ImportError:
        return None
    nn = torch.nn
    layers = []
    for name in model.backbone.weight_layer_names:
        kernel, bias = model.backbone.get_layer(name).get_weights()
        kh, kw, cin, cout = kernel.shape
        if name in ("conv2", "conv3"):
            layers.append(nn.MaxPool2d(3, 2))
        conv = nn.Conv2d(cin, cout, (kh, kw), stride=4 if name == "conv1" else 1,
                         padding=2 if name in ("conv1", "conv2") else 1)
        conv.weight.data = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
        conv.bias.data = torch.from_numpy(bias)
        layers += [conv, nn.ReLU()]
    net = nn.Sequential(*layers).eval().to(memory_format=torch.channels_last)
    mean = torch.tensor(np.asarray(model.hashing.mean), dtype=torch.float32)
    projection = torch.tensor(np.asarray(model.hashing.projection), dtype=torch.float32)
    spec = model.backbone.spec
    shift = torch.tensor(spec.mean).view(1, 3, 1, 1)
    scale = torch.tensor(spec.std).view(1, 3, 1, 1)
    torch.set_num_threads(os.cpu_count() or 1)

    def run(images):
        with torch.no_grad():
            x = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() * spec.scale
            x = ((x - shift) / scale).contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16"):
                features = net(x)
            features = features.float().permute(0, 2, 3, 1)  # the projection in float32
            return ((features - mean) @ projection).numpy()

    return run


def variant(name: str, folder: Path):
    """The projections function of one variant (built in this process)."""
    import tensorflow as tf

    from tf_binmap.export.runners import TFLiteCodeMapper
    from tf_binmap.models.binary_map import BinaryMapModel

    if name.startswith("TFLite"):
        quantization = "int8" if "int8" in name else "float32"
        return TFLiteCodeMapper(folder / f"net_{quantization}.tflite",
                                num_threads=os.cpu_count()).projections
    if name.startswith("PyTorch"):
        model = BinaryMapModel.from_preset("binmap_conv5_x1")
        return torch_projections(model, "bfloat16" if "bfloat16" in name else "float32")
    model = BinaryMapModel.from_preset(
        "binmap_conv5_x1", precision="bfloat16" if "bfloat16" in name else "float32")
    if "traced" in name and model.precision == "float32":
        function = tf.function(lambda x: model.hashing.project(
            model.backbone(model.backbone.preprocess(x))[model.feature_layer]),
            reduce_retracing=True)
        return lambda x: function(tf.convert_to_tensor(x)).numpy()
    return lambda x: np.asarray(model.projections(x))


VARIANTS = ("Keras float32, eager (the default)", "Keras float32, traced",
            "Keras bfloat16, traced (--precision bfloat16)", "TFLite float32", "TFLite int8",
            "PyTorch float32 (channels-last)", "PyTorch bfloat16 (channels-last)")


def worker(args) -> None:
    """Time one variant on the photos (after a warm-up) and save times and sign bits."""
    from tf_binmap.evaluation.datasets import BSDS500

    data = BSDS500(args.data_root, split="val")
    images = [data[i].image[None] for i in range(min(args.images, len(data)))]
    run = variant(args.worker, Path(args.folder))
    for x in images[:2]:
        run(x)
    times, signs = [], []
    for x in images:
        start = time.perf_counter()
        out = run(x)
        times.append(time.perf_counter() - start)
        signs.append(np.packbits(out >= 0))
    np.savez(args.out, times=np.array(times), signs=np.concatenate(signs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="rounds over the variants")
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    import subprocess
    import sys

    from tf_binmap.export.tflite import export_tflite
    from tf_binmap.models.architecture import convolution_flops
    from tf_binmap.models.binary_map import BinaryMapModel

    try:
        import torch  # noqa: F401
        variants = VARIANTS
    except ImportError:
        variants = tuple(v for v in VARIANTS if not v.startswith("PyTorch"))
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        reference = BinaryMapModel.from_preset("binmap_conv5_x1")
        for quantization in ("float32", "int8"):
            export_tflite(reference, folder / f"net_{quantization}.tflite",
                          quantization=None if quantization == "float32" else "int8")
        times = {name: [] for name in variants}
        signs = {}
        for round_index in range(args.repeats):  # each variant in its own process
            for index, name in enumerate(variants):
                out = folder / f"{index}_{round_index}.npz"
                subprocess.run([sys.executable, __file__, "--worker", name, "--folder",
                                str(folder), "--out", str(out), "--images", str(args.images),
                                "--data-root", args.data_root], check=True,
                               capture_output=True)
                with np.load(out) as stored:
                    times[name].extend(stored["times"].tolist())
                    signs[name] = np.unpackbits(stored["signs"])
    expected = signs[variants[0]]
    height, width = 321, 481
    flops = convolution_flops("torchvision", "conv5", height, width)
    print(f"{args.images} BSDS500 val photos (481x321 or 321x481), batch 1, "
          f"{os.cpu_count()} threads, each variant in its own process, {args.repeats} "
          f"rounds; {flops / 1e9:.2f} GFLOP per image\n")
    print("| network | ms / image (median) | GFLOP/s | x Keras float32 eager | bits equal to "
          "float32 |\n|---|---|---|---|---|")
    base = float(np.median(times[variants[0]]))
    for name in variants:
        seconds = float(np.median(times[name]))
        equal = np.mean(signs[name] == expected)
        print(f"| {name} | {seconds * 1000:.1f} | {flops / 1e9 / seconds:.0f} | "
              f"{seconds / base:.2f} | {100 * equal:.2f}% |")


if __name__ == "__main__":
    main()
