"""Small Keras 3 layers (``keras.ops`` only) that AlexNet needs and Keras lacks.

* ``LocalResponseNormalization``: Caffe's across-channel LRN.
* ``ImagePreprocessing``: uint8 RGB batch -> the float input a backbone variant expects.

Caffe's ceil-mode pooling needs no layer of its own: all pooling inputs in AlexNet are
>= 0 (after ReLU), so padding the bottom/right by ``stride - 1`` zeros before a 'valid'
pool gives exactly ``ceil((H - k) / s) + 1`` outputs and the same maxima (see
``alexnet.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tf_binmap")
class LocalResponseNormalization(keras.layers.Layer):
    """Caffe's across-channel local response normalization (channels last).

    ``y = x / (k + alpha / size * sum_{c' in window(c)} x_{c'}^2) ** beta`` where the
    window of ``size`` channels is centred on ``c`` and zero padded at the ends.
    Defaults are AlexNet's (size 5, alpha 1e-4, beta 0.75, k 1). This equals
    ``tf.nn.local_response_normalization(depth_radius=size // 2, alpha=alpha / size,
    bias=k, beta=beta)``, written with ``keras.ops`` so it runs on every backend and
    exports to builtin TFLite ops (pad, slices, adds, pow).

    Input and output: (batch, height, width, channels).
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0,
                 **kwargs):
        super().__init__(**kwargs)
        if size < 1 or size % 2 == 0:
            raise ValueError(f"LRN size must be a positive odd integer, got {size}")
        self.size = int(size)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)

    def call(self, inputs):
        half = self.size // 2
        squared = ops.square(inputs)
        padded = ops.pad(squared, [[0, 0], [0, 0], [0, 0], [half, half]])
        channels = ops.shape(inputs)[-1]
        window_sum = padded[..., 0:channels]
        for offset in range(1, self.size):
            window_sum = window_sum + padded[..., offset : offset + channels]
        scale = self.k + (self.alpha / self.size) * window_sum
        return inputs / ops.power(scale, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, alpha=self.alpha, beta=self.beta, k=self.k)
        return config


@keras.saving.register_keras_serializable(package="tf_binmap")
class ImagePreprocessing(keras.layers.Layer):
    """uint8 RGB images (batch, H, W, 3) -> float32 network input.

    ``out = (image[..., order] * scale - mean) / std`` with ``order`` reversing the
    channels when ``bgr`` is set (Caffe) and ``mean``/``std`` given in the network's
    channel order. Caffe AlexNet: ``bgr=True, scale=1, mean=(104, 117, 123), std=1``;
    torchvision: ``bgr=False, scale=1/255, mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225)``.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float] = (1.0, 1.0, 1.0),
                 scale: float = 1.0, bgr: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean and std must have 3 values (one per channel)")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")
        self.scale = float(scale)
        self.bgr = bool(bgr)

    def call(self, images):
        x = ops.cast(images, "float32")
        if self.bgr:
            x = ops.flip(x, axis=-1)
        mean = ops.convert_to_tensor(self.mean, dtype="float32")
        std = ops.convert_to_tensor(self.std, dtype="float32")
        return (x * self.scale - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, images):
        return keras.KerasTensor(images.shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(mean=self.mean, std=self.std, scale=self.scale, bgr=self.bgr)
        return config
