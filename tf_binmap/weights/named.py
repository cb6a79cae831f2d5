"""Named-layer weights files: the Keras weights of AlexNet, one HDF5 group per layer.

One group per layer (``/conv1/kernel``, ``/conv1/bias``, ...) in Keras layout, with the
variant and the source recorded as attributes. Keras 3's own ``.weights.h5`` keys
layers by creation order, so a conv1-conv5 file could not be loaded into a model that
also has conv6/conv7 (or the reverse); a named-layer file can, and a missing or
mis-shaped layer is reported by name. ``model.save_weights`` / ``load_weights`` still
work for a given architecture.
"""

from __future__ import annotations

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
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT_NAME
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["variant"] = str(variant)
            f.attrs["source"] = str(source)
            for name, (kernel, bias) in weights.items():
                group = f.create_group(name)
                group.create_dataset("kernel", data=np.asarray(kernel, np.float32))
                group.create_dataset("bias", data=np.asarray(bias, np.float32))
    return path


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
    except WeightsError:
        raise
    except (OSError, KeyError) as error:
        raise WeightsError(
            f"cannot read weights file {path} ({error}); it is truncated or not a "
            "tf_binmap weights file: delete it and convert/download again"
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
