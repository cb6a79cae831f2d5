"""What the subcommands share: the two error kinds (exit codes 1 and 2), argument types,
and the segmentation options with the `Segmenter` they build."""

from __future__ import annotations

import argparse

from tf_binmap.segmentation.working_size import MIN_MAX_SIDE

__all__ = ["CommandError", "UsageError", "add_segmenter_arguments", "make_segmenter",
           "max_side", "max_side_setting", "non_negative_int", "positive",
           "segmenter_arguments"]


class CommandError(Exception):
    """A failure to report to the user in one line (exit code 1)."""


class UsageError(Exception):
    """Options that do not fit together (exit code 2, like argparse's own errors)."""


def positive(kind):
    """An argparse type: ``kind`` (int or float) that must be > 0."""
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def non_negative_int(text):
    """An argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def max_side(text):
    """An argparse type for ``--max-side``: 0 (no shrinking) or at least `MIN_MAX_SIDE`."""
    value = int(text)
    if value < 0 or 0 < value < MIN_MAX_SIDE:
        raise argparse.ArgumentTypeError(f"must be 0 (no shrinking) or >= {MIN_MAX_SIDE}, "
                                         f"got {text}")
    return value


def max_side_setting(args) -> dict:
    """--max-side as Segmenter keyword arguments (none: the Segmenter's default)."""
    return {} if args.max_side is None else {"max_side": args.max_side}


def add_segmenter_arguments(p):
    """Add the segmentation options (``--merge``, ``--segments``, ``--preset``, ...) to
    the subparser ``p``."""
    g = p.add_argument_group(
        "segmentation", "default: --merge hierarchy (beyond the paper: fine EGS leaves merged "
        "in a learned order of colour, border and soft CNN code (binmap_conv5_x1) "
        "statistics, cut at --segments); "
        "--merge codes is the paper's method (binmap_conv5 codes on EGS k=100 superpixels, "
        "equal-code neighbours merged)")
    g.add_argument("--merge", choices=["hierarchy", "codes"], default="hierarchy",
                   help="hierarchy (default) or codes (the paper's method)")
    g.add_argument("--segments", type=positive(int), default=None,
                   help="segments per image (hierarchy; default 100)")
    g.add_argument("--preset", default=None,
                   help="binary-map preset (default binmap_conv5_x1 for the hierarchy, "
                   "binmap_conv5 for codes)")
    g.add_argument("--scorer", default=None, metavar="NAME|PATH|none",
                   help="merge order of the hierarchy: the shipped bsds500_train (default), "
                   "a file from `tf-binmap fit-merge`, or none (the weighted colour / code / "
                   "border distance)")
    g.add_argument("--max-side", type=max_side, default=None, metavar="PIXELS",
                   help="images whose longer side exceeds this are segmented at a copy shrunk "
                   "to it, labels written at full size (default 512; 0: every image at its "
                   "own size, slow for photos)")
    g.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                   help="the network's precision: float32 (default, the reference) or "
                   "bfloat16 (several times faster on CPUs with AMX / AVX-512 BF16; 99.8%% "
                   "of the bits agree)")
    g.add_argument("--weights", default=None, metavar="PATH", help="backbone weights file")
    g.add_argument("--itq", default=None, metavar="PATH", help="ITQ parameter file")
    g.add_argument("--superpixels", default=None, choices=["egs", "slic"],
                   help="superpixels of --merge codes (default egs)")
    g.add_argument("--scale", type=positive(float), default=None,
                   help="EGS scale of --merge codes (default 100)")
    g.add_argument("--n-segments", type=positive(int), default=None,
                   help="SLIC superpixels of --merge codes (default 200)")
    g.add_argument("--threshold", type=non_negative_int, default=None,
                   help="--merge codes: merge neighbours whose codes differ in <= this "
                   "many bits (default 0)")


def make_segmenter(args):
    """The `Segmenter` the segmentation options ask for; options that do not fit the
    chosen merge are a `UsageError`."""
    from tf_binmap.segmentation.segmenter import Segmenter

    return Segmenter.from_preset(**segmenter_arguments(args))


def segmenter_arguments(args) -> dict:
    """The keyword arguments of ``Segmenter.from_preset`` the segmentation options ask
    for (``preset``, ``weights_path``, ``itq_path`` and the Segmenter's own), without
    building it (e.g. for workers that build their own); options that do not fit the
    chosen merge are a `UsageError`."""
    files = {"preset": args.preset, "weights_path": args.weights, "itq_path": args.itq,
             "precision": getattr(args, "precision", "float32")}
    if args.merge == "hierarchy":
        misfits = [flag for flag, value in (
            ("--superpixels", args.superpixels), ("--scale", args.scale),
            ("--n-segments", args.n_segments), ("--threshold", args.threshold)) if value is not None]
        if misfits:
            raise UsageError(f"{', '.join(misfits)}: setting(s) of the paper's method; add "
                             "--merge codes, or use --segments N with the hierarchy")
        params = {}
        if args.scorer is not None:
            params["scorer"] = None if args.scorer.lower() == "none" else args.scorer
        return dict(files, merge="hierarchy", hierarchy_params=params,
                    n_segments=100 if args.segments is None else args.segments,
                    **max_side_setting(args))
    if args.scorer is not None:
        raise UsageError("--scorer sets the hierarchy's merge order; --merge codes (the "
                         "paper's method) merges equal codes")
    if args.segments is not None:
        raise UsageError("--segments sets the hierarchy's segment count; with --merge codes "
                         "the count follows from the codes (use --scale / --n-segments for "
                         "the superpixels)")
    superpixels = args.superpixels or "egs"
    params = {}
    if args.scale is not None:
        if superpixels != "egs":
            raise UsageError("--scale is an EGS setting; with --superpixels slic use "
                             "--n-segments")
        params["scale"] = args.scale
    if args.n_segments is not None:
        if superpixels != "slic":
            raise UsageError("--n-segments is a SLIC setting; add --superpixels slic, or "
                             "use --scale for EGS")
        params["n_segments"] = args.n_segments
    return dict(files, superpixel_method=superpixels, superpixel_params=params,
                threshold=args.threshold or 0, merge="codes", **max_side_setting(args))
