"""A `BinaryMapModel` as a TFLite / LiteRT file with builtin ops only: float32, float16,
dynamic-range or full-integer int8 (calibrated on real photos)."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from tf_binmap.export.flatbuffer import embed_metadata, is_builtin, tflite_operators
from tf_binmap.export.graph import export_archive
from tf_binmap.export.metadata import (
    SERVING_SIGNATURE,
    ExportError,
    export_metadata,
    json_bytes,
)
from tf_binmap.export.resize import integer_upscale_factor
from tf_binmap.io.files import refuse_existing, write_bytes_atomic
from tf_binmap.io.images import list_images, read_image_rgb

__all__ = ["QUANTIZATIONS", "default_representative_images", "export_tflite",
           "normalize_quantization"]

logger = logging.getLogger(__name__)


QUANTIZATIONS = (None, "float16", "dynamic", "int8")

def normalize_quantization(quantization: str | None) -> str | None:
    """``None`` for float32 (also "none" / "float32"), else one of `QUANTIZATIONS`; a
    ValueError names the valid values."""
    if quantization in (None, "none", "float32"):
        return None
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of None, 'float16', 'dynamic', "
                         f"'int8', got {quantization!r}")
    return quantization


def default_representative_images():
    """Real photos for int8 calibration: scikit-image's bundled astronaut, chelsea
    (cat), coffee and rocket (uint8 RGB, 300-512 px)."""
    import skimage.data

    return [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(),
            skimage.data.rocket()]


def representative_dataset(model, images, max_side):
    """Calibration inputs: image-scale crops whose network input (after the graph's
    resize by ``upscale``) is at most ``max_side`` pixels a side, centred."""
    if images is None:
        images = default_representative_images()
    elif isinstance(images, (str, os.PathLike)):
        images = list_images(images)
    images = list(images)
    if not images:
        raise ValueError("int8 quantization needs at least one representative image")
    need = model.backbone.min_input_size

    def dataset():
        for image in images:
            if not isinstance(image, np.ndarray):
                image = read_image_rgb(image)
            height, width = image.shape[:2]
            network_height, network_width = model.network_size(height, width)
            if min(network_height, network_width) < need:
                raise ValueError(f"representative image of {height}x{width} pixels is "
                                 f"{network_height}x{network_width} at the network, below "
                                 f"the {need} the model needs")
            side = max(1, int(max_side / model.upscale))
            top = (height - min(height, side)) // 2
            left = (width - min(width, side)) // 2
            yield {"image": np.ascontiguousarray(image[None, top:top + side, left:left + side])}

    return dataset


def export_tflite(model, path, quantization=None, representative_images=None,
                  overwrite=False, calibration_size=513):
    """Write ``model`` as a TFLite file with builtin ops only.

    Input ``image`` uint8 (batch, H, W, 3) at image scale, dynamic batch/H/W
    (``resize_tensor_input``): the graph resizes by ``upscale`` itself, with the integer
    arithmetic of `tf_binmap.export.resize` (bit-exact OpenCV ``INTER_LINEAR``, as the
    SavedModel and ``BinaryMapModel.encode``; in int32 tensors for ``"int8"``, in
    float32 ones otherwise).
    Outputs ``codes`` int32 (batch, h, w), ``bits`` uint8 (batch, h, w, n_bits) and
    ``projections`` float32 (batch, h, w, n_bits).

    ``quantization``: ``None`` (float32), ``"float16"`` (weights), ``"dynamic"``
    (int8 weights, float activations) or ``"int8"`` (full integer: calibrated on
    ``representative_images``, arrays or paths or a folder, default
    ``default_representative_images()``, centre-cropped so the network input is at most
    ``calibration_size`` a side). In the int8 model the uint8 image is cast and quantized at
    the input (Caffe's channel flip happens before, on uint8), the preprocessing, every
    convolution, pooling and the ITQ projection run in int8, the threshold compares the
    int8 projection with its zero point (exactly 0.0), and the packing is int32
    arithmetic; only LRN's SQUARE and POW (caffe variant) stay float between
    DEQUANTIZE/QUANTIZE (TFLite has no int8 kernels for them). Keeping the projection
    in float instead changed no bit agreement, so it is quantized too.

    Metadata is embedded (entry ``tf_binmap``) and written beside the file as
    ``<path>.json``. Returns ``path``.
    """
    import tensorflow as tf

    quantization = normalize_quantization(quantization)
    if quantization == "int8" and model.upscale != 1.0 and \
            integer_upscale_factor(model.upscale) is None:
        raise ExportError(
            f"int8 TFLite export of {model.name}: its upscale x{model.upscale:g} is resized "
            "in the graph with float arithmetic, which full-integer quantization would "
            "coarsen; use an upscale of 1 or a power of two (2, 4, ...), or export "
            "float32, float16 or dynamic")
    path = Path(path)
    refuse_existing(path, overwrite, "TFLite file")
    if path.is_dir():
        raise ExportError(f"{path} is a directory; give a .tflite file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tf_binmap_tflite_") as staging:
        export_archive(model, for_tflite=True, integer_resize=quantization == "int8"
                       ).write_out(staging, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            staging, signature_keys=[SERVING_SIGNATURE])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantization is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif quantization == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                                   tf.lite.OpsSet.TFLITE_BUILTINS]
            converter.representative_dataset = representative_dataset(
                model, representative_images, calibration_size)
        content = converter.convert()
    metadata = export_metadata(model, True, quantization)
    content = embed_metadata(content, metadata)
    custom = [name for name in tflite_operators(content) if not is_builtin(name)]
    if custom:  # the converter was told builtins only; guard anyway
        raise ExportError(f"TFLite conversion produced non-builtin ops {custom}")
    write_bytes_atomic(path, content)
    write_bytes_atomic(Path(f"{path}.json"), json_bytes(metadata))
    logger.info("TFLite (%s) written to %s (%.1f MB)", quantization or "float32", path,
                len(content) / 1e6)
    return path
