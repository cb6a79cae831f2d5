"""Segmenting image files on Apache Beam: the PTransforms, and `segment_with_beam`, which
runs them (what ``tf-binmap beam-segment`` does).

Stages: `ListImages` (inputs -> image files, through Beam's filesystems), `PlanImages`
(files whose outputs another input would also write are refused, files whose outputs
exist are skipped unless ``redo``), `ReadImages` (bytes -> uint8 RGB as `segment` reads
them), Beam's ``RunInference`` with a handler of `tf_binmap.beam.handlers` (the
network), `WriteSegmentations` (superpixels and merge, then the PNGs `tf-binmap segment`
writes, atomically), and `WriteManifest`. Every input gets one manifest row (a JSON
line: ``input``, ``status`` done / skipped / failed, ``outputs``, ``segments``,
``seconds``, ``error``); a bad file is a failed row (the dead-letter output), never a
failed pipeline.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time

import apache_beam as beam
from apache_beam.io.filesystem import BeamIOError
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from tf_binmap.batch.outputs import colliding_outputs, output_paths
from tf_binmap.beam.files import (
    exists,
    join,
    match_images,
    read_bytes,
    write_image_outputs,
)
from tf_binmap.beam.runners import WorkerProgress
from tf_binmap.io.images import decode_image_rgb

__all__ = ["FAILED", "ListImages", "MANIFEST_FILE", "PlanImages", "ROWS", "ReadImages",
           "SegmentImages", "WriteManifest", "WriteSegmentations", "manifest_row",
           "read_manifest", "segment_with_beam"]

logger = logging.getLogger(__name__)

#: The tag of the manifest rows a stage emits beside its main output.
ROWS = "rows"
#: The manifest of a run, in its output folder (JSON lines; replaced by each run).
MANIFEST_FILE = "tf_binmap_manifest.jsonl"
#: The ``status`` of a row whose input could not be segmented.
FAILED = "failed"
_NAMESPACE = "tf_binmap"


def manifest_row(input: str, status: str, outputs: list | None = None,
                 segments: int | None = None, seconds: float | None = None,
                 error: str | None = None) -> dict:
    """One manifest line: the input, ``status`` ("done", "skipped" or "failed"), the
    output files, the segment count, the seconds it took, the error (failed) and the
    worker that wrote the row (``host:pid``)."""
    return {"input": input, "status": status, "outputs": outputs, "segments": segments,
            "seconds": None if seconds is None else round(float(seconds), 4), "error": error,
            "worker": f"{socket.gethostname()}:{os.getpid()}"}


def _failure(path: str, error) -> dict:
    message = str(error)
    message = message if path in message else f"{path}: {message}"
    Metrics.counter(_NAMESPACE, "images_failed").inc()
    logger.debug("%s", message)  # reported from the manifest at the end of the run
    return manifest_row(path, FAILED, error=message)


class _MatchPattern(beam.DoFn):
    def process(self, pattern):
        try:
            paths = match_images(pattern)
        except (ValueError, OSError) as error:
            yield beam.pvalue.TaggedOutput(ROWS, _failure(pattern, error))
            return
        if not paths:
            yield beam.pvalue.TaggedOutput(ROWS, _failure(
                pattern, f"{pattern}: no image files (no such file, or a folder or pattern "
                "without images)"))
        yield from paths


class ListImages(beam.PTransform):
    """Inputs (files, folders, glob patterns on any Beam filesystem) -> the image files
    they name, each once; tagged `ROWS`, a failed row for an input that names none.
    Returns ``(paths, rows)``."""

    def expand(self, inputs):
        """Apply the transform (see the class)."""
        matched = inputs | "Match" >> beam.ParDo(_MatchPattern()).with_outputs(
            ROWS, main="paths")
        return matched.paths | "Once" >> beam.Distinct(), matched[ROWS]


def _output_names(path):
    return [(output.name, path) for output in output_paths(".", path).values()]


def _clashes(named, out_dir):
    _, paths = named
    paths = sorted(set(paths))
    if len(paths) > 1:
        yield from colliding_outputs(paths, out_dir).items()


class _Plan(beam.DoFn):
    def __init__(self, out_dir, redo):
        self.out_dir, self.redo = out_dir, redo

    def process(self, element):
        path, found = element
        clashes = sorted(found["clash"])
        if clashes:
            yield beam.pvalue.TaggedOutput(ROWS, _failure(path, clashes[0]))
            return
        outputs = [join(self.out_dir, p.name) for p in output_paths(".", path).values()]
        if not self.redo and all(exists(output) for output in outputs):
            Metrics.counter(_NAMESPACE, "images_skipped").inc()
            yield beam.pvalue.TaggedOutput(ROWS, manifest_row(path, "skipped", outputs))
            return
        yield path


class PlanImages(beam.PTransform):
    """Image paths -> those to segment into ``out_dir``; tagged `ROWS`, a failed row for
    each whose outputs another input would also write (``a/x.jpg`` and ``b/x.png``:
    `tf_binmap.batch.outputs.colliding_outputs`) and a skipped row for each whose three
    outputs exist (unless ``redo``), as `tf-binmap segment` does. Returns ``(todo,
    rows)``."""

    def __init__(self, out_dir: str, redo: bool = False):
        super().__init__()
        self.out_dir, self.redo = out_dir, redo

    def expand(self, paths):
        """Apply the transform (see the class)."""
        clashes = (paths
                   | "OutputNames" >> beam.FlatMap(_output_names)
                   | "ByOutput" >> beam.GroupByKey()
                   | "Clashes" >> beam.FlatMap(_clashes, self.out_dir))
        keyed = paths | "Key" >> beam.Map(lambda path: (path, None))
        planned = ({"path": keyed, "clash": clashes}
                   | "Join" >> beam.CoGroupByKey()
                   | "Plan" >> beam.ParDo(_Plan(self.out_dir, self.redo)).with_outputs(
                       ROWS, main="todo"))
        return planned.todo, planned[ROWS]


class _Read(beam.DoFn):
    def process(self, path):
        start = time.perf_counter()
        try:
            image = decode_image_rgb(read_bytes(path), path)
        except (ValueError, OSError, BeamIOError) as error:
            yield beam.pvalue.TaggedOutput(ROWS, _failure(path, error))
            return
        yield (path, time.perf_counter() - start), image


class ReadImages(beam.PTransform):
    """Image paths -> ``((path, seconds), uint8 RGB image)``, decoded as `tf-binmap
    segment` reads files (`tf_binmap.io.decode_image_rgb`); tagged `ROWS`, a failed row
    for a file that cannot be read. Returns ``(images, rows)``."""

    def expand(self, paths):
        """Apply the transform (see the class)."""
        read = paths | "Decode" >> beam.ParDo(_Read()).with_outputs(ROWS, main="images")
        return read.images, read[ROWS]


class _SegmentAndWrite(beam.DoFn):
    def __init__(self, handler, out_dir):
        self.handler, self.out_dir = handler, out_dir

    def setup(self):
        self.segmenter = self.handler.load_model()  # the one RunInference uses
        self.progress = WorkerProgress("images segmented")

    def process(self, element):
        (path, read_seconds), prediction = element
        network = prediction.inference
        if network.error is not None:
            yield _failure(path, network.error)
            return
        start = time.perf_counter()
        try:
            image, work, _ = self.segmenter.prepare(prediction.example)
            result = self.segmenter.finish(image, work, network.output,
                                           return_intermediates=True)
            outputs = write_image_outputs(self.out_dir, path, prediction.example,
                                          result.labels, result.pixel_codes,
                                          self.segmenter.bits)
        except (ValueError, OSError) as error:
            yield _failure(path, error)
            return
        seconds = read_seconds + network.seconds + time.perf_counter() - start
        Metrics.counter(_NAMESPACE, "images_segmented").inc()
        self.progress.step()
        yield manifest_row(path, "done", outputs, int(result.labels.max()) + 1, seconds)


class WriteSegmentations(beam.PTransform):
    """``((path, seconds), PredictionResult)`` from RunInference -> a manifest row per
    image: the stages after the network (`Segmenter.finish`), then
    its PNGs written into ``out_dir`` (`tf_binmap.beam.files.write_image_outputs`)."""

    def __init__(self, handler, out_dir: str):
        super().__init__()
        self.handler, self.out_dir = handler, out_dir

    def expand(self, predictions):
        """Apply the transform (see the class)."""
        return predictions | "SegmentAndWrite" >> beam.ParDo(
            _SegmentAndWrite(self.handler, self.out_dir))


class SegmentImages(beam.PTransform):
    """Inputs (files, folders, patterns) -> one manifest row per image file (or input
    that names none): list, plan, read, ``RunInference`` with ``handler``, segment and
    write the outputs into ``out_dir``. `segment_with_beam` runs it after checking and
    recording the folder's settings, as `tf-binmap segment` does; a pipeline that applies
    it itself should do that first (`tf_binmap.beam.files.prepare_output_folder`).

    Example::

        handler = KerasModelHandler(n_segments=50)
        with beam.Pipeline() as pipeline:
            rows = (pipeline | beam.Create(["gs://bucket/photos/"])
                    | SegmentImages("gs://bucket/segments", handler))
            rows | WriteManifest("gs://bucket/segments")
    """

    def __init__(self, out_dir: str, handler, redo: bool = False):
        super().__init__()
        self.out_dir, self.handler, self.redo = out_dir, handler, redo

    def expand(self, inputs):
        """Apply the transform (see the class)."""
        paths, unmatched = inputs | "List" >> ListImages()
        todo, planned = paths | "Plan" >> PlanImages(self.out_dir, self.redo)
        # A fusion break: a retried bundle below re-segments its images (and rewrites the
        # same bytes) instead of finding the outputs of the failed attempt "skipped".
        todo = todo | "Commit" >> beam.Reshuffle()
        images, unreadable = todo | "Read" >> ReadImages()
        predictions = images | "Network" >> RunInference(KeyedModelHandler(self.handler))
        written = predictions | "Write" >> WriteSegmentations(self.handler, self.out_dir)
        return (unmatched, planned, unreadable, written) | "Rows" >> beam.Flatten()


class WriteManifest(beam.PTransform):
    """Manifest rows -> ``out_dir/tf_binmap_manifest.jsonl`` (one JSON object a line),
    through Beam's text sink: written as a temporary shard, renamed into place when the
    run finishes, so the file is whole or absent."""

    def __init__(self, out_dir: str):
        super().__init__()
        self.out_dir = out_dir

    def expand(self, rows):
        """Apply the transform (see the class)."""
        stem = join(self.out_dir, MANIFEST_FILE[:-len(".jsonl")])
        return (rows
                | "Json" >> beam.Map(json.dumps, sort_keys=True)
                | "Manifest" >> beam.io.WriteToText(stem, file_name_suffix=".jsonl",
                                                    num_shards=1, shard_name_template=""))


def read_manifest(out_dir: str) -> list[dict]:
    """The rows of the manifest in ``out_dir`` (`MANIFEST_FILE`)."""
    text = read_bytes(join(out_dir, MANIFEST_FILE)).decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def segment_with_beam(inputs, out_dir: str, handler, options=None, redo: bool = False):
    """Segment the image files ``inputs`` names (files, folders, glob patterns; local or
    on any Beam filesystem) into ``out_dir`` with a Beam pipeline (`SegmentImages`,
    `WriteManifest`) on the runner of ``options`` (`pipeline_options`; default the local
    runner in this process); returns a `tf_binmap.batch.folder.BatchSummary` read from
    the manifest. Before the run, the output folder is checked as `tf-binmap segment`
    checks it (the same settings file; another run's settings are refused unless
    ``redo``) and a killed run's temporary files are deleted."""
    from tf_binmap.batch.folder import BatchSummary
    from tf_binmap.beam.files import absolute, check_filesystem, prepare_output_folder
    from tf_binmap.beam.runners import pipeline_options, run_pipeline

    inputs = [absolute(str(path)) for path in inputs]
    out_dir = absolute(str(out_dir)).rstrip("/")
    if not inputs:
        raise ValueError("no inputs given: name image files, folders or glob patterns")
    for path in (*inputs, out_dir):
        check_filesystem(path)
    prepare_output_folder(out_dir, handler.settings(), redo)

    def build(pipeline):
        rows = (pipeline | "Inputs" >> beam.Create(inputs)
                | "Segment" >> SegmentImages(out_dir, handler, redo))
        rows | "Manifest" >> WriteManifest(out_dir)

    start = time.perf_counter()
    run_pipeline(build, options if options is not None else pipeline_options())
    summary = BatchSummary(seconds=time.perf_counter() - start)
    for row in read_manifest(out_dir):
        if row["status"] == "done":
            summary.done += 1
        elif row["status"] == "skipped":
            summary.skipped += 1
        else:
            summary.failures.append((row["input"], row["error"]))
    return summary
