"""Method specs of the evaluation: small dataclasses with a ``name``, the curve they are
a point of (``curve``) and the swept ``parameter``.

- `EGSMethod` (Felzenszwalb-Huttenlocher graph segmentation, the paper's baseline),
- `SLICMethod`,
- `BinaryMapMethod` (the paper's method: a binary-map model + superpixels + equal-code
  merging, as `tf_binmap.segmentation.segmenter.Segmenter` with ``merge="codes"``),
- `HierarchyMethod` (the default segmentation) lives in `hierarchy_method`.

Strings such as ``"egs:scale=200"`` become specs in `method_specs`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from tf_binmap.segmentation.superpixels import BASELINES

__all__ = ["SUPERPIXEL_DEFAULTS", "SUPERPIXEL_NAMES", "BinaryMapMethod", "EGSMethod",
           "MethodSpecError", "SLICMethod", "format_number", "superpixel_key",
           "superpixel_label"]


SUPERPIXEL_DEFAULTS = {method: dict(params) for method, params in BASELINES.items()}


SUPERPIXEL_NAMES = {"egs": "EGS", "slic": "SLIC"}


class MethodSpecError(ValueError):
    """A method specification (string or object) that cannot be used."""


def format_number(value) -> str:
    """Numbers as written by a person: 100 not 100.0, 0.5 as 0.5."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def superpixel_label(method: str, params: dict) -> str:
    """A label such as ``EGS k=100`` or ``SLIC 200 (compactness=20)``: the parameter,
    and the settings that differ from the baseline's."""
    params = {**SUPERPIXEL_DEFAULTS[method], **params}
    defaults = SUPERPIXEL_DEFAULTS[method]
    if method == "egs":
        text = f"EGS k={format_number(params['scale'])}"
        extra = {k: v for k, v in params.items() if k != "scale" and defaults.get(k) != v}
    else:
        text = f"SLIC {format_number(params['n_segments'])}"
        extra = {k: v for k, v in params.items() if k != "n_segments" and defaults.get(k) != v}
    if extra:
        text += " (" + ", ".join(f"{k}={format_number(v)}" for k, v in sorted(extra.items())) + ")"
    return text


def superpixel_key(method: str, params: dict) -> tuple:
    """Hashable identity of a superpixel computation (defaults filled in, 100 == 100.0)."""
    full = {**SUPERPIXEL_DEFAULTS[method], **params}

    def norm(value):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, float, np.integer, np.floating)):
            return float(value)
        return repr(value)

    return (method, tuple(sorted((k, norm(v)) for k, v in full.items())))


@dataclasses.dataclass
class EGSMethod:
    """Felzenszwalb-Huttenlocher segmentation, ``felzenszwalb(scale, sigma, min_size)``."""

    scale: float = 100
    sigma: float = 1.0
    min_size: int = 20
    name: str | None = None

    family = "egs"

    def __post_init__(self):
        if self.name is None:
            self.name = superpixel_label("egs", self.superpixel_params)

    @property
    def superpixel_method(self) -> str:
        """The superpixel method's name in `tf_binmap.segmentation.superpixels`."""
        return "egs"

    @property
    def superpixel_params(self) -> dict:
        """Keyword arguments of the superpixels."""
        return {"scale": self.scale, "sigma": self.sigma, "min_size": self.min_size}

    @property
    def curve(self) -> str:
        """Name of the curve (Figure 4) this method is a point of."""
        label = superpixel_label("egs", self.superpixel_params)
        return "EGS" + label[label.index(" (") :] if " (" in label else "EGS"

    @property
    def parameter(self) -> float:
        """The swept parameter (x of the sweep): the scale k."""
        return self.scale

    def spec(self) -> dict:
        """The settings as a JSON-able dict (for results.json)."""
        return {"family": self.family, **self.superpixel_params}


@dataclasses.dataclass
class SLICMethod:
    """SLIC superpixels, ``slic(n_segments, compactness, start_label=1)``."""

    n_segments: int = 200
    compactness: float = 10
    name: str | None = None

    family = "slic"

    def __post_init__(self):
        if self.name is None:
            self.name = superpixel_label("slic", self.superpixel_params)

    @property
    def superpixel_method(self) -> str:
        """The superpixel method's name in `tf_binmap.segmentation.superpixels`."""
        return "slic"

    @property
    def superpixel_params(self) -> dict:
        """Keyword arguments of the superpixels."""
        return {"n_segments": self.n_segments, "compactness": self.compactness}

    @property
    def curve(self) -> str:
        """Name of the curve (Figure 4) this method is a point of."""
        label = superpixel_label("slic", self.superpixel_params)
        return "SLIC" + label[label.index(" (") :] if " (" in label else "SLIC"

    @property
    def parameter(self) -> float:
        """The swept parameter: the number of segments asked for."""
        return self.n_segments

    def spec(self) -> dict:
        """The settings as a JSON-able dict (for results.json)."""
        return {"family": self.family, **self.superpixel_params}


@dataclasses.dataclass
class BinaryMapMethod:
    """Ours: a binary-map model's codes merge adjacent superpixels (see `Segmenter`).

    Args:
        preset: binary-map preset (``tf_binmap.presets.BINARY_MAP_PRESETS``).
        superpixel_method: ``"egs"`` or ``"slic"``.
        superpixel_params: keyword arguments of the superpixels (defaults: EGS scale
            100, sigma 1.0, min_size 20; SLIC 200 segments, compactness 10).
        threshold, alignment, absorb_single_neighbour: as in `Segmenter`.
        itq_path: ITQ parameter file overriding the preset's.
        model: a ready model (``encode``, ``bits``, ``upscale``, ``geometry``) used
            instead of building the preset; methods sharing one model object share its
            code maps.
        name: the label in tables and plots (default: made from the settings).
    """

    preset: str = "binmap_conv5"
    superpixel_method: str = "egs"
    superpixel_params: dict | None = None
    threshold: int = 0
    alignment: str = "center"
    absorb_single_neighbour: bool = False
    itq_path: str | os.PathLike | None = None
    model: Any = dataclasses.field(default=None, repr=False, compare=False)
    name: str | None = None

    family = "binmap"

    def __post_init__(self):
        if self.superpixel_method not in SUPERPIXEL_DEFAULTS:
            raise MethodSpecError(
                f"unknown superpixel method {self.superpixel_method!r}; valid: "
                f"{sorted(SUPERPIXEL_DEFAULTS)}"
            )
        if self.alignment not in ("center", "block"):
            raise MethodSpecError(f"alignment must be 'center' or 'block', got {self.alignment!r}")
        self.superpixel_params = dict(self.superpixel_params or {})
        self.threshold = int(self.threshold)
        if self.model is not None and self.preset == "binmap_conv5":
            # A ready model: label it by its own name, not by the default preset's.
            self.preset = getattr(self.model, "name", None) or "model"
        if self.name is None:
            self.name = f"{self._model_label()} on " + superpixel_label(
                self.superpixel_method, self.superpixel_params
            ) + self._variant_suffix()

    @classmethod
    def from_segmenter(cls, segmenter, name: str | None = None) -> BinaryMapMethod:
        """A method that runs a ready `Segmenter` (its model and settings)."""
        return cls(
            preset=getattr(segmenter.model, "name", None) or "model",
            superpixel_method=segmenter.superpixel_method,
            superpixel_params=dict(segmenter.superpixel_params),
            threshold=segmenter.threshold,
            alignment=segmenter.alignment,
            absorb_single_neighbour=segmenter.absorb_single_neighbour,
            model=segmenter.model,
            name=name,
        )

    def _model_label(self) -> str:
        return str(self.preset)

    def _variant_suffix(self) -> str:
        parts = []
        if self.threshold:
            parts.append(f"threshold {self.threshold}")
        if self.alignment != "center":
            parts.append(f"{self.alignment} alignment")
        if self.absorb_single_neighbour:
            parts.append("absorb")
        return f" ({', '.join(parts)})" if parts else ""

    @property
    def curve(self) -> str:
        """Name of the curve (Figure 4) this method is a point of."""
        base = superpixel_label(self.superpixel_method, self.superpixel_params)
        extra = base[base.index(" (") :] if " (" in base else ""
        return (f"{self._model_label()} on {SUPERPIXEL_NAMES[self.superpixel_method]}"
                f"{extra}{self._variant_suffix()}")

    @property
    def parameter(self) -> float:
        """The swept parameter: its superpixels' EGS scale or SLIC segment count."""
        params = {**SUPERPIXEL_DEFAULTS[self.superpixel_method], **self.superpixel_params}
        return params["scale" if self.superpixel_method == "egs" else "n_segments"]

    def model_key(self) -> tuple:
        """Identity of the model: methods with equal keys share code maps."""
        if self.model is not None:
            return ("object", id(self.model))
        itq = None if self.itq_path is None else str(Path(self.itq_path).expanduser().resolve())
        return ("preset", str(self.preset), itq)

    def load_model(self):
        """The model: the given one, or the preset built (with its ITQ file)."""
        if self.model is not None:
            return self.model
        from tf_binmap.models.binary_map import BinaryMapModel  # Keras, on first use

        return BinaryMapModel.from_preset(self.preset, itq_path=self.itq_path)

    def spec(self) -> dict:
        """The settings as a JSON-able dict (for results.json)."""
        return {
            "family": self.family,
            "preset": str(self.preset),
            "superpixel_method": self.superpixel_method,
            "superpixel_params": dict(self.superpixel_params),
            "threshold": self.threshold,
            "alignment": self.alignment,
            "absorb_single_neighbour": self.absorb_single_neighbour,
            "itq_path": None if self.itq_path is None else str(self.itq_path),
        }
