"""Presenting evaluation results: Markdown tables (`format_table`, `format_timings`),
``results.json`` (`write_json`) and the paper's Figure 4 (`plot_curves`: Seg-IoU and
covering against the number of segments per image). Every file is written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tf_binmap.evaluation.compare import segments_axis
from tf_binmap.evaluation.methods import format_number, superpixel_key
from tf_binmap.evaluation.runner import STAGES
from tf_binmap.io.files import write_figure_atomic, write_text_atomic

__all__ = ["format_table", "format_timings", "method_entries", "plot_curves", "write_json"]


def method_entries(results) -> list[dict]:
    """The per-method entries of `evaluate` results (or the list itself)."""
    if isinstance(results, dict):
        return list(results["methods"])
    return list(results)


def format_table(results) -> str:
    """Markdown table: method | Seg-IoU pooled | per-image | covering | PRI | VOI |
    segments/image | s/image (`results` from `evaluate`, or its "methods" list)."""
    lines = [
        "| method | Seg-IoU pooled | per-image | covering | PRI | VOI | segments/image | s/image |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in method_entries(results):
        lines.append(
            f"| {entry['name']} | {entry['seg_iou_pooled']:.2f} | {entry['seg_iou_per_image']:.2f} "
            f"| {entry['covering']:.1f} | {entry['pri']:.3f} | {entry['voi']:.3f} "
            f"| {entry['segments_per_image']:.1f} | {entry['seconds_per_image']['total']:.3f} |"
        )
    return "\n".join(lines)


def format_timings(results) -> str:
    """Markdown table of each method's mean seconds per image per stage (a shared stage
    counted for every method that uses it)."""
    lines = [
        "| method | " + " | ".join(STAGES) + " | total |",
        "|---|" + "---|" * (len(STAGES) + 1),
    ]
    for entry in method_entries(results):
        times = entry["seconds_per_image"]
        lines.append(f"| {entry['name']} | " + " | ".join(f"{times[s]:.3f}" for s in STAGES)
                     + f" | {times['total']:.3f} |")
    return "\n".join(lines)


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def write_json(results, path) -> Path:
    """Write `results` as indented JSON, atomically (temp file + os.replace)."""
    text = json.dumps(results, indent=2, default=_json_default, allow_nan=True) + "\n"
    return write_text_atomic(path, text)


_CURVE_STYLES = {
    "egs": ("tab:blue", "o", "-"),
    "slic": ("tab:orange", "s", "-"),
    "binmap/egs": ("tab:green", "^", "--"),
    "binmap/slic": ("tab:red", "v", "--"),
    "hierarchy": ("black", "*", "-"),
}


_EXTRA_COLOURS = ["tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray"]


def _is_paper_operating_point(entry) -> str | None:
    """Label if `entry` is one of the paper's baseline settings (EGS k=100, SLIC 200)."""
    spec = entry.get("spec", {})
    family = spec.get("family")
    if family in ("egs", "slic"):
        params = {k: v for k, v in spec.items() if k != "family"}
        if superpixel_key(family, params) == superpixel_key(family, {}):
            return "EGS k=100" if family == "egs" else "SLIC 200"
    return None


def plot_curves(results, path, title: str | None = None) -> Path:
    """The paper's Figure 4 from `evaluate` results: pooled Seg-IoU (left) and covering
    (right) against the mean number of segments per image (log scale), one curve per
    family (methods sharing a ``curve``), the paper's baseline settings (EGS k=100,
    SLIC 200) circled. Written atomically as PNG; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    entries = method_entries(results)
    curves: dict[str, list[dict]] = {}
    for entry in entries:
        curves.setdefault(entry.get("curve", entry["name"]), []).append(entry)

    figure = Figure(figsize=(13, 5.4), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2)
    panels = (("seg_iou_pooled", "Seg-IoU, pooled over GT segments (%)"),
              ("covering", "Segmentation covering (%)"))
    extra = iter(_EXTRA_COLOURS * 4)
    styles = {}
    for curve, points in curves.items():
        family = points[0].get("family")
        if family == "binmap":
            family = f"binmap/{points[0]['spec'].get('superpixel_method')}"
        colour, marker, line = _CURVE_STYLES.get(family, (None, "D", ":"))
        if colour is None or any(style[0] == colour for style in styles.values()):
            colour = next(extra)
        styles[curve] = (colour, marker, line)

    for axis, (key, ylabel) in zip(axes, panels):
        for curve, points in curves.items():
            points = sorted(points, key=lambda e: e["segments_per_image"])
            colour, marker, line = styles[curve]
            xs = [p["segments_per_image"] for p in points]
            ys = [p[key] for p in points]
            label = {"binmap": f"paper's method: {curve}",
                     "hierarchy": f"ours: {curve}"}.get(points[0].get("family"), curve)
            axis.plot(xs, ys, linestyle=line, marker=marker, color=colour, markersize=6,
                      linewidth=1.6, label=label)
            for point in points:  # the swept parameter next to each point
                axis.annotate(format_number(point.get("parameter", "")), (point["segments_per_image"], point[key]),
                              xytext=(4, 4), textcoords="offset points", fontsize=7, color=colour)
            for point in points:
                label = _is_paper_operating_point(point)
                if label:
                    axis.plot(point["segments_per_image"], point[key], marker="o", markersize=14,
                              markerfacecolor="none", markeredgecolor="black", markeredgewidth=1.5,
                              linestyle="none")
                    axis.annotate(f"paper: {label}", (point["segments_per_image"], point[key]),
                                  xytext=(8, -14), textcoords="offset points", fontsize=9)
        segments_axis(axis)
        axis.set_ylabel(ylabel)
    axes[0].legend(loc="best", fontsize=9, title="numbers: EGS scale k / SLIC n_segments / "
                   "hierarchy segments", title_fontsize=8)
    if title:
        figure.suptitle(title)
    path = Path(path)
    return write_figure_atomic(figure, path)
