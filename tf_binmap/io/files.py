"""Writing outputs atomically: a reader never sees a half-written file, and a failed
write leaves nothing behind (a temporary file beside the target, then ``os.replace``)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

__all__ = ["ImageWriteError", "atomic_output", "output_directory", "refuse_existing",
           "replace_directory",
           "write_bytes_atomic", "write_figure_atomic", "write_png_atomic", "write_text_atomic"]


class ImageWriteError(OSError):
    """An output could not be written (bad array, missing or unwritable directory)."""


def write_png_atomic(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write `array` as a PNG at `path`, atomically (temp file + ``os.replace``).

    Supported arrays: uint8 (H, W) grayscale, uint8 (H, W, 3) RGB, uint16 (H, W)
    (e.g. label images with up to 65536 labels). A reader never sees a half-written
    file; on failure no temp file is left behind. Returns the path written.

    Raises:
        ImageWriteError: unsupported array, or the directory is missing / not writable.
    """
    path = Path(path)
    array = np.asarray(array)
    supported = (array.dtype == np.uint8 and (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3))) or (
        array.dtype == np.uint16 and array.ndim == 2
    )
    if not supported or array.size == 0:
        raise ImageWriteError(
            f"{path}: cannot write an array of dtype {array.dtype} and shape {array.shape} "
            "as PNG; expected uint8 (H, W), uint8 (H, W, 3) RGB or uint16 (H, W)"
        )
    to_encode = array[:, :, ::-1] if array.ndim == 3 else array  # OpenCV wants BGR
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(to_encode))
    if not ok:
        raise ImageWriteError(f"{path}: PNG encoding failed")
    try:
        with atomic_output(path) as temp_name, open(temp_name, "wb") as stream:
            stream.write(encoded.tobytes())
            stream.flush()
            os.fsync(stream.fileno())
    except ImageWriteError:
        raise
    except OSError as error:
        raise ImageWriteError(f"{path}: writing failed ({error})") from error
    return path


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one
    step (readers never see a half-written file), on failure it is removed.

    The temporary file is created with ordinary permissions (0o666 less the umask;
    ``tempfile.mkstemp`` would make it 0o600). A missing or unwritable directory raises
    ImageWriteError naming it and what to do, before the caller does any work inside.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    # Hidden, and ending in the real suffix so writers that infer the format from
    # the name (matplotlib, np.savez) write the right thing.
    temp_name = directory / f".{path.name}.{secrets.token_hex(6)}.tmp{path.suffix}"
    try:
        os.close(os.open(temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except FileNotFoundError as error:
        raise ImageWriteError(f"{path}: directory {directory} does not exist; create it "
                              "first") from error
    except OSError as error:
        raise ImageWriteError(
            f"{path}: directory {directory} is not writable ({error.strerror or error}); "
            "choose another output directory or fix its permissions"
        ) from error
    try:
        yield temp_name
        os.replace(temp_name, path)
    except BaseException:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        raise


def output_directory(path: str | os.PathLike) -> Path:
    """``path`` created if missing and checked writable (a temporary file made there and
    removed), so a command that writes its files at the end fails at the start instead:
    an ImageWriteError naming the folder and what to do. Returns ``path`` as a Path."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ImageWriteError(
            f"{path}: cannot create or write the output folder ({error.strerror or error}); "
            "choose another output folder or fix its permissions") from error
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (`atomic_output`); returns the path."""
    with atomic_output(path) as temporary, open(temporary, "wb") as stream:
        stream.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, creating its folder; returns the
    path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_figure_atomic(figure, path: str | os.PathLike) -> Path:
    """Save a matplotlib ``figure`` as PNG at ``path`` atomically, creating its folder;
    returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        figure.savefig(str(temporary), format="png")
    return path


def refuse_existing(path: str | os.PathLike, overwrite: bool, what: str) -> None:
    """Raise FileExistsError naming ``path`` (a file, or a non-empty folder) unless
    ``overwrite``; ``what`` says what it is."""
    path = Path(path)
    if overwrite or not path.exists():
        return
    if path.is_dir() and not any(path.iterdir()):
        return
    raise FileExistsError(f"{what} {path} already exists; pass overwrite=True "
                          "(--overwrite) to replace it")


def replace_directory(source: Path, target: Path) -> None:
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
