"""Evaluation harness: score segmentation methods on a dataset, tabulate, plot curves.

Methods are small specs with a ``name``:

- `EGSMethod` (Felzenszwalb-Huttenlocher graph segmentation, the paper's baseline),
- `SLICMethod`,
- `BinaryMapMethod` (ours: a binary-map model + superpixels + merging, the pipeline
  of `tf_binmap.segmentation.Segmenter`).

`parse_method` turns CLI strings such as ``"egs:scale=200"`` or
``"binmap:preset=binmap_conv5,superpixels=slic,n_segments=200"`` into specs.

`evaluate` loops over the images once (images outer, methods inner) and shares work
between methods: each image is read once, the network code map is computed once per
(model, image) and the superpixels once per (superpixel parameters, image). Every method
gets a `SegmentationScores` summary and its mean seconds per image per stage (network,
superpixels, merge, metrics); a shared stage is charged, with the time it took, to every
method that uses it, so a method's seconds are what it costs on its own. The run's
de-duplicated stage totals are in ``results["stage_seconds"]``.

`format_table`, `write_json` and `plot_curves` (the paper's Figure 4: Seg-IoU and
covering against the number of segments per image) present the results;
`evaluate_command` is what ``tf-binmap evaluate`` runs.

NumPy, scikit-image and matplotlib only; Keras is used only through model objects.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tf_binmap.evaluation.datasets import BSDS500, MSRC, DatasetError, default_data_root
from tf_binmap.evaluation.compare import (
    compare_curves, format_comparison, per_image_sums, plot_comparison,
)
from tf_binmap.evaluation.metrics import SegmentationScores
from tf_binmap.io import ImageReadError, atomic_output
from tf_binmap.presets import DEFAULT_HIERARCHY_PRESET
from tf_binmap.segmentation.hierarchy import HIERARCHY_DEFAULTS, hierarchy_settings
from tf_binmap.segmentation.merge import merge_superpixels, superpixel_codes
from tf_binmap.segmentation.superpixels import BASELINES, superpixels

__all__ = [
    "BINMAP_EGS_SCALES",
    "BINMAP_SLIC_SEGMENTS",
    "EGS_SCALES",
    "HIERARCHY_SEGMENTS",
    "SLIC_SEGMENTS",
    "STAGES",
    "BinaryMapMethod",
    "EGSMethod",
    "HierarchyMethod",
    "MethodSpecError",
    "SLICMethod",
    "as_method",
    "default_methods",
    "evaluate",
    "evaluate_command",
    "figure4_methods",
    "format_table",
    "format_timings",
    "parse_method",
    "plot_curves",
    "sweep",
    "sweep_methods",
    "write_json",
]

logger = logging.getLogger(__name__)

#: Per-method stages timed by `evaluate` (seconds per image).
STAGES = ("network", "superpixels", "merge", "metrics")

#: Figure 4 sweeps: EGS scale k, SLIC number of segments, and ours over the parameter
#: of its underlying superpixels (threshold 0).
#: EGS up to k=10000 reaches ~20 segments per image on BSDS500 (k=1200: ~80).
EGS_SCALES = (50, 100, 200, 300, 500, 800, 1200, 2000, 3500, 6000, 10000)
SLIC_SEGMENTS = (25, 50, 100, 200, 400, 800)
BINMAP_EGS_SCALES = (50, 100, 200, 400)
BINMAP_SLIC_SEGMENTS = (100, 200, 400, 800)
#: Cuts of the hierarchy (segments per image): one tree per image gives them all.
HIERARCHY_SEGMENTS = (20, 30, 45, 60, 80, 100, 150, 200, 300, 400, 600)

_SUPERPIXEL_DEFAULTS = {method: dict(params) for method, params in BASELINES.items()}
_SUPERPIXEL_NAMES = {"egs": "EGS", "slic": "SLIC"}


class MethodSpecError(ValueError):
    """A method specification (string or object) that cannot be used."""


def _fmt(value) -> str:
    """Numbers as written by a person: 100 not 100.0, 0.5 as 0.5."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _superpixel_label(method: str, params: dict) -> str:
    params = {**_SUPERPIXEL_DEFAULTS[method], **params}
    defaults = _SUPERPIXEL_DEFAULTS[method]
    if method == "egs":
        text = f"EGS k={_fmt(params['scale'])}"
        extra = {k: v for k, v in params.items() if k != "scale" and defaults.get(k) != v}
    else:
        text = f"SLIC {_fmt(params['n_segments'])}"
        extra = {k: v for k, v in params.items() if k != "n_segments" and defaults.get(k) != v}
    if extra:
        text += " (" + ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(extra.items())) + ")"
    return text


def _superpixel_key(method: str, params: dict) -> tuple:
    """Hashable identity of a superpixel computation (defaults filled in, 100 == 100.0)."""
    full = {**_SUPERPIXEL_DEFAULTS[method], **params}

    def norm(value):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, float, np.integer, np.floating)):
            return float(value)
        return repr(value)

    return (method, tuple(sorted((k, norm(v)) for k, v in full.items())))


# --- method specs ----------------------------------------------------------------------


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
            self.name = _superpixel_label("egs", self.superpixel_params)

    @property
    def superpixel_method(self) -> str:
        return "egs"

    @property
    def superpixel_params(self) -> dict:
        return {"scale": self.scale, "sigma": self.sigma, "min_size": self.min_size}

    @property
    def curve(self) -> str:
        """Name of the curve (Figure 4) this method is a point of."""
        label = _superpixel_label("egs", self.superpixel_params)
        return "EGS" + label[label.index(" (") :] if " (" in label else "EGS"

    @property
    def parameter(self) -> float:
        """The swept parameter (x of the sweep): the scale k."""
        return self.scale

    def spec(self) -> dict:
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
            self.name = _superpixel_label("slic", self.superpixel_params)

    @property
    def superpixel_method(self) -> str:
        return "slic"

    @property
    def superpixel_params(self) -> dict:
        return {"n_segments": self.n_segments, "compactness": self.compactness}

    @property
    def curve(self) -> str:
        label = _superpixel_label("slic", self.superpixel_params)
        return "SLIC" + label[label.index(" (") :] if " (" in label else "SLIC"

    @property
    def parameter(self) -> float:
        return self.n_segments

    def spec(self) -> dict:
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
        if self.superpixel_method not in _SUPERPIXEL_DEFAULTS:
            raise MethodSpecError(
                f"unknown superpixel method {self.superpixel_method!r}; valid: "
                f"{sorted(_SUPERPIXEL_DEFAULTS)}"
            )
        if self.alignment not in ("center", "block"):
            raise MethodSpecError(f"alignment must be 'center' or 'block', got {self.alignment!r}")
        self.superpixel_params = dict(self.superpixel_params or {})
        self.threshold = int(self.threshold)
        if self.model is not None and self.preset == "binmap_conv5":
            # A ready model: label it by its own name, not by the default preset's.
            self.preset = getattr(self.model, "name", None) or "model"
        if self.name is None:
            self.name = f"{self._model_label()} on " + _superpixel_label(
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
        base = _superpixel_label(self.superpixel_method, self.superpixel_params)
        extra = base[base.index(" (") :] if " (" in base else ""
        return (f"{self._model_label()} on {_SUPERPIXEL_NAMES[self.superpixel_method]}"
                f"{extra}{self._variant_suffix()}")

    @property
    def parameter(self) -> float:
        params = {**_SUPERPIXEL_DEFAULTS[self.superpixel_method], **self.superpixel_params}
        return params["scale" if self.superpixel_method == "egs" else "n_segments"]

    def model_key(self) -> tuple:
        """Identity of the model: methods with equal keys share code maps."""
        if self.model is not None:
            return ("object", id(self.model))
        itq = None if self.itq_path is None else str(Path(self.itq_path).expanduser().resolve())
        return ("preset", str(self.preset), itq)

    def load_model(self):
        if self.model is not None:
            return self.model
        from tf_binmap.models.binary_map import BinaryMapModel

        return BinaryMapModel.from_preset(self.preset, itq_path=self.itq_path)

    def spec(self) -> dict:
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


@dataclasses.dataclass
class HierarchyMethod:
    """Beyond the paper: fine EGS leaves merged greedily (`tf_binmap.segmentation.hierarchy`)
    in a learned order (default) or by a weighted colour / code / border distance, cut at
    ``n_segments`` per image.

    Methods that differ only in ``n_segments`` share one merge tree per image, so a sweep
    over ``n_segments`` (a whole curve) costs one hierarchy per image.

    Args:
        preset: binary-map preset whose ITQ projections are the soft codes (default
            ``binmap_conv5_x1``); ``"none"`` (or None) for the hierarchy without the CNN
            (the weighted colour and border distance, ``scorer="none"``).
        n_segments: segments per image (the swept parameter).
        scorer: the learned merge order: a shipped scorer (``"bsds500_train"``, the
            default), the path of a file from `tf-binmap fit-merge`, or ``"none"`` for the
            weighted distance.
        size_exponent: with a scorer, overrides its exponent of the smaller area (a
            number or a schedule, `parse_size_exponent`).
        w_colour, w_code, w_boundary: weights of the distance (``scorer="none"``; tuned
            on BSDS500 val).
        small_region_factor, small_region_power: the small-region rule of
            `merge_hierarchy` (default: 0.4 and 2 with the distance, off with a scorer;
            factor 0 = off).
        egs_scale, egs_sigma, egs_min_size: the leaf superpixels.
        itq_path: ITQ parameter file overriding the preset's.
        model: a ready model with ``projections`` (a Keras ``BinaryMapModel`` or an
            export runner).
        name: the label in tables and plots (default: made from the settings).
    """

    preset: str | None = DEFAULT_HIERARCHY_PRESET
    n_segments: int = 100
    scorer: Any = HIERARCHY_DEFAULTS["scorer"]
    size_exponent: float | tuple | str | None = None
    w_colour: float = HIERARCHY_DEFAULTS["w_colour"]
    w_code: float = HIERARCHY_DEFAULTS["w_code"]
    w_boundary: float = HIERARCHY_DEFAULTS["w_boundary"]
    small_region_factor: float | None = None
    small_region_power: float = HIERARCHY_DEFAULTS["small_region_power"]
    egs_scale: float = HIERARCHY_DEFAULTS["egs_scale"]
    egs_sigma: float = HIERARCHY_DEFAULTS["egs_sigma"]
    egs_min_size: int = HIERARCHY_DEFAULTS["egs_min_size"]
    itq_path: str | os.PathLike | None = None
    model: Any = dataclasses.field(default=None, repr=False, compare=False)
    name: str | None = None

    family = "hierarchy"

    def __post_init__(self):
        if self.preset is None or str(self.preset).lower() == "none":
            self.preset = "none"
        if self.model is not None and self.preset == DEFAULT_HIERARCHY_PRESET:
            self.preset = getattr(self.model, "name", None) or "model"
        if self.scorer is not None and not hasattr(self.scorer, "n_code"):
            self.scorer = None if str(self.scorer).lower() == "none" else os.fspath(self.scorer)
        if self.preset == "none" and self.scorer is not None:
            if self.scorer != HIERARCHY_DEFAULTS["scorer"]:
                raise MethodSpecError("hierarchy: the learned merge order (scorer) needs the "
                                      "CNN codes; preset=none goes with scorer=none")
            self.scorer = None  # no CNN: the weighted colour and border distance
        if self.scorer is not None:
            weights = [key for key in ("w_colour", "w_code", "w_boundary")
                       if float(getattr(self, key)) != float(HIERARCHY_DEFAULTS[key])]
            if weights:
                raise MethodSpecError(f"hierarchy: {', '.join(weights)}: weight(s) of the "
                                      "distance, unused by the learned merge order; add "
                                      "scorer=none to merge by the weighted distance")
        if self.small_region_factor is None:
            self.small_region_factor = hierarchy_settings(scorer=self.scorer)["small_region_factor"]
        self.n_segments = int(self.n_segments)
        if self.n_segments < 1:
            raise MethodSpecError(f"hierarchy: n_segments must be >= 1, got {self.n_segments}")
        for key in ("w_colour", "w_code", "w_boundary", "small_region_factor", "small_region_power"):
            if getattr(self, key) < 0:
                raise MethodSpecError(f"hierarchy: {key} must be >= 0, got {getattr(self, key)}")
        if self.size_exponent is not None:
            if self.scorer is None:
                raise MethodSpecError("hierarchy: size_exponent is a setting of the learned "
                                      "merge order (a scorer), unused with scorer=none")
            from tf_binmap.segmentation.learned import parse_size_exponent

            try:
                self.size_exponent = parse_size_exponent(self.size_exponent)
            except ValueError as error:
                raise MethodSpecError(f"hierarchy: {error}") from None
        if self.egs_scale <= 0 or self.egs_sigma < 0 or self.egs_min_size < 1:
            raise MethodSpecError("hierarchy: egs_scale must be > 0, egs_sigma >= 0 and "
                                  "egs_min_size >= 1")
        if self.scorer is not None and not hasattr(self.scorer, "n_code"):
            from tf_binmap.segmentation.learned import MergeScorer

            try:
                MergeScorer.resolve(self.scorer)
            except (ValueError, OSError) as error:
                raise MethodSpecError(f"hierarchy: scorer={self.scorer}: {error}") from None
        if self.name is None:
            self.name = f"{self.curve} n={self.n_segments}"

    @property
    def uses_network(self) -> bool:
        return self.preset != "none" and (self.scorer is not None or self.w_code != 0)

    @property
    def superpixel_method(self) -> str:
        return "egs"

    @property
    def superpixel_params(self) -> dict:
        """The leaves (shared with an EGS method of the same parameters)."""
        return {"scale": self.egs_scale, "sigma": self.egs_sigma, "min_size": self.egs_min_size}

    def hierarchy_params(self) -> dict:
        """Keyword arguments of `hierarchical_segmentation` (those that shape the tree)."""
        rule = {"small_region_factor": self.small_region_factor,
                "small_region_power": self.small_region_power}
        if self.scorer is not None:
            return {"scorer": self.scorer, "size_exponent": self.size_exponent, **rule}
        return {"scorer": None, "w_colour": self.w_colour,
                "w_code": self.w_code if self.uses_network else 0.0,
                "w_boundary": self.w_boundary, **rule}

    @property
    def curve(self) -> str:
        defaults = hierarchy_settings(scorer=self.scorer)
        settings = {**self.hierarchy_params(), "egs_scale": self.egs_scale,
                    "egs_sigma": self.egs_sigma, "egs_min_size": self.egs_min_size}
        changed = []
        if self.scorer is None:
            if self.preset != "none":
                changed.append("scorer=none")
        elif hasattr(self.scorer, "n_code"):
            changed.append("scorer=custom")
        elif self.scorer != HIERARCHY_DEFAULTS["scorer"]:
            changed.append(f"scorer={Path(self.scorer).name}")
        if self.size_exponent is not None:
            from tf_binmap.segmentation.learned import format_size_exponent

            changed.append(f"size_exponent={format_size_exponent(self.size_exponent)}")
        changed += [f"{key}={_fmt(value)}" for key, value in settings.items()
                    if key not in ("scorer", "size_exponent", "w_code")
                    and float(value) != float(defaults[key])]
        if self.scorer is None and self.uses_network and \
                float(self.w_code) != float(defaults["w_code"]):
            changed.insert(1, f"w_code={_fmt(self.w_code)}")
        codes = self.preset if self.uses_network else "no CNN"
        return f"hierarchy ({', '.join([str(codes), *changed])})"

    @property
    def parameter(self) -> float:
        return self.n_segments

    def model_key(self) -> tuple | None:
        if not self.uses_network:
            return None
        if self.model is not None:
            return ("object", id(self.model))
        itq = None if self.itq_path is None else str(Path(self.itq_path).expanduser().resolve())
        return ("preset", str(self.preset), itq)

    def tree_key(self) -> tuple:
        """Methods with equal keys share the merge tree of an image."""
        params = self.hierarchy_params()
        if hasattr(params["scorer"], "n_code"):
            params["scorer"] = ("object", id(params["scorer"]))
        return (self.model_key(), _superpixel_key("egs", self.superpixel_params),
                tuple(sorted(params.items(), key=lambda item: item[0])))

    def load_model(self):
        if self.model is not None:
            model = self.model
        else:
            from tf_binmap.models.binary_map import BinaryMapModel

            model = BinaryMapModel.from_preset(self.preset, itq_path=self.itq_path)
        if not hasattr(model, "projections"):
            raise MethodSpecError(
                f"{self.name}: the hierarchy needs a model with the real-valued projections "
                "(a Keras BinaryMapModel or an export runner); this one gives codes only"
            )
        if self.scorer is not None:
            from tf_binmap.segmentation.learned import MergeScorer

            n_code = MergeScorer.resolve(self.scorer).n_code
            if getattr(model, "bits", n_code) != n_code:
                raise MethodSpecError(
                    f"{self.name}: the merge scorer was fitted on {n_code}-bit codes and this "
                    f"model gives {model.bits}; use scorer=none, or a scorer fitted for this "
                    "preset (`tf-binmap fit-merge --preset`)")
        return model

    def spec(self) -> dict:
        return {
            "family": self.family, "preset": str(self.preset), "n_segments": self.n_segments,
            "scorer": None if self.scorer is None else
            ("custom" if hasattr(self.scorer, "n_code") else str(self.scorer)),
            "size_exponent": self.size_exponent,
            "w_colour": self.w_colour, "w_code": self.w_code, "w_boundary": self.w_boundary,
            "small_region_factor": self.small_region_factor,
            "small_region_power": self.small_region_power,
            "egs_scale": self.egs_scale, "egs_sigma": self.egs_sigma,
            "egs_min_size": self.egs_min_size,
            "itq_path": None if self.itq_path is None else str(self.itq_path),
        }


Method = EGSMethod | SLICMethod | BinaryMapMethod | HierarchyMethod


# --- parsing ---------------------------------------------------------------------------

_FAMILY_ALIASES = {
    "egs": "egs", "felzenszwalb": "egs", "fh": "egs",
    "slic": "slic",
    "binmap": "binmap", "ours": "binmap", "binary_map": "binmap", "binarymap": "binmap",
    "paper": "binmap",
    "hierarchy": "hierarchy", "hier": "hierarchy",
}
_HIERARCHY_KEYS = {
    "preset": str, "n_segments": int, "scorer": str, "size_exponent": str, "w_colour": float, "w_code": float, "w_boundary": float,
    "small_region_factor": float, "small_region_power": float,
    "egs_scale": float, "egs_sigma": float, "egs_min_size": int, "itq_path": str,
}
_HIERARCHY_ALIASES = {"itq": "itq_path", "segments": "n_segments", "w_color": "w_colour",
                      "merge_scorer": "scorer", "gamma": "size_exponent",
                      "small": "small_region_factor", "small_power": "small_region_power"}
_EGS_KEYS = {"scale": float, "sigma": float, "min_size": int}
_SLIC_KEYS = {"n_segments": int, "compactness": float}
_BINMAP_KEYS = {
    "preset": str, "superpixels": str, "threshold": int, "alignment": str,
    "absorb_single_neighbour": bool, "itq_path": str, "name": str,
}
_BINMAP_ALIASES = {"superpixel_method": "superpixels", "itq": "itq_path", "absorb": "absorb_single_neighbour"}


def _convert(family: str, key: str, raw: str, kind):
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind is int:
            value = float(raw)
            if not value.is_integer():
                raise ValueError(raw)
            return int(value)
        if kind is float:
            value = float(raw)
            return int(value) if value.is_integer() and "." not in raw and "e" not in raw.lower() else value
        return raw
    except ValueError:
        expected = {bool: "true/false", int: "an integer", float: "a number"}[kind]
        raise MethodSpecError(f"{family}: {key}={raw!r} is not {expected}") from None


def parse_method(text: str) -> Method:
    """A method from ``"family[:key=value,key=value...]"``.

    - ``egs:scale=200,sigma=1.0,min_size=20`` (aliases felzenszwalb, fh)
    - ``slic:n_segments=400,compactness=10``
    - ``binmap:preset=binmap_conv5,superpixels=slic,n_segments=200,threshold=0``
      (the paper's method; aliases ours, paper, binary_map): keys preset, superpixels
      (egs|slic), threshold, alignment (center|block), absorb_single_neighbour (absorb),
      itq_path (itq), name, and the superpixel keys of the chosen superpixels.
    - ``hierarchy:n_segments=100,scorer=none,w_code=3`` (alias hier): keys preset
      (``none``: no CNN), n_segments (segments), scorer (merge_scorer; the shipped
      ``bsds500_train``, a file from ``tf-binmap fit-merge``, or ``none``: the weighted
      distance), size_exponent (gamma; a number or count:exponent points joined by
      ``/``, e.g. ``gamma=30:1/300:0.1``), w_colour, w_code, w_boundary (with scorer=none),
      small_region_factor (small; 0 = off), small_region_power (small_power),
      egs_scale, egs_sigma, egs_min_size, itq_path (itq).

    Every family also takes ``name=``. Raises `MethodSpecError` listing the valid keys.
    """
    if not isinstance(text, str) or not text.strip():
        raise MethodSpecError(f"empty method specification {text!r}; families: egs, slic, "
                              "binmap, hierarchy")
    family_text, _, rest = text.strip().partition(":")
    family = _FAMILY_ALIASES.get(family_text.strip().lower())
    if family is None:
        raise MethodSpecError(
            f"unknown method family {family_text!r} in {text!r}; valid: egs, slic, binmap "
            "(the paper), hierarchy (e.g. 'egs:scale=200', 'slic:n_segments=400', "
            "'binmap:superpixels=slic,n_segments=200', 'hierarchy:n_segments=100')"
        )
    pairs = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep or not key or not value.strip():
            raise MethodSpecError(f"{text!r}: expected key=value, got {item!r}")
        if family == "binmap":
            key = _BINMAP_ALIASES.get(key, key)
        elif family == "hierarchy":
            key = _HIERARCHY_ALIASES.get(key, key)
        if key in pairs:
            raise MethodSpecError(f"{text!r}: {key} given twice")
        pairs[key] = value.strip()

    name = pairs.pop("name", None)
    if family in ("egs", "slic"):
        keys = _EGS_KEYS if family == "egs" else _SLIC_KEYS
        unknown = sorted(set(pairs) - set(keys))
        if unknown:
            raise MethodSpecError(
                f"{text!r}: unknown key(s) {unknown} for {family}; valid keys: "
                f"{sorted([*keys, 'name'])}"
            )
        values = {key: _convert(family, key, raw, keys[key]) for key, raw in pairs.items()}
        cls = EGSMethod if family == "egs" else SLICMethod
        return cls(**values, name=name)

    if family == "hierarchy":
        unknown = sorted(set(pairs) - set(_HIERARCHY_KEYS))
        if unknown:
            raise MethodSpecError(
                f"{text!r}: unknown key(s) {unknown} for hierarchy; valid keys: "
                f"{sorted([*_HIERARCHY_KEYS, 'name'])}"
            )
        values = {key: _convert(family, key, raw, _HIERARCHY_KEYS[key]) for key, raw in pairs.items()}
        try:
            return HierarchyMethod(**values, name=name)
        except MethodSpecError as error:
            raise MethodSpecError(f"{text!r}: {error}") from None

    superpixel_method = pairs.pop("superpixels", "egs").lower()
    if superpixel_method not in _SUPERPIXEL_DEFAULTS:
        raise MethodSpecError(
            f"{text!r}: superpixels={superpixel_method!r}; valid: {sorted(_SUPERPIXEL_DEFAULTS)}"
        )
    superpixel_keys = _EGS_KEYS if superpixel_method == "egs" else _SLIC_KEYS
    valid = {**{k: v for k, v in _BINMAP_KEYS.items() if k not in ("superpixels", "name")}, **superpixel_keys}
    unknown = sorted(set(pairs) - set(valid))
    if unknown:
        raise MethodSpecError(
            f"{text!r}: unknown key(s) {unknown} for binmap with superpixels="
            f"{superpixel_method}; valid keys: "
            f"{sorted(set(valid) | {'superpixels', 'name'})}"
        )
    values = {key: _convert(family, key, raw, valid[key]) for key, raw in pairs.items()}
    superpixel_params = {key: values.pop(key) for key in list(values) if key in superpixel_keys}
    try:
        return BinaryMapMethod(superpixel_method=superpixel_method,
                               superpixel_params=superpixel_params, name=name, **values)
    except MethodSpecError as error:
        raise MethodSpecError(f"{text!r}: {error}") from None


def as_method(method) -> Method:
    """A method spec from a spec, a string (`parse_method`), a dict with a "family" key,
    or a ready `Segmenter`."""
    if isinstance(method, (EGSMethod, SLICMethod, BinaryMapMethod, HierarchyMethod)):
        return method
    if isinstance(method, str):
        return parse_method(method)
    if isinstance(method, dict):
        params = dict(method)
        family = _FAMILY_ALIASES.get(str(params.pop("family", "")).lower())
        cls = {"egs": EGSMethod, "slic": SLICMethod, "binmap": BinaryMapMethod,
               "hierarchy": HierarchyMethod}.get(family)
        if cls is None:
            raise MethodSpecError(f"{method!r}: needs 'family' in egs, slic, binmap, hierarchy")
        try:
            return cls(**params)
        except TypeError as error:
            valid = [f.name for f in dataclasses.fields(cls)]
            raise MethodSpecError(f"{method!r}: {error}; valid keys: {valid}") from None
    if hasattr(method, "model") and hasattr(method, "superpixel_method"):
        if getattr(method, "merge_mode", "codes") == "hierarchy":
            fields = {f.name for f in dataclasses.fields(HierarchyMethod)}
            unsupported = sorted(set(method.hierarchy_params) - fields)
            if unsupported:
                raise MethodSpecError(
                    f"this Segmenter sets hierarchy_params {unsupported}, which evaluate does "
                    f"not take; evaluate takes {sorted(fields & set(_HIERARCHY_KEYS))} (use "
                    "the explore scripts in benchmarks/ for the others)")
            return HierarchyMethod(model=method.model, n_segments=method.n_segments,
                                   **method.hierarchy_params)
        return BinaryMapMethod.from_segmenter(method)
    raise MethodSpecError(
        f"cannot use {method!r} as a method: give an EGSMethod, SLICMethod, "
        "BinaryMapMethod, HierarchyMethod, a Segmenter, a dict with 'family', or a string "
        "like 'egs:scale=200'"
    )


def sweep_methods(family: str, values: Iterable, **fixed) -> list[Method]:
    """One method per parameter value: EGS over ``scale``, SLIC over ``n_segments``,
    binmap over the parameter of its superpixels (``superpixels="egs"``: scale,
    ``"slic"``: n_segments; other keyword arguments as `BinaryMapMethod`), hierarchy over
    ``n_segments`` (other keyword arguments as `HierarchyMethod`)."""
    family = _FAMILY_ALIASES.get(family.lower(), family)
    if family == "egs":
        return [EGSMethod(scale=value, **fixed) for value in values]
    if family == "slic":
        return [SLICMethod(n_segments=value, **fixed) for value in values]
    if family == "binmap":
        fixed = dict(fixed)
        method = fixed.pop("superpixels", fixed.pop("superpixel_method", "egs"))
        base_params = dict(fixed.pop("superpixel_params", None) or {})
        key = "scale" if method == "egs" else "n_segments"
        return [
            BinaryMapMethod(superpixel_method=method, superpixel_params={**base_params, key: value}, **fixed)
            for value in values
        ]
    if family == "hierarchy":
        return [HierarchyMethod(n_segments=value, **fixed) for value in values]
    raise MethodSpecError(f"unknown family {family!r}; valid: egs, slic, binmap, hierarchy")


def sweep(dataset, family: str, values: Iterable, **kwargs) -> dict:
    """`evaluate` over `sweep_methods(family, values, ...)`; `limit`, `progress` and
    `skip_errors` go to `evaluate`, the other keyword arguments to the methods."""
    options = {key: kwargs.pop(key) for key in ("limit", "progress", "skip_errors") if key in kwargs}
    return evaluate(dataset, sweep_methods(family, values, **kwargs), **options)


def default_methods(itq_path=None, presets: Sequence[str] | None = None,
                    hierarchy: bool = True) -> list[Method]:
    """The paper's table: EGS (sigma 1.0, k 100), SLIC (200), and the paper's method
    (threshold 0) on EGS k=100 and on SLIC 200 superpixels for each binary-map preset;
    with `hierarchy`, also the default hierarchy (beyond the paper) at 100 segments.

    `presets` default: the default ``binmap_conv5`` (8 bits, the paper's count) and
    ``binmap_conv5_16bit``. `itq_path` overrides the ITQ file of ``binmap_conv5``.
    """
    from tf_binmap.presets import DEFAULT_BINARY_MAP_PRESET

    if presets is None:
        presets = [DEFAULT_BINARY_MAP_PRESET, "binmap_conv5_16bit"]
    methods: list[Method] = [EGSMethod(), SLICMethod()]
    for preset in presets:
        itq = itq_path if preset == DEFAULT_BINARY_MAP_PRESET else None
        methods.append(BinaryMapMethod(preset=preset, superpixel_method="egs", itq_path=itq))
        methods.append(BinaryMapMethod(preset=preset, superpixel_method="slic", itq_path=itq))
    if hierarchy:
        from tf_binmap.presets import DEFAULT_HIERARCHY_PRESET

        methods.append(HierarchyMethod(preset=DEFAULT_HIERARCHY_PRESET))
    return methods


def figure4_methods(preset: str = "binmap_conv5", itq_path=None,
                    egs_scales=EGS_SCALES, slic_segments=SLIC_SEGMENTS,
                    binmap_egs_scales=BINMAP_EGS_SCALES,
                    binmap_slic_segments=BINMAP_SLIC_SEGMENTS,
                    hierarchy_segments=HIERARCHY_SEGMENTS,
                    hierarchy_preset: str | None = None) -> list[Method]:
    """The curves of the paper's Figure 4: EGS over scale, SLIC over n_segments, the
    paper's method (threshold 0) over the scale of EGS and over the n_segments of SLIC,
    and the default hierarchy (`HierarchyMethod`, preset `hierarchy_preset`, default
    ``tf_binmap.presets.DEFAULT_HIERARCHY_PRESET``) over its segments per image
    (``hierarchy_segments=()`` leaves it out)."""
    from tf_binmap.presets import DEFAULT_HIERARCHY_PRESET

    hierarchy_preset = hierarchy_preset or DEFAULT_HIERARCHY_PRESET
    return [
        *sweep_methods("egs", egs_scales),
        *sweep_methods("slic", slic_segments),
        *sweep_methods("binmap", binmap_egs_scales, superpixels="egs", preset=preset, itq_path=itq_path),
        *sweep_methods("binmap", binmap_slic_segments, superpixels="slic", preset=preset, itq_path=itq_path),
        *sweep_methods("hierarchy", hierarchy_segments, preset=hierarchy_preset),
    ]


# --- evaluation ------------------------------------------------------------------------


def _merge(segmenter_settings: BinaryMapMethod, model, pixel_codes, base):
    codes = superpixel_codes(base, pixel_codes, model.bits)
    return merge_superpixels(base, codes, model.bits, threshold=segmenter_settings.threshold,
                             absorb_single_neighbour=segmenter_settings.absorb_single_neighbour)


def evaluate(dataset, methods, limit: int | None = None, progress: bool = True,
             skip_errors: bool = False) -> dict:
    """Score `methods` on `dataset` (a sequence of samples with ``name``, ``image``,
    ``ground_truths``).

    Args:
        dataset: e.g. `BSDS500` or `MSRC`; any indexable sequence of samples.
        methods: method specs, strings for `parse_method`, or Segmenters.
        limit: only the first `limit` images.
        progress: show a tqdm progress bar.
        skip_errors: a sample whose image or ground truth cannot be read
            (`DatasetError`, `ImageReadError`) is skipped and listed in
            ``results["errors"]``; by default the error is raised at once.

    Returns:
        ``{"dataset", "n_images", "image_names", "n_errors", "errors", "wall_seconds",
        "stage_seconds", "methods": [...]}``; each entry of "methods" holds "name",
        "family", "curve", "parameter", "spec", the `SegmentationScores.summary()`
        figures, "seconds_per_image" ({stage: seconds, "total": ...}) and "per_image"
        (`per_image_sums`: one row per image in the order of "image_names", what the
        paired bootstrap of `tf_binmap.evaluation.compare` resamples).
    """
    methods = [as_method(method) for method in methods]
    if not methods:
        raise ValueError("no method to evaluate")
    names = [method.name for method in methods]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"method names must be unique; repeated: {duplicates}")

    start_run = time.perf_counter()
    stage_seconds: dict[str, float] = defaultdict(float)
    # Models are built before the first image, so a missing weight / ITQ file fails fast.
    models: dict[tuple, Any] = {}
    for method in methods:
        key = method.model_key() if isinstance(method, (BinaryMapMethod, HierarchyMethod)) else None
        if key is not None and key not in models:
            start = time.perf_counter()
            models[key] = method.load_model()
            stage_seconds["model_loading"] += time.perf_counter() - start
        if isinstance(method, HierarchyMethod) and key is not None and \
                not hasattr(models[key], "projections"):
            raise MethodSpecError(  # a model first loaded for a binmap method
                f"{method.name}: the hierarchy needs a model with the real-valued "
                "projections; this one gives codes only")

    # Segmenter.pixel_codes places codes on pixels exactly as Segmenter.segment does.
    from tf_binmap.segmentation.hierarchy import cut, hierarchical_segmentation
    from tf_binmap.segmentation.segmenter import Segmenter, projections_on_pixels

    placers = {
        (method.model_key(), method.alignment): Segmenter(
            models[method.model_key()], superpixel_method=method.superpixel_method,
            alignment=method.alignment, merge="codes")
        for method in methods if isinstance(method, BinaryMapMethod)
    }
    scores = {method.name: SegmentationScores() for method in methods}
    seconds = {method.name: dict.fromkeys(STAGES, 0.0) for method in methods}
    errors: list[dict] = []
    n_total = len(dataset) if limit is None else min(int(limit), len(dataset))

    indices: Iterable[int] = range(n_total)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=f"evaluating {len(methods)} method(s)", unit="image")

    for index in indices:
        start = time.perf_counter()
        try:
            sample = dataset[index]
            name = sample.name
            image = np.asarray(sample.image)
            ground_truths = sample.ground_truths
        except (DatasetError, ImageReadError) as error:
            if not skip_errors:
                raise
            logger.warning("skipping image %d: %s", index, error)
            errors.append({"index": index, "error": f"{type(error).__name__}: {error}"})
            continue
        stage_seconds["read"] += time.perf_counter() - start

        code_maps: dict[tuple, tuple[np.ndarray, float]] = {}
        pixel_code_cache: dict[tuple, tuple[np.ndarray, float]] = {}
        superpixel_cache: dict[tuple, tuple[np.ndarray, float]] = {}
        projection_cache: dict[tuple, tuple[np.ndarray, float]] = {}
        tree_cache: dict[tuple, tuple[Any, float]] = {}

        for method in methods:
            timing = seconds[method.name]
            key = _superpixel_key(method.superpixel_method, method.superpixel_params)
            if key not in superpixel_cache:
                start = time.perf_counter()
                labels = superpixels(image, method.superpixel_method, **method.superpixel_params)
                elapsed = time.perf_counter() - start
                stage_seconds["superpixels"] += elapsed
                superpixel_cache[key] = (labels, elapsed)
            base, elapsed = superpixel_cache[key]
            timing["superpixels"] += elapsed
            if isinstance(method, BinaryMapMethod):
                model_key = method.model_key()
                model = models[model_key]
                if model_key not in code_maps:
                    start = time.perf_counter()
                    code_map = np.asarray(model.encode(image[None]))[0]
                    elapsed = time.perf_counter() - start
                    stage_seconds["network"] += elapsed
                    code_maps[model_key] = (code_map, elapsed)
                code_map, elapsed = code_maps[model_key]
                timing["network"] += elapsed

                pixel_key = (model_key, method.alignment)
                if pixel_key not in pixel_code_cache:
                    start = time.perf_counter()
                    pixel_codes = placers[pixel_key].pixel_codes(code_map, image.shape)
                    pixel_code_cache[pixel_key] = (pixel_codes, time.perf_counter() - start)
                pixel_codes, pixel_seconds = pixel_code_cache[pixel_key]
                start = time.perf_counter()
                labels = _merge(method, model, pixel_codes, base)
                elapsed = time.perf_counter() - start
                stage_seconds["merge"] += elapsed
                timing["merge"] += elapsed + pixel_seconds
            elif isinstance(method, HierarchyMethod):
                tree_key = method.tree_key()
                model_key = method.model_key()
                if model_key is not None:
                    if model_key not in projection_cache:
                        start = time.perf_counter()
                        projections = np.asarray(models[model_key].projections(image[None]))[0]
                        elapsed = time.perf_counter() - start
                        stage_seconds["network"] += elapsed
                        projection_cache[model_key] = (projections, elapsed)
                    projections, elapsed = projection_cache[model_key]
                    timing["network"] += elapsed
                if tree_key not in tree_cache:
                    start = time.perf_counter()
                    pixel_values = None
                    if model_key is not None:
                        pixel_values = projections_on_pixels(models[model_key], projections,
                                                             image.shape)[0]
                    tree = hierarchical_segmentation(image, pixel_values, leaves=base,
                                                     **method.hierarchy_params())
                    elapsed = time.perf_counter() - start
                    stage_seconds["merge"] += elapsed
                    tree_cache[tree_key] = (tree, elapsed)
                tree, elapsed = tree_cache[tree_key]
                start = time.perf_counter()
                labels = cut(tree, method.n_segments)
                cut_seconds = time.perf_counter() - start
                stage_seconds["merge"] += cut_seconds
                timing["merge"] += elapsed + cut_seconds
            else:
                labels = base
            start = time.perf_counter()
            scores[method.name].add(name, ground_truths, labels)
            elapsed = time.perf_counter() - start
            stage_seconds["metrics"] += elapsed
            timing["metrics"] += elapsed
        for pixel_codes, elapsed in pixel_code_cache.values():
            stage_seconds["merge"] += elapsed

    n_images = len(scores[methods[0].name])
    if n_images == 0:
        raise DatasetError(
            f"no image of {dataset!r} could be evaluated"
            + (f" ({len(errors)} unreadable; first: {errors[0]['error']})" if errors else "")
        )
    entries = []
    for method in methods:
        per_image = {stage: value / n_images for stage, value in seconds[method.name].items()}
        per_image["total"] = sum(per_image.values())
        entries.append({
            "name": method.name,
            "family": method.family,
            "curve": method.curve,
            "parameter": method.parameter,
            "spec": method.spec(),
            **scores[method.name].summary(),
            "seconds_per_image": per_image,
            "per_image": per_image_sums(scores[method.name]),
        })
    return {
        "dataset": _describe(dataset),
        "n_images": n_images,
        "image_names": [record["name"] for record in scores[methods[0].name].records],
        "n_errors": len(errors),
        "errors": errors,
        "wall_seconds": time.perf_counter() - start_run,
        "stage_seconds": dict(stage_seconds),
        "methods": entries,
    }


def _describe(dataset) -> str:
    text = repr(dataset)
    if len(text) > 200:
        text = f"{type(dataset).__name__} of {len(dataset)} samples"
    return text


# --- presentation ----------------------------------------------------------------------


def _method_entries(results) -> list[dict]:
    if isinstance(results, dict):
        return list(results["methods"])
    return list(results)


def format_table(results) -> str:
    """Markdown table: method | Seg-IoU pooled | per-image | covering | PRI | VOI |
    segments/image | s/image (`results` from `evaluate`, or its "methods" list)."""
    lines = [
        "| method | Seg-IoU pooled | per-image | covering | PRI | VOI | segments/image | s/image |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in _method_entries(results):
        lines.append(
            f"| {entry['name']} | {entry['seg_iou_pooled']:.2f} | {entry['seg_iou_per_image']:.2f} "
            f"| {entry['covering']:.1f} | {entry['pri']:.3f} | {entry['voi']:.3f} "
            f"| {entry['segments_per_image']:.1f} | {entry['seconds_per_image']['total']:.3f} |"
        )
    return "\n".join(lines)


def format_timings(results) -> str:
    """Markdown table of each method's mean seconds per image per stage (a shared stage
    counted for every method that uses it)."""
    lines = [
        "| method | " + " | ".join(STAGES) + " | total |",
        "|---|" + "---|" * (len(STAGES) + 1),
    ]
    for entry in _method_entries(results):
        times = entry["seconds_per_image"]
        lines.append(f"| {entry['name']} | " + " | ".join(f"{times[s]:.3f}" for s in STAGES)
                     + f" | {times['total']:.3f} |")
    return "\n".join(lines)


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _atomic_write(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        write(str(tmp))
    return path


def write_json(results, path) -> Path:
    """Write `results` as indented JSON, atomically (temp file + os.replace)."""
    text = json.dumps(results, indent=2, default=_json_default, allow_nan=True) + "\n"
    return _atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _write_text(path, text) -> Path:
    return _atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


_CURVE_STYLES = {
    "egs": ("tab:blue", "o", "-"),
    "slic": ("tab:orange", "s", "-"),
    "binmap/egs": ("tab:green", "^", "--"),
    "binmap/slic": ("tab:red", "v", "--"),
    "hierarchy": ("black", "*", "-"),
}
_EXTRA_COLOURS = ["tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray"]


def _is_paper_operating_point(entry) -> str | None:
    """Label if `entry` is one of the paper's baseline settings (EGS k=100, SLIC 200)."""
    spec = entry.get("spec", {})
    family = spec.get("family")
    if family in ("egs", "slic"):
        params = {k: v for k, v in spec.items() if k != "family"}
        if _superpixel_key(family, params) == _superpixel_key(family, {}):
            return "EGS k=100" if family == "egs" else "SLIC 200"
    return None


def plot_curves(results, path, title: str | None = None) -> Path:
    """The paper's Figure 4 from `evaluate` results: pooled Seg-IoU (left) and covering
    (right) against the mean number of segments per image (log scale), one curve per
    family (methods sharing a ``curve``), the paper's baseline settings (EGS k=100,
    SLIC 200) circled. Written atomically as PNG; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    entries = _method_entries(results)
    curves: dict[str, list[dict]] = {}
    for entry in entries:
        curves.setdefault(entry.get("curve", entry["name"]), []).append(entry)

    figure = Figure(figsize=(13, 5.4), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2)
    panels = (("seg_iou_pooled", "Seg-IoU, pooled over GT segments (%)"),
              ("covering", "Segmentation covering (%)"))
    extra = iter(_EXTRA_COLOURS * 4)
    styles = {}
    for curve, points in curves.items():
        family = points[0].get("family")
        if family == "binmap":
            family = f"binmap/{points[0]['spec'].get('superpixel_method')}"
        colour, marker, line = _CURVE_STYLES.get(family, (None, "D", ":"))
        if colour is None or any(style[0] == colour for style in styles.values()):
            colour = next(extra)
        styles[curve] = (colour, marker, line)

    for axis, (key, ylabel) in zip(axes, panels):
        for curve, points in curves.items():
            points = sorted(points, key=lambda e: e["segments_per_image"])
            colour, marker, line = styles[curve]
            xs = [p["segments_per_image"] for p in points]
            ys = [p[key] for p in points]
            label = {"binmap": f"paper's method: {curve}",
                     "hierarchy": f"ours: {curve}"}.get(points[0].get("family"), curve)
            axis.plot(xs, ys, linestyle=line, marker=marker, color=colour, markersize=6,
                      linewidth=1.6, label=label)
            for point in points:  # the swept parameter next to each point
                axis.annotate(_fmt(point.get("parameter", "")), (point["segments_per_image"], point[key]),
                              xytext=(4, 4), textcoords="offset points", fontsize=7, color=colour)
            for point in points:
                label = _is_paper_operating_point(point)
                if label:
                    axis.plot(point["segments_per_image"], point[key], marker="o", markersize=14,
                              markerfacecolor="none", markeredgecolor="black", markeredgewidth=1.5,
                              linestyle="none")
                    axis.annotate(f"paper: {label}", (point["segments_per_image"], point[key]),
                                  xytext=(8, -14), textcoords="offset points", fontsize=9)
        axis.set_xscale("log")
        axis.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("segments per image (mean)")
        axis.set_ylabel(ylabel)
        axis.grid(True, which="both", alpha=0.3)
    axes[0].legend(loc="best", fontsize=9, title="numbers: EGS scale k / SLIC n_segments / "
                   "hierarchy segments", title_fontsize=8)
    if title:
        figure.suptitle(title)
    path = Path(path)
    return _atomic_write(path, lambda tmp: figure.savefig(tmp, format="png"))


# --- command ---------------------------------------------------------------------------


def _open_dataset(dataset, split: str, data_root, msrc_flavour: str):
    if not isinstance(dataset, str):
        return dataset  # a ready dataset object (a sequence of samples)
    name, _, option = str(dataset).lower().partition(":")
    root = Path(data_root).expanduser() if data_root is not None else default_data_root()
    if root is None:
        raise DatasetError(
            "no data root: pass data_root= (--data-root) or set $TF_BINMAP_DATA to the folder "
            "holding BSDS500/ and MSRC_ObjCategImageDatabase_v2/"
        )
    if name in ("bsds500", "bsds"):
        return BSDS500(root, split=option or split)
    if name == "msrc":
        return MSRC(root, flavour=option or msrc_flavour)
    raise ValueError(f"unknown dataset {dataset!r}; valid: bsds500, msrc (or msrc:newseg)")


def _dedupe(methods: list[Method]) -> list[Method]:
    seen, out = set(), []
    for method in methods:
        if method.name not in seen:
            seen.add(method.name)
            out.append(method)
    return out


def evaluate_command(dataset: str = "bsds500", split: str = "val", data_root=None,
                     methods=None, curves: bool = False, out="outputs/evaluation",
                     limit: int | None = None, quiet: bool = False, *, itq_path=None,
                     msrc_flavour: str = "gt_bmp", skip_errors: bool = False,
                     bootstrap: int = 1000, seed: int = 0) -> dict:
    """Evaluate methods on a dataset and write the results (``tf-binmap evaluate``).

    Args:
        dataset: "bsds500" (split from `split`) or "msrc" (one set, `split` unused; its
            ground truth from `msrc_flavour`, "gt_bmp" or "newseg"; "msrc:newseg" also
            works), or a ready dataset object (a sequence of samples).
        split: BSDS500 split ("train", "val", "test").
        data_root: folder with the datasets (default `default_data_root()`).
        methods: specs or strings for `parse_method`; default `default_methods()`, the
            paper's table.
        curves: also run the Figure 4 sweeps (`figure4_methods`, with the default
            hierarchy's curve), plot figure4.png and compare the hierarchy's curve with
            EGS's and SLIC's at matched segment counts (`compare.compare_curves`).
        out: output folder: results.json, table.md; with curves also figure4.png and
            comparison.png (the hierarchy vs EGS and SLIC, and its difference to EGS
            with the bootstrap intervals).
        bootstrap, seed: resamples of the paired bootstrap over images (0: none) and
            its random seed.
        limit: only the first N images.
        quiet: no progress bar and no printing.
        itq_path: ITQ file for the ``binmap_conv5`` preset, used by every binmap method
            on that preset that does not name its own.
        skip_errors: skip unreadable samples (listed in results.json) instead of failing.

    Returns:
        the `evaluate` results, plus "table_methods" (names of the table's methods),
        "files" (paths written) and "settings".
    """
    from tf_binmap.presets import DEFAULT_BINARY_MAP_PRESET, DEFAULT_HIERARCHY_PRESET

    if int(bootstrap) < 0:
        raise ValueError(f"bootstrap must be >= 0 resamples, got {bootstrap}")
    data = _open_dataset(dataset, split, data_root, msrc_flavour)
    table_methods = (default_methods(itq_path=itq_path) if methods is None
                     else [as_method(method) for method in methods])
    if itq_path is not None:
        table_methods = [
            dataclasses.replace(method, itq_path=itq_path)
            if (isinstance(method, BinaryMapMethod) and method.model is None
                and method.itq_path is None and method.preset == DEFAULT_BINARY_MAP_PRESET)
            else method
            for method in table_methods
        ]
    all_methods = list(table_methods)
    if curves:
        all_methods += figure4_methods(preset=DEFAULT_BINARY_MAP_PRESET, itq_path=itq_path)
    all_methods = _dedupe(all_methods)

    results = evaluate(data, all_methods, limit=limit, progress=not quiet, skip_errors=skip_errors)
    table_names = [method.name for method in _dedupe(table_methods)]
    results["table_methods"] = table_names
    results["settings"] = {
        "dataset": dataset if isinstance(dataset, str) else repr(dataset),
        "split": getattr(data, "split", None),
        "msrc_flavour": getattr(data, "flavour", None), "limit": limit, "curves": curves,
        "itq_path": None if itq_path is None else str(itq_path),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }

    out = Path(out)
    by_name = {entry["name"]: entry for entry in results["methods"]}
    table_entries = [by_name[name] for name in table_names]
    gt_segments = table_entries[0]["n_gt_segments"]
    header = (f"{results['dataset']}: {results['n_images']} images, {gt_segments} ground-truth segments, "
              f"{results['wall_seconds']:.0f} s wall"
              + (f", {results['n_errors']} unreadable sample(s) skipped" if results["n_errors"] else ""))
    table = format_table(table_entries)
    sections = [f"# Evaluation\n\n{header}\n", table,
                ("\nSeconds per image by stage (a shared stage counted for each method "
                 "using it):\n"), format_timings(table_entries)]
    comparisons = []
    if curves:
        sections += ["\n## Figure 4 sweeps\n", format_table(results["methods"])]
        ours = HierarchyMethod(preset=DEFAULT_HIERARCHY_PRESET).curve
        for baseline in ("EGS", "SLIC"):
            rows = compare_curves(results, ours, baseline, n_resamples=bootstrap, seed=seed)
            comparisons.append({"curve": ours, "baseline": baseline, "n_resamples": bootstrap,
                                "seed": seed, "rows": rows})
            sections += [f"\n## {ours} vs {baseline}\n",
                         format_comparison(rows, ours, baseline, bootstrap)]
    results["comparisons"] = comparisons
    files = {"results": str(out / "results.json"), "table": str(out / "table.md")}
    _write_text(out / "table.md", "\n".join(sections) + "\n")
    if curves:
        title = f"{_dataset_title(data)}: {results['n_images']} images"
        files["figure4"] = str(plot_curves(results, out / "figure4.png", title=title))
        files["comparison"] = str(plot_comparison(results, comparisons[0],
                                                  out / "comparison.png", title=title))
    results["files"] = files
    write_json(results, out / "results.json")
    if not quiet:
        print(header)
        print(table)
        print()
        print(format_timings(table_entries))
        if curves:
            print()
            print(format_table(results["methods"]))
        for comparison in comparisons:
            print()
            print(format_comparison(comparison["rows"], comparison["curve"],
                                    comparison["baseline"], comparison["n_resamples"]))
        for path in files.values():
            print("wrote", path)
    return results


def _dataset_title(data) -> str:
    if isinstance(data, BSDS500):
        return f"BSDS500 {data.split}"
    if isinstance(data, MSRC):
        return f"MSRC v2 ({data.flavour})"
    return type(data).__name__

