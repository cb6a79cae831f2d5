"""AlexNet's architecture as plain data: the two variants, the feature layers, their
output sizes, receptive-field geometry and weight shapes.

No Keras here, so the weights code, the converters and the presets can use these facts
without loading TensorFlow; `tf_binmap.models.alexnet` builds the Keras model from them.
"""

from __future__ import annotations

import dataclasses
import math

__all__ = [
    "FEATURE_LAYERS", "VARIANTS", "WEIGHT_LAYERS", "AlexNetVariant", "convolution_flops",
    "expected_weight_shapes",
    "feature_geometry", "feature_map_size", "feature_stride", "get_variant", "min_input_size",
]


@dataclasses.dataclass(frozen=True)
class AlexNetVariant:
    """Architecture and input convention of one AlexNet variant."""

    name: str
    filters: tuple  # conv1..conv5
    groups: tuple  # conv1..conv5
    conv1_padding: int
    lrn: bool
    ceil_pooling: bool
    bgr: bool
    scale: float
    mean: tuple
    std: tuple
    fc_units: int = 4096


VARIANTS = {
    "caffe": AlexNetVariant(
        name="caffe",
        filters=(96, 256, 384, 384, 256),
        groups=(1, 2, 1, 2, 2),
        conv1_padding=0,
        lrn=True,
        ceil_pooling=True,
        bgr=True,
        scale=1.0,
        mean=(104.0, 117.0, 123.0),  # B, G, R mean pixel of ImageNet
        std=(1.0, 1.0, 1.0),
    ),
    "torchvision": AlexNetVariant(
        name="torchvision",
        filters=(64, 192, 384, 256, 256),
        groups=(1, 1, 1, 1, 1),
        conv1_padding=2,
        lrn=False,
        ceil_pooling=False,
        bgr=False,
        scale=1.0 / 255.0,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
    ),
}

# The feature maps a caller can ask for, in network order.
FEATURE_LAYERS = (
    "conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5",
    "conv6", "conv7",
)
# Layers that hold weights, in network order.
WEIGHT_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conv7")


def get_variant(variant):
    """The `AlexNetVariant` named ``variant`` (or ``variant`` itself); a ValueError
    lists the valid names."""
    if isinstance(variant, AlexNetVariant):
        return variant
    try:
        return VARIANTS[variant]
    except KeyError:
        raise ValueError(
            f"unknown AlexNet variant {variant!r}; choose one of {sorted(VARIANTS)}"
        ) from None


def _pool_size(size, ceil):
    if size < 3:
        return 0
    return (math.ceil if ceil else math.floor)((size - 3) / 2) + 1


def feature_map_size(variant, layer, size):
    """Spatial size of ``layer``'s output along one axis for an input of ``size``.

    Returns 0 or less when the input is too small for the layer.
    """
    spec = get_variant(variant)
    if layer not in FEATURE_LAYERS:
        raise ValueError(f"unknown feature layer {layer!r}; choose from {FEATURE_LAYERS}")
    s = (size + 2 * spec.conv1_padding - 11) // 4 + 1 if size >= 11 - 2 * spec.conv1_padding else 0
    sizes = {"conv1": s}
    s = _pool_size(s, spec.ceil_pooling)
    sizes["pool1"] = sizes["conv2"] = s
    s = _pool_size(s, spec.ceil_pooling)
    sizes["pool2"] = sizes["conv3"] = sizes["conv4"] = sizes["conv5"] = s
    s = _pool_size(s, spec.ceil_pooling)
    sizes["pool5"] = s
    sizes["conv6"] = sizes["conv7"] = s - 5 if s >= 6 else 0
    return sizes[layer]


def min_input_size(variant, layer):
    """Smallest input side length that gives ``layer`` a 1x1 output."""
    size = 1
    while feature_map_size(variant, layer, size) < 1:
        size += 1
    return size


def feature_geometry(variant, layer):
    """(stride, offset): cell i of ``layer``'s map is centred on input pixel
    ``offset + stride * i`` (the centre of its receptive field).

    Each conv/pool of kernel k, stride s, padding p moves the centre of cell 0 by
    ``stride_so_far * ((k - 1) / 2 - p)``; Caffe's extra bottom/right pooling pad
    does not move it. torchvision conv5: (16, 15); Caffe conv5: (16, 17).
    """
    spec = get_variant(variant)
    if layer not in FEATURE_LAYERS:
        raise ValueError(f"unknown feature layer {layer!r}; choose from {FEATURE_LAYERS}")
    steps = {  # layer -> (kernel, stride, padding) applied to reach it
        "conv1": (11, 4, spec.conv1_padding), "pool1": (3, 2, 0), "conv2": (5, 1, 2),
        "pool2": (3, 2, 0), "conv3": (3, 1, 1), "conv4": (3, 1, 1), "conv5": (3, 1, 1),
        "pool5": (3, 2, 0), "conv6": (6, 1, 0), "conv7": (1, 1, 0),
    }
    stride, offset = 1, 0.0
    for name in FEATURE_LAYERS[: FEATURE_LAYERS.index(layer) + 1]:
        kernel, step, padding = steps[name]
        offset += stride * ((kernel - 1) / 2 - padding)
        stride *= step
    return stride, offset


def feature_stride(layer):
    """Input pixels between neighbouring cells of ``layer``'s map."""
    return feature_geometry("torchvision", layer)[0]


def expected_weight_shapes(variant):
    """``{layer: (kernel_shape, bias_shape)}`` of every weight layer of ``variant``."""
    spec = get_variant(variant)
    f, g = spec.filters, spec.groups
    kernels = {
        "conv1": (11, 11, 3, f[0]),
        "conv2": (5, 5, f[0] // g[1], f[1]),
        "conv3": (3, 3, f[1] // g[2], f[2]),
        "conv4": (3, 3, f[2] // g[3], f[3]),
        "conv5": (3, 3, f[3] // g[4], f[4]),
        "conv6": (6, 6, f[4], spec.fc_units),
        "conv7": (1, 1, spec.fc_units, spec.fc_units),
    }
    return {name: (shape, (shape[-1],)) for name, shape in kernels.items()}


def convolution_flops(variant, layer: str, height: int, width: int) -> int:
    """Floating-point operations of the convolutions up to ``layer`` for an input of
    (height, width): ``2 * kh * kw * (cin / groups) * cout`` per output position (a
    multiply-add counts 2), summed over the weight layers the layer needs."""
    shapes = expected_weight_shapes(variant)
    depth = FEATURE_LAYERS.index(layer)
    total = 0
    for name in WEIGHT_LAYERS:
        if FEATURE_LAYERS.index(name) > depth:
            break
        kh, kw, cin, cout = shapes[name][0]
        h = feature_map_size(variant, name, height)
        w = feature_map_size(variant, name, width)
        total += 2 * kh * kw * cin * cout * h * w
    return total
