"""``tf-binmap evaluate``: the paper's table, Figure 4 and the comparisons."""

from __future__ import annotations

from tf_binmap.cli.common import UsageError, non_negative_int

__all__ = ["register"]


def register(add) -> None:
    """Add the subcommand; ``add(name, help, epilog)`` makes a subparser."""
    p = add("evaluate", "score methods on BSDS500 or MSRC: the paper's table and Figure 4",
            "method specs: egs:scale=200 | slic:n_segments=400 | binmap:preset="
            "binmap_conv5,superpixels=slic,n_segments=200,threshold=0 (the paper's "
            "method) | hierarchy:n_segments=100,preset=binmap_conv5_x1 (ours, default: the "
            "learned merge order; scorer=none merges by the weighted distance, "
            "scorer=FILE.npz by a file from fit-merge)\n"
            "default methods: the paper's table (EGS k=100, SLIC 200, the paper's method "
            "on each) and the hierarchy at 100 segments; --curves adds the sweeps, "
            "figure4.png and the hierarchy-vs-EGS/SLIC comparison with a paired "
            "bootstrap\n"
            "examples:\n  tf-binmap evaluate\n"
            "  tf-binmap evaluate --curves --out outputs/evaluation/bsds500_val\n"
            "  tf-binmap evaluate --region-benchmark --out outputs/evaluation/region\n"
            "  tf-binmap evaluate --region-benchmark --methods hierarchy:scorer=none egs\n"
            "  tf-binmap evaluate --dataset msrc --methods egs:scale=100 "
            "binmap:superpixels=egs")
    p.add_argument("--dataset", default="bsds500",
                   help="bsds500 (default; bsds500:train for another split), msrc or "
                   "msrc:newseg")
    p.add_argument("--split", default="val", help="BSDS500 split (default val)")
    p.add_argument("--data-root", default=None,
                   help="folder holding BSDS500/ and MSRC_ObjCategImageDatabase_v2/ "
                   "(default: $TF_BINMAP_DATA or ../shared/data)")
    p.add_argument("--methods", nargs="+", default=None, help="method specs (see above)")
    p.add_argument("--curves", action="store_true",
                   help="sweep every family's parameter and draw figure4.png")
    p.add_argument("--region-benchmark", action="store_true",
                   help="instead of the table: the BSDS region benchmark (covering, PRI, "
                   "VOI at ODS and OIS) of hierarchies: the default hierarchy by count "
                   "and level cuts, EGS over k, SLIC over n_segments (--methods: the "
                   "families to sweep); writes region_benchmark.md, .json and .png")
    p.add_argument("--limit", type=int, default=None, help="first N images only")
    p.add_argument("--itq", default=None, metavar="PATH",
                   help="ITQ parameters for the default preset")
    p.add_argument("--skip-errors", action="store_true",
                   help="skip (and list) unreadable samples instead of stopping")
    p.add_argument("--bootstrap", type=non_negative_int, default=1000, metavar="N",
                   help="resamples of the paired bootstrap with --curves (default 1000; "
                   "0 = none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--out", default="outputs/evaluation",
                   help="folder for results.json, table.md (and with --curves figure4.png, comparison.png)")
    p.set_defaults(handler=_cmd_evaluate)


def _cmd_evaluate(args):
    from tf_binmap.evaluation.command import evaluate_command

    if args.region_benchmark and args.curves:
        raise UsageError("--region-benchmark sweeps every family itself; leave out --curves")

    # "bsds500:train" and "msrc:newseg" are understood by the harness itself.
    result = evaluate_command(
        dataset=args.dataset, split=args.split, data_root=args.data_root,
        methods=args.methods, curves=args.curves, out=args.out, limit=args.limit,
        quiet=args.quiet, itq_path=args.itq, skip_errors=args.skip_errors,
        bootstrap=args.bootstrap, seed=args.seed, region_benchmark=args.region_benchmark)
    return 1 if result.get("n_errors") else 0
