"""Files on Beam's filesystems (local paths, ``gs://``, ``s3://``, ...) for the Beam
pipelines: the image files an input names, their bytes, and outputs written atomically.

Atomic writes: on a local disk a temporary file beside the target, then ``os.replace``
(`tf_binmap.io.files`; the same files `tf-binmap segment` writes); on an object store
(``gs://``, ``s3://``, ``azfs://``) the object is written at its name directly, since it
only appears, whole, when the upload completes (a rename there is a copy and a delete);
on other filesystems a temporary name in the same folder, then Beam's rename. A retried
bundle writes the same bytes again, and the last complete write wins.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from apache_beam.io.filesystem import BeamIOError, CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tf_binmap.batch.outputs import (
    SETTINGS_FILE,
    TEMP_FILE,
    check_settings,
    output_paths,
    remove_stale_temporaries,
    settings_to_record,
    write_outputs,
)
from tf_binmap.io.files import write_bytes_atomic
from tf_binmap.io.images import IMAGE_SUFFIXES

__all__ = ["DIRECT_WRITE_SCHEMES", "absolute", "check_filesystem", "exists", "is_local", "join",
           "match_images", "prepare_output_folder", "read_bytes", "remove_temporaries",
           "write_atomic", "write_image_outputs"]

#: Object stores, where an object appears only when its upload completes.
DIRECT_WRITE_SCHEMES = ("gs", "s3", "azfs")

_UNCOMPRESSED = CompressionTypes.UNCOMPRESSED
_EXTRAS = {"gs": "apache-beam[gcp]", "s3": "apache-beam[aws]", "azfs": "apache-beam[azure]",
           "hdfs": "apache-beam[hadoop]"}


def is_local(path: str) -> bool:
    """Whether ``path`` is on the local filesystem (no ``scheme://``)."""
    return FileSystems.get_scheme(str(path)) is None


def absolute(path: str) -> str:
    """A local path made absolute (workers may run elsewhere); URLs unchanged."""
    path = os.fspath(path)
    return os.path.abspath(path) + ("/" if path.endswith("/") else "") if is_local(path) \
        else path


def check_filesystem(path: str) -> None:
    """Raise ValueError naming ``path`` and what to install if Beam has no filesystem
    for its scheme (``gs://`` needs ``apache-beam[gcp]``, ...)."""
    try:
        FileSystems.get_filesystem(path)
    except (ValueError, BeamIOError) as error:
        scheme = FileSystems.get_scheme(path)
        extra = _EXTRAS.get(scheme)
        hint = f"pip install '{extra}'" if extra else str(error).split(". Path specified")[0]
        raise ValueError(f"{path}: Beam has no filesystem for {scheme}:// here; {hint}") \
            from None


def join(folder: str, name: str) -> str:
    """``folder/name`` on ``folder``'s filesystem."""
    return FileSystems.join(folder, name)


def exists(path: str) -> bool:
    """Whether the file ``path`` exists."""
    return Path(path).is_file() if is_local(path) else FileSystems.exists(path)


def match_images(pattern: str) -> list[str]:
    """The image files ``pattern`` names, sorted: a folder (a local directory, or a URL
    ending in ``/``) gives its files with an image suffix (`IMAGE_SUFFIXES`; not its
    subfolders), as `tf_binmap.io.list_images` does; a file or a glob pattern (``*``,
    ``**`` across folders) gives what it matches."""
    folder = pattern.endswith("/") or (is_local(pattern) and os.path.isdir(pattern))
    query = join(pattern.rstrip("/"), "*") if folder else pattern
    found = FileSystems.match([query])[0].metadata_list
    paths = sorted(metadata.path for metadata in found)
    if folder:
        paths = [path for path in paths
                 if os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES]
    if is_local(pattern):
        paths = [path for path in paths if os.path.isfile(path)]
    return paths


def read_bytes(path: str) -> bytes:
    """The bytes of the file ``path`` (no decompression by suffix)."""
    with FileSystems.open(path, compression_type=_UNCOMPRESSED) as stream:
        return stream.read()


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` at ``path`` so that a reader sees the old file or the whole new
    one, never a part (see the module docstring for how, per filesystem)."""
    if is_local(path):
        write_bytes_atomic(path, data)
        return
    if FileSystems.get_scheme(path) in DIRECT_WRITE_SCHEMES:
        with FileSystems.create(path, compression_type=_UNCOMPRESSED) as stream:
            stream.write(data)
        return
    folder, name = FileSystems.split(path)
    suffix = os.path.splitext(name)[1]
    temporary = join(folder, f".{name}.{secrets.token_hex(6)}.tmp{suffix}")
    try:
        with FileSystems.create(temporary, compression_type=_UNCOMPRESSED) as stream:
            stream.write(data)
        FileSystems.rename([temporary], [path])
    except BaseException:
        try:
            FileSystems.delete([temporary])
        except (BeamIOError, OSError):
            pass
        raise


def write_image_outputs(out_dir: str, path: str, image, labels, pixel_codes,
                        bits: int) -> list[str]:
    """Write the outputs of the image at ``path`` into ``out_dir`` as `tf-binmap
    segment` does (`tf_binmap.batch.outputs.write_outputs`: labels, overlay, binary-map
    picture; the labels last, so a label file means the image is done); returns their
    paths. Elsewhere than a local disk the same PNG files are made in a local temporary
    folder and copied with `write_atomic`, the labels last."""
    if is_local(out_dir):
        outputs = output_paths(out_dir, path)
        write_outputs(outputs, image, labels, pixel_codes, bits)
        return [str(output) for output in outputs.values()]
    with tempfile.TemporaryDirectory(prefix="tf_binmap_beam_") as local:
        outputs = output_paths(local, path)
        write_outputs(outputs, image, labels, pixel_codes, bits)
        written = {}
        for kind in ("_overlay", "_binary_map", ""):
            target = join(out_dir, outputs[kind].name)
            write_atomic(target, outputs[kind].read_bytes())
            written[kind] = target
    return [written[kind] for kind in outputs]


def remove_temporaries(out_dir: str) -> None:
    """Delete the temporary files a killed run left in ``out_dir``."""
    if is_local(out_dir):
        if os.path.isdir(out_dir):
            remove_stale_temporaries(Path(out_dir))
        return
    if FileSystems.get_scheme(out_dir) in DIRECT_WRITE_SCHEMES:
        return  # no temporary files there
    found = FileSystems.match([join(out_dir, ".*")])[0].metadata_list
    stale = [m.path for m in found if TEMP_FILE.match(FileSystems.split(m.path)[1])]
    if stale:
        FileSystems.delete(stale)


def prepare_output_folder(out_dir: str, settings: dict, redo: bool) -> None:
    """Before a run into ``out_dir``: create it (a local folder), refuse one made with
    other settings unless ``redo`` and record the settings in ``tf_binmap_segment.json``
    (`tf_binmap.batch.outputs.check_settings`, the same file `tf-binmap segment` keeps),
    and delete the temporary files of a killed run."""
    if is_local(out_dir):
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        check_settings(Path(out_dir), settings, redo)
    else:
        path = join(out_dir, SETTINGS_FILE)
        recorded = read_bytes(path) if FileSystems.exists(path) else None
        record = settings_to_record(recorded, settings, out_dir, path, redo)
        if record is not None:
            write_atomic(path, record)
    remove_temporaries(out_dir)
