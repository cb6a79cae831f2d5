"""``tf-binmap export``: build a binary-map preset and export it."""

from __future__ import annotations

from pathlib import Path

from tf_binmap.export.saved_model import export_saved_model
from tf_binmap.export.tflite import export_tflite, normalize_quantization
from tf_binmap.presets import DEFAULT_BINARY_MAP_PRESET

__all__ = ["export_command"]


# ------------------------------------------------------------------------------ CLI
def export_command(preset, format, quantize, out, overwrite, weights_path=None,
                   itq_path=None, version=1, representative_images=None, max_pixels=None):
    """``tf-binmap export``: build a binary-map preset and export it.

    ``format``: ``"saved_model"`` (-> ``<out>/<preset>/<version>/``; ``quantize``
    must be none) or ``"tflite"`` (-> ``<out>/<preset>[_<quantize>].tflite`` plus its
    ``.json``). ``quantize``: none, float16, dynamic or int8. ``max_pixels``: the
    SavedModel's request limit (default `DEFAULT_MAX_REQUEST_PIXELS`; TFLite has none).
    Returns the path written.
    """
    from tf_binmap.models.binary_map import BinaryMapModel  # Keras, on first use

    quantization = normalize_quantization(quantize)
    if format not in ("saved_model", "tflite"):
        raise ValueError(f"format must be 'saved_model' or 'tflite', got {format!r}")
    if format == "saved_model" and quantization is not None:
        raise ValueError("--quantize applies to --format tflite only (TF Serving runs "
                         "the float32 SavedModel)")
    if format == "tflite" and max_pixels is not None:
        raise ValueError("--max-pixels applies to --format saved_model only (the TFLite "
                         "graph has no assert ops; its caller sizes the input)")
    preset = preset or DEFAULT_BINARY_MAP_PRESET
    model = BinaryMapModel.from_preset(preset, weights_path=weights_path,
                                       itq_path=itq_path)
    if format == "saved_model":
        limit = {} if max_pixels is None else {"max_pixels": max_pixels}
        return export_saved_model(model, base_dir=out, version=version,
                                  overwrite=overwrite, **limit)
    suffix = f"_{quantization}" if quantization else ""
    return export_tflite(model, Path(out) / f"{model.name}{suffix}.tflite",
                         quantization=quantization,
                         representative_images=representative_images,
                         overwrite=overwrite)
