"""Running exports without Keras: `TFLiteCodeMapper` (the LiteRT interpreter) and
`SavedModelCodeMapper` (``tf.saved_model.load``) give ``encode``, ``projections``,
``bits``, ``upscale`` and ``geometry``, so a ``Segmenter`` runs on an export as on the
Keras model; `codes_agreement` measures how far two sets of code maps agree."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tf_binmap.export.metadata import SERVING_SIGNATURE, ExportError, read_metadata
from tf_binmap.io.images import as_image_batch, scaled_size

__all__ = ["SavedModelCodeMapper", "TFLiteCodeMapper", "codes_agreement", "litert_interpreter"]

logger = logging.getLogger(__name__)


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
        """(height, width) of the network input for an image of (height, width)."""
        return scaled_size(height, width, self.upscale)

    def _check_images(self, images):
        images = as_image_batch(images)
        limit = self.metadata.get("max_request_pixels")
        pixels = images.shape[0] * images.shape[1] * images.shape[2]
        if limit is not None and pixels > int(limit):
            raise ValueError(
                f"{images.shape[0]} image(s) of {images.shape[2]}x{images.shape[1]} hold "
                f"{pixels} pixels, over the {int(limit)} this export takes per request "
                "(metadata max_request_pixels); send fewer or smaller images (Segmenter "
                "max_side), or export again with a larger max_pixels")
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


def litert_interpreter(content: bytes, num_threads: int | None = None):
    """``(interpreter, backend)`` for TFLite flatbuffer ``content``: LiteRT's
    (``ai_edge_litert``, backend "ai_edge_litert"), else TensorFlow's ("tf.lite")."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        backend = "ai_edge_litert"
    except ImportError:
        import tensorflow as tf

        Interpreter, backend = tf.lite.Interpreter, "tf.lite"
    return Interpreter(model_content=content, num_threads=num_threads), backend


class TFLiteCodeMapper(_CodeMapper):
    """Run an ``export_tflite`` file on the LiteRT interpreter (``ai_edge_litert``,
    else ``tf.lite.Interpreter``; ``backend`` says which). Images go in at image scale:
    the graph resizes by ``upscale`` itself (a file exported before tf_binmap did that,
    metadata ``resizes_input: false``, gets the same resize from OpenCV here first). The
    interpreter input is resized to each batch. Not thread-safe (one interpreter)."""

    def __init__(self, path, num_threads=None):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"TFLite model {path} does not exist")
        content = path.read_bytes()
        try:
            self.interpreter, self.backend = litert_interpreter(content, num_threads)
            self._runner = self.interpreter.get_signature_runner(SERVING_SIGNATURE)
        except (ValueError, RuntimeError) as error:
            raise ExportError(f"{path} is not a valid tf_binmap TFLite model "
                              f"({str(error).strip()})") from error
        super().__init__(read_metadata(path))
        self.path = path
        logger.info("TFLite runner for %s uses the %s interpreter", path.name, self.backend)

    def predict(self, images):
        """uint8 RGB images at image scale -> {"codes", "bits", "projections"} as NumPy
        arrays."""
        import cv2

        images = self._check_images(images)
        if self.upscale != 1.0 and not self.metadata.get("resizes_input", False):
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
        """uint8 RGB images at image scale -> {"codes", "bits", "projections"} as NumPy
        arrays."""
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
