"""Reading and editing TFLite flatbuffers: the operators a model uses
(`tflite_operators`, to prove builtin ops only) and the ``tf_binmap`` metadata entry
(`embed_metadata`, `embedded_metadata`)."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np

__all__ = ["ENTRY_NAME", "embed_metadata", "embedded_metadata", "is_builtin", "tflite_operators",
           "tflite_schema"]

#: The name of the metadata entry that holds ``tf_binmap.json`` in a TFLite file.
ENTRY_NAME = "tf_binmap"


def tflite_schema():
    """The generated TFLite flatbuffer schema module (LiteRT's, else TensorFlow's)."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def is_builtin(name):
    """Whether an operator name from `tflite_operators` is a builtin (not custom, not
    Flex)."""
    return not name.startswith(("CUSTOM", "Flex"))


def tflite_operators(model):
    """``Counter`` of the operators in a TFLite model (path or bytes), by builtin
    name (``"CONV_2D"``, ...); custom ops (Flex included) as ``"CUSTOM:<name>"``."""
    content = model if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
    schema = tflite_schema()
    names = {value: name for name, value in vars(schema.BuiltinOperator).items()
             if not name.startswith("_")}
    root = schema.Model.GetRootAs(content, 0)
    codes = []
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i)
        value = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if value == schema.BuiltinOperator.CUSTOM:
            codes.append("CUSTOM:" + (code.CustomCode() or b"").decode())
        else:
            codes.append(names.get(value, f"UNKNOWN_{value}"))
    counts = collections.Counter()
    for s in range(root.SubgraphsLength()):
        subgraph = root.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            counts[codes[subgraph.Operators(o).OpcodeIndex()]] += 1
    return counts


def embedded_metadata(content):
    """The ``tf_binmap`` metadata entry of TFLite flatbuffer bytes as a dict, or None."""
    schema = tflite_schema()
    root = schema.Model.GetRootAs(content, 0)
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        if entry.Name() == ENTRY_NAME.encode():
            return json.loads(root.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    return None


def embed_metadata(content, metadata):
    """Add (or replace) the ``tf_binmap`` metadata entry of a TFLite flatbuffer."""
    from tensorflow.lite.tools import flatbuffer_utils

    schema = flatbuffer_utils.schema_fb
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer((json.dumps(metadata, indent=2) + "\n").encode(), np.uint8)
    model.buffers = list(model.buffers or []) + [buffer]
    entry = schema.MetadataT()
    entry.name = ENTRY_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or [])
                      if m.name not in (ENTRY_NAME, ENTRY_NAME.encode())] + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
