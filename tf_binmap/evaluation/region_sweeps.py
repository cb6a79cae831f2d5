"""Hierarchies for the BSDS region benchmark (`region_benchmark`): a `RegionSweep` is one
method family swept over its parameter (EGS over k, SLIC over n_segments, the paper's
method over its superpixels' parameter, a merge tree over its cuts), and
`run_region_benchmark` scores every sweep on a dataset in one pass over the images.

The work is shared as in `evaluate` (`runner.SharedStages`): each image is read once,
the network runs once per model, and a hierarchy builds one merge tree per image for
all its cuts, counted or level. A cut only unites whole leaves, so its contingency
tables come from the leaves' tables (`merge_table_columns`) without touching pixels.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence

import numpy as np

from tf_binmap.evaluation.hierarchy_method import HierarchyMethod
from tf_binmap.evaluation.method_specs import EGS_SCALES, SLIC_SEGMENTS, Method, as_method
from tf_binmap.evaluation.methods import (
    SUPERPIXEL_DEFAULTS,
    EGSMethod,
    MethodSpecError,
    SLICMethod,
)
from tf_binmap.evaluation.region_benchmark import (
    RegionImageScores,
    benchmark_tables,
    merge_table_columns,
    ods_ois,
)
from tf_binmap.evaluation.runner import (
    SharedStages,
    check_unique_names,
    describe_dataset,
    no_image_error,
    read_samples,
)
from tf_binmap.presets import DEFAULT_HIERARCHY_PRESET
from tf_binmap.segmentation.tree import MergeTree, leaf_assignment

__all__ = ["REGION_EGS_SCALES", "REGION_LEVELS", "REGION_SEGMENTS", "REGION_SLIC_SEGMENTS",
           "RegionSweep", "default_region_sweeps", "region_sweeps", "run_region_benchmark"]


#: Count cuts of a hierarchy (segments per image; clipped to each tree's leaves), from
#: one segment to the leaves, about 1.25x apart.
REGION_SEGMENTS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 17, 20, 24, 30, 36, 45, 55, 65, 80,
                   100, 120, 150, 180, 220, 270, 330, 400, 500, 600, 800, 1000)

#: Level cuts of a hierarchy with a learned merge order, whose merge scores
#: ((2p - 1) * area ratio ** gamma) lie in [-1, 1] and crowd around 0 at coarse cuts:
#: 0 and +-10^(-4..0) in 32 steps per sign, one list for every image (like the UCM
#: thresholds of the benchmark).
REGION_LEVELS = tuple(float(x) for x in np.concatenate(
    [-np.geomspace(1.0, 1e-4, 33), [0.0], np.geomspace(1e-4, 1.0, 33)]))

#: EGS over its Figure 4 sweep (k = 50..10000: about 1,300 down to 20 segments; beyond
#: 10000 it keeps one large region and specks).
REGION_EGS_SCALES = tuple(EGS_SCALES)

#: SLIC over its Figure 4 sweep and two coarser counts, so it reaches the few large
#: segments where covering peaks.
REGION_SLIC_SEGMENTS = (6, 12, *SLIC_SEGMENTS)

_CUTS = ("segments", "level")


@dataclasses.dataclass
class RegionSweep:
    """One family of segmentations indexed by a parameter: the benchmark's "scales".

    Args:
        method: a method spec (or string for `parse_method`). EGS is swept over its
            scale k, SLIC over n_segments, the paper's method (binmap) over its
            superpixels' k or n_segments: the swept setting of `method` is replaced by
            each value. A hierarchy builds one tree per image and is cut at each value.
        values: the parameter values, in the order of the benchmark's scales.
        cut: for a hierarchy, "segments" (`cut(tree, n)`, n segments per image) or
            "level" (`cut_at_level(tree, t)`, one merge-score threshold t for all
            images); unused otherwise.
        name: the label in tables (default: the method's curve and the cut).
    """

    method: Method
    values: Sequence[float]
    cut: str = "segments"
    name: str | None = None

    def __post_init__(self):
        self.method = as_method(self.method)
        self.values = tuple(self.values)
        if not self.values:
            raise MethodSpecError(f"{self.method.name}: a sweep needs at least one value")
        if self.cut not in _CUTS:
            raise MethodSpecError(f"cut must be one of {_CUTS}, got {self.cut!r}")
        hierarchy = isinstance(self.method, HierarchyMethod)
        if self.cut == "level" and not hierarchy:
            raise MethodSpecError(f"{self.method.name}: level cuts need a hierarchy")
        if hierarchy and self.cut == "segments" and min(self.values) < 1:
            raise MethodSpecError(f"{self.method.name}: segment counts must be >= 1")
        if self.name is None:
            curve = self.method.curve
            self.name = (f"{curve}, {'level' if self.cut == 'level' else 'count'} cuts"
                         if hierarchy else curve)

    @property
    def family(self) -> str:
        """The method family: egs, slic, binmap or hierarchy."""
        return self.method.family

    @property
    def parameter_name(self) -> str:
        """What the values are: "k", "n_segments", "segments" or "level"."""
        if isinstance(self.method, HierarchyMethod):
            return self.cut
        return "k" if self.method.superpixel_method == "egs" else "n_segments"

    def methods(self) -> list[Method]:
        """One method per value (a hierarchy: the method itself, cut later)."""
        method = self.method
        if isinstance(method, HierarchyMethod):
            return [method]
        if isinstance(method, EGSMethod):
            return [dataclasses.replace(method, scale=v, name=None) for v in self.values]
        if isinstance(method, SLICMethod):
            return [dataclasses.replace(method, n_segments=v, name=None) for v in self.values]
        key = "scale" if method.superpixel_method == "egs" else "n_segments"
        return [dataclasses.replace(method, name=None,
                                    superpixel_params={**method.superpixel_params, key: v})
                for v in self.values]

    def spec(self) -> dict:
        """The settings as a JSON-able dict."""
        spec = self.method.spec()
        if isinstance(self.method, HierarchyMethod):
            spec.pop("n_segments")
        return {"name": self.name, "family": self.family, "cut": self.cut if
                isinstance(self.method, HierarchyMethod) else None,
                "parameter": self.parameter_name, "values": list(self.values),
                "method": spec}


def _default_values(method: Method) -> tuple:
    if isinstance(method, HierarchyMethod):
        return REGION_SEGMENTS
    if isinstance(method, EGSMethod):
        return REGION_EGS_SCALES
    if isinstance(method, SLICMethod):
        return REGION_SLIC_SEGMENTS
    if method.superpixel_method == "egs":
        return REGION_EGS_SCALES
    return REGION_SLIC_SEGMENTS


def region_sweeps(methods: Iterable) -> list[RegionSweep]:
    """A sweep per method spec over its family's default values; a hierarchy with a
    learned merge order gives two, its count cuts (`REGION_SEGMENTS`) and its level cuts
    (`REGION_LEVELS`; the weighted distance has no fixed level range, so only counts).
    RegionSweep objects pass through."""
    sweeps = []
    for method in methods:
        if isinstance(method, RegionSweep):
            sweeps.append(method)
            continue
        method = as_method(method)
        sweeps.append(RegionSweep(method, _default_values(method)))
        if isinstance(method, HierarchyMethod) and method.scorer is not None:
            sweeps.append(RegionSweep(method, REGION_LEVELS, cut="level"))
    return sweeps


def default_region_sweeps() -> list[RegionSweep]:
    """Ours (the default hierarchy, count cuts, then level cuts), EGS over k and SLIC
    over n_segments."""
    return region_sweeps([HierarchyMethod(preset=DEFAULT_HIERARCHY_PRESET),
                          EGSMethod(**SUPERPIXEL_DEFAULTS["egs"]),
                          SLICMethod(**SUPERPIXEL_DEFAULTS["slic"])])


def _assignments(tree: MergeTree, sweep: RegionSweep):
    for value in sweep.values:
        if sweep.cut == "segments":
            n_segments = int(np.clip(int(value), tree.min_segments, tree.n_leaves))
            n_merges = tree.n_leaves - n_segments
        else:
            n_merges = int(np.searchsorted(tree.levels, float(value), side="right"))
        yield leaf_assignment(tree, n_merges)


def run_region_benchmark(dataset, sweeps=None, limit: int | None = None,
                         progress: bool = True, skip_errors: bool = False) -> dict:
    """Score each sweep's segmentations on `dataset` with the BSDS region benchmark.

    Args:
        dataset: a sequence of samples (``name``, ``image``, ``ground_truths``).
        sweeps: `RegionSweep`s or method specs (`region_sweeps`); default
            `default_region_sweeps()`.
        limit, progress, skip_errors: as `evaluate`.

    Returns:
        {"dataset", "n_images", "image_names", "n_errors", "errors", "wall_seconds",
        "stage_seconds", "sweeps"}; each sweep entry holds its `RegionSweep.spec`, the
        `ods_ois` figures with, per metric, "ods_value" (the parameter ODS chose) and
        "ods_segments" (mean segments per image there), "segments_per_scale" (mean
        segments per image at each value), "seconds_per_image" and "per_image" (the
        per-image statistics of `RegionImageScores.as_dict`, with the image "name").
    """
    sweeps = default_region_sweeps() if sweeps is None else region_sweeps(sweeps)
    if not sweeps:
        raise ValueError("no sweep to evaluate")
    check_unique_names(sweeps)
    start_run = time.perf_counter()
    stages = SharedStages([m for sweep in sweeps for m in sweep.methods()])
    per_image: dict[str, list[dict]] = {sweep.name: [] for sweep in sweeps}
    seconds = {sweep.name: 0.0 for sweep in sweeps}
    errors: list[dict] = []

    for name, image, ground_truths in read_samples(
            dataset, limit, progress, skip_errors, errors, stages.stage_seconds,
            f"region benchmark, {len(sweeps)} sweep(s)"):
        stages.start_image(image)
        leaf_tables: dict[int, list[np.ndarray]] = {}
        for sweep in sweeps:
            scores = RegionImageScores()
            spent = 0.0
            if isinstance(sweep.method, HierarchyMethod):
                tree, charged = stages.tree(sweep.method)
                spent += sum(charged.values())
                start = time.perf_counter()
                key = id(tree)  # count and level cuts of one tree share its leaf tables
                if key not in leaf_tables:
                    leaf_tables[key] = benchmark_tables(ground_truths, tree.superpixels)
                for assignment in _assignments(tree, sweep):
                    scores.add(merge_table_columns(leaf_tables[key], assignment))
                elapsed = time.perf_counter() - start
            else:
                elapsed = 0.0
                for method in sweep.methods():
                    labels, charged = stages.labels(method)
                    spent += sum(charged.values())
                    start = time.perf_counter()
                    scores.add(benchmark_tables(ground_truths, labels))
                    elapsed += time.perf_counter() - start
            stages.stage_seconds["metrics"] += elapsed
            seconds[sweep.name] += spent + elapsed
            per_image[sweep.name].append({"name": name, **scores.as_dict()})
        stages.finish_image()

    n_images = len(per_image[sweeps[0].name])
    if n_images == 0:
        raise no_image_error(dataset, errors)
    entries = []
    for sweep in sweeps:
        images = per_image[sweep.name]
        figures = ods_ois(images)
        segments = np.mean([image["n_segments"] for image in images], axis=0)
        for metric in figures.values():
            metric["ods_value"] = sweep.values[metric["ods_index"]]
            metric["ods_segments"] = float(segments[metric["ods_index"]])
        entries.append({**sweep.spec(), **figures,
                        "segments_per_scale": segments.tolist(),
                        "seconds_per_image": seconds[sweep.name] / n_images,
                        "per_image": images})
    return {
        "dataset": describe_dataset(dataset),
        "n_images": n_images,
        "image_names": [image["name"] for image in per_image[sweeps[0].name]],
        "n_errors": len(errors),
        "errors": errors,
        "wall_seconds": time.perf_counter() - start_run,
        "stage_seconds": dict(stages.stage_seconds),
        "sweeps": entries,
    }

