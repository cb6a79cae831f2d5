"""Running methods over a dataset: `evaluate` loops over the images once (images outer,
methods inner) and shares work between methods: each image is read once, the network
output is computed once per (model, image), the superpixels once per (superpixel
parameters, image) and a hierarchy's merge tree once per (settings, image). Every method
gets a `SegmentationScores` summary and its mean seconds per image per stage (network,
superpixels, merge, metrics); a shared stage is charged, with the time it took, to every
method that uses it, so a method's seconds are what it costs on its own. The run's
de-duplicated stage totals are in ``results["stage_seconds"]``.

`SharedStages` holds that sharing, so other loops over a dataset (the BSDS region
benchmark, `region_runner`) reuse it.

NumPy, scikit-image and OpenCV only; Keras is used only through model objects.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from tf_binmap.evaluation.compare import per_image_sums
from tf_binmap.evaluation.datasets import DatasetError
from tf_binmap.evaluation.hierarchy_method import HierarchyMethod
from tf_binmap.evaluation.method_specs import as_method, sweep_methods
from tf_binmap.evaluation.methods import (
    BinaryMapMethod,
    MethodSpecError,
    superpixel_key,
)
from tf_binmap.evaluation.metrics import SegmentationScores
from tf_binmap.io.images import ImageReadError
from tf_binmap.segmentation.hierarchy import hierarchical_segmentation
from tf_binmap.segmentation.merge import merge_superpixels, superpixel_codes
from tf_binmap.segmentation.placement import projections_on_pixels
from tf_binmap.segmentation.segmenter import Segmenter
from tf_binmap.segmentation.superpixels import superpixels
from tf_binmap.segmentation.tree import MergeTree, cut

__all__ = ["STAGES", "SharedStages", "evaluate", "read_samples", "sweep"]

logger = logging.getLogger(__name__)


#: Per-method stages timed by `evaluate` (seconds per image).
STAGES = ("network", "superpixels", "merge", "metrics")


def _merge(segmenter_settings: BinaryMapMethod, model, pixel_codes, base):
    codes = superpixel_codes(base, pixel_codes, model.bits)
    return merge_superpixels(base, codes, model.bits, threshold=segmenter_settings.threshold,
                             absorb_single_neighbour=segmenter_settings.absorb_single_neighbour)


class SharedStages:
    """The work methods share on one image: the network output per model, the
    superpixels per parameters, the placed codes per (model, alignment) and the merge
    tree per hierarchy settings, each computed once per image.

    Models are built in the constructor, before the first image, so a missing weight or
    ITQ file fails fast. ``stage_seconds`` accumulates the de-duplicated time of each
    stage (and "model_loading"); `labels` and `tree` also return what the method would
    have spent on its own ({stage: seconds}, a shared stage charged in full).

    >>> stages = SharedStages(methods)
    >>> stages.start_image(image)
    >>> labels, charged = stages.labels(method)
    """

    def __init__(self, methods: Iterable):
        self.stage_seconds: dict[str, float] = defaultdict(float)
        self.models: dict[tuple, Any] = {}
        methods = list(methods)
        for method in methods:
            key = method.model_key() if isinstance(method, (BinaryMapMethod, HierarchyMethod)) \
                else None
            if key is not None and key not in self.models:
                start = time.perf_counter()
                self.models[key] = method.load_model()
                self.stage_seconds["model_loading"] += time.perf_counter() - start
            if isinstance(method, HierarchyMethod) and key is not None and \
                    not hasattr(self.models[key], "projections"):
                raise MethodSpecError(  # a model first loaded for a binmap method
                    f"{method.name}: the hierarchy needs a model with the real-valued "
                    "projections; this one gives codes only")
        # Segmenter.pixel_codes places codes on pixels exactly as Segmenter.segment does.
        self._placers = {
            (method.model_key(), method.alignment): Segmenter(
                self.models[method.model_key()], superpixel_method=method.superpixel_method,
                alignment=method.alignment, merge="codes")
            for method in methods if isinstance(method, BinaryMapMethod)
        }
        self._image: np.ndarray | None = None

    def start_image(self, image: np.ndarray) -> None:
        """Forget the previous image's work (charging its placed codes to "merge") and
        work on ``image`` (uint8 RGB) next."""
        self.finish_image()
        self._image = np.asarray(image)
        self._code_maps: dict[tuple, tuple[np.ndarray, float]] = {}
        self._pixel_codes: dict[tuple, tuple[np.ndarray, float]] = {}
        self._superpixels: dict[tuple, tuple[np.ndarray, float]] = {}
        self._projections: dict[tuple, tuple[np.ndarray, float]] = {}
        self._trees: dict[tuple, tuple[MergeTree, float]] = {}

    def finish_image(self) -> None:
        """Charge the current image's placed codes to the "merge" stage total (once)."""
        if self._image is not None:
            for _, elapsed in self._pixel_codes.values():
                self.stage_seconds["merge"] += elapsed
            self._image = None

    def _timed(self, cache: dict, key, stage: str, compute) -> tuple[Any, float]:
        if key not in cache:
            start = time.perf_counter()
            value = compute()
            elapsed = time.perf_counter() - start
            if stage:
                self.stage_seconds[stage] += elapsed
            cache[key] = (value, elapsed)
        return cache[key]

    def superpixels(self, method) -> tuple[np.ndarray, float]:
        """The method's superpixels (its leaves, for a hierarchy) and their seconds."""
        key = superpixel_key(method.superpixel_method, method.superpixel_params)
        return self._timed(self._superpixels, key, "superpixels", lambda: superpixels(
            self._image, method.superpixel_method, **method.superpixel_params))

    def tree(self, method: HierarchyMethod) -> tuple[MergeTree, dict[str, float]]:
        """A hierarchy's merge tree of the current image, and the seconds it cost
        ({"superpixels", "network", "merge"})."""
        base, superpixel_seconds = self.superpixels(method)
        charged = {"superpixels": superpixel_seconds, "network": 0.0}
        model_key = method.model_key()
        if model_key is not None:
            projections, charged["network"] = self._timed(
                self._projections, model_key, "network",
                lambda: np.asarray(self.models[model_key].projections(self._image[None]))[0])

        def build():
            pixel_values = None
            if model_key is not None:
                pixel_values = projections_on_pixels(self.models[model_key], projections,
                                                     self._image.shape)[0]
            return hierarchical_segmentation(self._image, pixel_values, leaves=base,
                                             **method.hierarchy_params())

        tree, charged["merge"] = self._timed(self._trees, method.tree_key(), "merge", build)
        return tree, charged

    def labels(self, method) -> tuple[np.ndarray, dict[str, float]]:
        """The method's segmentation of the current image (int labels >= 0) and the
        seconds it cost per stage ({"superpixels", "network", "merge"})."""
        if isinstance(method, HierarchyMethod):
            tree, charged = self.tree(method)
            start = time.perf_counter()
            labels = cut(tree, method.n_segments)
            cut_seconds = time.perf_counter() - start
            self.stage_seconds["merge"] += cut_seconds
            charged["merge"] += cut_seconds
            return labels, charged
        base, superpixel_seconds = self.superpixels(method)
        charged = {"superpixels": superpixel_seconds, "network": 0.0, "merge": 0.0}
        if not isinstance(method, BinaryMapMethod):
            return base, charged
        model_key = method.model_key()
        model = self.models[model_key]
        code_map, charged["network"] = self._timed(
            self._code_maps, model_key, "network",
            lambda: np.asarray(model.encode(self._image[None]))[0])
        pixel_key = (model_key, method.alignment)
        pixel_codes, pixel_seconds = self._timed(  # charged to the total in finish_image
            self._pixel_codes, pixel_key, "",
            lambda: self._placers[pixel_key].pixel_codes(code_map, self._image.shape))
        start = time.perf_counter()
        labels = _merge(method, model, pixel_codes, base)
        elapsed = time.perf_counter() - start
        self.stage_seconds["merge"] += elapsed
        charged["merge"] = elapsed + pixel_seconds
        return labels, charged


def read_samples(dataset, limit: int | None, progress: bool, skip_errors: bool,
                 errors: list, stage_seconds: dict, description: str) -> Iterator:
    """Yield ``(name, image, ground_truths)`` of the first `limit` samples, with a tqdm
    bar when `progress`; an unreadable sample raises, or with `skip_errors` is logged,
    appended to `errors` ({"index", "error"}) and skipped. Reading time goes to
    ``stage_seconds["read"]``."""
    n_total = len(dataset) if limit is None else min(int(limit), len(dataset))
    indices: Iterable[int] = range(n_total)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=description, unit="image")
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
        yield name, image, ground_truths


def check_unique_names(methods) -> None:
    """Raise ValueError if two methods share a name."""
    names = [method.name for method in methods]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"method names must be unique; repeated: {duplicates}")


def no_image_error(dataset, errors: list) -> DatasetError:
    """The error of a run in which no image could be read."""
    return DatasetError(
        f"no image of {dataset!r} could be evaluated"
        + (f" ({len(errors)} unreadable; first: {errors[0]['error']})" if errors else ""))


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
    check_unique_names(methods)

    start_run = time.perf_counter()
    stages = SharedStages(methods)
    scores = {method.name: SegmentationScores() for method in methods}
    seconds = {method.name: dict.fromkeys(STAGES, 0.0) for method in methods}
    errors: list[dict] = []

    for name, image, ground_truths in read_samples(
            dataset, limit, progress, skip_errors, errors, stages.stage_seconds,
            f"evaluating {len(methods)} method(s)"):
        stages.start_image(image)
        for method in methods:
            timing = seconds[method.name]
            labels, charged = stages.labels(method)
            for stage, elapsed in charged.items():
                timing[stage] += elapsed
            start = time.perf_counter()
            scores[method.name].add(name, ground_truths, labels)
            elapsed = time.perf_counter() - start
            stages.stage_seconds["metrics"] += elapsed
            timing["metrics"] += elapsed
        stages.finish_image()

    n_images = len(scores[methods[0].name])
    if n_images == 0:
        raise no_image_error(dataset, errors)
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
        "dataset": describe_dataset(dataset),
        "n_images": n_images,
        "image_names": [record["name"] for record in scores[methods[0].name].records],
        "n_errors": len(errors),
        "errors": errors,
        "wall_seconds": time.perf_counter() - start_run,
        "stage_seconds": dict(stages.stage_seconds),
        "methods": entries,
    }


def describe_dataset(dataset) -> str:
    """The dataset's repr, or its type and size when the repr is long."""
    text = repr(dataset)
    if len(text) > 200:
        text = f"{type(dataset).__name__} of {len(dataset)} samples"
    return text


def sweep(dataset, family: str, values: Iterable, **kwargs) -> dict:
    """`evaluate` over `sweep_methods(family, values, ...)`; `limit`, `progress` and
    `skip_errors` go to `evaluate`, the other keyword arguments to the methods."""
    options = {key: kwargs.pop(key) for key in ("limit", "progress", "skip_errors") if key in kwargs}
    return evaluate(dataset, sweep_methods(family, values, **kwargs), **options)
