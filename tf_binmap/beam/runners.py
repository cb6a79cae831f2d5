"""Which Beam runner a pipeline runs on, its options, and running it with errors that
say what to do (a runner that needs a download, a cluster address or an extra).

``direct`` is Beam's ``FnApiRunner``, the local runner: in this process, or with
``workers`` > 1 in that many worker threads (``--direct_num_workers``,
``--direct_running_mode=multi_threading``; TensorFlow, OpenCV and the compiled stages
release the GIL) or, with ``processes``, worker processes (``multi_processing``: each
imports TensorFlow and loads the network, and prints Beam's worker logs; measured
slower on one machine, `benchmarks/beam_segment.py`). It is named directly because Beam's
``DirectRunner`` first tries the Prism runner, which downloads a binary from GitHub (and
can wait for a network timeout where GitHub is blocked). ``prism``, ``flink``, ``spark``
and ``dataflow`` are Beam's runners of those names: Prism's binary and the Flink / Spark
job servers are downloaded on first use (or given: ``--prism_location``,
``--flink_job_server_jar``, ``--spark_job_server_jar``); a cluster is named with
``--flink_master``, ``--spark_master_url`` or Dataflow's ``--project``, ``--region``,
``--temp_location``; workers on a cluster run the pipeline's code in an SDK environment
(``--environment_type``: DOCKER, PROCESS or LOOPBACK; ``--sdk_container_image``, or
``--requirements_file`` / ``--setup_file`` so they have tf-binmap).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineResult

__all__ = ["RUNNERS", "RunnerError", "WorkerProgress", "counters", "pipeline_options",
           "run_pipeline"]

logger = logging.getLogger(__name__)

#: ``--runner`` names -> Beam's runner classes.
RUNNERS = {"direct": "FnApiRunner", "prism": "PrismRunner", "flink": "FlinkRunner",
           "spark": "SparkRunner", "dataflow": "DataflowRunner"}

_ADVICE = {
    "prism": "Beam downloads the Prism runner's binary from GitHub on first use; give a "
             "local copy with --prism_location=PATH, or use --runner direct",
    "flink": "Beam downloads the Flink job server's jar from Maven on first use; give it "
             "with --flink_job_server_jar=PATH (or put it in ~/.apache_beam/cache/jars), "
             "name the cluster with --flink_master=HOST:PORT, and say how workers run "
             "Python with --environment_type=DOCKER|PROCESS|LOOPBACK",
    "spark": "Beam downloads the Spark job server's jar from Maven on first use; give it "
             "with --spark_job_server_jar=PATH (or put it in ~/.apache_beam/cache/jars), "
             "name the cluster with --spark_master_url=spark://HOST:PORT, and say how "
             "workers run Python with --environment_type=DOCKER|PROCESS|LOOPBACK",
    "dataflow": "Dataflow needs pip install 'apache-beam[gcp]', Google Cloud credentials "
                "and --project, --region and --temp_location=gs://...",
}


class RunnerError(RuntimeError):
    """The runner could not start (missing download, extra or cluster settings); the
    message says what to give it."""


def pipeline_options(runner: str = "direct", workers: int = 1,
                     args: Sequence[str] = (), processes: bool = False) -> PipelineOptions:
    """Beam pipeline options for ``runner`` (a key of `RUNNERS`), ``workers`` local
    workers (``direct`` only; 1: in this process), threads or with ``processes``
    processes, and Beam's own flags ``args`` (e.g. ``["--flink_master=host:8081",
    "--environment_type=LOOPBACK"]``; they come last, so they win)."""
    if runner not in RUNNERS:
        raise ValueError(f"unknown runner {runner!r}; choose from {', '.join(RUNNERS)}")
    if int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    flags = [f"--runner={RUNNERS[runner]}"]
    if int(workers) > 1:
        if runner != "direct":
            raise ValueError("workers sets the local runner's workers; a cluster "
                             "runner takes its own flags (Dataflow --max_num_workers, Flink "
                             "--parallelism, ...)")
        mode = "multi_processing" if processes else "multi_threading"
        flags += [f"--direct_num_workers={int(workers)}", f"--direct_running_mode={mode}"]
    elif processes:
        raise ValueError("processes needs workers > 1")
    given = [arg.split("=")[0] for arg in args]
    if "--runner" in given:
        raise ValueError("give the runner as runner= (--runner direct|prism|flink|spark|"
                         "dataflow), not as a Beam flag")
    return PipelineOptions(flags + list(args))


def run_pipeline(build: Callable[[beam.Pipeline], Any], options: PipelineOptions
                 ) -> PipelineResult:
    """Build a pipeline with ``build(pipeline)``, run it on the runner of ``options`` and
    wait for it to finish; returns Beam's result (its metrics). A runner that cannot
    start is a `RunnerError` that says what to give it."""
    runner = options.get_all_options().get("runner") or ""
    name = next((key for key, value in RUNNERS.items() if value == runner), runner)
    pipeline = beam.Pipeline(options=options)
    build(pipeline)
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except ImportError as error:
        raise RunnerError(f"the {name} runner cannot start: {error}; "
                          f"{_ADVICE.get(name, '')}") from error
    except (RuntimeError, ValueError) as error:
        text = str(error)
        if name in _ADVICE and "Traceback" not in text and any(hint in text for hint in (
                "Unable to fetch remote", "Unable to parse binary", "Missing required",
                "temp_location", "project")):
            reason = text.strip().split(". Also failed")[0][:400]
            raise RunnerError(f"the {name} runner cannot start: {reason}; "
                              f"{_ADVICE[name]}") from error
        raise
    return result


def counters(result: PipelineResult, namespace: str = "tf_binmap") -> dict:
    """{name: value} of the pipeline's counters in ``namespace`` (committed values, or
    attempted ones where the runner has no committed values)."""
    from apache_beam.metrics.metric import MetricsFilter

    found = result.metrics().query(MetricsFilter().with_namespace(namespace))["counters"]
    totals: dict = {}
    for counter in found:
        try:
            value = counter.committed
        except Exception:  # noqa: BLE001 - runners without committed metrics raise
            value = None
        value = counter.attempted if value is None else value
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value)
    return totals


class WorkerProgress:
    """Progress of one worker's DoFn: a log line every ``every`` seconds with the items
    done so far and the rate (a long run shows it is moving; Beam has no progress bar)."""

    def __init__(self, what: str, every: float = 30.0):
        self.what, self.every = what, float(every)
        self.count = 0
        self.start = self.reported = time.perf_counter()

    def step(self) -> None:
        """Count one item; log if ``every`` seconds passed since the last line."""
        self.count += 1
        now = time.perf_counter()
        if now - self.reported >= self.every:
            self.reported = now
            logger.info("this worker: %d %s (%.2f per second)", self.count, self.what,
                        self.count / (now - self.start))
