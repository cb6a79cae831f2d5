"""``tf-binmap beam-segment`` and ``beam-fit-itq``: `segment` and `fit-itq` as Apache Beam
pipelines (the optional extra ``tf-binmap[beam]``), on the local runner or a cluster's.

Separate commands rather than a ``--runner`` option on `segment` and `fit-itq`: their
inputs are Beam filesystem paths (``gs://``, ...), they take Beam's own flags through
(``--flink_master=...``; any flag the command does not know goes to Beam), and `segment`
stays the in-process path with nothing new to install or learn.
"""

from __future__ import annotations

import logging

from tf_binmap.cli.common import (
    CommandError,
    UsageError,
    add_segmenter_arguments,
    positive,
    segmenter_arguments,
)
from tf_binmap.cli.fit import add_fit_itq_arguments

__all__ = ["register"]

logger = logging.getLogger("tf_binmap")

RUNNER_NAMES = ("direct", "prism", "flink", "spark", "dataflow")
#: Harmless lines Beam logs on every import / RunInference without optional extras.
_BEAM_NOISE = ("apitools not found", "Resource module is not available")


def register(add) -> None:
    """Add the subcommands; ``add(name, help, epilog)`` makes a subparser."""
    p = add("beam-segment", "segment on Apache Beam: the outputs of `segment`, a manifest",
            "the outputs of `tf-binmap segment` (NAME.png, NAME_overlay.png, "
            "NAME_binary_map.png, the same files bit for bit) and tf_binmap_manifest.jsonl "
            "(a JSON line per input: input, status, outputs, segments, seconds, error); bad "
            "files are failed rows, finished images are skipped; inputs and --out may be "
            "on any Beam filesystem (gs:// needs apache-beam[gcp]); flags this command does "
            "not know go to Beam (give them as --flag=value)\n"
            "examples:\n  tf-binmap beam-segment photos/ --out segments/\n"
            "  tf-binmap beam-segment photos/ --out segments/ --workers 2\n"
            "  tf-binmap beam-segment 'gs://bucket/photos/*.jpg' --out gs://bucket/segments "
            "--runner dataflow --project=P --region=europe-west1 "
            "--temp_location=gs://bucket/tmp --requirements_file=requirements.txt\n"
            "  tf-binmap beam-segment photos/ --out /shared/segments --runner flink "
            "--flink_master=host:8081 --environment_type=LOOPBACK")
    p.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("--out", default="outputs/segments", help="output folder")
    add_segmenter_arguments(p)
    p.add_argument("--saved-model", default=None, metavar="DIR",
                   help="run the network from this SavedModel export (tf-binmap export) "
                   "instead of the Keras preset")
    p.add_argument("--redo", action="store_true", help="recompute finished images too")
    p.add_argument("--batch", type=positive(int), default=4,
                   help="most images per network call (default 4)")
    _add_runner_arguments(p)
    p.set_defaults(handler=_cmd_beam_segment, takes_beam_flags=True)

    p = add("beam-fit-itq", "fit ITQ hashing parameters on Apache Beam, as `fit-itq` does",
            "the parameters `tf-binmap fit-itq` fits (to float rounding): feature samples "
            "per image on the workers, their statistics combined, the rotation fitted once; "
            "flags this command does not know go to Beam (as --flag=value)\n"
            "examples:\n"
            "  tf-binmap beam-fit-itq --images ../shared/data/BSDS500/data/images/train "
            "--out itq.npz --workers 2\n"
            "  tf-binmap beam-fit-itq --images 'gs://bucket/photos/*.jpg' --out "
            "gs://bucket/itq.npz --runner dataflow --project=P --region=R "
            "--temp_location=gs://bucket/tmp")
    add_fit_itq_arguments(p)
    _add_runner_arguments(p)
    p.set_defaults(handler=_cmd_beam_fit_itq, takes_beam_flags=True)


def _add_runner_arguments(p):
    g = p.add_argument_group("runner", "where the pipeline runs")
    g.add_argument("--runner", choices=RUNNER_NAMES, default="direct",
                   help="direct (default): Beam's local FnApiRunner; prism, flink, spark, "
                   "dataflow: Beam's runners (prism, flink and spark download a binary or "
                   "jar on first use)")
    g.add_argument("--workers", type=positive(int), default=1,
                   help="--runner direct: worker threads (default 1: in this process)")
    g.add_argument("--worker-processes", action="store_true",
                   help="--workers as processes instead of threads (each imports "
                   "TensorFlow and loads the network; slower to start, and Beam's worker "
                   "logs are printed)")


def _options(args):
    """Beam's options for the runner flags and the Beam flags given through."""
    from tf_binmap.beam.runners import pipeline_options

    beam_flags = list(getattr(args, "beam_flags", []))
    stray = [flag for flag in beam_flags if not flag.startswith("--")]
    if stray:
        raise UsageError(f"unexpected {' '.join(stray)}: give Beam's flags as --flag=value")
    if args.worker_processes and args.workers < 2:
        raise UsageError("--worker-processes needs --workers N with N >= 2")
    try:
        return pipeline_options(args.runner, args.workers, beam_flags,
                                processes=args.worker_processes)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _quiet_beam(args):
    """Beam's INFO lines and its harmless warnings hidden unless --verbose."""
    if args.verbose:
        return
    logging.getLogger("apache_beam").setLevel(logging.WARNING)

    def keep(record):
        return not any(text in record.getMessage() for text in _BEAM_NOISE)

    for handler in logging.getLogger().handlers:
        handler.addFilter(keep)


def _check_paths_for_runner(args, paths):
    """A cluster's workers cannot read or write this machine's disk (Dataflow), or only
    where they share it (Flink, Spark)."""
    if args.runner in ("direct", "prism"):
        return
    from tf_binmap.beam.files import is_local

    local = [path for path in paths if is_local(path)]
    if local and args.runner == "dataflow":
        raise UsageError(f"{', '.join(local)}: Dataflow's workers cannot read or write this "
                         "machine's disk; use gs:// paths")
    if local:
        logger.warning("%s: local paths; the %s workers must share this filesystem (or use "
                       "gs://, s3://, hdfs://)", ", ".join(local), args.runner)


def _cmd_beam_segment(args):
    _quiet_beam(args)
    try:
        from tf_binmap.beam.handlers import KerasModelHandler, SavedModelHandler
        from tf_binmap.beam.runners import RunnerError
        from tf_binmap.beam.segment import MANIFEST_FILE, segment_with_beam
    except ImportError as error:
        raise CommandError(str(error)) from None
    options = _options(args)
    kwargs = segmenter_arguments(args)
    files = {key: kwargs.pop(key) for key in ("preset", "weights_path", "itq_path",
                                              "precision")}
    if args.saved_model:
        given = [flag for flag, key in (("--preset", "preset"), ("--weights", "weights_path"),
                                        ("--itq", "itq_path")) if files[key]]
        if files["precision"] != "float32":
            given.append("--precision")
        if given:
            raise UsageError(f"{', '.join(given)}: settings of the Keras model; the SavedModel "
                             "export holds its own network and ITQ parameters")
        handler = SavedModelHandler(args.saved_model, max_batch_size=args.batch, **kwargs)
    else:
        handler = KerasModelHandler(**files, max_batch_size=args.batch, **kwargs)
    _check_paths_for_runner(args, [*args.images, args.out])
    try:
        summary = segment_with_beam(args.images, args.out, handler, options, redo=args.redo)
    except RunnerError as error:
        raise CommandError(str(error)) from None
    for _, message in summary.failures[:20]:
        logger.error("%s", message)
    if len(summary.failures) > 20:
        logger.error("... and %d more failures (the manifest lists them)",
                     len(summary.failures) - 20)
    if not args.quiet:
        print(f"{summary} -> {args.out} (manifest {MANIFEST_FILE})")
    return 1 if summary.failures else 0


def _cmd_beam_fit_itq(args):
    _quiet_beam(args)
    try:
        from tf_binmap.beam.itq import fit_itq_with_beam
        from tf_binmap.beam.runners import RunnerError
    except ImportError as error:
        raise CommandError(str(error)) from None
    options = _options(args)
    _check_paths_for_runner(args, [*args.images, args.out])
    try:
        info = fit_itq_with_beam(
            args.images, args.out, preset=args.preset, weights_path=args.weights,
            layer=args.layer, bits=args.bits, upscale=args.upscale,
            vectors_per_image=args.vectors_per_image, iterations=args.iterations,
            seed=args.seed, options=options)
    except RunnerError as error:
        raise CommandError(str(error)) from None
    if not args.quiet:
        balance = info["bit_balance"]
        skipped = f" ({info['skipped']} unreadable skipped)" if info["skipped"] else ""
        print(f"fitted {info['bits']}-bit ITQ on {info['count']} {info['layer']} vectors from "
              f"{info['images']} images{skipped}: quantization loss {info['losses'][-1]:.4f} "
              f"(PCA-then-sign {info['pca_loss']:.4f}), bit balance "
              f"{min(balance):.2f}..{max(balance):.2f} -> {args.out}")
    return 0

