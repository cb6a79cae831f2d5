"""Fitting ITQ hashing parameters on Apache Beam (what ``tf-binmap beam-fit-itq`` runs):
the same parameters as ``tf-binmap fit-itq`` (to float rounding) over image sets that
outgrow one process.

The workers read the images and draw each image's feature sample
(`tf_binmap.hashing.params.image_feature_sample`: seeded by the seed and the file name,
so no order is needed); the feature statistics are combined across workers with
`FeatureStatisticsCombineFn` (float64 count, sum and sum of outer products,
`FeatureStatistics.merge`); the PCA of the combined statistics goes back to the workers,
which project their samples onto it (``bits`` numbers a vector); the rotation is fitted
once on the gathered projections (`tf_binmap.hashing.itq.itq_from_projections`) and the
parameter file written atomically.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import threading
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from tf_binmap.beam.files import absolute, check_filesystem, is_local, read_bytes, write_atomic
from tf_binmap.beam.runners import WorkerProgress
from tf_binmap.hashing.itq import itq_from_projections, pca_projection, project_features
from tf_binmap.hashing.params import image_feature_sample, save_itq_parameters
from tf_binmap.hashing.statistics import FeatureStatistics, as_rows
from tf_binmap.io.images import decode_image_rgb

__all__ = ["FeatureStatisticsCombineFn", "FitITQ", "fit_itq_with_beam"]

logger = logging.getLogger(__name__)
_NAMESPACE = "tf_binmap"
_BACKBONES: dict = {}
_LOCK = threading.Lock()


class FeatureStatisticsCombineFn(beam.CombineFn):
    """Feature vectors (arrays (..., d), e.g. one image's sample each) -> their
    `FeatureStatistics` (count, sum and sum of outer products in float64), accumulated
    on each worker and merged (`FeatureStatistics.merge`): equal to the statistics of
    one process up to float rounding. An empty input gives empty statistics."""

    def create_accumulator(self) -> FeatureStatistics:
        """Empty statistics."""
        return FeatureStatistics()

    def add_input(self, statistics: FeatureStatistics, features: Any) -> FeatureStatistics:
        """Add the vectors of ``features``."""
        rows = as_rows(features)
        return statistics.update(rows) if rows.shape[0] else statistics

    def merge_accumulators(self, accumulators) -> FeatureStatistics:
        """The statistics of the union."""
        accumulators = iter(accumulators)
        merged = next(accumulators)
        for other in accumulators:
            merged = merged.merge(other)
        return merged

    def extract_output(self, statistics: FeatureStatistics) -> FeatureStatistics:
        """The statistics."""
        return statistics


def _backbone(backbone, layer, weights_path):
    """The feature backbone, built once per process."""
    key = (backbone, layer, weights_path)
    with _LOCK:
        if key not in _BACKBONES:
            from tf_binmap.models.alexnet import AlexNetFCN

            _BACKBONES[key] = AlexNetFCN.from_preset(backbone, feature_layers=(layer,),
                                                     weights_path=weights_path)
        return _BACKBONES[key]


class _Features(beam.DoFn):
    def __init__(self, settings):
        self.settings = settings

    def setup(self):
        s = self.settings
        self.backbone = _backbone(s["backbone"], s["layer"], s["weights_path"])
        self.progress = WorkerProgress("images' features sampled")

    def process(self, path):
        s = self.settings
        try:
            image = decode_image_rgb(read_bytes(path), path)
            features = image_feature_sample(
                self.backbone, s["layer"], image, os.path.basename(path), upscale=s["upscale"],
                vectors_per_image=s["vectors_per_image"], seed=s["seed"])
        except (ValueError, OSError) as error:  # unreadable, or too small for the network
            Metrics.counter(_NAMESPACE, "itq_images_skipped").inc()
            logger.warning("skipping %s", error)
            return
        Metrics.counter(_NAMESPACE, "itq_images").inc()
        Metrics.counter(_NAMESPACE, "itq_vectors").inc(len(features))
        self.progress.step()
        yield path, features


def _pca(statistics, bits):
    """(mean, PCA matrix) of the statistics, or the reason there is none."""
    try:
        return statistics.mean, pca_projection(statistics, bits)
    except ValueError as error:
        return str(error)


def _project(element, pca):
    path, features = element
    if isinstance(pca, tuple):
        yield path, project_features(features, *pca)


def _rotation(projected, pca, iterations, seed):
    if not isinstance(pca, tuple):
        return pca
    projected = sorted(projected, key=lambda item: item[0])  # the order of one process
    v = np.concatenate([part for _, part in projected])
    return itq_from_projections(v, *pca, iterations=iterations, seed=seed), len(projected)


def _write(fitted, out, metadata):
    if isinstance(fitted, str):
        logger.error("no ITQ parameters fitted: %s", fitted)
        return
    result, images = fitted
    if is_local(out):
        save_itq_parameters(out, result, images=images, **metadata)
    else:
        with tempfile.TemporaryDirectory(prefix="tf_binmap_itq_") as local:
            path = save_itq_parameters(os.path.join(local, "itq.npz"), result, images=images,
                                       **metadata)
            write_atomic(out, path.read_bytes())
    Metrics.counter(_NAMESPACE, "itq_written").inc()


class FitITQ(beam.PTransform):
    """Image paths -> a singleton: ``(ITQResult, images used)``, fitted as `tf-binmap
    fit-itq` fits it, or the reason no fit was possible (a string: too few vectors).

    Args:
        backbone: the backbone preset (``AlexNetFCN.from_preset``).
        layer: its feature layer; ``bits``, ``upscale``: as `fit-itq`.
        weights_path: a backbone weights file (default the preset's).
        vectors_per_image: feature vectors sampled per image (0: all).
        iterations, seed: of the ITQ rotation; the seed also draws the samples.
    """

    def __init__(self, backbone: str, layer: str, bits: int, upscale: float = 1.0,
                 weights_path: str | None = None, vectors_per_image: int = 500,
                 iterations: int = 50, seed: int = 0):
        super().__init__()
        self.settings = {"backbone": backbone, "layer": layer, "upscale": float(upscale),
                         "weights_path": weights_path, "vectors_per_image": int(vectors_per_image),
                         "seed": int(seed)}
        self.bits, self.iterations, self.seed = int(bits), int(iterations), int(seed)

    def expand(self, paths):
        """Apply the transform (see the class)."""
        features = paths | "Features" >> beam.ParDo(_Features(self.settings))
        statistics = (features | "Vectors" >> beam.Values()
                      | "Statistics" >> beam.CombineGlobally(FeatureStatisticsCombineFn()))
        pca = statistics | "PCA" >> beam.Map(_pca, self.bits)
        return (features
                | "Project" >> beam.FlatMap(_project, beam.pvalue.AsSingleton(pca))
                | "Gather" >> beam.combiners.ToList()
                | "Rotation" >> beam.Map(_rotation, beam.pvalue.AsSingleton(pca),
                                         self.iterations, self.seed))


def fit_itq_with_beam(inputs, out: str, preset: str | None = None,
                      weights_path: str | None = None, layer: str | None = None,
                      bits: int | None = None, upscale: float | None = None,
                      vectors_per_image: int = 500, iterations: int = 50, seed: int = 0,
                      options=None) -> dict:
    """Fit ITQ on the images ``inputs`` names (files, folders, glob patterns, on any Beam
    filesystem) with a Beam pipeline and write the parameter file ``out`` (as
    `tf-binmap fit-itq`: the preset gives the backbone, layer, bits and upscale unless
    given). Returns the file's metadata plus ``skipped`` (unreadable images)."""
    from tf_binmap.beam.runners import counters, pipeline_options, run_pipeline
    from tf_binmap.beam.segment import ListImages
    from tf_binmap.presets import DEFAULT_BINARY_MAP_PRESET, get_binary_map_preset

    spec = get_binary_map_preset(preset or DEFAULT_BINARY_MAP_PRESET)
    layer, bits = layer or spec.layer, int(bits or spec.bits)
    upscale = float(upscale or spec.upscale)
    inputs = [absolute(str(path)) for path in inputs]
    out = absolute(str(out))
    for path in (*inputs, out):
        check_filesystem(path)
    metadata = {"layer": layer, "bits": bits, "upscale": upscale, "backbone": spec.backbone,
                "seed": int(seed), "vectors_per_image": int(vectors_per_image)}
    fit = FitITQ(spec.backbone, layer, bits, upscale, weights_path, vectors_per_image,
                 iterations, seed)

    def build(pipeline):
        paths, _ = pipeline | "Inputs" >> beam.Create(inputs) | "List" >> ListImages()
        paths | "Fit" >> fit | "Write" >> beam.Map(_write, out, metadata)

    found = counters(run_pipeline(build, options if options is not None
                                  else pipeline_options()))
    if not found.get("itq_written"):
        raise ValueError(f"no ITQ parameters fitted: {found.get('itq_images', 0)} readable "
                         f"images gave {found.get('itq_vectors', 0)} {layer} vectors; "
                         f"{bits} bits need at least {bits + 1} (and preferably thousands)")
    with np.load(io.BytesIO(read_bytes(out)), allow_pickle=False) as data:
        import json

        info = json.loads(str(data["metadata"]))
    return dict(info, skipped=found.get("itq_images_skipped", 0))
