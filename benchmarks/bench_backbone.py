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
from tf_binmap.models.architecture import convolution_flops  # noqa: E402

STRIDES = {"conv1": 4}


def _torch_fcn(model):
    """The same fully convolutional network in PyTorch, with the Keras weights."""
    try:
        import torch
    except ImportError:
        return None
    if model.variant != "torchvision":
        return None
    nn = torch.nn
    layers, pools = [], {"conv2", "conv3", "conv6"}  # a max pool runs before these
    for name in model.weight_layer_names:
        kernel, bias = model.get_layer(name).get_weights()
        kh, kw, cin, cout = kernel.shape
        if name in pools:
            layers.append(nn.MaxPool2d(3, 2))
        conv = nn.Conv2d(cin, cout, (kh, kw), stride=4 if name == "conv1" else 1,
                         padding=2 if name in ("conv1", "conv2") else
                         (1 if kh == 3 else 0))
        conv.weight.data = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
        conv.bias.data = torch.from_numpy(bias)
        layers += [conv, nn.ReLU()]
    return nn.Sequential(*layers).eval()


def _time_torch(net, x, repeats):
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    tensor = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    times = []
    with torch.no_grad():
        net(tensor)
        for _ in range(repeats):
            start = time.perf_counter()
            net(tensor)
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="torchvision", choices=["caffe", "torchvision"])
    parser.add_argument("--layer", default="conv7")
    parser.add_argument("--size", type=int, nargs=2, default=(321, 481))
    parser.add_argument("--scales", type=float, nargs="+", default=(1, 2, 4))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None, help="write JSON here")
    parser.add_argument("--baseline", choices=["none", "torch"], default="torch",
                        help="also time the same network in PyTorch (torchvision variant "
                        "only; skipped if torch is not installed)")
    args = parser.parse_args()

    model = AlexNetFCN(args.variant, feature_layers=(args.layer,))
    import tensorflow as tf

    forward = tf.function(lambda x: model(x), reduce_retracing=True)
    torch_net = _torch_fcn(model) if args.baseline == "torch" else None
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
        flops = convolution_flops(model.variant, args.layer, height, width)
        results.append({
            "variant": args.variant, "layer": args.layer, "height": height,
            "width": width, "seconds": round(seconds, 4), "gflop": round(flops / 1e9, 2),
            "gflop_per_s": round(flops / 1e9 / seconds, 1),
            "map": list(model.feature_map_size(args.layer, height, width)),
        })
        if torch_net is not None:
            import torch

            with torch.no_grad():
                reference = torch_net(torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2)
                                                       .copy())).numpy().transpose(0, 2, 3, 1)
            ours = np.asarray(forward(x)[args.layer])
            results[-1]["torch_max_rel_diff"] = float(
                np.abs(ours - reference).max() / np.abs(reference).max())
            torch_seconds = _time_torch(torch_net, np.asarray(x), args.repeats)
            results[-1]["torch_seconds"] = round(torch_seconds, 4)
            results[-1]["keras_over_torch"] = round(seconds / torch_seconds, 2)
        print(json.dumps(results[-1]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
