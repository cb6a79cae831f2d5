"""HashingLayer: Keras' layer contract, ITQ adapt, output modes, gradients, backends."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras.src.testing import TestCase

from tf_binmap.hashing.codes import pack_bits
from tf_binmap.hashing.itq import encode
from tf_binmap.hashing.layer import HashingLayer


def _parameters(dim=32, bits=8, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, bits)))
    return rng.normal(size=dim).astype(np.float32), q.astype(np.float32)


def _features(shape=(2, 5, 7, 32), seed=1):
    # Anisotropic so that ITQ has structure to find.
    rng = np.random.default_rng(seed)
    scale = np.linspace(3.0, 0.1, shape[-1])
    return (rng.normal(size=shape) * scale + 1.0).astype(np.float32)


class HashingLayerContractTest(TestCase):
    def test_keras_layer_contract(self):
        mean, projection = _parameters()
        for mode, shape in (("bits", (2, 5, 7, 8)), ("signs", (2, 5, 7, 8)),
                            ("codes", (2, 5, 7))):
            self.run_layer_test(
                HashingLayer,
                init_kwargs={"bits": 8, "mean": mean, "projection": projection,
                             "output_mode": mode},
                input_shape=(2, 5, 7, 32),
                expected_output_shape=shape,
                expected_output_dtype="int32" if mode == "codes" else "float32",
                expected_num_trainable_weights=0,
                expected_num_non_trainable_weights=2,
                run_training_check=False,
                run_mixed_precision_check=False,
            )

    def test_trainable_projection_contract(self):
        mean, projection = _parameters()
        self.run_layer_test(
            HashingLayer,
            init_kwargs={"bits": 8, "mean": mean, "projection": projection,
                         "trainable_projection": True},
            input_shape=(2, 4, 4, 32),
            expected_output_shape=(2, 4, 4, 8),
            expected_num_trainable_weights=2,
            expected_num_non_trainable_weights=0,
            run_mixed_precision_check=False,
        )


def test_bits_codes_and_signs_match_the_numpy_reference():
    mean, projection = _parameters()
    x = _features()
    expected = encode(x, mean, projection)
    bits = np.asarray(HashingLayer(8, mean, projection)(x))
    np.testing.assert_array_equal(bits, expected)
    signs = np.asarray(HashingLayer(8, mean, projection, output_mode="signs")(x))
    np.testing.assert_array_equal(signs, expected * 2.0 - 1.0)
    codes = np.asarray(HashingLayer(8, mean, projection, output_mode="codes")(x))
    assert codes.dtype == np.int32
    np.testing.assert_array_equal(codes, pack_bits(expected))


def test_zero_projection_gives_bit_one():
    # The first column projects onto feature 0; a vector equal to the mean there is
    # exactly 0 -> bit 1 (sign() would give 0).
    projection = np.eye(4, 2, dtype=np.float32)
    layer = HashingLayer(2, mean=np.zeros(4, np.float32), projection=projection)
    out = np.asarray(layer(np.array([[0.0, -1.0, 5.0, 5.0]], np.float32)))
    np.testing.assert_array_equal(out, [[1.0, 0.0]])


def test_codes_pack_msb_first_for_31_bits():
    dim, bits = 40, 31
    mean, projection = _parameters(dim, bits)
    x = _features((3, 4, dim))
    codes = np.asarray(HashingLayer(bits, mean, projection, output_mode="codes")(x))
    np.testing.assert_array_equal(codes, pack_bits(encode(x, mean, projection)))
    with pytest.raises(ValueError, match="at most 31 bits"):
        HashingLayer(32, output_mode="codes")


def test_adapt_fits_itq_from_arrays_and_datasets():
    tf = pytest.importorskip("tensorflow")
    x = _features((20, 6, 6, 32))
    layer = HashingLayer(8)
    result = layer.adapt(x)
    assert result.losses[-1] < result.pca_loss
    np.testing.assert_allclose(np.asarray(layer.mean), x.reshape(-1, 32).mean(0), atol=1e-5)
    projection = np.asarray(layer.projection)
    np.testing.assert_allclose(projection.T @ projection, np.eye(8), atol=1e-5)

    from_dataset = HashingLayer(8)
    from_dataset.adapt(tf.data.Dataset.from_tensor_slices(x).batch(5))
    np.testing.assert_allclose(np.asarray(from_dataset.projection), projection, atol=1e-5)
    # Same seed, same data -> identical codes.
    np.testing.assert_array_equal(np.asarray(from_dataset(x)), np.asarray(layer(x)))


@pytest.mark.parametrize("bad, message", [
    (np.full((10, 32), np.nan, np.float32), "NaN or Inf"),
    (np.ones((4, 32), np.float32), "too few vectors"),
])
def test_adapt_rejects_bad_features(bad, message):
    with pytest.raises(ValueError, match=message):
        HashingLayer(8).adapt(bad)


def test_bad_parameters_are_clear_errors():
    mean, projection = _parameters()
    with pytest.raises(ValueError, match=r"projection must be \(d, 16\)"):
        HashingLayer(16, mean, projection)
    with pytest.raises(ValueError, match="give both mean and projection"):
        HashingLayer(8, mean=mean)
    layer = HashingLayer(8, mean, projection)
    with pytest.raises(ValueError, match="32-d features but the input has 64"):
        layer(np.zeros((1, 2, 2, 64), np.float32))
    with pytest.raises(ValueError, match="8 bits need at least 8-d features"):
        HashingLayer(8)(np.zeros((1, 2, 2, 4), np.float32))


def test_straight_through_gradient_trains_the_projection():
    """A model with a trainable HashingLayer learns: loss falls, projection moves."""
    mean, projection = _parameters(16, 4)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 16)).astype(np.float32)
    target = (x[:, :4] > 0).astype(np.float32)  # bits that a projection can learn
    layer = HashingLayer(4, mean * 0, projection, trainable_projection=True)
    model = keras.Sequential([keras.Input((16,)), layer])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    before = np.asarray(layer.projection).copy()
    first = model.evaluate(x, target, verbose=0)
    model.fit(x, target, epochs=30, batch_size=64, verbose=0)
    assert model.evaluate(x, target, verbose=0) < first * 0.5
    assert np.abs(np.asarray(layer.projection) - before).max() > 1e-2


def test_keras_file_round_trip_keeps_adapted_weights(tmp_path):
    x = _features((10, 4, 4, 32))
    layer = HashingLayer(8, output_mode="codes")
    layer.adapt(x)
    model = keras.Sequential([keras.Input((None, None, 32)), layer])
    path = tmp_path / "hashing.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))


SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import keras
    from tf_binmap.hashing.layer import HashingLayer
    data = np.load(sys.argv[1])
    layer = HashingLayer(16, data["mean"], data["projection"], output_mode="codes")
    np.save(sys.argv[2], keras.ops.convert_to_numpy(layer(data["x"])))
""")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_identical_bits_under_every_backend(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    mean, projection = _parameters(64, 16)
    x = _features((2, 9, 11, 64))
    np.savez(tmp_path / "in.npz", mean=mean, projection=projection, x=x)
    expected = np.asarray(HashingLayer(16, mean, projection, output_mode="codes")(x))
    env = dict(os.environ, KERAS_BACKEND=backend)
    subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "in.npz"),
                    str(tmp_path / "out.npy")], check=True, env=env, timeout=300)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)
