"""caffe-tensorflow's ``bvlc_alexnet.npy`` -> Keras weights (caffe variant).

The file is ``np.save`` of a dict ``{caffe layer name: params}`` (a 0-d object array,
i.e. a pickle after the ``.npy`` header), where ``params`` is ``[weights, biases]``
(older caffe-tensorflow, e.g. the widely shared ``bvlc_alexnet.npy``) or
``{"weights": ..., "biases": ...}`` (later versions, ``ParameterNamer``).

Layout, from caffe-tensorflow's ``DataReshaper`` (``kaffe/transformers.py``;
earlier ``kaffe/core.py``) with the TensorFlow mapping
``{Convolution: (2, 3, 1, 0), InnerProduct: (1, 0)}``:

* convolutions: Caffe (out, in / groups, kh, kw) transposed to
  (kh, kw, in / groups, out) -- already the Keras layout; groups split input and
  output channels into consecutive halves, as in Caffe and Keras;
* an inner product fed by a spatial blob (fc6 after pool5): Caffe (out, C*H*W) is
  reshaped to (out, C, H, W), transposed (2, 3, 1, 0) to (H, W, C, out) and reshaped
  to (H*W*C, out) = (9216, 4096), i.e. flattened in TensorFlow's (H, W, C) order
  (its network code feeds ``tf.reshape(pool5, [-1, 9216])`` of an NHWC tensor);
  so ``reshape(6, 6, 256, 4096)`` is directly the conv6 kernel;
* other inner products (fc7): transposed to (in, out) = (4096, 4096);
* biases: unchanged (out,).

Loading is done without ``np.load(allow_pickle=True)``: the ``.npy`` header is parsed
with ``numpy.lib.format`` and the pickle that follows is read by an unpickler that only
resolves NumPy's array-reconstruction functions, so a tampered file cannot execute
code. Python 2 pickles (the original file) are read with ``encoding="latin1"``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from weights_conversion.common import CAFFE_TO_KERAS_NAMES, ConversionError

__all__ = [
    "CAFFE_TF_ALEXNET_SHAPES",
    "load_npy_restricted",
    "read_alexnet_npy",
    "write_alexnet_npy",
    "convert_npy",
]

# caffe-tensorflow layout of BVLC AlexNet: layer -> (weights shape, biases shape).
CAFFE_TF_ALEXNET_SHAPES = {
    "conv1": ((11, 11, 3, 96), (96,)),
    "conv2": ((5, 5, 48, 256), (256,)),
    "conv3": ((3, 3, 256, 384), (384,)),
    "conv4": ((3, 3, 192, 384), (384,)),
    "conv5": ((3, 3, 192, 256), (256,)),
    "fc6": ((9216, 4096), (4096,)),
    "fc7": ((4096, 4096), (4096,)),
}
_EXPECTED_FILE = "expected caffe-tensorflow's bvlc_alexnet.npy"


def _numpy_core(module: str):
    """NumPy's ``multiarray``/``numeric`` module, under NumPy 1 or 2 names."""
    try:
        import numpy._core as core  # NumPy >= 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        import numpy.core as core
    return getattr(core, module)


def _allowed(module: str, name: str):
    if module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray",
                  "numpy.core.numeric", "numpy._core.numeric"):
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module.endswith("multiarray") and name in ("_reconstruct", "scalar"):
            return getattr(_numpy_core("multiarray"), name)
        if module.endswith("numeric") and name == "_frombuffer":
            return getattr(_numpy_core("numeric"), name)
    if (module, name) == ("_codecs", "encode"):  # bytes in a Python 3 protocol-2 pickle
        import _codecs

        return _codecs.encode
    if (module, name) in (("collections", "OrderedDict"),):
        import collections

        return collections.OrderedDict
    return None


class _RefusedGlobal(pickle.UnpicklingError):
    """The pickle references a global outside the allow-list."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles containers of NumPy arrays; refuses any other global."""

    def find_class(self, module, name):
        found = _allowed(module, name)
        if found is None:
            raise _RefusedGlobal(
                f"refusing to load the global {module}.{name}: only NumPy arrays, "
                f"dicts and lists are allowed"
            )
        return found


def load_npy_restricted(path):
    """Read a ``.npy`` file; object arrays are unpickled with a restricted unpickler.

    Returns the array (for a 0-d object array, e.g. a saved dict, call ``.item()``).
    Raises ``ConversionError`` for a file that is not a readable ``.npy`` or whose
    pickle references anything but NumPy array reconstruction.
    """
    path = Path(path)
    try:
        handle = open(path, "rb")
    except OSError as error:
        raise ConversionError(f"cannot read {path}: {error}") from error
    with handle:
        try:
            version = npy_format.read_magic(handle)
            if version == (1, 0):
                shape, fortran_order, dtype = npy_format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, fortran_order, dtype = npy_format.read_array_header_2_0(handle)
            else:
                shape, fortran_order, dtype = npy_format._read_array_header(handle, version)
        except (ValueError, OSError, SyntaxError, EOFError) as error:
            raise ConversionError(
                f"not a NumPy .npy file: {path} ({error}); {_EXPECTED_FILE}"
            ) from None
        if dtype.hasobject:
            try:
                array = _RestrictedUnpickler(handle, encoding="latin1").load()
            except _RefusedGlobal as error:
                raise ConversionError(f"{path}: {error}") from None
            except Exception as error:  # EOFError, ValueError, TypeError, ...
                raise ConversionError(
                    f"{path}: corrupt or truncated pickle in the .npy file "
                    f"({type(error).__name__}: {str(error)[:200]}); {_EXPECTED_FILE}"
                ) from None
            if not isinstance(array, np.ndarray):
                raise ConversionError(f"{path}: the pickle holds a {type(array).__name__}, "
                                      f"not an array; {_EXPECTED_FILE}")
            return array
        count = int(np.prod(shape, dtype=np.int64))
        data = handle.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
            raise ConversionError(f"{path}: truncated .npy file; {_EXPECTED_FILE}")
        array = np.frombuffer(data, dtype=dtype)
        if fortran_order:
            return array.reshape(shape[::-1]).transpose().copy()
        return array.reshape(shape).copy()


def _params(entry, layer, source):
    """``[W, b]`` / ``(W, b)`` / ``{"weights": W, "biases": b}`` -> (W, b)."""
    if isinstance(entry, dict):
        if "weights" not in entry or "biases" not in entry:
            raise ConversionError(
                f"{source}: layer {layer} has keys {sorted(map(str, entry))}, expected "
                f"'weights' and 'biases'"
            )
        return entry["weights"], entry["biases"]
    if isinstance(entry, (list, tuple)) and len(entry) == 2:
        return entry[0], entry[1]
    raise ConversionError(
        f"{source}: layer {layer} holds {type(entry).__name__}"
        f"{f' of length {len(entry)}' if isinstance(entry, (list, tuple)) else ''}; "
        f"expected [weights, biases] or {{'weights': ..., 'biases': ...}}"
    )


def read_alexnet_npy(path, include_fc=True):
    """caffe-tensorflow ``bvlc_alexnet.npy`` -> ``{layer: (kernel, bias)}`` (Keras).

    conv1-conv5 are required; with ``include_fc`` also fc6/fc7, returned as conv6
    (6, 6, 256, 4096) and conv7 (1, 1, 4096, 4096). fc8 is ignored. Shapes are checked
    against BVLC AlexNet (``ConversionError`` names the file, layer and shapes).
    """
    source = str(path)
    array = load_npy_restricted(path)
    table = array.item() if array.dtype.hasobject and array.shape == () else None
    if not isinstance(table, dict):
        raise ConversionError(
            f"{source}: holds a {array.dtype} array of shape {array.shape}, not a dict "
            f"of layers; {_EXPECTED_FILE}"
        )
    table = {k.decode("latin1") if isinstance(k, bytes) else str(k): v
             for k, v in table.items()}
    wanted = [n for n in CAFFE_TF_ALEXNET_SHAPES if include_fc or not n.startswith("fc")]
    missing = [n for n in wanted if n not in table]
    if missing:
        raise ConversionError(
            f"{source}: missing layer(s) {', '.join(missing)} of BVLC AlexNet; the file "
            f"has layers {list(table)}; {_EXPECTED_FILE}"
        )
    weights = {}
    for name in wanted:
        w, b = _params(table[name], name, source)
        w = np.asarray(w)
        b = np.asarray(b)
        want_w, want_b = CAFFE_TF_ALEXNET_SHAPES[name]
        if w.shape != want_w or b.shape != want_b:
            hint = ""
            if name == "fc6" and w.shape == want_w[::-1]:
                hint = " (that is Caffe's (out, in) layout, not caffe-tensorflow's)"
            raise ConversionError(
                f"{source}: layer {name} has weights {w.shape} and biases {b.shape}; "
                f"caffe-tensorflow's BVLC AlexNet has weights {want_w} and biases "
                f"{want_b}{hint}"
            )
        if not (np.issubdtype(w.dtype, np.floating) and np.issubdtype(b.dtype, np.floating)):
            raise ConversionError(f"{source}: layer {name} is not floating point "
                                  f"({w.dtype}, {b.dtype})")
        w = w.astype(np.float32)
        if name == "fc6":
            kernel = w.reshape(6, 6, 256, 4096)  # (H*W*C, out) in (H, W, C) order
        elif name == "fc7":
            kernel = w.reshape(1, 1, 4096, 4096)  # (in, out)
        else:
            kernel = w  # already (kh, kw, in / groups, out)
        weights[CAFFE_TO_KERAS_NAMES[name]] = (np.ascontiguousarray(kernel),
                                       np.ascontiguousarray(b, np.float32))
    return weights


def write_alexnet_npy(path, weights, named=False, extra=None):
    """Write Keras-layout ``{layer: (kernel, bias)}`` as a caffe-tensorflow ``.npy``.

    conv1-conv5 are written as they are, conv6 as fc6 (9216, 4096) and conv7 as fc7
    (4096, 4096); ``named=True`` stores ``{"weights", "biases"}`` dicts instead of
    ``[W, b]`` lists; ``extra`` adds raw entries (e.g. ``{"fc8": [W, b]}``). For tests.
    """
    table = {}
    for name, (kernel, bias) in weights.items():
        kernel = np.asarray(kernel, np.float32)
        bias = np.asarray(bias, np.float32)
        if name == "conv6":
            layer, w = "fc6", kernel.reshape(-1, kernel.shape[-1])
        elif name == "conv7":
            layer, w = "fc7", kernel.reshape(kernel.shape[-2], kernel.shape[-1])
        else:
            layer, w = name, kernel
        table[layer] = {"weights": w, "biases": bias} if named else [w, bias]
    table.update(extra or {})
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:  # a file object: np.save must not append ".npy"
        np.save(handle, np.array(table, dtype=object), allow_pickle=True)
    os.replace(tmp, path)
    return path


def convert_npy(path, out):
    """Convert caffe-tensorflow's ``bvlc_alexnet.npy`` to a named-layer weights file."""
    from weights_conversion.common import save_keras_weights

    weights = read_alexnet_npy(path)
    return save_keras_weights(weights, "caffe", out, source=Path(path).name)
