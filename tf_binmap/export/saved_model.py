"""A `BinaryMapModel` as a SavedModel in TF Serving's ``<base>/<name>/<version>/``
layout, written under a temporary name and renamed when complete."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from tf_binmap.export.graph import export_archive
from tf_binmap.export.metadata import (
    DEFAULT_MAX_REQUEST_PIXELS,
    METADATA_FILE,
    export_metadata,
    json_bytes,
)
from tf_binmap.io.files import refuse_existing, replace_directory

__all__ = ["export_saved_model"]

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------- SavedModel
def export_saved_model(model, base_dir="saved_models", version=1, model_name=None,
                       overwrite=False, max_pixels=DEFAULT_MAX_REQUEST_PIXELS):
    """Write ``model`` as a SavedModel at ``<base_dir>/<model_name>/<version>/``.

    Signatures ``serving_default`` (``image`` uint8 (None, None, None, 3) at image
    scale) and ``serving_bytes`` (``image_bytes`` string (None,), encoded images of one
    size), both -> ``codes`` int32 (batch, h, w) and ``bits`` uint8 (batch, h, w, n).
    A request whose images hold more than ``max_pixels`` pixels in all is refused with
    a clear error (``serving_bytes`` reads the sizes from the files' headers, before
    decoding); the limit is in the metadata as ``max_request_pixels``.
    The version directory is written under a temporary name and renamed when
    complete; an existing non-empty one is replaced only with ``overwrite=True``.
    Returns the version directory.
    """
    version = int(version)
    if version < 0:
        raise ValueError(f"version must be a non-negative integer, got {version}")
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive number of pixels, got {max_pixels!r}")
    model_dir = Path(base_dir) / (model_name or model.name)
    target = model_dir / str(version)
    refuse_existing(target, overwrite, "SavedModel version directory")
    model_dir.mkdir(parents=True, exist_ok=True)
    # A hidden, non-numeric name: TF Serving never takes it for a version.
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=model_dir))
    try:
        export_archive(model, max_pixels=max_pixels).write_out(str(staging), verbose=False)
        extra = staging / "assets.extra"
        extra.mkdir(exist_ok=True)
        (extra / METADATA_FILE).write_bytes(json_bytes(export_metadata(
            model, True, max_request_pixels=max_pixels)))
        for root, _dirs, files in os.walk(staging):  # mkdtemp makes it 0700
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        replace_directory(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("SavedModel written to %s", target)
    return target
