"""Presenting the BSDS region benchmark (`region_sweeps.run_region_benchmark`): the
ODS / OIS table with the parameter each metric's ODS chose, the published BSDS500
*test-split* figures of Arbelaez et al. (TPAMI 2011) beside it, each sweep's
difference to gPb-owt-ucm's published figures, and the curves (`plot_region_curves`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tf_binmap.evaluation.compare import segments_axis
from tf_binmap.evaluation.methods import format_number
from tf_binmap.io.files import write_figure_atomic

__all__ = ["PUBLISHED_BSDS500_TEST", "format_region_comparison", "format_region_table",
           "format_value", "plot_region_curves"]


#: Published region-benchmark figures on the BSDS500 **test** split (Arbelaez, Maire,
#: Fowlkes, Malik, "Contour Detection and Hierarchical Image Segmentation", TPAMI
#: 2011): covering, PRI and VOI (bits), each as (ODS, OIS); humans: one figure each.
PUBLISHED_BSDS500_TEST = {
    "gPb-owt-ucm": {"covering": (0.59, 0.65), "pri": (0.83, 0.86), "voi": (1.69, 1.48)},
    "Felzenszwalb-Huttenlocher": {"covering": (0.52, 0.57), "pri": (0.80, 0.82),
                                  "voi": (2.21, 1.87)},
    "humans": {"covering": (0.72,), "pri": (0.88,), "voi": (1.17,)},
}

_METRICS = ("covering", "pri", "voi")


def format_value(value) -> str:
    """A sweep parameter for tables: 100, 0.5, -0.00422."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}"
    return format_number(value)


def _sweeps(results) -> list[dict]:
    return list(results["sweeps"]) if isinstance(results, dict) else list(results)


def format_region_table(results, published: bool = True) -> str:
    """Markdown: per sweep, covering ODS / OIS / Best, PRI ODS / OIS, VOI ODS / OIS (bits),
    the parameter each metric's ODS chose and the mean segments per image there; with
    `published`, the published BSDS500 test-split rows below, labelled as such."""
    lines = [
        "| method | covering ODS | OIS | Best | PRI ODS | OIS | VOI ODS | OIS "
        "| ODS parameter: covering / PRI / VOI | segments/image there |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for sweep in _sweeps(results):
        chosen = " / ".join(format_value(sweep[m]["ods_value"]) for m in _METRICS)
        segments = " / ".join(f"{sweep[m]['ods_segments']:.1f}" for m in _METRICS)
        lines.append(
            f"| {sweep['name']} | {sweep['covering']['ods']:.3f} "
            f"| {sweep['covering']['ois']:.3f} | {sweep['covering']['best']:.3f} "
            f"| {sweep['pri']['ods']:.3f} | {sweep['pri']['ois']:.3f} "
            f"| {sweep['voi']['ods']:.3f} | {sweep['voi']['ois']:.3f} "
            f"| {sweep['parameter']} = {chosen} | {segments} |")
    if published:
        for name, figures in PUBLISHED_BSDS500_TEST.items():
            cells = []
            for metric in _METRICS:
                values = [f"{v:.2f}" for v in figures[metric]]
                values += ["-"] * (2 - len(values))
                cells += values + (["-"] if metric == "covering" else [])
            lines.append(f"| *published, BSDS500 test:* {name} | " + " | ".join(cells)
                         + " | - | - |")
    return "\n".join(lines)


def format_region_comparison(results, reference: str = "gPb-owt-ucm",
                             names: Sequence[str] | None = None) -> str:
    """Markdown: each sweep (or those in `names`) minus `reference`'s published
    test-split figures, for covering, PRI and VOI at ODS and OIS. For VOI lower is
    better, so each cell also says "better" or "worse"."""
    figures = PUBLISHED_BSDS500_TEST[reference]
    lines = [
        f"| method minus {reference} (published, test) | covering ODS | OIS | PRI ODS "
        "| OIS | VOI ODS | OIS |",
        "|---|---|---|---|---|---|---|",
    ]
    for sweep in _sweeps(results):
        if names is not None and sweep["name"] not in names:
            continue
        cells = []
        for metric in _METRICS:
            for ours, theirs in zip((sweep[metric]["ods"], sweep[metric]["ois"]),
                                    figures[metric]):
                difference = ours - theirs
                better = difference > 0 if metric != "voi" else difference < 0
                verdict = "equal" if abs(difference) < 5e-4 else ("better" if better
                                                                  else "worse")
                cells.append(f"{difference:+.3f} ({verdict})")
        lines.append(f"| {sweep['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: Colour and marker per sweep family; the published rows' line styles.
_SWEEP_STYLES = {"hierarchy": ("black", "*"), "egs": ("tab:blue", "o"),
                 "slic": ("tab:orange", "s"), "binmap": ("tab:green", "^")}
_EXTRA_COLOURS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
_PUBLISHED_STYLES = {"gPb-owt-ucm": ("tab:red", "--"),
                     "Felzenszwalb-Huttenlocher": ("tab:blue", ":"),
                     "humans": ("tab:gray", "-.")}
_PANELS = (("covering", "segmentation covering (higher is better)"),
           ("pri", "probabilistic Rand index (higher is better)"),
           ("voi", "variation of information, bits (lower is better)"))


def plot_region_curves(results, path, title: str | None = None,
                       published: bool = True) -> Path:
    """Covering, PRI and VOI of each sweep against its mean segments per image (log
    scale), each sweep's ODS point ringed; with ``published``, the published BSDS500
    test-split ODS figures as horizontal lines, labelled as such. Written atomically as
    PNG; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sweeps = _sweeps(results)
    if not sweeps:
        raise ValueError("no sweep to plot")
    figure = Figure(figsize=(15, 5.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3)
    extra = iter(_EXTRA_COLOURS * 4)
    used: set[str] = set()
    for sweep in sweeps:
        colour, marker = _SWEEP_STYLES.get(sweep.get("family"), (None, "D"))
        if colour is None or colour in used:
            colour = next(extra)
        used.add(colour)
        xs = sweep["segments_per_scale"]
        for axis, (metric, _) in zip(axes, _PANELS):
            axis.plot(xs, sweep[metric]["per_scale"], color=colour, marker=marker,
                      markersize=4, linewidth=1.5, label=sweep["name"])
            index = sweep[metric]["ods_index"]
            axis.plot(xs[index], sweep[metric]["per_scale"][index], marker="o",
                      markersize=11, markerfacecolor="none", markeredgecolor=colour,
                      markeredgewidth=1.5, linestyle="none")
    for axis, (metric, label) in zip(axes, _PANELS):
        if published:
            for name, figures in PUBLISHED_BSDS500_TEST.items():
                colour, line = _PUBLISHED_STYLES.get(name, ("tab:gray", "--"))
                axis.axhline(figures[metric][0], color=colour, linestyle=line, linewidth=1,
                             label=f"{name} ODS (published, BSDS500 test)")
        segments_axis(axis)
        axis.set_title(label, fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4),
                  fontsize=8, title="rings: each sweep's ODS scale", title_fontsize=8)
    if title:
        figure.suptitle(title)
    return write_figure_atomic(figure, Path(path))
