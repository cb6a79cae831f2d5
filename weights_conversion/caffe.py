"""Caffe ``bvlc_alexnet.caffemodel`` -> Keras weights (caffe variant).

A ``.caffemodel`` is a binary ``caffe.NetParameter`` protobuf message. It is parsed with
the minimal schema of ``weights_conversion.caffe_proto`` (no Caffe install), in either
layout Caffe has used:

* current files: ``NetParameter.layer`` (``LayerParameter``, blob shapes in
  ``BlobProto.shape``);
* legacy files such as BVLC's ``bvlc_alexnet.caffemodel`` (2014):
  ``NetParameter.layers`` (``V1LayerParameter``) with 4-d ``num/channels/height/width``
  blob shapes (a bias is then (1, 1, 1, out), an fc weight (1, 1, out, in)), and the
  2013 ``V0LayerParameter`` nested in ``V1LayerParameter.layer``.

Blob layouts (Caffe): convolution weights (out, in / groups, kh, kw), inner-product
weights (out, in); fc6 sees pool5 flattened in (C, H, W) order. They become the
Keras kernels of ``AlexNetFCN("caffe")``: conv1-conv5 (kh, kw, in / groups, out),
fc6 -> conv6 (6, 6, 256, 4096), fc7 -> conv7 (1, 1, 4096, 4096); fc8 is not used.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from google.protobuf.message import DecodeError

from weights_conversion import caffe_proto
from weights_conversion.common import (
    CAFFE_TO_KERAS_NAMES,
    ConversionError,
    conv_oihw_to_hwio,
    fc6_to_conv6,
    fc7_to_conv7,
)

__all__ = [
    "CAFFE_ALEXNET_SHAPES",
    "read_caffemodel",
    "write_caffemodel",
    "caffe_blobs_to_keras",
    "convert_caffemodel",
]

# BVLC AlexNet parameter blobs in Caffe layout: layer -> (weight shape, bias shape).
CAFFE_ALEXNET_SHAPES = {
    "conv1": ((96, 3, 11, 11), (96,)),
    "conv2": ((256, 48, 5, 5), (256,)),
    "conv3": ((384, 256, 3, 3), (384,)),
    "conv4": ((384, 192, 3, 3), (384,)),
    "conv5": ((256, 192, 3, 3), (256,)),
    "fc6": ((4096, 9216), (4096,)),
    "fc7": ((4096, 4096), (4096,)),
}

_EXPECTED_FILE = "expected bvlc_alexnet.caffemodel"


class _NeedsStandardSchema(Exception):
    """The fast (raw bytes) parse cannot account for a blob's values."""


def _not_caffemodel(path, why):
    return ConversionError(
        f"not a Caffe .caffemodel (protobuf NetParameter) file: {path} ({why}); "
        f"{_EXPECTED_FILE}"
    )


def _sniff(data: bytes) -> str | None:
    """A hint for files that are clearly something else."""
    head = data[:512]
    if head.startswith(b"\x89HDF"):
        return "this is an HDF5 file (Caffe's .caffemodel.h5 format is not supported)"
    if head.startswith(b"\x93NUMPY"):
        return "this is a NumPy .npy file; use weights_conversion.npy"
    if head.startswith(b"PK\x03\x04"):
        return "this is a zip archive (a PyTorch checkpoint?)"
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return None
    if text.strip() and all(c.isprintable() or c in "\r\n\t" for c in text):
        if "layer" in text or "name:" in text or "input" in text:
            return ("this looks like a text .prototxt (the network definition); "
                    "the weights are in the binary .caffemodel")
        return "this looks like a text file"
    return None


def _blob_shape(blob) -> tuple[int, ...]:
    if blob.HasField("shape"):
        return tuple(int(d) for d in blob.shape.dim)
    # Legacy 4-d (num, channels, height, width); Caffe reads unset ones as 0.
    if any(blob.HasField(f) for f in ("num", "channels", "height", "width")):
        return (int(blob.num), int(blob.channels), int(blob.height), int(blob.width))
    return ()  # no shape at all: a scalar, as in Caffe's Blob::FromProto


def _blob_array_raw(blob, where) -> np.ndarray:
    shape = _blob_shape(blob)
    count = int(np.prod(shape, dtype=np.int64))
    if blob.data:
        raw, dtype = blob.data, "<f4"
    elif blob.double_data:
        raw, dtype = blob.double_data, "<f8"
    else:
        raw, dtype = b"", "<f4"
    itemsize = np.dtype(dtype).itemsize
    if len(raw) % itemsize or len(raw) // itemsize != count:
        raise _NeedsStandardSchema(where)
    values = np.frombuffer(raw, dtype=dtype)
    return values.astype(np.float32).reshape(shape)  # astype copies (writable)


def _blob_array_std(blob, where, path) -> np.ndarray:
    shape = _blob_shape(blob)
    count = int(np.prod(shape, dtype=np.int64))
    if len(blob.data):
        values = np.fromiter(blob.data, dtype=np.float32, count=len(blob.data))
    elif len(blob.double_data):
        values = np.fromiter(blob.double_data, dtype=np.float64,
                             count=len(blob.double_data)).astype(np.float32)
    else:
        values = np.zeros(0, np.float32)
    if values.size != count:
        raise _not_caffemodel(
            path, f"{where} declares shape {shape} ({count} values) but holds "
                  f"{values.size} values; the file may be truncated or corrupt")
    return values.reshape(shape)


def _layers(net):
    """(name, blobs) of every layer, legacy ``layers`` first (as Caffe upgrades them)."""
    for v1 in net.layers:
        if v1.HasField("layer") and not v1.blobs:  # V0 layer nested in V1
            yield v1.layer.name or v1.name, v1.layer.blobs
        else:
            yield v1.name, v1.blobs
    for layer in net.layer:
        yield layer.name, layer.blobs


def _parse(data: bytes, path, raw: bool) -> dict[str, list[np.ndarray]]:
    net = (caffe_proto.RawNetParameter if raw else caffe_proto.NetParameter)()
    try:
        net.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as error:
        hint = _sniff(data)
        raise _not_caffemodel(
            path, hint or f"protobuf parse error: {error}; truncated or corrupt file?"
        ) from None
    blobs: dict[str, list[np.ndarray]] = {}
    for name, layer_blobs in _layers(net):
        if not layer_blobs:
            continue
        arrays = []
        for index, blob in enumerate(layer_blobs):
            where = f"layer {name!r} blob {index}"
            arrays.append(_blob_array_raw(blob, where) if raw
                          else _blob_array_std(blob, where, path))
        blobs[name] = arrays  # a later layer of the same name wins, as in Caffe
    return blobs


def read_caffemodel(path) -> dict[str, list[np.ndarray]]:
    """Read the parameter blobs of a binary ``.caffemodel``.

    Returns ``{layer name: [blob, ...]}`` (only layers that have blobs, in file order),
    each blob a float32 array of its declared shape (``BlobProto.shape``, or the legacy
    4-d ``num/channels/height/width``). Raises ``ConversionError`` for a file that is
    not a Caffe model.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConversionError(f"cannot read Caffe model {path}: {error}") from error
    if not data:
        raise _not_caffemodel(path, "the file is empty")
    try:
        blobs = _parse(data, path, raw=True)
    except _NeedsStandardSchema:
        # A legal but unusual encoding (unpacked or split float arrays): parse with
        # the exact schema, at the cost of one Python float per value.
        blobs = _parse(data, path, raw=False)
    if not blobs:
        raise _not_caffemodel(path, _sniff(data) or "no layer with parameter blobs")
    return blobs


def write_caffemodel(path, blobs, legacy_v1=False, name="AlexNet"):
    """Write ``{layer name: [blob, ...]}`` as a binary ``.caffemodel``.

    Layers holding a 4-d first blob are written as convolutions, others as inner
    products. ``legacy_v1=False`` writes the current format (``NetParameter.layer``,
    blob shapes in ``BlobProto.shape``); ``legacy_v1=True`` writes the old format of
    ``bvlc_alexnet.caffemodel`` (``NetParameter.layers`` with V1 layer types and 4-d
    ``num/channels/height/width`` shapes, padded with leading 1s). Used by the tests
    to make synthetic files; floats are written as packed little-endian float32.
    """
    net = caffe_proto.RawNetParameter(name=name)
    for layer_name, layer_blobs in blobs.items():
        arrays = [np.asarray(b, dtype=np.float32) for b in layer_blobs]
        is_conv = bool(arrays) and arrays[0].ndim == 4
        if legacy_v1:
            layer = net.layers.add(name=layer_name)
            layer.type = caffe_proto.V1_LAYER_TYPES["CONVOLUTION" if is_conv else "INNER_PRODUCT"]
        else:
            layer = net.layer.add(name=layer_name, type="Convolution" if is_conv else "InnerProduct")
        for array in arrays:
            blob = layer.blobs.add()
            if legacy_v1:
                if array.ndim > 4:
                    raise ValueError(f"{layer_name}: a legacy blob has at most 4 axes, "
                                     f"got {array.shape}")
                num, channels, height, width = (1,) * (4 - array.ndim) + array.shape
                blob.num, blob.channels, blob.height, blob.width = num, channels, height, width
            else:
                blob.shape.dim.extend(int(d) for d in array.shape)
            blob.data = np.ascontiguousarray(array, dtype="<f4").tobytes()
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(net.SerializeToString())
    os.replace(tmp, path)
    return path


def _fit(array, shape):
    """``array`` as ``shape`` if equal up to leading singleton axes, else None."""
    got = tuple(array.shape)
    if got == shape:
        return array
    extra = len(got) - len(shape)
    if extra > 0 and got[:extra] == (1,) * extra and got[extra:] == shape:
        return array.reshape(shape)
    return None


def caffe_blobs_to_keras(blobs, source="<blobs>", include_fc=True):
    """Caffe AlexNet blobs -> ``{layer: (kernel, bias)}`` for ``AlexNetFCN("caffe")``.

    ``blobs`` is ``{caffe layer name: [weight, bias]}`` (as from ``read_caffemodel``).
    conv1-conv5 are required; with ``include_fc`` fc6 and fc7 too (as conv6, conv7).
    Shapes are checked against BVLC AlexNet; ``ConversionError`` names the layer, the
    expected and found shapes and ``source``.
    """
    wanted = [n for n in CAFFE_ALEXNET_SHAPES if include_fc or not n.startswith("fc")]
    missing = [n for n in wanted if n not in blobs]
    if missing:
        raise ConversionError(
            f"{source}: missing layer(s) {', '.join(missing)} of BVLC AlexNet; the file "
            f"has parameter layers {list(blobs)}; {_EXPECTED_FILE}"
        )
    weights = {}
    for name in wanted:
        layer_blobs = list(blobs[name])
        weight_shape, bias_shape = CAFFE_ALEXNET_SHAPES[name]
        if len(layer_blobs) != 2:
            raise ConversionError(
                f"{source}: layer {name} has {len(layer_blobs)} blob(s), expected 2 "
                f"(weight {weight_shape} and bias {bias_shape})"
            )
        weight = _fit(np.asarray(layer_blobs[0], np.float32), weight_shape)
        bias = _fit(np.asarray(layer_blobs[1], np.float32), bias_shape)
        if weight is None or bias is None:
            raise ConversionError(
                f"{source}: layer {name} has weight shape {tuple(np.shape(layer_blobs[0]))} "
                f"and bias shape {tuple(np.shape(layer_blobs[1]))}; BVLC AlexNet expects "
                f"weight {weight_shape} and bias {bias_shape}"
            )
        if name == "fc6":
            kernel = fc6_to_conv6(weight, channels=256, size=6)
        elif name == "fc7":
            kernel = fc7_to_conv7(weight)
        else:
            kernel = conv_oihw_to_hwio(weight)
        weights[CAFFE_TO_KERAS_NAMES[name]] = (kernel, np.ascontiguousarray(bias, np.float32))
    return weights


def read_caffemodel_weights(path, include_fc=True):
    """``read_caffemodel`` + ``caffe_blobs_to_keras``: a file -> Keras weights dict."""
    return caffe_blobs_to_keras(read_caffemodel(path), source=str(path),
                                include_fc=include_fc)


def convert_caffemodel(path, out):
    """Convert ``bvlc_alexnet.caffemodel`` to a named-layer weights file ``out``."""
    from weights_conversion.common import save_keras_weights

    weights = read_caffemodel_weights(path)
    return save_keras_weights(weights, "caffe", out, source=Path(path).name)
