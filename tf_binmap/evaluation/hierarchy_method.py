"""The evaluation spec of the default segmentation (beyond the paper): fine EGS leaves
merged greedily in the learned order (or by the weighted distance), cut at
``n_segments`` per image. Methods that differ only in ``n_segments`` share one merge
tree per image, so a whole curve costs one hierarchy per image."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from tf_binmap.evaluation.methods import MethodSpecError, format_number, superpixel_key
from tf_binmap.presets import DEFAULT_HIERARCHY_PRESET
from tf_binmap.segmentation.hierarchy import HIERARCHY_DEFAULTS, hierarchy_settings
from tf_binmap.segmentation.scorer import (
    MergeScorer,
    format_size_exponent,
    parse_size_exponent,
)

__all__ = ["HierarchyMethod"]


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
        precision: the network's precision, ``"float32"`` (default) or ``"bfloat16"``
            (`BinaryMapModel.from_preset`).
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
    precision: str = "float32"
    model: Any = dataclasses.field(default=None, repr=False, compare=False)
    name: str | None = None

    family = "hierarchy"

    def __post_init__(self):
        if self.precision not in ("float32", "bfloat16"):
            raise MethodSpecError(f"hierarchy: precision must be float32 or bfloat16, got "
                                  f"{self.precision!r}")
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
            try:
                self.size_exponent = parse_size_exponent(self.size_exponent)
            except ValueError as error:
                raise MethodSpecError(f"hierarchy: {error}") from None
        if self.egs_scale <= 0 or self.egs_sigma < 0 or self.egs_min_size < 1:
            raise MethodSpecError("hierarchy: egs_scale must be > 0, egs_sigma >= 0 and "
                                  "egs_min_size >= 1")
        if self.scorer is not None and not hasattr(self.scorer, "n_code"):
            try:
                MergeScorer.resolve(self.scorer)
            except (ValueError, OSError) as error:
                raise MethodSpecError(f"hierarchy: scorer={self.scorer}: {error}") from None
        if self.name is None:
            self.name = f"{self.curve} n={self.n_segments}"

    @property
    def uses_network(self) -> bool:
        """Whether the method needs the CNN codes (a scorer, or a non-zero code weight)."""
        return self.preset != "none" and (self.scorer is not None or self.w_code != 0)

    @property
    def superpixel_method(self) -> str:
        """The leaves are EGS superpixels."""
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
        """Name of the curve this method is a point of: the settings that differ from
        the defaults."""
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
            changed.append(f"size_exponent={format_size_exponent(self.size_exponent)}")
        changed += [f"{key}={format_number(value)}" for key, value in settings.items()
                    if key not in ("scorer", "size_exponent", "w_code")
                    and float(value) != float(defaults[key])]
        if self.scorer is None and self.uses_network and \
                float(self.w_code) != float(defaults["w_code"]):
            changed.insert(1, f"w_code={format_number(self.w_code)}")
        if self.precision != "float32" and self.uses_network:
            changed.append(f"precision={self.precision}")
        codes = self.preset if self.uses_network else "no CNN"
        return f"hierarchy ({', '.join([str(codes), *changed])})"

    @property
    def parameter(self) -> float:
        """The swept parameter: segments per image."""
        return self.n_segments

    def model_key(self) -> tuple | None:
        """Identity of the model (methods with equal keys share its projections), or
        None without the CNN."""
        if not self.uses_network:
            return None
        if self.model is not None:
            return ("object", id(self.model))
        itq = None if self.itq_path is None else str(Path(self.itq_path).expanduser().resolve())
        return ("preset", str(self.preset), itq, self.precision)

    def tree_key(self) -> tuple:
        """Methods with equal keys share the merge tree of an image."""
        params = self.hierarchy_params()
        if hasattr(params["scorer"], "n_code"):
            params["scorer"] = ("object", id(params["scorer"]))
        return (self.model_key(), superpixel_key("egs", self.superpixel_params),
                tuple(sorted(params.items(), key=lambda item: item[0])))

    def load_model(self):
        """The model (built from the preset unless given), checked for projections and
        the scorer's code length."""
        if self.model is not None:
            model = self.model
        else:
            from tf_binmap.models.binary_map import (
                BinaryMapModel,  # Keras, on first use
            )

            model = BinaryMapModel.from_preset(self.preset, itq_path=self.itq_path,
                                               precision=self.precision)
        if not hasattr(model, "projections"):
            raise MethodSpecError(
                f"{self.name}: the hierarchy needs a model with the real-valued projections "
                "(a Keras BinaryMapModel or an export runner); this one gives codes only"
            )
        if self.scorer is not None:
            n_code = MergeScorer.resolve(self.scorer).n_code
            if getattr(model, "bits", n_code) != n_code:
                raise MethodSpecError(
                    f"{self.name}: the merge scorer was fitted on {n_code}-bit codes and this "
                    f"model gives {model.bits}; use scorer=none, or a scorer fitted for this "
                    "preset (`tf-binmap fit-merge --preset`)")
        return model

    def spec(self) -> dict:
        """The settings as a JSON-able dict (for results.json)."""
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
            "precision": self.precision,
        }
