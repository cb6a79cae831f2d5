"""``BinaryMapModel``: uint8 RGB image -> packed n-bit binary code map, in one call.

preprocessing -> AlexNetFCN (one feature layer) -> HashingLayer(output_mode="codes").
The paper upscales images before the network (x4 in the authors' code) so the stride-32
map is denser; ``encode()`` does that resize (bilinear, OpenCV) before the graph, so the
graph itself stays a plain fully convolutional model that exports with dynamic sizes.
"""

from __future__ import annotations

import os

import cv2
import keras
import numpy as np

from tf_binmap.hashing.layer import HashingLayer
from tf_binmap.io.images import as_image_batch, scaled_size
from tf_binmap.models.alexnet import AlexNetFCN
from tf_binmap.models.architecture import feature_geometry, feature_map_size
from tf_binmap.models.layers import ImagePreprocessing


#: The network precisions `BinaryMapModel.from_preset` builds.
PRECISIONS = ("float32", "bfloat16")


@keras.saving.register_keras_serializable(package="tf_binmap")
class BinaryMapModel(keras.Model):
    """Image -> code map.

    Args:
        backbone: an ``AlexNetFCN`` with exactly one feature layer.
        hashing: a ``HashingLayer`` (built or with mean/projection) with
            ``output_mode="codes"``.
        upscale: factor the image is resized by in ``encode()`` before the network.

    Input: uint8 (batch, H, W, 3) RGB at network scale. Output: int32 (batch, h, w).
    """

    def __init__(self, backbone: AlexNetFCN, hashing: HashingLayer, upscale: float = 1.0,
                 **kwargs):
        if len(backbone.feature_layers) != 1:
            raise ValueError("the backbone of a BinaryMapModel must return exactly one "
                             f"feature layer, got {backbone.feature_layers}")
        if hashing.output_mode != "codes":
            raise ValueError("the HashingLayer of a BinaryMapModel must have "
                             "output_mode='codes'")
        layer = backbone.feature_layers[0]
        spec = backbone.spec

        # === Layers ===
        preprocessor = ImagePreprocessing(spec.mean, spec.std, spec.scale, spec.bgr,
                                          name="preprocessing")

        # === Functional Model ===
        images = keras.Input(shape=(None, None, 3), dtype="uint8", name="image")
        features = backbone(preprocessor(images))[layer]
        codes = hashing(features)
        super().__init__(inputs=images, outputs=codes, **kwargs)

        # === Config ===
        self.backbone = backbone
        self.hashing = hashing
        self.upscale = float(upscale)
        self.feature_layer = layer
        self.bits = hashing.bits
        self.precision = "bfloat16" if "bfloat16" in str(backbone.dtype_policy.name) \
            else "float32"
        self._compiled = {}  # "codes" / "projections" -> a traced function (bfloat16)

    @property
    def geometry(self) -> tuple[int, float]:
        """(stride, offset): code-map cell i is centred on network-input pixel
        ``offset + stride * i``."""
        return feature_geometry(self.backbone.variant, self.feature_layer)

    def code_map_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the code map for an image of (height, width) (before upscale)."""
        h, w = self.network_size(height, width)
        return (feature_map_size(self.backbone.variant, self.feature_layer, h),
                feature_map_size(self.backbone.variant, self.feature_layer, w))

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of the network input for an image of (height, width): the
        image resized by ``upscale``, rounded."""
        return scaled_size(height, width, self.upscale)

    def resize_for_network(self, images: np.ndarray) -> np.ndarray:
        """uint8 (batch, H, W, 3) -> the batch resized by ``upscale`` (bilinear)."""
        images = as_image_batch(images)
        if self.upscale == 1.0:
            return images
        h, w = self.network_size(*images.shape[1:3])
        return np.stack([cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
                         for image in images])

    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 RGB (batch, H, W, 3) or (H, W, 3) at image scale -> int32 code maps
        (batch, h, w) as NumPy, resizing by ``upscale`` first."""
        network_input = self.resize_for_network(images)
        self.backbone.check_input_size(*network_input.shape[1:3])
        return self._run("codes", network_input)

    def projections(self, images: np.ndarray) -> np.ndarray:
        """Real-valued ITQ projections (batch, h, w, bits) before the threshold."""
        network_input = self.resize_for_network(images)
        self.backbone.check_input_size(*network_input.shape[1:3])
        return self._run("projections", network_input)

    def _forward(self, kind, network_input):
        features = self.backbone(self.backbone.preprocess(network_input))[self.feature_layer]
        return self.hashing(features) if kind == "codes" else self.hashing.project(features)

    def _run(self, kind, network_input) -> np.ndarray:
        """The forward pass: eager in float32 (the reference), traced once per shape
        family on TensorFlow in bfloat16, where the eager pass would waste the gain."""
        if self.precision != "bfloat16" or keras.backend.backend() != "tensorflow":
            return keras.ops.convert_to_numpy(self._forward(kind, network_input))
        import tensorflow as tf  # a TensorFlow-only convenience

        if kind not in self._compiled:
            self._compiled[kind] = tf.function(lambda x: self._forward(kind, x),
                                               reduce_retracing=True)
        return self._compiled[kind](tf.convert_to_tensor(network_input)).numpy()

    @classmethod
    def from_preset(cls, preset: str, weights_path: str | os.PathLike | None = None,
                    itq_path: str | os.PathLike | None = None, precision: str = "float32",
                    **kwargs) -> "BinaryMapModel":
        """Build a named binary-map preset: backbone weights, feature layer, bit count,
        upscale and fitted ITQ parameters (``itq_path`` overrides the latter).

        ``precision``: ``"float32"`` (default, the reference) or ``"bfloat16"`` (the
        backbone under Keras' ``mixed_bfloat16`` policy, traced on TensorFlow: several
        times faster on CPUs with AMX / AVX-512 BF16; 99.8% of the bits agree with
        float32, docs/speed.md). The ITQ projection stays float32."""
        from tf_binmap.presets import get_binary_map_preset, load_itq_parameters

        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        spec = get_binary_map_preset(preset)
        policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_bfloat16" if precision == "bfloat16" else policy)
        try:
            backbone = AlexNetFCN.from_preset(spec.backbone, feature_layers=(spec.layer,),
                                              weights_path=weights_path)
        finally:
            keras.config.set_dtype_policy(policy)
        mean, projection = load_itq_parameters(itq_path or spec.itq_path(), spec)
        hashing = HashingLayer(spec.bits, mean=mean, projection=projection,
                               output_mode="codes", name="hashing")
        return cls(backbone, hashing, upscale=spec.upscale, name=spec.name, **kwargs)

    def get_config(self):
        return {
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "hashing": keras.saving.serialize_keras_object(self.hashing),
            "upscale": self.upscale,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        config["hashing"] = keras.saving.deserialize_keras_object(config["hashing"])
        return cls(**config)
