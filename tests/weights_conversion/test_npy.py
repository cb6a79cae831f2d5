"""caffe-tensorflow ``bvlc_alexnet.npy``: restricted loading, layout, conversion."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest

from weights_conversion.caffe import caffe_blobs_to_keras
from weights_conversion.common import ConversionError
from weights_conversion.npy import (
    CAFFE_TF_ALEXNET_SHAPES,
    convert_npy,
    load_npy_restricted,
    read_alexnet_npy,
    write_alexnet_npy,
)


@pytest.fixture(scope="module")
def keras_weights(blobs):
    return caffe_blobs_to_keras(blobs)


def caffe_tensorflow_params(blobs):
    """What caffe-tensorflow's DataReshaper makes of Caffe blobs (written from its
    description, independently of weights_conversion.npy): convolutions transposed
    (2, 3, 1, 0); fc6, fed by the spatial pool5 (256, 6, 6), reshaped to
    (out, 256, 6, 6), transposed (2, 3, 1, 0) and flattened back to (9216, out);
    other inner products transposed (1, 0). Biases unchanged."""
    params = {}
    for name, (w, b) in blobs.items():
        if w.ndim == 4:
            w = w.transpose(2, 3, 1, 0)
        elif name == "fc6":
            w = w.reshape(w.shape[0], 256, 6, 6).transpose(2, 3, 1, 0)
            w = w.reshape(9216, -1)
        else:
            w = w.transpose(1, 0)
        params[name] = [np.ascontiguousarray(w), b.copy()]
    return params


@pytest.fixture(scope="module")
def caffe_tf_file(blobs, tmp_path_factory):
    """A bvlc_alexnet.npy as caffe-tensorflow writes it: np.save of a dict."""
    path = tmp_path_factory.mktemp("npy") / "bvlc_alexnet.npy"
    with open(path, "wb") as handle:
        np.save(handle, caffe_tensorflow_params(blobs), allow_pickle=True)
    return path


@pytest.fixture(scope="module")
def npy_weights(caffe_tf_file):
    return read_alexnet_npy(caffe_tf_file)


def _same(a, b):
    assert list(a) == list(b)
    for name in a:
        assert a[name][0].shape == b[name][0].shape, name
        assert a[name][0].dtype == np.float32 and a[name][1].dtype == np.float32
        assert np.array_equal(a[name][0], b[name][0]), name
        assert np.array_equal(a[name][1], b[name][1]), name


# -------------------------------------------------------------------------- layout
def test_caffe_tensorflow_file_matches_caffe_conversion(npy_weights, keras_weights):
    """The same network through bvlc_alexnet.npy and through the .caffemodel path gives
    identical Keras weights, so the npy path inherits the Caffe-vs-Keras model test."""
    _same(npy_weights, keras_weights)


def test_fc6_is_flattened_in_hwc_order(blobs, npy_weights):
    fc6_tf = caffe_tensorflow_params({"fc6": blobs["fc6"]})["fc6"][0]
    fc6_caffe = blobs["fc6"][0]
    assert fc6_tf.shape == (9216, 4096)
    rng = np.random.default_rng(0)
    for o, c, h, w in zip(*(rng.integers(0, n, 50) for n in (4096, 256, 6, 6))):
        # TensorFlow flattens NHWC pool5 as (h * 6 + w) * 256 + c; Caffe as c*36+h*6+w
        assert fc6_tf[(h * 6 + w) * 256 + c, o] == fc6_caffe[o, c * 36 + h * 6 + w]
        assert npy_weights["conv6"][0][h, w, c, o] == fc6_caffe[o, c * 36 + h * 6 + w]


def test_write_read_round_trip(keras_weights, tmp_path):
    path = write_alexnet_npy(tmp_path / "weights.npy", keras_weights,
                             extra={"fc8": [np.zeros((4096, 3), np.float32),
                                            np.zeros(3, np.float32)]})
    assert path.name == "weights.npy" and not (tmp_path / "weights.npy.npy").exists()
    table = np.load(path, allow_pickle=True).item()  # our own file: safe here
    assert set(table) == set(CAFFE_TF_ALEXNET_SHAPES) | {"fc8"}
    assert table["fc6"][0].shape == (9216, 4096) and table["fc7"][0].shape == (4096, 4096)
    _same(read_alexnet_npy(path), keras_weights)


def test_named_entries(keras_weights, tmp_path):
    """Later caffe-tensorflow versions store {"weights": W, "biases": b} per layer."""
    conv = {k: keras_weights[k] for k in ("conv1", "conv2", "conv3", "conv4", "conv5")}
    path = write_alexnet_npy(tmp_path / "named.npy", conv, named=True)
    table = np.load(path, allow_pickle=True).item()
    assert set(table["conv3"]) == {"weights", "biases"}
    _same(read_alexnet_npy(path, include_fc=False), conv)


def test_convert_npy_writes_named_file(caffe_tf_file, keras_weights, tmp_path):
    h5py = pytest.importorskip("h5py")
    out = convert_npy(caffe_tf_file, tmp_path / "alexnet_caffe.h5")
    with h5py.File(out, "r") as f:
        assert sorted(f) == sorted(keras_weights)
        for name in ("conv2", "conv6"):
            assert np.array_equal(f[name]["kernel"][()], keras_weights[name][0])
            assert np.array_equal(f[name]["bias"][()], keras_weights[name][1])


# ------------------------------------------------------------- restricted loading
class _ArrayAsPython2(pickle.Pickler):
    """Pickles arrays the way Python 2 + NumPy 1 did: array data as a (latin-1) str,
    and the reconstruct function under its NumPy 1 module name."""

    def reducer_override(self, obj):
        if type(obj) is np.ndarray and not obj.dtype.hasobject:
            from numpy._core.multiarray import _reconstruct

            state = (1, obj.shape, obj.dtype, False, obj.tobytes().decode("latin1"))
            return _reconstruct, (np.ndarray, (0,), "b"), state
        return NotImplemented


def test_python2_style_pickle(tmp_path):
    rng = np.random.default_rng(4)
    small = {"conv1": [rng.standard_normal((2, 2, 3, 4)).astype(np.float32),
                       np.arange(4, dtype=np.float32)]}
    buffer = io.BytesIO()
    _ArrayAsPython2(buffer, protocol=2).dump(np.array(small, dtype=object))
    data = buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray\n_reconstruct" in data
    path = tmp_path / "py2.npy"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|O", "fortran_order": False, "shape": ()})
    assert header.getvalue().startswith(np.lib.format.magic(1, 0))
    path.write_bytes(header.getvalue() + data)
    table = load_npy_restricted(path).item()
    assert np.array_equal(table["conv1"][0], small["conv1"][0])
    assert np.array_equal(table["conv1"][1], small["conv1"][1])


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_code_in_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npy"
    with open(path, "wb") as handle:
        np.save(handle, {"conv1": [_Exploit(marker), 0]}, allow_pickle=True)
    with pytest.raises(ConversionError, match="refusing to load the global") as info:
        read_alexnet_npy(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


# -------------------------------------------------------------------------- errors
def test_wrong_shaped_fc6(keras_weights, tmp_path):
    table = {name: [keras_weights[name][0], keras_weights[name][1]]
             for name in ("conv1", "conv2", "conv3", "conv4", "conv5")}
    table["fc6"] = [np.zeros((4096, 9216), np.float32), np.zeros(4096, np.float32)]
    table["fc7"] = [np.zeros((2, 2), np.float32), np.zeros(2, np.float32)]  # not reached
    path = tmp_path / "caffe_layout_fc6.npy"
    with open(path, "wb") as handle:
        np.save(handle, table, allow_pickle=True)
    with pytest.raises(ConversionError) as info:
        read_alexnet_npy(path)
    message = str(info.value)
    assert str(path) in message and "fc6" in message
    assert "(4096, 9216)" in message and "(9216, 4096)" in message
    assert "Caffe's (out, in) layout" in message


def test_missing_layer(keras_weights, tmp_path):
    partial = {k: keras_weights[k] for k in ("conv1", "conv2", "conv3")}
    path = write_alexnet_npy(tmp_path / "partial.npy", partial)
    with pytest.raises(ConversionError) as info:
        read_alexnet_npy(path)
    message = str(info.value)
    assert str(path) in message and "missing layer(s) conv4, conv5, fc6, fc7" in message
    assert "['conv1', 'conv2', 'conv3']" in message


def test_wrong_entry_type(tmp_path):
    path = tmp_path / "odd.npy"
    with open(path, "wb") as handle:
        np.save(handle, {name: [1, 2, 3] for name in CAFFE_TF_ALEXNET_SHAPES},
                allow_pickle=True)
    with pytest.raises(ConversionError, match=r"layer conv1 holds list of length 3"):
        read_alexnet_npy(path)


def test_truncated_and_foreign_files(keras_weights, tmp_path):
    small = {k: keras_weights[k] for k in ("conv1", "conv2")}
    data = write_alexnet_npy(tmp_path / "ok.npy", small).read_bytes()
    cases = {
        "truncated.npy": data[: len(data) // 2],
        "header_only.npy": data[:60],
        "text.npy": b"this is not numpy\n" * 10,
        "empty.npy": b"",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ConversionError) as info:
            read_alexnet_npy(path)
        assert str(path) in str(info.value), name
    plain = tmp_path / "plain.npy"
    np.save(plain, np.zeros((3, 3), np.float32))
    with pytest.raises(ConversionError, match="not a dict of layers"):
        read_alexnet_npy(plain)
    assert load_npy_restricted(plain).shape == (3, 3)  # plain arrays still load
