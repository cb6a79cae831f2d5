"""``tf-binmap evaluate``: open a dataset, run the paper's table (and with ``curves`` the
Figure 4 sweeps and the paired-bootstrap comparison of the hierarchy with EGS and SLIC),
and write ``table.md``, ``results.json`` and the figures; with ``region_benchmark`` the
BSDS region benchmark instead (`region_benchmark_command`: ``region_benchmark.md``,
``region_benchmark.json`` and ``region_benchmark.png``)."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

from tf_binmap.evaluation.compare import (
    compare_curves,
    format_comparison,
    plot_comparison,
)
from tf_binmap.evaluation.datasets import BSDS500, MSRC, DatasetError, default_data_root
from tf_binmap.evaluation.hierarchy_method import HierarchyMethod
from tf_binmap.evaluation.method_specs import (
    Method,
    as_method,
    default_methods,
    figure4_methods,
)
from tf_binmap.evaluation.methods import BinaryMapMethod
from tf_binmap.evaluation.region_report import (
    format_region_comparison,
    format_region_table,
    plot_region_curves,
)
from tf_binmap.evaluation.region_sweeps import (
    default_region_sweeps,
    region_sweeps,
    run_region_benchmark,
)
from tf_binmap.evaluation.reports import (
    format_table,
    format_timings,
    plot_curves,
    write_json,
)
from tf_binmap.evaluation.runner import evaluate
from tf_binmap.io.files import output_directory, write_text_atomic
from tf_binmap.presets import DEFAULT_BINARY_MAP_PRESET, DEFAULT_HIERARCHY_PRESET

__all__ = ["evaluate_command", "open_dataset", "region_benchmark_command"]


def open_dataset(dataset, split: str, data_root, msrc_flavour: str):
    """A dataset from its name (``bsds500[:split]``, ``msrc[:flavour]``) under
    ``data_root``, or ``dataset`` itself if it is already a sequence of samples."""
    if not isinstance(dataset, str):
        return dataset  # a ready dataset object (a sequence of samples)
    name, _, option = str(dataset).lower().partition(":")
    root = Path(data_root).expanduser() if data_root is not None else default_data_root()
    if root is None:
        raise DatasetError(
            "no data root: pass data_root= (--data-root) or set $TF_BINMAP_DATA to the folder "
            "holding BSDS500/ and MSRC_ObjCategImageDatabase_v2/"
        )
    if name in ("bsds500", "bsds"):
        return BSDS500(root, split=option or split)
    if name == "msrc":
        return MSRC(root, flavour=option or msrc_flavour)
    raise ValueError(f"unknown dataset {dataset!r}; valid: bsds500, msrc (or msrc:newseg)")


def _dedupe(methods: list[Method]) -> list[Method]:
    seen, out = set(), []
    for method in methods:
        if method.name not in seen:
            seen.add(method.name)
            out.append(method)
    return out


def evaluate_command(dataset: str = "bsds500", split: str = "val", data_root=None,
                     methods=None, curves: bool = False, out="outputs/evaluation",
                     limit: int | None = None, quiet: bool = False, *, itq_path=None,
                     msrc_flavour: str = "gt_bmp", skip_errors: bool = False,
                     bootstrap: int = 1000, seed: int = 0,
                     region_benchmark: bool = False) -> dict:
    """Evaluate methods on a dataset and write the results (``tf-binmap evaluate``).

    Args:
        dataset: "bsds500" (split from `split`) or "msrc" (one set, `split` unused; its
            ground truth from `msrc_flavour`, "gt_bmp" or "newseg"; "msrc:newseg" also
            works), or a ready dataset object (a sequence of samples).
        split: BSDS500 split ("train", "val", "test").
        data_root: folder with the datasets (default `default_data_root()`).
        methods: specs or strings for `parse_method`; default `default_methods()`, the
            paper's table.
        curves: also run the Figure 4 sweeps (`figure4_methods`, with the default
            hierarchy's curve), plot figure4.png and compare the hierarchy's curve with
            EGS's and SLIC's at matched segment counts (`compare.compare_curves`).
        out: output folder: results.json, table.md; with curves also figure4.png and
            comparison.png (the hierarchy vs EGS and SLIC, and its difference to EGS
            with the bootstrap intervals).
        bootstrap, seed: resamples of the paired bootstrap over images (0: none) and
            its random seed.
        limit: only the first N images.
        quiet: no progress bar and no printing.
        itq_path: ITQ file for the ``binmap_conv5`` preset, used by every binmap method
            on that preset that does not name its own.
        skip_errors: skip unreadable samples (listed in results.json) instead of failing.
        region_benchmark: run `region_benchmark_command` instead (`methods` then name
            the families to sweep; `curves` must be off).

    Returns:
        the `evaluate` results, plus "table_methods" (names of the table's methods),
        "files" (paths written) and "settings".
    """
    if region_benchmark:
        if curves:
            raise ValueError("the region benchmark sweeps every family itself; leave out "
                             "curves (--curves)")
        return region_benchmark_command(
            dataset=dataset, split=split, data_root=data_root, methods=methods, out=out,
            limit=limit, quiet=quiet, itq_path=itq_path, msrc_flavour=msrc_flavour,
            skip_errors=skip_errors)
    if int(bootstrap) < 0:
        raise ValueError(f"bootstrap must be >= 0 resamples, got {bootstrap}")
    out = output_directory(out)  # an unwritable folder fails now, not after the run
    data = open_dataset(dataset, split, data_root, msrc_flavour)
    table_methods = (default_methods(itq_path=itq_path) if methods is None
                     else [as_method(method) for method in methods])
    if itq_path is not None:
        table_methods = [
            dataclasses.replace(method, itq_path=itq_path)
            if (isinstance(method, BinaryMapMethod) and method.model is None
                and method.itq_path is None and method.preset == DEFAULT_BINARY_MAP_PRESET)
            else method
            for method in table_methods
        ]
    all_methods = list(table_methods)
    if curves:
        all_methods += figure4_methods(preset=DEFAULT_BINARY_MAP_PRESET, itq_path=itq_path)
    all_methods = _dedupe(all_methods)

    results = evaluate(data, all_methods, limit=limit, progress=not quiet, skip_errors=skip_errors)
    table_names = [method.name for method in _dedupe(table_methods)]
    results["table_methods"] = table_names
    results["settings"] = {
        "dataset": dataset if isinstance(dataset, str) else repr(dataset),
        "split": getattr(data, "split", None),
        "msrc_flavour": getattr(data, "flavour", None), "limit": limit, "curves": curves,
        "itq_path": None if itq_path is None else str(itq_path),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }

    by_name = {entry["name"]: entry for entry in results["methods"]}
    table_entries = [by_name[name] for name in table_names]
    gt_segments = table_entries[0]["n_gt_segments"]
    header = (f"{results['dataset']}: {results['n_images']} images, {gt_segments} ground-truth segments, "
              f"{results['wall_seconds']:.0f} s wall"
              + (f", {results['n_errors']} unreadable sample(s) skipped" if results["n_errors"] else ""))
    table = format_table(table_entries)
    sections = [f"# Evaluation\n\n{header}\n", table,
                ("\nSeconds per image by stage (a shared stage counted for each method "
                 "using it):\n"), format_timings(table_entries)]
    comparisons = []
    if curves:
        sections += ["\n## Figure 4 sweeps\n", format_table(results["methods"])]
        ours = HierarchyMethod(preset=DEFAULT_HIERARCHY_PRESET).curve
        for baseline in ("EGS", "SLIC"):
            rows = compare_curves(results, ours, baseline, n_resamples=bootstrap, seed=seed)
            comparisons.append({"curve": ours, "baseline": baseline, "n_resamples": bootstrap,
                                "seed": seed, "rows": rows})
            sections += [f"\n## {ours} vs {baseline}\n",
                         format_comparison(rows, ours, baseline, bootstrap)]
    results["comparisons"] = comparisons
    files = {"results": str(out / "results.json"), "table": str(out / "table.md")}
    write_text_atomic(out / "table.md", "\n".join(sections) + "\n")
    if curves:
        title = f"{_dataset_title(data)}: {results['n_images']} images"
        files["figure4"] = str(plot_curves(results, out / "figure4.png", title=title))
        files["comparison"] = str(plot_comparison(results, comparisons[0],
                                                  out / "comparison.png", title=title))
    results["files"] = files
    write_json(results, out / "results.json")
    if not quiet:
        print(header)
        print(table)
        print()
        print(format_timings(table_entries))
        if curves:
            print()
            print(format_table(results["methods"]))
        for comparison in comparisons:
            print()
            print(format_comparison(comparison["rows"], comparison["curve"],
                                    comparison["baseline"], comparison["n_resamples"]))
        for path in files.values():
            print("wrote", path)
    return results


def _dataset_title(data) -> str:
    if isinstance(data, BSDS500):
        return f"BSDS500 {data.split}"
    if isinstance(data, MSRC):
        return f"MSRC v2 ({data.flavour})"
    return type(data).__name__


def region_benchmark_command(dataset: str = "bsds500", split: str = "val", data_root=None,
                             methods=None, out="outputs/evaluation", limit: int | None = None,
                             quiet: bool = False, *, itq_path=None,
                             msrc_flavour: str = "gt_bmp", skip_errors: bool = False) -> dict:
    """The BSDS region benchmark of hierarchies (``tf-binmap evaluate --region-benchmark``):
    covering, PRI and VOI at ODS and OIS for each sweep, written to
    ``region_benchmark.md`` (the table, the published BSDS500 test-split figures beside
    it, and each sweep minus gPb-owt-ucm's), ``region_benchmark.json`` (the figures and
    every image's statistics at every scale) and ``region_benchmark.png`` (the curves).

    Args:
        methods: method specs or `RegionSweep`s (`region_sweeps`: each family over its
            default values, a hierarchy by count and by level cuts); default
            `default_region_sweeps()`: the default hierarchy, EGS over k, SLIC over n.
        itq_path: ITQ file for the default binary-map preset of binmap methods.
        Other arguments as `evaluate_command`.

    Returns:
        the `run_region_benchmark` results, plus "files" and "settings".
    """
    out = output_directory(out)  # an unwritable folder fails now, not after the run
    data = open_dataset(dataset, split, data_root, msrc_flavour)
    sweeps = default_region_sweeps() if methods is None else region_sweeps(methods)
    if itq_path is not None:
        for sweep in sweeps:
            method = sweep.method
            if (isinstance(method, BinaryMapMethod) and method.model is None
                    and method.itq_path is None and method.preset == DEFAULT_BINARY_MAP_PRESET):
                sweep.method = dataclasses.replace(method, itq_path=itq_path)
    results = run_region_benchmark(data, sweeps, limit=limit, progress=not quiet,
                                   skip_errors=skip_errors)
    results["settings"] = {
        "dataset": dataset if isinstance(dataset, str) else repr(dataset),
        "split": getattr(data, "split", None),
        "msrc_flavour": getattr(data, "flavour", None), "limit": limit,
        "itq_path": None if itq_path is None else str(itq_path),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    title = _dataset_title(data)
    header = (f"{title}: {results['n_images']} images, {results['wall_seconds']:.0f} s wall"
              + (f", {results['n_errors']} unreadable sample(s) skipped"
                 if results["n_errors"] else ""))
    bsds = isinstance(data, BSDS500)  # published figures only beside BSDS500 rows
    table = format_region_table(results, published=bsds)
    comparison = format_region_comparison(results) if bsds else ""
    if not bsds:
        context = ("The published BSDS500 figures are left out: this is another dataset, "
                   "and its numbers are not comparable with them.")
    else:
        context = ("The *published* rows are BSDS500 **test** figures (Arbelaez et al., "
                   "TPAMI 2011)" + ("." if data.split == "test" else
                                    f"; the rows above them are {title}, another set of "
                                    "images."))
    sections = [
        f"# BSDS region benchmark\n\n{header}\n",
        "Segmentation covering (of the ground truth by the segmentation, pooled over "
        "annotations and images), probabilistic Rand index and variation of information "
        "(bits), as the BSDS500 benchmark code computes them "
        "(`tf_binmap.evaluation.region_benchmark`). ODS: the one parameter value best for "
        "the dataset, chosen for each metric on its own; OIS: each image's best value. "
        f"{context}\n",
        table,
    ]
    if comparison:
        sections += ["\nDifference to gPb-owt-ucm's published test figures (VOI: lower is "
                     "better):\n", comparison]
    sections.append(
        "\nSeconds per image of each sweep (a shared stage counted for each sweep using "
        "it): " + ", ".join(f"{s['name']} {s['seconds_per_image']:.2f}"
                            for s in results["sweeps"]) + ".")
    text = "\n".join(sections)
    files = {"table": str(out / "region_benchmark.md"),
             "results": str(out / "region_benchmark.json"),
             "figure": str(out / "region_benchmark.png")}
    write_text_atomic(files["table"], text + "\n")
    plot_region_curves(results, files["figure"], title=f"BSDS region benchmark: {title}",
                       published=bsds)
    results["files"] = files
    write_json(results, files["results"])
    if not quiet:
        print(header)
        print(table)
        if comparison:
            print()
            print(comparison)
        for path in files.values():
            print("wrote", path)
    return results
