"""Named-layer weights files: the Keras weights of AlexNet, one HDF5 group per layer.

One group per layer (``/conv1/kernel``, ``/conv1/bias``, ...) in Keras layout, with the
variant and the source recorded as attributes, each array with an HDF5 Fletcher-32
checksum and the whole content with a sha256 (``content_sha256``), so a file whose
weights or attributes were changed, or that was cut, is refused by name rather than
loaded with wrong numbers (files written before the checksums still load). Keras 3's own ``.weights.h5`` keys
layers by creation order, so a conv1-conv5 file could not be loaded into a model that
also has conv6/conv7 (or the reverse); a named-layer file can, and a missing or
mis-shaped layer is reported by name. ``model.save_weights`` / ``load_weights`` still
work for a given architecture.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from tf_binmap.io.files import atomic_output

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "WeightsError", "load_named_weights",
           "read_named_weights", "save_named_weights"]

FORMAT_NAME = "tf_binmap.named_weights"
FORMAT_VERSION = 1


class WeightsError(ValueError):
    """A weights file that is missing, corrupt, or does not fit the model."""


def save_named_weights(weights, variant, path, source=""):
    """Write ``{layer: (kernel, bias)}`` to ``path`` atomically; returns the Path."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        # libver="latest": object headers with checksums (a changed attribute is an
        # error, not a hang in HDF5); HDF5 1.10 or later reads them.
        with h5py.File(tmp, "w", libver="latest") as f:
            f.attrs["format"] = FORMAT_NAME
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["variant"] = str(variant)
            f.attrs["source"] = str(source)
            f.attrs["content_sha256"] = _content_digest(variant, weights)
            for name, (kernel, bias) in weights.items():
                group = f.create_group(name)
                # Fletcher-32 checksums: HDF5 refuses a chunk whose bytes were changed.
                group.create_dataset("kernel", data=np.asarray(kernel, np.float32),
                                     fletcher32=True)
                group.create_dataset("bias", data=np.asarray(bias, np.float32),
                                     fletcher32=True)
    return path


def _content_digest(variant, weights) -> str:
    """sha256 of the variant and every layer's name, shapes and float32 values."""
    digest = hashlib.sha256(str(variant).encode())
    for name in sorted(weights):
        digest.update(name.encode())
        for array in weights[name]:
            array = np.ascontiguousarray(array, np.float32)
            digest.update(str(array.shape).encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def read_named_weights(path):
    """Read a named-layer file -> (variant, {layer: (kernel, bias)})."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT_NAME:
                raise WeightsError(
                    f"{path} is an HDF5 file but not a tf_binmap weights file; convert "
                    "foreign weights first with `tf-binmap convert-weights`"
                )
            variant = str(f.attrs["variant"])
            weights = {name: (f[name]["kernel"][()], f[name]["bias"][()]) for name in f}
            expected = f.attrs.get("content_sha256")  # files written since the checksum
        if expected is not None and str(expected) != _content_digest(variant, weights):
            raise WeightsError(
                f"weights file {path} does not match the checksum it was written with; "
                "it was changed or is corrupt: delete it and convert/download again")
    except WeightsError:
        raise
    except Exception as error:  # noqa: BLE001 - h5py raises many types for a bad file
        raise WeightsError(
            f"cannot read weights file {path} ({type(error).__name__}: {error}); it is "
            "truncated or not a tf_binmap weights file, or corrupt: delete it and "
            "convert/download again"
        ) from error
    return variant, weights


def load_named_weights(model, path):
    """Load a named-layer file into every weight layer of ``model`` (by name).

    Layers in the file that the model does not have (e.g. conv6/conv7 for a conv5
    model) are ignored; a layer the model needs but the file lacks is an error.
    """
    variant, weights = read_named_weights(path)
    if variant != model.variant:
        raise WeightsError(
            f"{path} holds {variant} AlexNet weights but the model is the "
            f"{model.variant} variant"
        )
    for name in model.weight_layer_names:
        if name not in weights:
            raise WeightsError(
                f"{path} has no weights for layer {name} (it has {sorted(weights)}); "
                f"ask for shallower feature layers or supply weights with {name}"
            )
        layer = model.get_layer(name)
        kernel, bias = weights[name]
        want = tuple(layer.kernel.shape)
        if tuple(kernel.shape) != want or tuple(bias.shape) != (want[-1],):
            raise WeightsError(
                f"{path}: layer {name} has kernel {tuple(kernel.shape)}, the model "
                f"needs {want}"
            )
        layer.set_weights([kernel, bias])
    return model
