"""Layout conversions shared by the converters: foreign blobs -> Keras layout.

Keras convolution kernels are (kh, kw, in_channels / groups, out). Caffe and PyTorch
store (out, in_channels / groups, kh, kw); their fully connected fc6 flattens pool5 in
(C, H, W) order, so it is reshaped to (out, C, 6, 6) before the same transpose.
"""

from __future__ import annotations

import numpy as np

from tf_binmap.models.architecture import expected_weight_shapes
from tf_binmap.weights.named import WeightsError, save_named_weights

# Caffe layer names (also caffe-tensorflow's) -> the Keras model's layer names.
CAFFE_TO_KERAS_NAMES = {"conv1": "conv1", "conv2": "conv2", "conv3": "conv3",
                        "conv4": "conv4", "conv5": "conv5", "fc6": "conv6", "fc7": "conv7"}


class ConversionError(WeightsError):
    """A source weights file that cannot be converted (names the file and the layer)."""


def conv_oihw_to_hwio(weight):
    """(out, in, kh, kw) -> (kh, kw, in, out)."""
    weight = np.asarray(weight, dtype=np.float32)
    if weight.ndim != 4:
        raise ConversionError(f"expected a 4-d (out, in, kh, kw) kernel, got {weight.shape}")
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0))


def fc6_to_conv6(weight, channels=256, size=6):
    """fc6 (out, C*size*size) flattened in (C, H, W) order -> (size, size, C, out)."""
    weight = np.asarray(weight, dtype=np.float32)
    if weight.ndim != 2 or weight.shape[1] != channels * size * size:
        raise ConversionError(
            f"fc6 must be (out, {channels * size * size}) to become a {size}x{size} conv "
            f"over {channels} channels, got {weight.shape}"
        )
    return conv_oihw_to_hwio(weight.reshape(weight.shape[0], channels, size, size))


def fc7_to_conv7(weight):
    """fc7 (out, in) -> (1, 1, in, out)."""
    weight = np.asarray(weight, dtype=np.float32)
    if weight.ndim != 2:
        raise ConversionError(f"fc7 must be a 2-d (out, in) matrix, got {weight.shape}")
    return np.ascontiguousarray(weight.T.reshape(1, 1, weight.shape[1], weight.shape[0]))


def check_weights(weights, variant, source):
    """Raise ConversionError unless every layer in ``weights`` has the variant's shape.

    ``weights`` is ``{layer: (kernel, bias)}`` in Keras layout; conv1..conv5 are
    required, conv6/conv7 optional (conv7 needs conv6).
    """
    expected = expected_weight_shapes(variant)
    required = ("conv1", "conv2", "conv3", "conv4", "conv5")
    missing = [name for name in required if name not in weights]
    if "conv7" in weights and "conv6" not in weights:
        missing.append("conv6")
    if missing:
        raise ConversionError(
            f"{source}: missing layer(s) {missing}; found {sorted(weights)}"
        )
    for name, (kernel, bias) in weights.items():
        if name not in expected:
            raise ConversionError(f"{source}: unexpected layer {name!r}")
        want_kernel, want_bias = expected[name]
        if tuple(kernel.shape) != want_kernel or tuple(bias.shape) != want_bias:
            raise ConversionError(
                f"{source}: layer {name} has kernel {tuple(kernel.shape)} and bias "
                f"{tuple(bias.shape)}, but the {variant} AlexNet needs kernel "
                f"{want_kernel} and bias {want_bias}"
            )


def save_keras_weights(weights, variant, path, source="converted weights"):
    """Validate ``weights`` for ``variant`` and write them as a named-layer file."""
    check_weights(weights, variant, source)
    return save_named_weights(weights, variant, path, source=str(source))
