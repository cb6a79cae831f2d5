"""Reading images as uint8 RGB, and finding image files.

Everything in tf_binmap takes images as uint8 RGB (H, W, 3) arrays. This module is the
boundary where files become such arrays: grayscale, palette, RGBA and 16-bit images are
converted (and each conversion is logged at INFO level), anything else is an
`ImageReadError` that names the file.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["IMAGE_SUFFIXES", "ImageReadError", "as_image_batch", "decode_image_rgb", "list_images",
           "read_image_rgb", "scaled_size"]

logger = logging.getLogger(__name__)


class ImageReadError(ValueError):
    """An image file is missing, corrupt, truncated or of an unsupported kind."""


def _sixteen_to_eight(values: np.ndarray) -> np.ndarray:
    """Scale 0..65535 to 0..255 (x * 255 / 65535, rounded)."""
    return np.rint(values.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)


def _is_sixteen_bit_colour(image: Image.Image) -> bool:
    """True when PIL would silently drop the low byte of a 16-bit RGB(A) file."""
    if image.mode not in ("RGB", "RGBA"):
        return False
    for tile in getattr(image, "tile", None) or ():
        args = tile[3] if isinstance(tile, tuple) else getattr(tile, "args", None)
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def _read_sixteen_bit_colour(source, path) -> np.ndarray:
    """Decode a 16-bit RGB(A) file (``source``: its path, or a stream of its bytes) at
    full precision with OpenCV; returns uint8 RGB."""
    if isinstance(source, io.BytesIO):
        data = cv2.imdecode(np.frombuffer(source.getvalue(), np.uint8), cv2.IMREAD_UNCHANGED)
    else:
        data = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
    if data is None or data.ndim != 3 or data.shape[2] not in (3, 4):
        raise ImageReadError(f"{path}: could not decode this 16-bit colour image")
    if data.shape[2] == 4:
        logger.info("%s: RGBA image, alpha channel dropped", path)
        data = data[:, :, :3]
    data = data[:, :, ::-1]  # OpenCV gives BGR
    if data.dtype == np.uint16:
        logger.info("%s: 16-bit image scaled to 8 bits (x * 255 / 65535)", path)
        data = _sixteen_to_eight(data)
    return np.ascontiguousarray(data, dtype=np.uint8)


def read_image_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as a uint8 RGB array of shape (H, W, 3).

    Conversions (each logged with ``logging.getLogger("tf_binmap.io").info``):
    grayscale -> RGB (channel repeated), palette -> RGB, RGBA / LA -> alpha dropped,
    16-bit -> 8-bit by ``round(x * 255 / 65535)``, CMYK / YCbCr / ... -> RGB.
    EXIF orientation is not applied (pixel data is returned as stored).

    Raises:
        ImageReadError: the file is missing, not an image, truncated or corrupt, or holds
            data that has no sensible RGB reading (e.g. floating-point images).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file; expected an image (JPEG, PNG, BMP, ...)")
    return _decode(path, path)


def decode_image_rgb(data: bytes, name: str) -> np.ndarray:
    """Decode the bytes of an image file (read from any storage, e.g. a Beam filesystem
    or a request) as `read_image_rgb` reads the file: the same conversions, and an
    `ImageReadError` naming ``name`` for data that is no image or is corrupt."""
    return _decode(io.BytesIO(bytes(data)), name)


def _decode(source, path) -> np.ndarray:
    """`read_image_rgb`'s decoding of ``source`` (a path or a stream of the file's
    bytes); messages name ``path``."""
    try:
        with Image.open(source) as image:
            if _is_sixteen_bit_colour(image):
                image.load()  # decode once to detect truncation / corruption
                return _read_sixteen_bit_colour(source, path)
            image.load()
            mode = image.mode
            if mode in ("P", "PA"):
                target = "RGBA" if (mode == "PA" or "transparency" in image.info) else "RGB"
                logger.info("%s: palette image converted to %s", path, target)
                image = image.convert(target)
                mode = image.mode
            if mode == "1":
                logger.info("%s: 1-bit image converted to grayscale", path)
                image = image.convert("L")
                mode = "L"
            if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                logger.info("%s: %s image converted to RGB", path, mode)
                image = image.convert("RGB")
                mode = "RGB"
            data = np.asarray(image)
    except ImageReadError:
        raise
    except UnidentifiedImageError as error:
        raise ImageReadError(
            f"{path}: not a readable image file (unknown format or not an image at all); "
            "expected a JPEG, PNG, BMP, TIFF, ... image - check that the file is what "
            "its name says"
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(
            f"{path}: the image is truncated or corrupt ({error}); re-download or "
            "re-export the file"
        ) from error
    return _to_uint8_rgb(data, mode, path)


def _to_uint8_rgb(data: np.ndarray, mode: str, path) -> np.ndarray:
    """Turn the array PIL decoded (in PIL mode `mode`) into uint8 RGB."""
    if mode in ("RGBA", "RGBX", "RGBa", "LA", "La"):
        logger.info("%s: %s image, alpha channel dropped", path, mode)
        data = data[..., :-1]
        if data.shape[-1] == 1:
            data = data[..., 0]
    if data.dtype == np.uint16 or mode.startswith("I;16"):
        logger.info("%s: 16-bit image scaled to 8 bits (x * 255 / 65535)", path)
        data = _sixteen_to_eight(data)
    elif mode == "I":
        # 32-bit integer mode; PIL uses it for 16-bit grayscale files in some versions.
        if data.min() < 0 or data.max() > 65535:
            raise ImageReadError(
                f"{path}: 32-bit integer image with values outside 0..65535 is not "
                "supported; expected an 8- or 16-bit image"
            )
        logger.info("%s: 16-bit image scaled to 8 bits (x * 255 / 65535)", path)
        data = _sixteen_to_eight(data)
    elif data.dtype == bool:
        data = data.astype(np.uint8) * 255
    if data.dtype != np.uint8:
        raise ImageReadError(
            f"{path}: unsupported pixel type {data.dtype} (PIL mode {mode!r}); expected "
            "an 8- or 16-bit grayscale, RGB or RGBA image"
        )
    if data.ndim == 2:
        logger.info("%s: grayscale image converted to RGB", path)
        data = np.repeat(data[:, :, None], 3, axis=2)
    if data.ndim != 3 or data.shape[2] != 3:
        raise ImageReadError(
            f"{path}: unsupported image layout {data.shape} (PIL mode {mode!r}); "
            "expected grayscale, RGB or RGBA"
        )
    return np.ascontiguousarray(data)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def list_images(patterns):
    """Image files named by ``patterns``: files, folders (their image files, sorted)
    or glob patterns; in the given order, without duplicates. A path that matches
    nothing raises ValueError naming it."""
    import glob

    found = []
    for pattern in [patterns] if isinstance(patterns, (str, os.PathLike)) else patterns:
        path = Path(pattern)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir()
                                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            matches = sorted(Path(p) for p in glob.glob(str(pattern), recursive=True))
            if not matches:
                raise ValueError(f"{pattern}: no such file, folder or matching files")
            found.extend(p for p in matches if p.is_file())
    unique = []
    seen = set()
    for path in found:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique


def as_image_batch(images):
    """uint8 RGB (H, W, 3) or (batch, H, W, 3) -> a (batch, H, W, 3) uint8 array, or a
    ValueError that says what was given."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError("expected uint8 RGB images (batch, H, W, 3), got "
                         f"{images.dtype} {images.shape}")
    return images


def scaled_size(height, width, factor):
    """(height, width) resized by ``factor``, rounded, at least 1: the network-input
    size of an image for a model that upscales by ``factor``."""
    return (max(1, int(round(height * factor))), max(1, int(round(width * factor))))
