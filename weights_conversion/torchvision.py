"""torchvision AlexNet state dict (``.pth``) -> Keras weights.

torchvision's ``alexnet`` keys: ``features.{0,3,6,8,10}.{weight,bias}`` for conv1-conv5
and ``classifier.{1,4}.{weight,bias}`` for fc6/fc7 (``classifier.6`` = fc8 is unused).
fc6 sees pool5 through ``AdaptiveAvgPool2d(6)`` + ``flatten`` in (C, H, W) order, which
at a 6x6 pool5 (224x224 input) is exactly a 6x6 convolution.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from weights_conversion.common import (
    ConversionError,
    conv_oihw_to_hwio,
    fc6_to_conv6,
    fc7_to_conv7,
)

CONV_KEYS = {"conv1": 0, "conv2": 3, "conv3": 6, "conv4": 8, "conv5": 10}
FC_KEYS = {"conv6": 1, "conv7": 4}


def read_state_dict(path):
    """Load a ``.pth`` state dict as ``{key: float32 numpy array}`` (needs torch)."""
    try:
        import torch
    except ImportError:
        raise ConversionError(
            f"reading {path} needs PyTorch: pip install 'tf-binmap[torch]'"
        ) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file
        # torch's own message suggests weights_only=False, i.e. running the file's
        # code; we never do that, so only its first line is kept.
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise ConversionError(
            f"{path} is not a readable PyTorch state dict ({type(error).__name__}: "
            f"{reason}); expected torchvision's alexnet-owt-7be5be79.pth"
        ) from error
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConversionError(f"{path} holds a {type(state).__name__}, not a state dict")
    return {key: value.detach().cpu().numpy().astype(np.float32)
            for key, value in state.items() if hasattr(value, "detach")}


def state_dict_to_keras(state, source="state dict"):
    """``{torchvision key: array}`` -> ``{layer: (kernel, bias)}`` in Keras layout."""
    # Accept keys with a prefix such as "module." (DataParallel) or "model.".
    def find(suffix):
        hits = [k for k in state if k == suffix or k.endswith("." + suffix)]
        return state[hits[0]] if hits else None

    weights = {}
    for name, index in {**CONV_KEYS, **FC_KEYS}.items():
        weight = find(f"{'features' if name in CONV_KEYS else 'classifier'}.{index}.weight")
        bias = find(f"{'features' if name in CONV_KEYS else 'classifier'}.{index}.bias")
        if weight is None or bias is None:
            if name in CONV_KEYS:
                raise ConversionError(
                    f"{source}: no torchvision AlexNet layer {name} "
                    f"(features.{index}.weight); found keys {sorted(state)[:12]}"
                )
            continue
        try:
            if name == "conv6":
                kernel = fc6_to_conv6(weight)
            elif name == "conv7":
                kernel = fc7_to_conv7(weight)
            else:
                kernel = conv_oihw_to_hwio(weight)
        except ConversionError as error:
            raise ConversionError(f"{source}: layer {name}: {error}") from None
        weights[name] = (kernel, np.asarray(bias, np.float32))
    return weights


def convert_torchvision(path, out):
    """Convert a torchvision AlexNet state dict (``.pth``) at ``path`` to a named-layer
    file at ``out``."""
    from weights_conversion.common import save_keras_weights

    weights = state_dict_to_keras(read_state_dict(path), source=str(path))
    return save_keras_weights(weights, "torchvision", out, source=Path(path).name)
