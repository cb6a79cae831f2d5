"""Compare segmentation curves at matched segment counts, with a paired bootstrap.

Two methods give different numbers of segments, so they are compared along curves: a
baseline swept over its own parameter (EGS over its scale, SLIC over its number of
superpixels) gives points (mean segments per image, score); it is interpolated linearly
in log(segments) at each point of the method, and the difference method - baseline is
the gain at that segment count. Outside the baseline's range there is no matched point
(NaN, never extrapolated).

Uncertainty: a paired bootstrap over images. A resample draws the images with
replacement, the same images for both curves; every point of both curves is re-pooled on
the resample (pooled Seg-IoU = sum of best IoUs / number of GT segments, covering =
area-weighted sum / GT area, segments = mean count), the baseline is re-interpolated at
the method's resampled counts, and the difference is collected. The 2.5 / 97.5
percentiles give the 95% interval.

The inputs are the ``"per_image"`` rows `evaluate` stores for every method
(`per_image_sums`): ``[sum of best IoUs, GT segments, covering weighted sum, covering
area, predicted segments]`` per image, in the same image order for every method.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tf_binmap.io.files import write_figure_atomic

__all__ = [
    "PER_IMAGE_COLUMNS",
    "compare_curves",
    "curve_data",
    "format_comparison",
    "interpolate_log",
    "per_image_sums",
    "plot_comparison",
    "pooled_points",
    "segments_axis",
]

#: Columns of the per-image rows.
PER_IMAGE_COLUMNS = ("iou_sum", "n_gt_segments", "covering_weighted", "covering_area", "n_segments")


def per_image_sums(scores) -> list[list[float]]:
    """One row per image of a `SegmentationScores`: the sums the pooled figures are
    made of (`PER_IMAGE_COLUMNS`)."""
    return [[float(np.sum(record["best_ious"])), int(np.size(record["best_ious"])),
             float(record["covering_weighted"]), int(record["covering_area"]),
             int(record["n_segments"])] for record in scores.records]


def pooled_points(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, points, 5) per-image sums -> per point (mean segments, pooled Seg-IoU %,
    covering %)."""
    totals = data.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (data[:, :, 4].mean(axis=0), 100.0 * totals[:, 0] / totals[:, 1],
                100.0 * totals[:, 2] / totals[:, 3])


def interpolate_log(x_base, y_base, x) -> np.ndarray:
    """The baseline curve (x_base, y_base) at ``x``, linear in log(x); NaN outside the
    baseline's range. Points with equal x are averaged."""
    x_base = np.asarray(x_base, dtype=np.float64)
    y_base = np.asarray(y_base, dtype=np.float64)
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    log_base, inverse = np.unique(np.log(x_base), return_inverse=True)
    y_mean = np.bincount(inverse, weights=y_base) / np.bincount(inverse)
    log_x = np.log(x)
    out = np.interp(log_x, log_base, y_mean)
    out[(log_x < log_base[0] - 1e-9) | (log_x > log_base[-1] + 1e-9)] = np.nan
    return out


def curve_data(results, curve: str) -> tuple[list[dict], np.ndarray]:
    """The entries of ``curve`` in `evaluate` results (sorted by their parameter) and
    their per-image sums as an (images, points, 5) array."""
    entries = [entry for entry in results["methods"] if entry.get("curve") == curve]
    if not entries:
        curves = sorted({entry.get("curve") for entry in results["methods"]})
        raise ValueError(f"no curve named {curve!r} in the results; curves: {curves}")
    missing = [entry["name"] for entry in entries if "per_image" not in entry]
    if missing:
        raise ValueError(f"results have no per-image sums for {missing}: evaluate them again "
                         "with this version of tf_binmap")
    entries = sorted(entries, key=lambda entry: entry["parameter"])
    data = np.stack([np.asarray(entry["per_image"], dtype=np.float64) for entry in entries],
                    axis=1)
    return entries, data


def compare_curves(results, curve: str, baseline: str, n_resamples: int = 1000,
                   seed: int = 0, confidence: float = 0.95) -> list[dict]:
    """``curve`` minus ``baseline`` at each point of ``curve`` (see the module docstring).

    Returns:
        one dict per point of ``curve``: "name", "parameter", "segments",
        "seg_iou", "baseline_seg_iou", "d_seg_iou", "d_seg_iou_low", "d_seg_iou_high",
        and the same for "covering"; differences are NaN where the baseline has no
        matched point.
    """
    entries, data = curve_data(results, curve)
    _, base = curve_data(results, baseline)
    if data.shape[0] != base.shape[0]:
        raise ValueError(f"{curve!r} and {baseline!r} were scored on different images")
    n_images = data.shape[0]

    def differences(index):
        segments, iou, cov = pooled_points(data[index])
        b_segments, b_iou, b_cov = pooled_points(base[index])
        return (segments, iou, cov, interpolate_log(b_segments, b_iou, segments),
                interpolate_log(b_segments, b_cov, segments))

    segments, iou, cov, b_iou, b_cov = differences(np.arange(n_images))
    rng = np.random.default_rng(seed)
    samples = np.empty((int(n_resamples), 2, len(entries)))
    for k in range(int(n_resamples)):
        _, r_iou, r_cov, rb_iou, rb_cov = differences(rng.integers(0, n_images, n_images))
        samples[k, 0] = r_iou - rb_iou
        samples[k, 1] = r_cov - rb_cov
    tail = 100.0 * (1.0 - confidence) / 2.0
    with np.errstate(invalid="ignore"), _quiet_nan_warnings():
        low = np.nanpercentile(samples, tail, axis=0) if n_resamples else np.full((2, len(entries)), np.nan)
        high = np.nanpercentile(samples, 100.0 - tail, axis=0) if n_resamples else low
    rows = []
    for k, entry in enumerate(entries):
        matched = not np.isnan(b_iou[k])
        rows.append({
            "name": entry["name"], "parameter": entry["parameter"],
            "segments": float(segments[k]),
            "seg_iou": float(iou[k]), "baseline_seg_iou": float(b_iou[k]),
            "d_seg_iou": float(iou[k] - b_iou[k]),
            "d_seg_iou_low": float(low[0, k]) if matched else float("nan"),
            "d_seg_iou_high": float(high[0, k]) if matched else float("nan"),
            "covering": float(cov[k]), "baseline_covering": float(b_cov[k]),
            "d_covering": float(cov[k] - b_cov[k]),
            "d_covering_low": float(low[1, k]) if matched else float("nan"),
            "d_covering_high": float(high[1, k]) if matched else float("nan"),
        })
    return rows


class _quiet_nan_warnings:
    """nanpercentile warns for all-NaN columns (unmatched points): expected here."""

    def __enter__(self):
        import warnings

        self._catcher = warnings.catch_warnings()
        self._catcher.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._catcher.__exit__(*exc)


def _interval(value, low, high) -> str:
    if np.isnan(value):
        return "no matched point"
    return f"{value:+.2f} [{low:+.2f}, {high:+.2f}]"


def format_comparison(rows: Sequence[dict], curve: str, baseline: str,
                      n_resamples: int | None = None) -> str:
    """Markdown table of `compare_curves` rows, with a one-line verdict."""
    lines = [
        f"{curve} minus {baseline} at matched segment counts"
        + (f" (paired bootstrap over images, {n_resamples} resamples, 95% interval)"
           if n_resamples else ""),
        "",
        "| segments/image | Seg-IoU | d Seg-IoU [95%] | covering | d covering [95%] |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['segments']:.1f} | {row['seg_iou']:.2f} "
            f"| {_interval(row['d_seg_iou'], row['d_seg_iou_low'], row['d_seg_iou_high'])} "
            f"| {row['covering']:.1f} "
            f"| {_interval(row['d_covering'], row['d_covering_low'], row['d_covering_high'])} |"
        )
    matched = [row for row in rows if not np.isnan(row["d_seg_iou"])]
    if matched:
        above = sum(row["d_seg_iou"] > 0 and row["d_covering"] > 0 for row in matched)
        significant = sum(row["d_seg_iou_low"] > 0 and row["d_covering_low"] > 0
                          for row in matched)
        lines += ["", f"above on both metrics at {above} of {len(matched)} matched counts"
                  + (f"; interval above 0 on both at {significant}" if n_resamples else "")
                  + f" (unmatched: {len(rows) - len(matched)})"]
    return "\n".join(lines)


def segments_axis(axis) -> None:
    """An x axis of segments per image as every figure here draws it: log scale, ticks at
    1, 2 and 5 times powers of ten written as plain numbers, the label and a grid."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_xscale("log")
    axis.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.set_xlabel("segments per image (mean)")
    axis.grid(True, which="both", alpha=0.3)

def plot_comparison(results, comparison: dict, path, baselines: Sequence[str] = ("EGS", "SLIC"),
                    title: str | None = None):
    """Top: the method's curve beside the baselines' curves (pooled Seg-IoU, covering
    against segments per image, log scale). Bottom: the method minus
    ``comparison["baseline"]`` at each matched count with its bootstrap interval.
    ``comparison``: {"curve", "baseline", "rows" (`compare_curves`), "n_resamples"}.
    Written atomically as PNG; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 2, sharex=True, height_ratios=(3, 2))
    colours = {"EGS": "tab:blue", "SLIC": "tab:orange"}
    curves = [(comparison["curve"], "black", "*")] + [
        (name, colours.get(name, "tab:gray"), "o") for name in baselines]
    rows = comparison["rows"]
    for column, (key, label) in enumerate((("seg_iou", "Seg-IoU, pooled (%)"),
                                           ("covering", "covering (%)"))):
        axis = axes[0, column]
        for curve, colour, marker in curves:
            _, data = curve_data(results, curve)
            segments, iou, cov = pooled_points(data)
            order = np.argsort(segments)
            values = (iou if key == "seg_iou" else cov)[order]
            axis.plot(segments[order], values, marker=marker, color=colour, linewidth=1.6,
                      markersize=7 if marker == "*" else 5,
                      label=f"ours: {curve}" if curve == comparison["curve"] else curve)
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(loc="best", fontsize=9)
        lower = axes[1, column]
        matched = [row for row in rows if not np.isnan(row[f"d_{key}"])]
        xs = np.array([row["segments"] for row in matched])
        ds = np.array([row[f"d_{key}"] for row in matched])
        low = np.array([row[f"d_{key}_low"] for row in matched])
        high = np.array([row[f"d_{key}_high"] for row in matched])
        if len(xs):
            errors = None if np.all(np.isnan(low)) else np.vstack([ds - low, high - ds])
            lower.errorbar(xs, ds, yerr=errors, fmt="*-", color="black", capsize=4,
                           label=f"ours minus {comparison['baseline']}"
                           + (f" (95% paired bootstrap, {comparison.get('n_resamples')} "
                              "resamples)" if errors is not None else ""))
        lower.axhline(0.0, color=colours.get(comparison["baseline"], "tab:gray"), linewidth=1.2)
        lower.set_ylabel(f"difference to {comparison['baseline']} (points)")
        lower.legend(loc="best", fontsize=9)
        segments_axis(lower)
    if title:
        figure.suptitle(title)
    return write_figure_atomic(figure, path)
