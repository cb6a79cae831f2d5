"""Forward-pass benchmark of AlexNetFCN at 321x481 and larger inputs.

Reports median seconds per image and the GFLOP/s reached (multiply-adds counted as 2
FLOPs, convolutions only), as JSON. Example:

    python benchmarks/bench_backbone.py --variant caffe --layer conv7 --scales 1 2 4
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from tf_binmap import AlexNetFCN  # noqa: E402
from tf_binmap.weights import expected_weight_shapes  # noqa: E402

STRIDES = {"conv1": 4}


def conv_flops(model, height, width):
    """2 * kh * kw * (cin / groups) * cout per output position, summed over convs."""
    shapes = expected_weight_shapes(model.variant)
    total = 0
    for name in model.weight_layer_names:
        kh, kw, cin, cout = shapes[name][0]
        h, w = model.feature_map_size(name, height, width)
        total += 2 * kh * kw * cin * cout * h * w
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="torchvision", choices=["caffe", "torchvision"])
    parser.add_argument("--layer", default="conv7")
    parser.add_argument("--size", type=int, nargs=2, default=(321, 481))
    parser.add_argument("--scales", type=float, nargs="+", default=(1, 2, 4))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None, help="write JSON here")
    args = parser.parse_args()

    model = AlexNetFCN(args.variant, feature_layers=(args.layer,))
    import tensorflow as tf

    forward = tf.function(lambda x: model(x), reduce_retracing=True)
    results = []
    for scale in args.scales:
        height, width = int(args.size[0] * scale), int(args.size[1] * scale)
        x = model.preprocess(np.random.default_rng(0).integers(
            0, 256, (1, height, width, 3), dtype=np.uint8))
        forward(x)  # trace and warm up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            forward(x)[args.layer].numpy()
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        flops = conv_flops(model, height, width)
        results.append({
            "variant": args.variant, "layer": args.layer, "height": height,
            "width": width, "seconds": round(seconds, 4), "gflop": round(flops / 1e9, 2),
            "gflop_per_s": round(flops / 1e9 / seconds, 1),
            "map": list(model.feature_map_size(args.layer, height, width)),
        })
        print(json.dumps(results[-1]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
