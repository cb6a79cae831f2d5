"""Running methods over a dataset: `evaluate` loops over the images once (images outer,
methods inner) and shares work between methods: each image is read once, the network
output is computed once per (model, image), the superpixels once per (superpixel
parameters, image) and a hierarchy's merge tree once per (settings, image). Every method
gets a `SegmentationScores` summary and its mean seconds per image per stage (network,
superpixels, merge, metrics); a shared stage is charged, with the time it took, to every
method that uses it, so a method's seconds are what it costs on its own. The run's
de-duplicated stage totals are in ``results["stage_seconds"]``.

NumPy, scikit-image and OpenCV only; Keras is used only through model objects.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
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
from tf_binmap.segmentation.tree import cut

__all__ = ["STAGES", "evaluate", "sweep"]

logger = logging.getLogger(__name__)


#: Per-method stages timed by `evaluate` (seconds per image).
STAGES = ("network", "superpixels", "merge", "metrics")


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
            key = superpixel_key(method.superpixel_method, method.superpixel_params)
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


def sweep(dataset, family: str, values: Iterable, **kwargs) -> dict:
    """`evaluate` over `sweep_methods(family, values, ...)`; `limit`, `progress` and
    `skip_errors` go to `evaluate`, the other keyword arguments to the methods."""
    options = {key: kwargs.pop(key) for key in ("limit", "progress", "skip_errors") if key in kwargs}
    return evaluate(dataset, sweep_methods(family, values, **kwargs), **options)
