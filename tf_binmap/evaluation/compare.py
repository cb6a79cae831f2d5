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

__all__ = [
    "PER_IMAGE_COLUMNS",
    "compare_curves",
    "curve_data",
    "format_comparison",
    "interpolate_log",
    "per_image_sums",
    "pooled_points",
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
