"""Methods from text and the standard method sets: `parse_method` turns CLI strings such
as ``"egs:scale=200"`` or ``"binmap:preset=binmap_conv5,superpixels=slic,n_segments=200"``
into specs, `as_method` accepts specs, strings, dicts and Segmenters, and
`default_methods` / `figure4_methods` / `sweep_methods` build the paper's table and the
Figure 4 sweeps."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from tf_binmap.evaluation.hierarchy_method import HierarchyMethod
from tf_binmap.evaluation.methods import (
    SUPERPIXEL_DEFAULTS,
    BinaryMapMethod,
    EGSMethod,
    MethodSpecError,
    SLICMethod,
)
from tf_binmap.presets import DEFAULT_BINARY_MAP_PRESET, DEFAULT_HIERARCHY_PRESET

__all__ = ["BINMAP_EGS_SCALES", "BINMAP_SLIC_SEGMENTS", "EGS_SCALES", "HIERARCHY_SEGMENTS",
           "SLIC_SEGMENTS", "Method", "as_method", "default_methods", "figure4_methods",
           "parse_method", "sweep_methods"]


#: Figure 4 sweeps: EGS scale k, SLIC number of segments, and ours over the parameter
#: of its underlying superpixels (threshold 0).
#: EGS up to k=10000 reaches ~20 segments per image on BSDS500 (k=1200: ~80).
EGS_SCALES = (50, 100, 200, 300, 500, 800, 1200, 2000, 3500, 6000, 10000)


SLIC_SEGMENTS = (25, 50, 100, 200, 400, 800)


BINMAP_EGS_SCALES = (50, 100, 200, 400)


BINMAP_SLIC_SEGMENTS = (100, 200, 400, 800)


#: Cuts of the hierarchy (segments per image): one tree per image gives them all.
HIERARCHY_SEGMENTS = (20, 30, 45, 60, 80, 100, 150, 200, 300, 400, 600)


Method = EGSMethod | SLICMethod | BinaryMapMethod | HierarchyMethod


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
    "precision": str,
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
      egs_scale, egs_sigma, egs_min_size, itq_path (itq), precision (float32 or
      bfloat16, the network's).

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
    if superpixel_method not in SUPERPIXEL_DEFAULTS:
        raise MethodSpecError(
            f"{text!r}: superpixels={superpixel_method!r}; valid: {sorted(SUPERPIXEL_DEFAULTS)}"
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


def default_methods(itq_path=None, presets: Sequence[str] | None = None,
                    hierarchy: bool = True) -> list[Method]:
    """The paper's table: EGS (sigma 1.0, k 100), SLIC (200), and the paper's method
    (threshold 0) on EGS k=100 and on SLIC 200 superpixels for each binary-map preset;
    with `hierarchy`, also the default hierarchy (beyond the paper) at 100 segments.

    `presets` default: the default ``binmap_conv5`` (8 bits, the paper's count) and
    ``binmap_conv5_16bit``. `itq_path` overrides the ITQ file of ``binmap_conv5``.
    """
    if presets is None:
        presets = [DEFAULT_BINARY_MAP_PRESET, "binmap_conv5_16bit"]
    methods: list[Method] = [EGSMethod(), SLICMethod()]
    for preset in presets:
        itq = itq_path if preset == DEFAULT_BINARY_MAP_PRESET else None
        methods.append(BinaryMapMethod(preset=preset, superpixel_method="egs", itq_path=itq))
        methods.append(BinaryMapMethod(preset=preset, superpixel_method="slic", itq_path=itq))
    if hierarchy:
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
    hierarchy_preset = hierarchy_preset or DEFAULT_HIERARCHY_PRESET
    return [
        *sweep_methods("egs", egs_scales),
        *sweep_methods("slic", slic_segments),
        *sweep_methods("binmap", binmap_egs_scales, superpixels="egs", preset=preset, itq_path=itq_path),
        *sweep_methods("binmap", binmap_slic_segments, superpixels="slic", preset=preset, itq_path=itq_path),
        *sweep_methods("hierarchy", hierarchy_segments, preset=hierarchy_preset),
    ]
