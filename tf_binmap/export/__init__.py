"""Exports of a `BinaryMapModel`: a SavedModel for TF Serving (`saved_model`) and a
TFLite / LiteRT file with builtin ops only (`tflite`), both from one serving graph
(`graph`) that takes images at image scale and resizes them bit-exactly like OpenCV
(`resize`); their metadata (`metadata`, `flatbuffer`); runners that use an export
without Keras (`runners`); and ``tf-binmap export`` (`command`). Names load on first
use."""

from tf_binmap.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "ExportError": "tf_binmap.export.metadata",
    "read_metadata": "tf_binmap.export.metadata",
    "QUANTIZATIONS": "tf_binmap.export.tflite",
    "default_representative_images": "tf_binmap.export.tflite",
    "export_tflite": "tf_binmap.export.tflite",
    "export_saved_model": "tf_binmap.export.saved_model",
    "opencv_linear_resize": "tf_binmap.export.resize",
    "tflite_operators": "tf_binmap.export.flatbuffer",
    "SavedModelCodeMapper": "tf_binmap.export.runners",
    "TFLiteCodeMapper": "tf_binmap.export.runners",
    "codes_agreement": "tf_binmap.export.runners",
    "export_command": "tf_binmap.export.command",
})
