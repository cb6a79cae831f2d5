"""What an export carries besides its graph: ``tf_binmap.json`` (bits, upscale,
geometry, layer, whether the graph resizes its input, the largest image it takes, ...),
in a SavedModel's ``assets.extra/`` and, for TFLite, inside the flatbuffer (metadata
entry ``tf_binmap``) and beside it as ``<path>.json``; `read_metadata` finds it."""

from __future__ import annotations

import json
from pathlib import Path

from tf_binmap import __version__
from tf_binmap.export.flatbuffer import ENTRY_NAME, embedded_metadata

__all__ = ["BYTES_SIGNATURE", "DEFAULT_MAX_REQUEST_PIXELS", "FORMAT_VERSION", "METADATA_FILE",
           "METADATA_NAME", "SERVING_SIGNATURE", "ExportError", "check_metadata",
           "export_metadata", "json_bytes", "read_metadata"]


#: The metadata's name inside a TFLite file, and its file name beside a TFLite file or in a
#: SavedModel's ``assets.extra/``.
METADATA_NAME = ENTRY_NAME
METADATA_FILE = "tf_binmap.json"
SERVING_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"
#: 2: the TFLite graph resizes its input (image scale), as the SavedModel always did; a
#: version-1 TFLite file takes network-scale images (its runner resizes first).
FORMAT_VERSION = 2
#: The most image pixels one SavedModel request may hold, all its images together (by
#: their headers for ``serving_bytes``, before decoding): 16 megapixels, e.g. one
#: 4900x3265 photo or 100 BSDS500 images. The graph works at full size (x2 for the
#: presets): about 0.2 kB of memory per image pixel, so some 3 GB at the limit
#: (docs/serving.md).
DEFAULT_MAX_REQUEST_PIXELS = 16_000_000


class ExportError(ValueError):
    """An exported model that is corrupt, incomplete or cannot be written."""


def export_metadata(model, resizes_input: bool = True, quantization: str | None = None,
                    max_request_pixels: int | None = None) -> dict:
    """What a runner needs besides the graph, as a JSON-able dict (with
    ``max_request_pixels`` when the graph refuses larger requests: SavedModels)."""
    stride, offset = model.geometry
    limit = {} if max_request_pixels is None else {
        "max_request_pixels": int(max_request_pixels)}
    return {
        "format": "tf_binmap.export",
        "format_version": FORMAT_VERSION,
        "tf_binmap_version": __version__,
        "model_name": model.name,
        "bits": int(model.bits),
        "upscale": float(model.upscale),
        "geometry": {"stride": int(stride), "offset": float(offset)},
        "layer": model.feature_layer,
        "variant": model.backbone.variant,
        "min_input_size": int(model.backbone.min_input_size),
        "code_dtype": "int32",
        "bit_order": "msb_first",
        # True: the graph takes images at image scale and resizes by `upscale` itself
        # (every export since format 2); False: the caller resizes first (format-1
        # TFLite files).
        "resizes_input": bool(resizes_input),
        "quantization": quantization,
        **limit,
    }


def check_metadata(metadata, where):
    """``metadata`` if it is tf_binmap export metadata this version understands, else an
    ExportError naming ``where``."""
    missing = [key for key in ("bits", "upscale", "geometry", "layer", "resizes_input")
               if key not in metadata]
    if missing or metadata.get("format") != "tf_binmap.export":
        raise ExportError(f"{where}: not tf_binmap export metadata (missing "
                          f"{missing or ['format']})")
    if int(metadata.get("format_version", 0)) > FORMAT_VERSION:
        raise ExportError(f"{where}: export format {metadata['format_version']} is newer "
                          f"than this tf_binmap understands ({FORMAT_VERSION}); upgrade")
    return metadata


def json_bytes(metadata):
    """``metadata`` as indented UTF-8 JSON bytes."""
    return (json.dumps(metadata, indent=2) + "\n").encode()


def read_metadata(path):
    """The ``tf_binmap.json`` metadata of an export: a ``.tflite`` file (embedded
    entry, else the ``<path>.json`` sidecar) or a SavedModel version directory."""
    path = Path(path)
    if path.is_dir():
        file = path / "assets.extra" / METADATA_FILE
        if not file.is_file():
            raise ExportError(f"{path}: no assets.extra/{METADATA_FILE}; not a tf_binmap "
                              "export (write it with tf_binmap.export.export_saved_model)")
        try:
            return check_metadata(json.loads(file.read_text()), file)
        except json.JSONDecodeError as error:
            raise ExportError(f"{file}: corrupt metadata ({error})") from error
    if not path.is_file():
        raise FileNotFoundError(f"TFLite model {path} does not exist")
    try:
        metadata = embedded_metadata(path.read_bytes())
    except Exception as error:  # garbage makes the flatbuffer reader fail anyhow
        raise ExportError(f"{path} is not a valid TFLite model ({error})") from error
    sidecar = Path(f"{path}.json")
    if metadata is None and sidecar.is_file():
        try:
            metadata = json.loads(sidecar.read_text())
        except json.JSONDecodeError as error:
            raise ExportError(f"{sidecar}: corrupt metadata ({error})") from error
    if metadata is None:
        raise ExportError(f"{path} has no tf_binmap metadata (embedded or {sidecar.name}); "
                          "export it with tf_binmap.export.export_tflite")
    return check_metadata(metadata, path)
