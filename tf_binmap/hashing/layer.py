"""``HashingLayer``: ITQ projection plus threshold, as a reusable Keras 3 layer.

``bits = ((x - mean) @ projection >= 0)`` on the last axis of any input, e.g. a
(batch, h, w, d) feature map -> (batch, h, w, n_bits). The paper's "depth normalization"
(``x - mean``) and "hconv8" (the projection) in one layer. Built on the pattern of
Keras' ``Normalization``: the mean and projection are weights created in ``build``
(non-trainable unless asked), filled by ``adapt(data)`` (ITQ, see ``itq.py``) or given
to the constructor, and saved with the model.

A zero projection gives bit 1 (unlike ``sign``, which gives 0). For fine-tuning by
back-propagation the hard threshold has a straight-through gradient: the forward value
is exactly the hard bit, the backward pass is that of ``clip(z, -1, 1)``.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

OUTPUT_MODES = ("bits", "signs", "codes")


@keras.saving.register_keras_serializable(package="tf_binmap")
class HashingLayer(keras.layers.Layer):
    """n-bit binary codes of features by an affine projection and a threshold.

    Args:
        bits: number of bits (1 .. feature dimension; at most 31 for ``"codes"``).
        mean: optional (d,) array, the features' mean.
        projection: optional (d, bits) array (ITQ: ``W_pca @ R``).
        output_mode: ``"bits"`` float {0, 1} (..., bits); ``"signs"`` float {-1, +1};
            ``"codes"`` int32 (...) packed most-significant bit first (first column
            = MSB).
        trainable_projection: make ``mean`` and ``projection`` trainable weights (for
            fine-tuning through the straight-through gradient).
        iterations, seed: ITQ settings used by ``adapt``.

    Input: (..., d) float. Output: see ``output_mode``.
    """

    def __init__(self, bits: int, mean: np.ndarray | None = None,
                 projection: np.ndarray | None = None, output_mode: str = "bits",
                 trainable_projection: bool = False, iterations: int = 50, seed: int = 0,
                 **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.bits = int(bits)
        if self.bits < 1:
            raise ValueError(f"bits must be >= 1, got {bits}")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}, got {output_mode!r}")
        if output_mode == "codes" and self.bits > 31:
            raise ValueError(f"output_mode='codes' packs at most 31 bits into int32, "
                             f"got bits={self.bits}; use 'bits'")
        self.output_mode = output_mode
        self.trainable_projection = bool(trainable_projection)
        self.iterations = int(iterations)
        self.seed = int(seed)
        self.input_mean = None if mean is None else np.asarray(mean, np.float32)
        self.input_projection = (None if projection is None
                                 else np.asarray(projection, np.float32))
        if (self.input_mean is None) != (self.input_projection is None):
            raise ValueError("give both mean and projection, or neither (then adapt())")
        if self.input_projection is not None:
            self._check_parameters(self.input_mean, self.input_projection,
                                   "constructor arguments")
        self.itq_result = None  # set by adapt(): losses, bit balance, ...

    # ------------------------------------------------------------------ weights
    def _check_parameters(self, mean, projection, where, dim=None):
        if projection.ndim != 2 or projection.shape[1] != self.bits:
            raise ValueError(
                f"{where}: projection must be (d, {self.bits}), got {projection.shape}"
            )
        d = projection.shape[0]
        if mean.shape != (d,):
            raise ValueError(f"{where}: mean must be ({d},) to match the projection, "
                             f"got {mean.shape}")
        if dim is not None and d != dim:
            raise ValueError(f"{where}: parameters are for {d}-d features but the input "
                             f"has {dim} channels")
        if self.bits > d:
            raise ValueError(f"{where}: {self.bits} bits need features of at least "
                             f"{self.bits} dims, got {d}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(projection))):
            raise ValueError(f"{where}: mean/projection contain NaN or Inf")

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim is None:
            raise ValueError("HashingLayer needs a known last (feature) dimension")
        if self.bits > dim:
            raise ValueError(f"{self.bits} bits need at least {self.bits}-d features, "
                             f"the input has {dim}")
        if self.input_projection is not None:
            self._check_parameters(self.input_mean, self.input_projection,
                                   "constructor arguments", dim=dim)
        self.mean = self.add_weight(
            name="mean", shape=(dim,), initializer="zeros",
            trainable=self.trainable_projection)
        self.projection = self.add_weight(
            name="projection", shape=(dim, self.bits), initializer="zeros",
            trainable=self.trainable_projection)
        if self.input_projection is not None:
            self.mean.assign(self.input_mean)
            self.projection.assign(self.input_projection)
        self.built = True

    def set_parameters(self, mean: np.ndarray, projection: np.ndarray) -> None:
        """Assign (d,) ``mean`` and (d, bits) ``projection`` (builds if needed)."""
        mean = np.asarray(mean, np.float32)
        projection = np.asarray(projection, np.float32)
        self._check_parameters(mean, projection, "set_parameters",
                               dim=self.mean.shape[0] if self.built else None)
        if not self.built:
            self.build((None, projection.shape[0]))
        self.mean.assign(mean)
        self.projection.assign(projection)

    # -------------------------------------------------------------------- adapt
    def adapt(self, data: Any, steps: int | None = None, max_vectors_per_batch: int | None = None,
              seed: int | None = None) -> None:
        """Fit ITQ to ``data`` and store the mean and projection.

        ``data``: an array (..., d), a ``tf.data.Dataset`` or any iterable of such
        arrays (feature maps). Read once; the vectors kept for fitting are
        ``max_vectors_per_batch`` per element (a seeded random sample) if set.
        The ITQResult (quantization losses, bit balance) is kept in ``itq_result``.
        """
        from tf_binmap.hashing.itq import fit_itq

        rng = np.random.default_rng(self.seed if seed is None else seed)

        def rows(batch):
            array = keras.ops.convert_to_numpy(batch) if not isinstance(batch, np.ndarray) else batch
            array = np.asarray(array, np.float32)
            array = array.reshape(-1, array.shape[-1])
            if max_vectors_per_batch and array.shape[0] > max_vectors_per_batch:
                keep = rng.choice(array.shape[0], max_vectors_per_batch, replace=False)
                array = array[np.sort(keep)]
            return array

        if isinstance(data, np.ndarray) or hasattr(data, "__array__") and not hasattr(
                data, "as_numpy_iterator"):
            chunks = [rows(np.asarray(data))]
        else:
            iterator = data.as_numpy_iterator() if hasattr(data, "as_numpy_iterator") else data
            chunks = []
            for index, batch in enumerate(iterator):
                if steps is not None and index >= steps:
                    break
                if isinstance(batch, (tuple, list)):  # (features, labels) datasets
                    batch = batch[0]
                chunks.append(rows(batch))
        if not chunks:
            raise ValueError("adapt() got no data")
        result = fit_itq(chunks, self.bits, iterations=self.iterations, seed=self.seed)
        if not self.built:
            self.build((None, result.dim))
        elif self.mean.shape[0] != result.dim:
            raise ValueError(f"adapt(): data has {result.dim}-d features, the layer was "
                             f"built for {self.mean.shape[0]}")
        self.mean.assign(result.mean)
        self.projection.assign(result.projection)
        self.itq_result = result
        return result

    # --------------------------------------------------------------------- call
    def project(self, inputs):
        """Real-valued projections ``(x - mean) @ projection``: (..., bits) float32."""
        x = ops.cast(inputs, "float32") - self.mean
        return ops.tensordot(x, self.projection, axes=[[-1], [0]])

    def call(self, inputs):
        z = self.project(inputs)
        hard = ops.cast(ops.greater_equal(z, 0.0), "float32")
        if self.output_mode == "codes":
            weights = ops.convert_to_tensor(
                [float(2 ** (self.bits - 1 - i)) for i in range(self.bits)], "float32")
            # Sums of distinct powers of two below 2**31: exact in float32 only up to
            # 2**24, so accumulate in int32.
            return ops.sum(ops.cast(hard, "int32") * ops.cast(weights, "int32"), axis=-1)
        # Straight-through: forward is exactly `hard` (s - s == 0 exactly), backward
        # is the gradient of the surrogate s = (clip(z, -1, 1) + 1) / 2.
        surrogate = (ops.clip(z, -1.0, 1.0) + 1.0) * 0.5
        bits = hard + (surrogate - ops.stop_gradient(surrogate))
        return bits * 2.0 - 1.0 if self.output_mode == "signs" else bits

    def compute_output_shape(self, input_shape):
        if self.output_mode == "codes":
            return tuple(input_shape[:-1])
        return tuple(input_shape[:-1]) + (self.bits,)

    def compute_output_spec(self, inputs):
        dtype = "int32" if self.output_mode == "codes" else "float32"
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            bits=self.bits,
            output_mode=self.output_mode,
            trainable_projection=self.trainable_projection,
            iterations=self.iterations,
            seed=self.seed,
            # As Keras' Normalization does: constructor arrays round-trip through the
            # config; adapted values are weights, saved with the model.
            mean=None if self.input_mean is None else self.input_mean.tolist(),
            projection=(None if self.input_projection is None
                        else self.input_projection.tolist()),
        )
        return config
