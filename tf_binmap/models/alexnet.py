"""AlexNet as a fully convolutional Keras 3 model (``AlexNetFCN``).

fc6 becomes conv6 (6x6 over pool5, 256 -> 4096) and fc7 becomes conv7 (1x1), so an
image of any size at or above the receptive field gives a dense feature map (stride 32
at conv6/conv7, 16 at conv5). Two real variants:

* ``"caffe"``: BVLC AlexNet: 96-256-384-384-256 filters, groups=2 in conv2/4/5, LRN
  after conv1 and conv2, pooling with Caffe's ceil rounding, BGR mean-pixel input.
* ``"torchvision"``: 64-192-384-256-256 filters, conv1 padding 2, no LRN, no groups,
  floor pooling, RGB in [0, 1] normalized by ImageNet mean/std.

Calling the model returns a dict ``{layer_name: (batch, h, w, channels)}`` of the
requested ``feature_layers`` (each taken after its ReLU).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from tf_binmap.models.architecture import (
    FEATURE_LAYERS,
    VARIANTS,
    WEIGHT_LAYERS,
    AlexNetVariant,
    feature_map_size,
    get_variant,
    min_input_size,
)
from tf_binmap.models.layers import ImagePreprocessing, LocalResponseNormalization


@keras.saving.register_keras_serializable(package="tf_binmap")
class AlexNetFCN(keras.Model):
    """Fully convolutional AlexNet returning a dict of named feature maps.

    Args:
        variant: ``"torchvision"`` or ``"caffe"`` (see module docstring).
        feature_layers: names from ``FEATURE_LAYERS`` to return; the network is built
            only up to the deepest of them (so a conv5-only model has no conv6/conv7
            weights).
        weights: optional path of a named-layer weights file (see
            ``tf_binmap.weights.named.load_named_weights``) to load after building.

    Input: float32 (batch, H, W, 3) as made by ``preprocess`` (dynamic H and W).
    Output: ``{name: (batch, h, w, c)}``.

    Example:
        >>> model = AlexNetFCN.from_preset("alexnet_torchvision_lpips")
        >>> maps = model(model.preprocess(uint8_rgb_batch))
        >>> maps["conv5"].shape  # (batch, h, w, 256)
    """

    def __init__(self, variant: str | AlexNetVariant = "torchvision",
                 feature_layers: Sequence[str] = ("conv5",),
                 weights: str | os.PathLike | None = None, **kwargs):
        spec = get_variant(variant)
        feature_layers = tuple(feature_layers)
        unknown = [n for n in feature_layers if n not in FEATURE_LAYERS]
        if not feature_layers or unknown:
            raise ValueError(
                f"feature_layers must name layers from {FEATURE_LAYERS}, got "
                f"{feature_layers!r}"
            )
        depth = max(FEATURE_LAYERS.index(n) for n in feature_layers)

        # === Layers ===
        def conv(index, kernel, stride=1, padding="same", groups=1, filters=None):
            return keras.layers.Conv2D(
                filters or spec.filters[index - 1], kernel, strides=stride,
                padding=padding, groups=groups, activation="relu", name=f"conv{index}",
            )

        def pool(name):
            pooling = [keras.layers.MaxPooling2D(3, 2, padding="valid", name=name)]
            if spec.ceil_pooling:
                pooling.insert(0, keras.layers.ZeroPadding2D(((0, 1), (0, 1)),
                                                             name=f"{name}_ceil_pad"))
            return pooling

        stages = []  # (feature name or None, [layers])
        conv1 = [conv(1, 11, stride=4, padding="valid")]
        if spec.conv1_padding:
            conv1.insert(0, keras.layers.ZeroPadding2D(spec.conv1_padding, name="conv1_pad"))
        stages.append(("conv1", conv1))
        stages.append(("pool1", ([LocalResponseNormalization(name="norm1")] if spec.lrn
                                 else []) + pool("pool1")))
        stages.append(("conv2", [conv(2, 5, groups=spec.groups[1])]))
        stages.append(("pool2", ([LocalResponseNormalization(name="norm2")] if spec.lrn
                                 else []) + pool("pool2")))
        for index in (3, 4, 5):
            stages.append((f"conv{index}", [conv(index, 3, groups=spec.groups[index - 1])]))
        stages.append(("pool5", pool("pool5")))
        stages.append(("conv6", [conv(6, 6, padding="valid", filters=spec.fc_units)]))
        stages.append(("conv7", [conv(7, 1, filters=spec.fc_units)]))

        # === Functional Model ===
        inputs = keras.Input(shape=(None, None, 3), name="image")
        x = inputs
        outputs = {}
        for name, layers in stages[: depth + 1]:
            for layer in layers:
                x = layer(x)
            if name in feature_layers:
                outputs[name] = x
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.variant = spec.name
        self.feature_layers = feature_layers
        self.min_input_size = min_input_size(spec, FEATURE_LAYERS[depth])
        self.preprocessor = ImagePreprocessing(
            spec.mean, spec.std, spec.scale, spec.bgr, name="preprocessing"
        )
        if weights is not None:
            from tf_binmap.weights.named import load_named_weights

            load_named_weights(self, weights)

    @property
    def spec(self) -> AlexNetVariant:
        """The `AlexNetVariant` (architecture and input convention) of this model."""
        return VARIANTS[self.variant]

    @property
    def weight_layer_names(self) -> tuple[str, ...]:
        """Names of the layers with weights in this model (conv1 .. conv7)."""
        present = {layer.name for layer in self.layers}
        return tuple(name for name in WEIGHT_LAYERS if name in present)

    def check_input_size(self, height: int | None, width: int | None) -> None:
        """Raise ValueError if (height, width) is below the receptive field."""
        for side, value in (("height", height), ("width", width)):
            if value is not None and int(value) < self.min_input_size:
                raise ValueError(
                    f"input {side} {int(value)} is smaller than the {self.min_input_size} "
                    f"pixels AlexNet ({self.variant}) needs for "
                    f"{'/'.join(self.feature_layers)}; upscale or pad the image"
                )

    def __call__(self, inputs, *args, **kwargs):
        # Checked here rather than in call() so the message is not buried under
        # Keras' dump of the input array.
        shape = getattr(inputs, "shape", None)
        if shape is not None and len(shape) == 4:
            self.check_input_size(shape[1], shape[2])
        return super().__call__(inputs, *args, **kwargs)

    def preprocess(self, images: np.ndarray) -> Any:
        """uint8 RGB images (batch, H, W, 3) or one (H, W, 3) -> float32 network input."""
        shape = tuple(getattr(images, "shape", ()))
        if len(shape) == 3:
            images = images[None]
            shape = (1,) + shape
        if len(shape) != 4 or shape[-1] != 3:
            raise ValueError(
                f"expected uint8 RGB images of shape (batch, H, W, 3), got shape {shape}"
            )
        return self.preprocessor(images)

    def feature_map_size(self, layer: str, height: int, width: int) -> tuple[int, int]:
        """(h, w) of ``layer``'s map for an input of (height, width)."""
        return (feature_map_size(self.variant, layer, height),
                feature_map_size(self.variant, layer, width))

    @classmethod
    def from_preset(cls, preset: str, feature_layers: Sequence[str] | None = None,
                    weights_path: str | os.PathLike | None = None, **kwargs) -> "AlexNetFCN":
        """Build the model of a named preset (see ``tf_binmap.list_presets()``) with its
        weights, fetching and converting them on first use.

        ``weights_path`` overrides where the weights come from (a file you supply).
        """
        from tf_binmap.presets import get_preset
        from tf_binmap.weights.resolve import preset_weights_path

        spec = get_preset(preset)
        feature_layers = tuple(feature_layers or spec.feature_layers)
        spec.check_layers(feature_layers)
        path = preset_weights_path(spec, weights_path=weights_path)
        return cls(variant=spec.variant, feature_layers=feature_layers, weights=path,
                   **kwargs)

    def get_config(self):
        # Exactly the constructor arguments (weights are saved by Keras itself).
        return {
            "variant": self.variant,
            "feature_layers": list(self.feature_layers),
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
