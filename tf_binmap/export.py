"""Export a ``BinaryMapModel`` for TF Serving (SavedModel) and phones (TFLite / LiteRT),
and run the exported files without Keras.

* ``export_saved_model``: TF Serving's ``<base_dir>/<model_name>/<version>/`` layout.
  Signature ``serving_default``: ``image`` uint8 (batch, H, W, 3) RGB at *image* scale
  -> ``codes`` int32 (batch, h, w) and ``bits`` uint8 (batch, h, w, n_bits), MSB first,
  both from the same projections. The model's ``upscale`` is baked in: the graph resizes
  with integer ops that reproduce OpenCV's ``INTER_LINEAR`` bit for bit (see
  ``opencv_linear_resize``), so the export gives exactly ``BinaryMapModel.encode``.
  Signature ``serving_bytes``: ``image_bytes`` string (batch,) of JPEG/PNG/BMP/GIF files
  (all of one size) -> the same outputs.
* ``export_tflite``: a ``.tflite`` file with builtin ops only and a dynamic
  (batch, H, W) input at *network* scale (the runner resizes by ``upscale`` with OpenCV,
  as ``encode`` does); float32, float16, dynamic-range or full-integer int8.
* ``TFLiteCodeMapper`` and ``SavedModelCodeMapper``: ``encode``, ``bits``, ``upscale``,
  ``geometry``, so a ``Segmenter`` runs on an export as on the Keras model.

Every export carries ``tf_binmap.json`` (bits, upscale, geometry, layer, ...): in the
SavedModel's ``assets.extra/``, and for TFLite both inside the flatbuffer (metadata
entry ``tf_binmap``) and beside it as ``<path>.json``.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from tf_binmap.io import as_image_batch, atomic_output, scaled_size

logger = logging.getLogger(__name__)

__all__ = [
    "ExportError", "QUANTIZATIONS", "export_saved_model", "export_tflite",
    "export_command", "opencv_linear_resize", "tflite_operators", "read_metadata",
    "TFLiteCodeMapper", "SavedModelCodeMapper", "codes_agreement",
    "default_representative_images",
]

METADATA_NAME = "tf_binmap"
METADATA_FILE = "tf_binmap.json"
SERVING_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"
QUANTIZATIONS = (None, "float16", "dynamic", "int8")
FORMAT_VERSION = 1
# OpenCV's fixed-point bilinear resize of 8-bit images: 11-bit weights.
_RESIZE_BITS = 11


class ExportError(ValueError):
    """An exported model that is corrupt, incomplete or cannot be written."""


# --------------------------------------------------------------------------- metadata
def export_metadata(model, resizes_input, quantization=None):
    """What a runner needs besides the graph, as a JSON-able dict."""
    from tf_binmap import __version__

    stride, offset = model.geometry
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
        # (SavedModel); False: the caller resizes first (TFLite, like encode()).
        "resizes_input": bool(resizes_input),
        "quantization": quantization,
    }


def _check_metadata(metadata, where):
    missing = [key for key in ("bits", "upscale", "geometry", "layer", "resizes_input")
               if key not in metadata]
    if missing or metadata.get("format") != "tf_binmap.export":
        raise ExportError(f"{where}: not tf_binmap export metadata (missing "
                          f"{missing or ['format']})")
    if int(metadata.get("format_version", 0)) > FORMAT_VERSION:
        raise ExportError(f"{where}: export format {metadata['format_version']} is newer "
                          f"than this tf_binmap understands ({FORMAT_VERSION}); upgrade")
    return metadata


# ------------------------------------------------------------------------ graph parts
def _opencv_coefficients(source, target, clamp_weights):
    """Source indices and 11-bit weights per output index, as OpenCV's resize
    (INTER_LINEAR) computes them: ``x = (i + 0.5) / (target / source) - 0.5`` in
    double, cast to float; weights ``round((1 - frac) * 2048)``. Columns clamp the
    weight at the borders, rows only clamp the indices (OpenCV does exactly that)."""
    import tensorflow as tf

    scale = 1.0 / (tf.cast(target, tf.float64) / tf.cast(source, tf.float64))
    position = tf.cast((tf.range(target, dtype=tf.float64) + 0.5) * scale - 0.5,
                       tf.float32)
    floor = tf.floor(position)
    fraction = position - floor
    index = tf.cast(floor, tf.int32)
    if clamp_weights:
        below = index < 0
        above = index >= source - 1
        fraction = tf.where(below | above, tf.zeros_like(fraction), fraction)
        index = tf.where(below, tf.zeros_like(index),
                         tf.where(above, tf.fill(tf.shape(index), source - 1), index))
    weight = tf.cast(tf.round((1.0 - fraction) * float(1 << _RESIZE_BITS)), tf.int32)
    first = tf.clip_by_value(index, 0, source - 1)
    second = tf.clip_by_value(index + 1, 0, source - 1)
    return first, second, weight, (1 << _RESIZE_BITS) - weight


def opencv_linear_resize(images, height, width):
    """uint8 (batch, H, W, C) -> uint8 (batch, height, width, C), equal bit for bit to
    ``cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)``.

    TensorFlow ops only (gather, integer multiply-add, shifts). OpenCV resizes 8-bit
    images in fixed point: a horizontal pass with 11-bit weights into int32, then a
    vertical pass that computes ``((b0 * (D0 >> 4)) >> 16) + ((b1 * (D1 >> 4)) >> 16)
    + 2 >> 2``. ``tf.image.resize`` (bilinear, half-pixel centres, rounded) differs
    from it by one grey level in ~9% of the pixels at x2, which flips some bits.
    """
    import tensorflow as tf

    shape = tf.shape(images)
    rows = _opencv_coefficients(shape[1], height, clamp_weights=False)
    cols = _opencv_coefficients(shape[2], width, clamp_weights=True)
    pixels = tf.cast(images, tf.int32)
    horizontal = (tf.gather(pixels, cols[0], axis=2) * cols[2][:, None]
                  + tf.gather(pixels, cols[1], axis=2) * cols[3][:, None])
    top = tf.bitwise.right_shift(tf.gather(horizontal, rows[0], axis=1), 4)
    bottom = tf.bitwise.right_shift(tf.gather(horizontal, rows[1], axis=1), 4)
    out = (tf.bitwise.right_shift(rows[2][:, None, None] * top, 16)
           + tf.bitwise.right_shift(rows[3][:, None, None] * bottom, 16) + 2)
    return tf.cast(tf.clip_by_value(tf.bitwise.right_shift(out, 2), 0, 255), tf.uint8)


def _network_size(size, upscale):
    """``max(1, round(size * upscale))`` with Python's round-half-even, as encode()."""
    import tensorflow as tf

    scaled = tf.round(tf.cast(size, tf.float64) * float(upscale))
    return tf.maximum(tf.cast(scaled, tf.int32), 1)


def _preprocess(model, images):
    """The model's ``ImagePreprocessing``, with Caffe's RGB -> BGR flip done on the
    uint8 image, before the cast (the same values). The TFLite int8 quantizer mis-scales
    a REVERSE_V2 between the input QUANTIZE and a SUB (conv1 came out with a relative
    error of 170%); on the raw uint8 input the flip is outside quantization."""
    import tensorflow as tf

    from tf_binmap.models.layers import ImagePreprocessing

    layer = model.get_layer("preprocessing")
    if not layer.bgr:
        return layer(images)
    in_network_order = ImagePreprocessing(layer.mean, layer.std, layer.scale, bgr=False,
                                          name="preprocessing_bgr_input")
    return in_network_order(tf.reverse(images, axis=[-1]))


def _codes_and_bits(model, images):
    """Network-scale uint8 images -> {"codes": int32 (b, h, w), "bits": uint8
    (b, h, w, n), "projections": float32 (b, h, w, n)}, all from one pass (the Keras
    model's own layers and weights). The projections (before the threshold) are the
    soft codes the hierarchical segmentation averages over regions."""
    import tensorflow as tf

    features = model.backbone(_preprocess(model, images))[model.feature_layer]
    projections = model.hashing.project(features)
    hard = projections >= 0.0
    weights = tf.constant([1 << (model.bits - 1 - i) for i in range(model.bits)], tf.int32)
    codes = tf.reduce_sum(tf.cast(hard, tf.int32) * weights, axis=-1)
    return {"codes": codes, "bits": tf.cast(hard, tf.uint8),
            "projections": tf.cast(projections, tf.float32)}


def _image_scale_outputs(model, images):
    """Image-scale uint8 images -> outputs, resizing by ``upscale`` in the graph."""
    import tensorflow as tf

    if model.upscale != 1.0:
        shape = tf.shape(images)
        height, width = _network_size(shape[1], model.upscale), _network_size(
            shape[2], model.upscale)
        images = opencv_linear_resize(images, height, width)
    shape = tf.shape(images)
    need = model.backbone.min_input_size
    checks = [tf.debugging.assert_greater_equal(
        shape[axis], need, message=f"image {side} after upscale x{model.upscale:g} is "
        f"below the {need} pixels AlexNet ({model.backbone.variant}) needs for "
        f"{model.feature_layer}") for axis, side in ((1, "height"), (2, "width"))]
    with tf.control_dependencies(checks):
        images = tf.identity(images)
    return _codes_and_bits(model, images)


def _decode_images(image_bytes):
    import tensorflow as tf

    def decode(data):
        image = tf.io.decode_image(data, channels=3, dtype=tf.uint8,
                                   expand_animations=False)
        image.set_shape([None, None, 3])
        return image

    return tf.map_fn(decode, image_bytes,
                     fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))


def _export_archive(model, image_scale):
    """A ``keras.export.ExportArchive`` with the serving signatures.

    ``image_scale=True``: the TF Serving graph (resize inside, plus ``serving_bytes``);
    ``False``: the network-scale graph converted to TFLite (no resize, no asserts)."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    image_spec = tf.TensorSpec([None, None, None, 3], tf.uint8, name="image")
    if not image_scale:
        archive.add_endpoint(SERVING_SIGNATURE, lambda image: _codes_and_bits(model, image),
                             input_signature=[image_spec])
        return archive
    archive.add_endpoint(SERVING_SIGNATURE,
                         lambda image: _image_scale_outputs(model, image),
                         input_signature=[image_spec])
    archive.add_endpoint(
        BYTES_SIGNATURE,
        lambda image_bytes: _image_scale_outputs(model, _decode_images(image_bytes)),
        input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    return archive


# ------------------------------------------------------------------ atomic writing
def _refuse_existing(path, overwrite, what):
    path = Path(path)
    if overwrite or not path.exists():
        return
    if path.is_dir() and not any(path.iterdir()):
        return
    raise FileExistsError(f"{what} {path} already exists; pass overwrite=True "
                          "(--overwrite) to replace it")


def _replace_dir(source, target):
    """Move the finished directory ``source`` to ``target``, replacing ``target``."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rename(target, old / target.name)
    try:
        os.rename(source, target)
    except BaseException:
        if old is not None:
            os.rename(old / target.name, target)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _write_file_atomic(path, data):
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
    return Path(path)


def _json_bytes(metadata):
    return (json.dumps(metadata, indent=2) + "\n").encode()


# ----------------------------------------------------------------------- SavedModel
def export_saved_model(model, base_dir="saved_models", version=1, model_name=None,
                       overwrite=False):
    """Write ``model`` as a SavedModel at ``<base_dir>/<model_name>/<version>/``.

    Signatures ``serving_default`` (``image`` uint8 (None, None, None, 3) at image
    scale) and ``serving_bytes`` (``image_bytes`` string (None,), encoded images of one
    size), both -> ``codes`` int32 (batch, h, w) and ``bits`` uint8 (batch, h, w, n).
    The version directory is written under a temporary name and renamed when
    complete; an existing non-empty one is replaced only with ``overwrite=True``.
    Returns the version directory.
    """
    version = int(version)
    if version < 0:
        raise ValueError(f"version must be a non-negative integer, got {version}")
    model_dir = Path(base_dir) / (model_name or model.name)
    target = model_dir / str(version)
    _refuse_existing(target, overwrite, "SavedModel version directory")
    model_dir.mkdir(parents=True, exist_ok=True)
    # A hidden, non-numeric name: TF Serving never takes it for a version.
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=model_dir))
    try:
        _export_archive(model, image_scale=True).write_out(str(staging), verbose=False)
        extra = staging / "assets.extra"
        extra.mkdir(exist_ok=True)
        (extra / METADATA_FILE).write_bytes(_json_bytes(export_metadata(model, True)))
        for root, _dirs, files in os.walk(staging):  # mkdtemp makes it 0700
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        _replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("SavedModel written to %s", target)
    return target


# --------------------------------------------------------------------------- TFLite
def _normalize_quantization(quantization):
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


def _representative_dataset(model, images, max_side):
    """Calibration inputs at network scale (resized by ``upscale`` with OpenCV, as the
    runner does), centre-cropped to at most ``max_side`` pixels a side."""
    from tf_binmap.io import list_images, read_image_rgb

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
            network = model.resize_for_network(image)
            height, width = network.shape[1:3]
            if min(height, width) < need:
                raise ValueError(f"representative image of {height}x{width} network "
                                 f"pixels is below the {need} the model needs")
            top = (height - min(height, max_side)) // 2
            left = (width - min(width, max_side)) // 2
            yield {"image": np.ascontiguousarray(
                network[:, top:top + max_side, left:left + max_side])}

    return dataset


def _embed_metadata(content, metadata):
    """Add (or replace) the ``tf_binmap`` metadata entry of a TFLite flatbuffer."""
    from tensorflow.lite.tools import flatbuffer_utils

    schema = flatbuffer_utils.schema_fb
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(_json_bytes(metadata), np.uint8)
    model.buffers = list(model.buffers or []) + [buffer]
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or [])
                      if m.name not in (METADATA_NAME, METADATA_NAME.encode())] + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def export_tflite(model, path, quantization=None, representative_images=None,
                  overwrite=False, calibration_size=513):
    """Write ``model`` as a TFLite file with builtin ops only.

    Input ``image`` uint8 (batch, H, W, 3) at network scale (resize by ``upscale``
    first; ``TFLiteCodeMapper`` does), dynamic batch/H/W (``resize_tensor_input``).
    Outputs ``codes`` int32 (batch, h, w), ``bits`` uint8 (batch, h, w, n_bits) and
    ``projections`` float32 (batch, h, w, n_bits).

    ``quantization``: ``None`` (float32), ``"float16"`` (weights), ``"dynamic"``
    (int8 weights, float activations) or ``"int8"`` (full integer: calibrated on
    ``representative_images``, arrays or paths or a folder, default
    ``default_representative_images()``, resized by ``upscale`` and centre-cropped to
    ``calibration_size``). In the int8 model the uint8 image is cast and quantized at
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

    quantization = _normalize_quantization(quantization)
    path = Path(path)
    _refuse_existing(path, overwrite, "TFLite file")
    if path.is_dir():
        raise ExportError(f"{path} is a directory; give a .tflite file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tf_binmap_tflite_") as staging:
        _export_archive(model, image_scale=False).write_out(staging, verbose=False)
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
            converter.representative_dataset = _representative_dataset(
                model, representative_images, calibration_size)
        content = converter.convert()
    metadata = export_metadata(model, False, quantization)
    content = _embed_metadata(content, metadata)
    custom = [name for name in tflite_operators(content) if not _is_builtin(name)]
    if custom:  # the converter was told builtins only; guard anyway
        raise ExportError(f"TFLite conversion produced non-builtin ops {custom}")
    _write_file_atomic(path, content)
    _write_file_atomic(Path(f"{path}.json"), _json_bytes(metadata))
    logger.info("TFLite (%s) written to %s (%.1f MB)", quantization or "float32", path,
                len(content) / 1e6)
    return path


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def _is_builtin(name):
    return not name.startswith(("CUSTOM", "Flex"))


def tflite_operators(model):
    """``Counter`` of the operators in a TFLite model (path or bytes), by builtin
    name (``"CONV_2D"``, ...); custom ops (Flex included) as ``"CUSTOM:<name>"``."""
    content = model if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
    schema = _schema()
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


def _embedded_metadata(content):
    schema = _schema()
    root = schema.Model.GetRootAs(content, 0)
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        if entry.Name() == METADATA_NAME.encode():
            return json.loads(root.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    return None


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
            return _check_metadata(json.loads(file.read_text()), file)
        except json.JSONDecodeError as error:
            raise ExportError(f"{file}: corrupt metadata ({error})") from error
    if not path.is_file():
        raise FileNotFoundError(f"TFLite model {path} does not exist")
    try:
        metadata = _embedded_metadata(path.read_bytes())
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
    return _check_metadata(metadata, path)


# --------------------------------------------------------------------------- runners
class _CodeMapper:
    """The interface ``Segmenter`` needs: ``encode``, ``bits``, ``upscale``,
    ``geometry``; filled from an export's metadata."""

    def __init__(self, metadata):
        self.metadata = metadata
        self.bits = int(metadata["bits"])
        self.upscale = float(metadata["upscale"])
        self.geometry = (int(metadata["geometry"]["stride"]),
                         float(metadata["geometry"]["offset"]))
        self.feature_layer = metadata["layer"]
        self.min_input_size = int(metadata.get("min_input_size", 1))

    def network_size(self, height, width):
        return scaled_size(height, width, self.upscale)

    def _check_images(self, images):
        images = as_image_batch(images)
        for side, value in zip(("height", "width"), self.network_size(*images.shape[1:3])):
            if value < self.min_input_size:
                raise ValueError(
                    f"image {side} {value} (after upscale x{self.upscale:g}) is smaller "
                    f"than the {self.min_input_size} pixels the exported model needs; "
                    "upscale or pad the image")
        return images

    def encode(self, images):
        """uint8 RGB (batch, H, W, 3) or (H, W, 3) at image scale -> int32 code maps
        (batch, h, w), as ``BinaryMapModel.encode``."""
        return self.predict(images)["codes"]

    def projections(self, images):
        """uint8 RGB images at image scale -> float32 ITQ projections (batch, h, w,
        n_bits), as ``BinaryMapModel.projections`` (what ``Segmenter``'s hierarchy
        needs)."""
        outputs = self.predict(images)
        if "projections" not in outputs:
            raise ExportError(f"{self.path} outputs codes and bits only (exported by an "
                              "older tf_binmap); export it again for the projections, or "
                              "use Segmenter(merge='codes')")
        return outputs["projections"]

    def predict(self, images):
        """-> {"codes": int32 (batch, h, w), "bits": uint8 (batch, h, w, n_bits),
        "projections": float32 (batch, h, w, n_bits)}."""
        raise NotImplementedError

    @staticmethod
    def _collect(outputs):
        result = {"codes": np.asarray(outputs["codes"], np.int32),
                  "bits": np.asarray(outputs["bits"], np.uint8)}
        if "projections" in outputs:
            result["projections"] = np.asarray(outputs["projections"], np.float32)
        return result


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, "tf.lite"


class TFLiteCodeMapper(_CodeMapper):
    """Run an ``export_tflite`` file on the LiteRT interpreter (``ai_edge_litert``,
    else ``tf.lite.Interpreter``; ``backend`` says which). Images are resized by
    ``upscale`` with OpenCV exactly as ``BinaryMapModel.encode`` does, and the
    interpreter input is resized to each batch. Not thread-safe (one interpreter)."""

    def __init__(self, path, num_threads=None):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"TFLite model {path} does not exist")
        content = path.read_bytes()
        interpreter_class, self.backend = _interpreter_class()
        try:
            self.interpreter = interpreter_class(model_content=content,
                                                 num_threads=num_threads)
            self._runner = self.interpreter.get_signature_runner(SERVING_SIGNATURE)
        except (ValueError, RuntimeError) as error:
            raise ExportError(f"{path} is not a valid tf_binmap TFLite model "
                              f"({str(error).strip()})") from error
        super().__init__(read_metadata(path))
        self.path = path
        logger.info("TFLite runner for %s uses the %s interpreter", path.name, self.backend)

    def predict(self, images):
        import cv2

        images = self._check_images(images)
        if self.upscale != 1.0:
            height, width = self.network_size(*images.shape[1:3])
            images = np.stack([cv2.resize(image, (width, height),
                                          interpolation=cv2.INTER_LINEAR)
                               for image in images])
        return self._collect(self._runner(image=np.ascontiguousarray(images)))


def _saved_model_version_dir(path):
    """A version directory, or the newest numeric version under a model directory."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"SavedModel directory {path} does not exist")
    if (path / "saved_model.pb").is_file():
        return path
    versions = [p for p in path.iterdir() if p.name.isdigit()
                and (p / "saved_model.pb").is_file()]
    if not versions:
        raise ExportError(f"{path} holds no saved_model.pb (nor version directories "
                          "with one); not a SavedModel")
    return max(versions, key=lambda p: int(p.name))


class SavedModelCodeMapper(_CodeMapper):
    """Run an ``export_saved_model`` directory (a version directory, or the model
    directory: then its newest version) with ``tf.saved_model.load``; the graph
    itself resizes by ``upscale``."""

    def __init__(self, path):
        import tensorflow as tf

        path = _saved_model_version_dir(path)
        metadata = read_metadata(path)
        try:
            self.loaded = tf.saved_model.load(str(path))
            self._signature = self.loaded.signatures[SERVING_SIGNATURE]
        except (OSError, ValueError, KeyError, tf.errors.OpError) as error:
            raise ExportError(f"{path}: cannot load the SavedModel "
                              f"({str(error).strip()[:300]})") from error
        super().__init__(metadata)
        self.path = path

    def predict(self, images):
        import tensorflow as tf

        images = self._check_images(images)
        outputs = self._signature(image=tf.constant(images))
        return self._collect({key: value.numpy() for key, value in outputs.items()})


# ------------------------------------------------------------------------ comparison
def codes_agreement(reference, other, bits):
    """Agreement of two sets of code maps (arrays, or lists of per-image arrays of
    any shapes): {"bit_agreement": fraction of equal bits, "code_agreement": fraction
    of cells with equal codes, "cells": number of cells compared}."""
    if isinstance(reference, np.ndarray) and isinstance(other, np.ndarray):
        reference, other = [reference], [other]
    reference, other = list(reference), list(other)
    if len(reference) != len(other):
        raise ValueError(f"{len(reference)} reference code maps but {len(other)} others")
    cells = equal_codes = differing_bits = 0
    for a, b in zip(reference, other):
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        if a.shape != b.shape:
            raise ValueError(f"code maps of different shapes {a.shape} and {b.shape}")
        xor = np.bitwise_xor(a, b)
        cells += xor.size
        equal_codes += int(np.count_nonzero(xor == 0))
        differing_bits += int(sum(np.count_nonzero((xor >> i) & 1) for i in range(bits)))
    if cells == 0:
        raise ValueError("no code-map cells to compare")
    return {"bit_agreement": 1.0 - differing_bits / (cells * bits),
            "code_agreement": equal_codes / cells, "cells": cells}


# ------------------------------------------------------------------------------ CLI
def export_command(preset, format, quantize, out, overwrite, weights_path=None,
                   itq_path=None, version=1, representative_images=None):
    """``tf-binmap export``: build a binary-map preset and export it.

    ``format``: ``"saved_model"`` (-> ``<out>/<preset>/<version>/``; ``quantize``
    must be none) or ``"tflite"`` (-> ``<out>/<preset>[_<quantize>].tflite`` plus its
    ``.json``). ``quantize``: none, float16, dynamic or int8. Returns the path written.
    """
    from tf_binmap.models.binary_map import BinaryMapModel
    from tf_binmap.presets import DEFAULT_BINARY_MAP_PRESET

    quantization = _normalize_quantization(quantize)
    if format not in ("saved_model", "tflite"):
        raise ValueError(f"format must be 'saved_model' or 'tflite', got {format!r}")
    if format == "saved_model" and quantization is not None:
        raise ValueError("--quantize applies to --format tflite only (TF Serving runs "
                         "the float32 SavedModel)")
    preset = preset or DEFAULT_BINARY_MAP_PRESET
    model = BinaryMapModel.from_preset(preset, weights_path=weights_path,
                                       itq_path=itq_path)
    if format == "saved_model":
        return export_saved_model(model, base_dir=out, version=version,
                                  overwrite=overwrite)
    suffix = f"_{quantization}" if quantization else ""
    return export_tflite(model, Path(out) / f"{model.name}{suffix}.tflite",
                         quantization=quantization,
                         representative_images=representative_images,
                         overwrite=overwrite)
