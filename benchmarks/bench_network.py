"""The default segmentation's network (torchvision AlexNet to conv5 at the image's own
size, plus the ITQ projection: preset binmap_conv5_x1) at each precision, beside the
same network and weights in PyTorch, in one run: milliseconds per image, GFLOP/s, and
how many bits agree with the float32 reference (Keras, eager: what `Segmenter()` runs).

Variants run interleaved on the same BSDS500 val photos (481x321 and 321x481), batch 1:
Keras float32 eager and traced (`tf.function`), Keras bfloat16 traced
(`--precision bfloat16`), the TFLite float32 and int8 exports of the preset (made in a
temporary folder), and PyTorch float32 and bfloat16 (channels-last; skipped without
torch).

    python benchmarks/bench_network.py --images 8 --repeats 5
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


def conv_flops(backbone, height, width) -> int:
    """2 * kh * kw * (cin / groups) * cout per output position, summed over the convs."""
    from tf_binmap.models.architecture import expected_weight_shapes

    shapes = expected_weight_shapes(backbone.variant)
    total = 0
    for name in backbone.weight_layer_names:
        kh, kw, cin, cout = shapes[name][0]
        h, w = backbone.feature_map_size(name, height, width)
        total += 2 * kh * kw * cin * cout * h * w
    return total


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
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16,
                                             enabled=dtype == "bfloat16"):
            x = torch.from_numpy(images).permute(0, 3, 1, 2).float() * spec.scale
            x = ((x - shift) / scale).contiguous(memory_format=torch.channels_last)
            features = net(x).float().permute(0, 2, 3, 1)
            return ((features - mean) @ projection).numpy()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args()

    import tensorflow as tf

    from tf_binmap.evaluation.datasets import BSDS500
    from tf_binmap.export.runners import TFLiteCodeMapper
    from tf_binmap.export.tflite import export_tflite
    from tf_binmap.models.binary_map import BinaryMapModel

    data = BSDS500(args.data_root, split="val")
    images = [data[i].image[None] for i in range(min(args.images, len(data)))]
    reference = BinaryMapModel.from_preset("binmap_conv5_x1")
    bf16 = BinaryMapModel.from_preset("binmap_conv5_x1", precision="bfloat16")

    def traced(model):
        function = tf.function(lambda x: model.hashing.project(
            model.backbone(model.backbone.preprocess(x))[model.feature_layer]),
            reduce_retracing=True)
        return lambda x: function(tf.convert_to_tensor(x)).numpy()

    variants = {
        "Keras float32, eager (the default)": lambda x: np.asarray(reference.projections(x)),
        "Keras float32, traced": traced(reference),
        "Keras bfloat16, traced (--precision bfloat16)": lambda x: bf16.projections(x),
    }
    with tempfile.TemporaryDirectory() as folder:
        for quantization in (None, "int8"):
            path = export_tflite(reference, Path(folder) / f"net_{quantization}.tflite",
                                 quantization=quantization)
            runner = TFLiteCodeMapper(path, num_threads=os.cpu_count())
            variants[f"TFLite {quantization or 'float32'}"] = runner.projections
        for dtype in ("float32", "bfloat16"):
            run = torch_projections(reference, dtype)
            if run is not None:
                variants[f"PyTorch {dtype} (channels-last)"] = run
        expected = [variants["Keras float32, eager (the default)"](x) for x in images]
        for run in variants.values():  # warm up: traces, interpreters, first allocations
            for x in images[:2]:
                run(x)
        times = {name: [] for name in variants}
        agree = {name: [] for name in variants}
        for _ in range(args.repeats):
            for x, reference_out in zip(images, expected):
                for name, run in variants.items():
                    start = time.perf_counter()
                    out = run(x)
                    times[name].append(time.perf_counter() - start)
                    agree[name].append(np.mean((out >= 0) == (reference_out >= 0)))
    height, width = images[0].shape[1:3]
    flops = conv_flops(reference.backbone, height, width)
    print(f"{len(images)} BSDS500 val photos ({height}x{width} or {width}x{height}), batch 1, "
          f"{os.cpu_count()} threads, medians of {args.repeats} rounds; "
          f"{flops / 1e9:.2f} GFLOP per image\n")
    print("| network | ms / image | GFLOP/s | x Keras float32 eager | bits equal to float32 |\n"
          "|---|---|---|---|---|")
    base = float(np.median(times["Keras float32, eager (the default)"]))
    for name in variants:
        seconds = float(np.median(times[name]))
        print(f"| {name} | {seconds * 1000:.1f} | {flops / 1e9 / seconds:.0f} | "
              f"{seconds / base:.2f} | {100 * np.mean(agree[name]):.2f}% |")


if __name__ == "__main__":
    main()
