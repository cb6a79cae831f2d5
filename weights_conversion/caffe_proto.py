"""A minimal Caffe protobuf schema, built at runtime (no ``protoc``, no Caffe).

Only the fields needed to pull the learned parameters out of a ``.caffemodel``
(a binary ``caffe.NetParameter`` message) are declared.  Protobuf skips fields
that a schema does not declare, so every other field of Caffe's real schema
(convolution_param, bottom/top, ...) is simply ignored when parsing.

Field numbers follow ``src/caffe/proto/caffe.proto`` of BVLC/caffe:

* ``NetParameter``: ``name = 1``, ``layers = 2`` (repeated ``V1LayerParameter``,
  the legacy format used by old model-zoo files such as ``bvlc_alexnet.caffemodel``),
  ``layer = 100`` (repeated ``LayerParameter``, the current format).
* ``LayerParameter``: ``name = 1``, ``type = 2`` (string), ``blobs = 7``.
* ``V1LayerParameter``: ``layer = 1`` (nested ``V0LayerParameter``), ``name = 4``,
  ``type = 5`` (enum ``LayerType``), ``blobs = 6``.
* ``V0LayerParameter`` (the 2013 format): ``name = 1``, ``type = 2`` (string),
  ``blobs = 50``.
* ``BlobProto``: ``num = 1``, ``channels = 2``, ``height = 3``, ``width = 4``
  (legacy 4-D shape, int64), ``data = 5`` (repeated float, packed), ``diff = 6``
  (repeated float, packed), ``shape = 7`` (``BlobShape``), ``double_data = 8``,
  ``double_diff = 9`` (repeated double, packed).
* ``BlobShape``: ``dim = 1`` (repeated int64, packed).

Two variants of the schema are built in a private descriptor pool:

* the *standard* one (``NetParameter``, ``BlobProto``, ...) declares the blob
  payloads exactly as Caffe does (``repeated float ... [packed = true]``);
* the *raw* one (``RawNetParameter``, ``RawBlobProto``, ...) declares the same
  field numbers but the float/double payloads as ``bytes``.  A packed repeated
  float field is, on the wire, one length-delimited record holding the
  little-endian IEEE-754 values back to back -- exactly what a ``bytes`` field
  holds -- so the raw schema reads (and writes) the payloads without creating one
  Python float per value (``bvlc_alexnet.caffemodel`` holds 61 million of them).
  Readers must check that the byte count matches the declared shape and fall back
  to the standard schema otherwise (a non-packed or split encoding is legal
  protobuf, though Caffe never writes it).

Message size: ``bvlc_alexnet.caffemodel`` is ~233 MiB. Old protobuf releases had a
64 MiB default parse limit (C++ ``CodedInputStream``; Python's C++ backend needed
``SetAllowOversizeProtos``); C++ later raised it to INT_MAX, and the upb
backend that Python uses by default since protobuf 4.21 has no such limit, so
``ParseFromString`` takes any message below protobuf's hard 2 GiB limit. Checked with
protobuf 7.36.2 (upb): a 256 MB single-blob NetParameter parses in ~0.2 s.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = [
    "NetParameter",
    "LayerParameter",
    "V1LayerParameter",
    "V0LayerParameter",
    "BlobProto",
    "BlobShape",
    "RawNetParameter",
    "RawLayerParameter",
    "RawV1LayerParameter",
    "RawV0LayerParameter",
    "RawBlobProto",
    "V1_LAYER_TYPES",
]

_FDP = descriptor_pb2.FieldDescriptorProto

# V1LayerParameter.LayerType (caffe.proto).  Only CONVOLUTION and INNER_PRODUCT
# matter for weights, the rest is listed so that files parse into named values.
V1_LAYER_TYPES = {
    "NONE": 0,
    "ACCURACY": 1,
    "BNLL": 2,
    "CONCAT": 3,
    "CONVOLUTION": 4,
    "DATA": 5,
    "DROPOUT": 6,
    "EUCLIDEAN_LOSS": 7,
    "FLATTEN": 8,
    "HDF5_DATA": 9,
    "HDF5_OUTPUT": 10,
    "IM2COL": 11,
    "IMAGE_DATA": 12,
    "INFOGAIN_LOSS": 13,
    "INNER_PRODUCT": 14,
    "LRN": 15,
    "MULTINOMIAL_LOGISTIC_LOSS": 16,
    "POOLING": 17,
    "RELU": 18,
    "SIGMOID": 19,
    "SOFTMAX": 20,
    "SOFTMAX_LOSS": 21,
    "SPLIT": 22,
    "TANH": 23,
    "WINDOW_DATA": 24,
    "ELTWISE": 25,
    "POWER": 26,
    "SIGMOID_CROSS_ENTROPY_LOSS": 27,
    "HINGE_LOSS": 28,
    "MEMORY_DATA": 29,
    "ARGMAX": 30,
    "THRESHOLD": 31,
    "DUMMY_DATA": 32,
    "SLICE": 33,
    "MVN": 34,
    "ABSVAL": 35,
    "SILENCE": 36,
    "CONTRASTIVE_LOSS": 37,
    "EXP": 38,
    "DECONVOLUTION": 39,
}


def _field(msg, name, number, ftype, label=_FDP.LABEL_OPTIONAL, type_name=None, packed=False):
    f = msg.field.add()
    f.name = name
    f.number = number
    f.type = ftype
    f.label = label
    if type_name is not None:
        f.type_name = type_name
    if packed:
        f.options.packed = True
    return f


def _build_file(package: str, raw: bool) -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto()
    fdp.name = f"tf_binmap/{package.replace('.', '_')}.proto"
    fdp.package = package
    fdp.syntax = "proto2"
    prefix = "Raw" if raw else ""
    rep, opt = _FDP.LABEL_REPEATED, _FDP.LABEL_OPTIONAL

    def ref(name):
        return f".{package}.{prefix}{name}"

    # BlobShape
    m = fdp.message_type.add(name=f"{prefix}BlobShape")
    _field(m, "dim", 1, _FDP.TYPE_INT64, rep, packed=True)

    # BlobProto
    m = fdp.message_type.add(name=f"{prefix}BlobProto")
    _field(m, "num", 1, _FDP.TYPE_INT64)
    _field(m, "channels", 2, _FDP.TYPE_INT64)
    _field(m, "height", 3, _FDP.TYPE_INT64)
    _field(m, "width", 4, _FDP.TYPE_INT64)
    if raw:
        _field(m, "data", 5, _FDP.TYPE_BYTES, opt)
        _field(m, "diff", 6, _FDP.TYPE_BYTES, opt)
    else:
        _field(m, "data", 5, _FDP.TYPE_FLOAT, rep, packed=True)
        _field(m, "diff", 6, _FDP.TYPE_FLOAT, rep, packed=True)
    _field(m, "shape", 7, _FDP.TYPE_MESSAGE, opt, type_name=ref("BlobShape"))
    if raw:
        _field(m, "double_data", 8, _FDP.TYPE_BYTES, opt)
        _field(m, "double_diff", 9, _FDP.TYPE_BYTES, opt)
    else:
        _field(m, "double_data", 8, _FDP.TYPE_DOUBLE, rep, packed=True)
        _field(m, "double_diff", 9, _FDP.TYPE_DOUBLE, rep, packed=True)

    # LayerParameter (current format)
    m = fdp.message_type.add(name=f"{prefix}LayerParameter")
    _field(m, "name", 1, _FDP.TYPE_STRING)
    _field(m, "type", 2, _FDP.TYPE_STRING)
    _field(m, "blobs", 7, _FDP.TYPE_MESSAGE, rep, type_name=ref("BlobProto"))

    # V0LayerParameter (2013 format, nested in V1LayerParameter.layer)
    m = fdp.message_type.add(name=f"{prefix}V0LayerParameter")
    _field(m, "name", 1, _FDP.TYPE_STRING)
    _field(m, "type", 2, _FDP.TYPE_STRING)
    _field(m, "blobs", 50, _FDP.TYPE_MESSAGE, rep, type_name=ref("BlobProto"))

    # V1LayerParameter (legacy `layers` field)
    m = fdp.message_type.add(name=f"{prefix}V1LayerParameter")
    enum = m.enum_type.add(name="LayerType")
    for ename, number in V1_LAYER_TYPES.items():
        enum.value.add(name=ename, number=number)
    _field(m, "layer", 1, _FDP.TYPE_MESSAGE, opt, type_name=ref("V0LayerParameter"))
    _field(m, "name", 4, _FDP.TYPE_STRING)
    _field(m, "type", 5, _FDP.TYPE_ENUM, opt, type_name=ref("V1LayerParameter.LayerType"))
    _field(m, "blobs", 6, _FDP.TYPE_MESSAGE, rep, type_name=ref("BlobProto"))

    # NetParameter
    m = fdp.message_type.add(name=f"{prefix}NetParameter")
    _field(m, "name", 1, _FDP.TYPE_STRING)
    _field(m, "layers", 2, _FDP.TYPE_MESSAGE, rep, type_name=ref("V1LayerParameter"))
    _field(m, "layer", 100, _FDP.TYPE_MESSAGE, rep, type_name=ref("LayerParameter"))
    return fdp


def _message_class(descriptor):
    get = getattr(message_factory, "GetMessageClass", None)
    if get is not None:  # protobuf >= 4.21
        return get(descriptor)
    return message_factory.MessageFactory(descriptor.file.pool).GetPrototype(descriptor)  # pragma: no cover


_POOL = descriptor_pool.DescriptorPool()
_STD_PACKAGE = "tf_binmap_caffe"
_RAW_PACKAGE = "tf_binmap_caffe_raw"
_POOL.Add(_build_file(_STD_PACKAGE, raw=False))
_POOL.Add(_build_file(_RAW_PACKAGE, raw=True))


def _cls(package: str, name: str):
    return _message_class(_POOL.FindMessageTypeByName(f"{package}.{name}"))


BlobShape = _cls(_STD_PACKAGE, "BlobShape")
BlobProto = _cls(_STD_PACKAGE, "BlobProto")
LayerParameter = _cls(_STD_PACKAGE, "LayerParameter")
V0LayerParameter = _cls(_STD_PACKAGE, "V0LayerParameter")
V1LayerParameter = _cls(_STD_PACKAGE, "V1LayerParameter")
NetParameter = _cls(_STD_PACKAGE, "NetParameter")

RawBlobShape = _cls(_RAW_PACKAGE, "RawBlobShape")
RawBlobProto = _cls(_RAW_PACKAGE, "RawBlobProto")
RawLayerParameter = _cls(_RAW_PACKAGE, "RawLayerParameter")
RawV0LayerParameter = _cls(_RAW_PACKAGE, "RawV0LayerParameter")
RawV1LayerParameter = _cls(_RAW_PACKAGE, "RawV1LayerParameter")
RawNetParameter = _cls(_RAW_PACKAGE, "RawNetParameter")
