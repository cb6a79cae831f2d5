"""Segmenting and fitting on Apache Beam (the optional extra ``tf-binmap[beam]``): the
same pipeline runs on the local runner and on Flink, Spark or Dataflow.

- `tf_binmap.beam.handlers`: ``RunInference`` model handlers for the Keras model and an
  exported SavedModel.
- `tf_binmap.beam.segment`: PTransforms that list, read, segment and write image files
  (the outputs of ``tf-binmap segment``, and a manifest), `segment_with_beam`.
- `tf_binmap.beam.itq`: ITQ fitting, the feature statistics as a ``CombineFn``.
- `tf_binmap.beam.runners`: runner names, options, and runner errors that say what to do.
- `tf_binmap.beam.files`: Beam's filesystems (local, ``gs://``, ...) and atomic writes.

The main names are importable from here (``from tf_binmap.beam import SegmentImages``).
"""

try:
    import apache_beam  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("tf_binmap.beam needs Apache Beam: pip install 'tf-binmap[beam]' "
                      "(or pip install 'apache-beam>=2.71,<3')") from error

from tf_binmap.beam.handlers import (  # noqa: E402
    BinaryMapModelHandler,
    KerasModelHandler,
    NetworkResult,
    SavedModelHandler,
)
from tf_binmap.beam.itq import FeatureStatisticsCombineFn, FitITQ, fit_itq_with_beam  # noqa: E402
from tf_binmap.beam.runners import RUNNERS, RunnerError, pipeline_options, run_pipeline  # noqa: E402
from tf_binmap.beam.segment import (  # noqa: E402
    ListImages,
    PlanImages,
    ReadImages,
    SegmentImages,
    WriteManifest,
    WriteSegmentations,
    read_manifest,
    segment_with_beam,
)

__all__ = ["RUNNERS", "BinaryMapModelHandler", "FeatureStatisticsCombineFn", "FitITQ",
           "KerasModelHandler", "ListImages", "NetworkResult", "PlanImages", "ReadImages",
           "RunnerError", "SavedModelHandler", "SegmentImages", "WriteManifest",
           "WriteSegmentations", "fit_itq_with_beam", "pipeline_options", "read_manifest",
           "run_pipeline", "segment_with_beam"]
