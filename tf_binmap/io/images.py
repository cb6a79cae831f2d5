"""Reading images as uint8 RGB, and finding image files.

Everything in tf_binmap takes images as uint8 RGB (H, W, 3) arrays. This module is the
boundary where files become such arrays: grayscale, palette, RGBA and 16-bit images are
converted, the EXIF orientation applied, the first frame of a multi-frame file taken
(each logged at INFO level), and an image whose header claims more than a pixel limit is
refused before decoding; anything else is an `ImageReadError` that names the file.
"""

from __future__ import annotations

import io
import logging
import os
import re
import stat
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["IMAGE_SUFFIXES", "MAX_IMAGE_PIXELS", "MAX_PIXELS_VARIABLE", "READ_FORMATS",
           "ImageReadError", "as_image_batch", "decode_image_rgb", "list_images",
           "max_image_pixels",
           "read_image_rgb", "scaled_size"]

logger = logging.getLogger(__name__)

#: Images whose header claims more pixels than this are refused before decoding (64
#: megapixels: above every common camera, e.g. 8000 x 8000 or a 61-megapixel full frame;
#: photos are segmented shrunk to 512 pixels anyway). A decoded 64-megapixel image is
#: 192 MB; PIL itself refuses over about 179 megapixels, and a bomb can claim billions.
MAX_IMAGE_PIXELS = 64_000_000

#: The environment variable that overrides `MAX_IMAGE_PIXELS` (0: no limit).
MAX_PIXELS_VARIABLE = "TF_BINMAP_MAX_IMAGE_PIXELS"

#: The formats `read_image_rgb` opens (PIL names; JPEG includes multi-picture MPO files).
#: Others (EPS, which PIL hands to Ghostscript, and a few dozen rare ones) are refused.
READ_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "DIB", "TIFF", "WEBP", "PPM", "TGA")


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


def _read_sixteen_bit_colour(stream, path) -> np.ndarray:
    """Decode a 16-bit RGB(A) file at full precision with OpenCV from the bytes of the
    already open ``stream`` (the same bytes PIL checked); returns uint8 RGB."""
    stream.seek(0)
    data = cv2.imdecode(np.frombuffer(stream.read(), np.uint8), cv2.IMREAD_UNCHANGED)
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


def max_image_pixels(max_pixels: int | None = None) -> int:
    """The pixel limit in force: ``max_pixels`` if given, else the environment variable
    ``TF_BINMAP_MAX_IMAGE_PIXELS``, else `MAX_IMAGE_PIXELS`; 0 means no limit.

    Raises:
        ValueError: the value (or the variable) is not a whole number >= 0.
    """
    source = "max_pixels"
    value = max_pixels
    if value is None:
        text = os.environ.get(MAX_PIXELS_VARIABLE, "").strip()
        if not text:
            return MAX_IMAGE_PIXELS
        source = f"the environment variable {MAX_PIXELS_VARIABLE}"
        try:
            number = float(text)  # 100000000, 1e8
        except ValueError:
            number = -1.0
        if not number.is_integer() or number < 0:
            raise ValueError(f"{source}={text!r}: expected a whole number of pixels "
                             "(e.g. 100000000), or 0 for no limit")
        value = int(number)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{source}={value!r}: expected a whole number of pixels >= 0 "
                         "(0: no limit)")
    return int(value)


def _check_pixels(path: Path, width: int, height: int, limit: int) -> None:
    """Refuse an image whose header claims more than ``limit`` pixels (before decoding)."""
    if width < 1 or height < 1:
        raise ImageReadError(f"{path}: the header gives a {width}x{height} image; the file "
                             "is corrupt - re-download or re-export it")
    if limit and width * height > limit:
        raise ImageReadError(_over_limit(path, f"a {width}x{height} image",
                                         width * height, limit))


def _over_limit(path: Path, what: str, pixels: int, limit: int) -> str:
    """The message for an image over the pixel limit: the file, its size, the limit and
    how to raise it."""
    return (f"{path}: {what} ({pixels / 1e6:.1f} megapixels) is over the limit of "
            f"{limit / 1e6:g} megapixels, refused before decoding (a decompression bomb, "
            "or a huge photo); to read it, raise the limit: --max-pixels N, "
            f"read_image_rgb(..., max_pixels=N) or {MAX_PIXELS_VARIABLE}=N (0: no limit)")


def _open_stream(path: Path):
    """An open binary file for ``path``, or an ImageReadError that says why not."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file; expected an image (JPEG, PNG, BMP, "
                             "...)") from None
    except PermissionError:
        raise ImageReadError(f"{path}: permission denied (its folder cannot be searched); "
                             "fix the folder's permissions") from None
    except OSError as error:
        raise ImageReadError(f"{path}: cannot be read ({error.strerror or error})") from None
    if stat.S_ISDIR(mode):
        raise ImageReadError(f"{path}: is a folder, not an image file; give the image "
                             "files (or the folder to `tf-binmap segment`)")
    if not stat.S_ISREG(mode):
        raise ImageReadError(f"{path}: not a regular file (a device, socket or pipe); "
                             "expected an image file")
    try:
        stream = open(path, "rb")
    except PermissionError:
        raise ImageReadError(f"{path}: permission denied; make the file readable "
                             f"(chmod u+r {path}) or copy it somewhere readable") from None
    except OSError as error:
        raise ImageReadError(f"{path}: cannot be read ({error.strerror or error})") from None
    if os.fstat(stream.fileno()).st_size == 0:
        stream.close()
        raise ImageReadError(f"{path}: empty file (0 bytes); re-download or re-export it")
    return stream


def read_image_rgb(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as a uint8 RGB array of shape (H, W, 3), as viewers show it.

    Conversions (each logged with ``logging.getLogger("tf_binmap.io").info``):
    grayscale -> RGB (channel repeated), palette -> RGB, RGBA / LA -> alpha dropped,
    16-bit -> 8-bit by ``round(x * 255 / 65535)``, CMYK / YCbCr / ... -> RGB. The EXIF
    orientation is applied (a portrait photo stored sideways comes out upright, so
    label images match the photo as viewers show it). Of an animated GIF, a multi-page
    TIFF or a multi-picture JPEG the first frame is read. Formats read: `READ_FORMATS`.

    ``max_pixels``: images whose header claims more pixels are refused before any pixel
    is decoded, so a small file that would decode to gigabytes (a decompression bomb)
    costs nothing; default `max_image_pixels` (`MAX_IMAGE_PIXELS`, 64 megapixels, or
    ``$TF_BINMAP_MAX_IMAGE_PIXELS``); 0: no limit.

    Raises:
        ImageReadError: the file is missing, empty, unreadable, not an image, truncated or
            corrupt, over the pixel limit, or holds data that has no sensible RGB reading
            (e.g. floating-point images). Never another exception type for a bad file.
    """
    path = Path(path)
    limit = max_image_pixels(max_pixels)
    with _open_stream(path) as stream:
        return _decode_stream(stream, path, limit)


def decode_image_rgb(data: bytes, name: str, max_pixels: int | None = None) -> np.ndarray:
    """The bytes of an image file (read from any storage: a Beam filesystem, ``gs://``,
    a request) decoded as `read_image_rgb` reads the file: the same formats, conversions,
    orientation and pixel limit, and an `ImageReadError` naming ``name``."""
    if not data:
        raise ImageReadError(f"{name}: empty file (0 bytes); re-download or re-export it")
    return _decode_stream(io.BytesIO(bytes(data)), name, max_image_pixels(max_pixels))


def _decode_stream(stream, path, limit: int) -> np.ndarray:
    """`read_image_rgb`'s decoding of an open binary ``stream``; messages name ``path``."""
    try:
        _allow_pil_limit(limit)
        with Image.open(stream, formats=READ_FORMATS) as image:
            _check_pixels(path, *image.size, limit)
            if _is_sixteen_bit_colour(image):
                image.load()  # decode once to detect truncation / corruption
                data = _read_sixteen_bit_colour(stream, path)
                mode = "RGB"
            else:
                data, mode = _decode(image, path)
            orientation = _exif_orientation(image, path)
            _log_frames(image, path)
        data = _to_uint8_rgb(data, mode, path)
        return _orient(data, orientation, path)
    except ImageReadError:
        raise
    except UnidentifiedImageError as error:
        raise ImageReadError(
            f"{path}: not a readable image file (unknown format or not an image at all); "
            f"expected {', '.join(READ_FORMATS)} - check that the file is what its name "
            "says"
        ) from error
    except Image.DecompressionBombError as error:
        # PIL's own limit (2 x Image.MAX_IMAGE_PIXELS) is at least ours: see _allow_pil_limit.
        claimed = re.search(r"\((\d+) pixels\)", str(error))
        pixels = int(claimed.group(1)) if claimed else 0
        raise ImageReadError(_over_limit(path, "the image", pixels, limit)) from None
    except Image.DecompressionBombWarning as error:  # warnings are errors (python -W error)
        raise ImageReadError(
            f"{path}: PIL warns it may be a decompression bomb ({error}) and warnings are "
            "errors here; allow the warning or raise PIL.Image.MAX_IMAGE_PIXELS") from None
    except MemoryError:
        raise ImageReadError(f"{path}: not enough memory to decode it; lower max_pixels "
                             "or free memory") from None
    except Exception as error:  # noqa: BLE001 - PIL's plugins raise many types on bad data
        raise ImageReadError(
            f"{path}: the image is truncated or corrupt ({type(error).__name__}: "
            f"{str(error)[:200]}); re-download or re-export the file"
        ) from error


def _allow_pil_limit(limit: int) -> None:
    """Let PIL open what ``limit`` allows: PIL refuses over 2 x ``Image.MAX_IMAGE_PIXELS``
    (about 179 megapixels) by itself; a caller who asks for more (or no limit) gets it."""
    pil_limit = Image.MAX_IMAGE_PIXELS
    if pil_limit is not None and (limit == 0 or limit > 2 * pil_limit):
        logger.debug("PIL.Image.MAX_IMAGE_PIXELS raised to %s for max_pixels=%s",
                     limit // 2 + 1 if limit else None, limit)
        Image.MAX_IMAGE_PIXELS = limit // 2 + 1 if limit else None


def _decode(image: Image.Image, path: Path) -> tuple[np.ndarray, str]:
    """Decode the (first frame of the) open ``image`` -> (array, PIL mode), converting
    palette, 1-bit and CMYK-like modes."""
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
    return np.asarray(image), mode


#: EXIF orientation (tag 0x0112) -> what turns the stored pixels upright, as NumPy ops
#: on (H, W, ...) arrays (the same as PIL's ``ImageOps.exif_transpose``).
_ORIENTATIONS = {
    2: ("mirrored left-right", lambda a: a[:, ::-1]),
    3: ("rotated 180 degrees", lambda a: a[::-1, ::-1]),
    4: ("mirrored top-bottom", lambda a: a[::-1]),
    5: ("transposed", lambda a: a.swapaxes(0, 1)),
    6: ("rotated 90 degrees clockwise", lambda a: np.rot90(a, -1)),
    7: ("transversed", lambda a: a[::-1, ::-1].swapaxes(0, 1)),
    8: ("rotated 90 degrees counter-clockwise", lambda a: np.rot90(a, 1)),
}


def _exif_orientation(image: Image.Image, path: Path) -> int:
    """The EXIF orientation of ``image`` (1: as stored; unreadable EXIF counts as 1)."""
    try:
        value = image.getexif().get(0x0112, 1)
        return int(value) if int(value) in _ORIENTATIONS else 1
    except Exception as error:  # noqa: BLE001 - a corrupt EXIF block is no reason to fail
        logger.info("%s: EXIF unreadable (%s), orientation not applied", path, error)
        return 1


def _orient(data: np.ndarray, orientation: int, path: Path) -> np.ndarray:
    """``data`` turned upright by its EXIF ``orientation`` (logged)."""
    if orientation not in _ORIENTATIONS:
        return data
    what, turn = _ORIENTATIONS[orientation]
    logger.info("%s: EXIF orientation %d, %s to show it upright", path, orientation, what)
    return np.ascontiguousarray(turn(data))


def _log_frames(image: Image.Image, path: Path) -> None:
    """Log that only the first frame of a multi-frame file is read."""
    try:
        frames = int(getattr(image, "n_frames", 1))
    except Exception:  # noqa: BLE001 - a corrupt later frame: the first one is read
        frames = 2
    if frames > 1:
        logger.info("%s: %s frames (animated or multi-page); the first is used", path,
                    frames)


def _to_uint8_rgb(data: np.ndarray, mode: str, path: Path) -> np.ndarray:
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


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp")


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
