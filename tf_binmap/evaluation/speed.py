"""Per-image latency of the pipeline beside EGS and SLIC alone, measured in one run.

Each pipeline is timed end to end per image (wall clock: JPEG decode + ``segment``), with
its stages beside: network (its own time; it runs in a second thread while the
superpixels are computed, so the stages can add up to more than the total), superpixels
(the hierarchy's leaves, or the paper's method's superpixels), and merge (everything
after: codes on pixels, region features, the merging, the cut). The baselines are the
superpixel methods alone on the same decoded photos: scikit-image's EGS (what users pick
because it is fast, the reference of the ratios), the compiled EGS this package runs
(the same labels), and scikit-image's SLIC. Figures are medians over repeats; the
pipelines run interleaved on the same photos, so the ratios (ours / EGS alone) hold even
on a busy shared machine where absolute times drift.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
from skimage.segmentation import felzenszwalb, slic

from tf_binmap.segmentation.superpixels import BASELINES, felzenszwalb_labels

__all__ = ["BASELINE_ROWS", "benchmark", "format_table", "sample_images"]

#: The superpixel methods alone, timed on the same photos (the paper's settings).
BASELINE_ROWS = {
    "EGS alone (scikit-image)": lambda image: felzenszwalb(image, channel_axis=-1,
                                                           **BASELINES["egs"]),
    "EGS alone (compiled)": lambda image: felzenszwalb_labels(image, **BASELINES["egs"]),
    "SLIC alone (scikit-image)": lambda image: slic(image, channel_axis=-1, start_label=1,
                                                    **BASELINES["slic"]),
}
REFERENCE = "EGS alone (scikit-image)"
SLIC = "SLIC alone (scikit-image)"


def sample_images(size=(321, 481), count=4):
    """``count`` real photos (scikit-image's samples) resized to ``size``, as JPEG
    bytes, so that decoding is part of what is measured."""
    import skimage.data

    names = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")
    encoded = []
    for index in range(count):
        image = getattr(skimage.data, names[index % len(names)])()
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        encoded.append(data.tobytes())
    return encoded


def _decode(data):
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(image[..., ::-1])


def _median_ms(values):
    return float(np.median(values) * 1000.0) if len(values) else 0.0


def benchmark(segmenters, encoded_images, repeats=3, batch=1):
    """Time each named Segmenter in ``segmenters`` ({name: Segmenter}) and the baselines
    (`BASELINE_ROWS`) on ``encoded_images``; returns {row name: {stage_ms..., total_ms,
    images_per_s, x_egs, x_slic}}. With ``batch`` > 1 the paper's method (``merge=
    "codes"``) runs the network on same-size batches and merges per image."""
    images = [_decode(data) for data in encoded_images]
    # Warm up every pipeline (graph tracing, compiled kernels, first allocations) and
    # every baseline outside the timings.
    for segmenter in segmenters.values():
        segmenter.segment(images[0])
    for run in BASELINE_ROWS.values():
        run(images[0])

    stages = ("decode", "network", "superpixels", "merge")
    times = {name: {stage: [] for stage in (*stages, "total")} for name in segmenters}
    alone = {name: [] for name in BASELINE_ROWS}
    decode_times = []
    for _ in range(repeats):
        for first in range(0, len(images), batch):
            group = list(range(first, min(first + batch, len(images))))
            for index in group:
                start = time.perf_counter()
                _decode(encoded_images[index])
                decode_times.append(time.perf_counter() - start)
            for name, segmenter in segmenters.items():
                row = times[name]
                if batch > 1 and segmenter.merge_mode == "codes" and \
                        not segmenter.shrinks(images[first].shape):
                    start = time.perf_counter()
                    stack = np.stack([_decode(encoded_images[i]) for i in group])
                    decoded = time.perf_counter()
                    code_maps = np.asarray(segmenter.model.encode(stack))
                    network = (time.perf_counter() - decoded) / len(group)
                    for image, code_map in zip(stack, code_maps):
                        timings = {}
                        segmenter.merge(image, code_map, timings)
                        row["network"].append(network)
                        row["superpixels"].append(timings["superpixels"])
                        row["merge"].append(timings["merge"])
                    row["total"].extend([(time.perf_counter() - start) / len(group)] * len(group))
                    continue
                for index in group:
                    start = time.perf_counter()
                    image = _decode(encoded_images[index])
                    result = segmenter.segment(image, return_intermediates=True)
                    row["total"].append(time.perf_counter() - start)
                    timings = result.timings
                    row["network"].append(timings["network"] + timings.get("resize", 0.0))
                    row["superpixels"].append(timings.get("superpixels", 0.0))
                    row["merge"].append(timings["merge"])
            for name, run in BASELINE_ROWS.items():
                for index in group:
                    start = time.perf_counter()
                    run(images[index])
                    alone[name].append(time.perf_counter() - start)

    decode_ms = _median_ms(decode_times)
    rows = {}
    for name, row in times.items():
        rows[name] = {f"{stage}_ms": _median_ms(row[stage]) for stage in stages if row[stage]}
        rows[name]["decode_ms"] = decode_ms
        rows[name]["total_ms"] = _median_ms(row["total"])
    for name, values in alone.items():
        rows[name] = {"decode_ms": decode_ms, "superpixels_ms": _median_ms(values),
                      "total_ms": decode_ms + _median_ms(values)}
    for row in rows.values():
        row["images_per_s"] = 1000.0 / row["total_ms"]
        row["x_egs"] = row["total_ms"] / rows[REFERENCE]["total_ms"]
        row["x_slic"] = row["total_ms"] / rows[SLIC]["total_ms"]
    return rows


def format_table(rows):
    """Markdown table of ``benchmark()`` rows."""
    lines = ["| pipeline | decode | network | superpixels | merge | total ms | images/s | "
             "x EGS alone (scikit-image) | x SLIC alone |", "|---|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        cell = lambda key: f"{row[key]:.1f}" if key in row else "-"  # noqa: E731
        lines.append(f"| {name} | {cell('decode_ms')} | {cell('network_ms')} | "
                     f"{cell('superpixels_ms')} | {cell('merge_ms')} | {row['total_ms']:.1f}"
                     f" | {row['images_per_s']:.2f} | {row['x_egs']:.2f} | "
                     f"{row['x_slic']:.2f} |")
    return "\n".join(lines)
