"""Per-stage latency of the pipeline, beside EGS and SLIC alone, measured in one run.

Stages per image: decode (JPEG bytes -> uint8 RGB), network (code map), superpixels,
merge (codes per superpixel + union of equal-code neighbours). Figures are medians over
repeats; ratios (ours / EGS alone, ours / SLIC alone) are taken within the same run, so
they hold even on a busy shared machine where absolute times drift.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from tf_binmap.segmentation.superpixels import superpixels


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
    return float(np.median(values) * 1000.0)


def benchmark(segmenters, encoded_images, repeats=3, batch=1):
    """Time each named Segmenter in ``segmenters`` ({name: Segmenter}) and EGS/SLIC
    alone on ``encoded_images``; returns a dict of per-stage ms per image and ratios."""
    images = [_decode(data) for data in encoded_images]
    # Warm up every model (graph tracing, first-call allocations) outside the timings.
    for segmenter in segmenters.values():
        if segmenter.shrinks(images[0].shape):
            segmenter.segment(images[0])  # at the working size (max_side)
        else:
            segmenter.model.encode(np.stack(images[:batch]))

    # Interleaved: every group of images goes through every pipeline in turn, so a
    # burst of load elsewhere on the machine hits all of them alike.
    times = {name: {"network": [], "superpixels": [], "merge": []} for name in segmenters}
    alone = {"egs": [], "slic": []}
    decode_times = []
    for _ in range(repeats):
        for first in range(0, len(images), batch):
            group = images[first:first + batch]
            for data in encoded_images[first:first + batch]:
                start = time.perf_counter()
                _decode(data)
                decode_times.append(time.perf_counter() - start)
            for name, segmenter in segmenters.items():
                # The hierarchy (its leaves are part of its merge) and images shrunk to
                # the working size (max_side; the shrink counts as network time) go
                # through segment() one at a time.
                if segmenter.merge_mode != "codes" or \
                        segmenter.shrinks(group[0].shape):
                    for image in group:
                        timings = segmenter.segment(image, return_intermediates=True).timings
                        times[name]["network"].append(timings["network"] + timings.get("resize", 0.0))
                        times[name]["superpixels"].append(timings.get("superpixels", 0.0))
                        times[name]["merge"].append(timings["merge"])
                    continue
                start = time.perf_counter()
                code_maps = np.asarray(segmenter.model.encode(np.stack(group)))
                times[name]["network"].append((time.perf_counter() - start) / len(group))
                for image, code_map in zip(group, code_maps):
                    timings = {}
                    segmenter.merge(image, code_map, timings)
                    times[name]["superpixels"].append(timings["superpixels"])
                    times[name]["merge"].append(timings["merge"])
            for method, values in alone.items():
                for image in group:
                    start = time.perf_counter()
                    superpixels(image, method)
                    values.append(time.perf_counter() - start)

    decode_ms = _median_ms(decode_times)
    rows = {}
    for name, stages in times.items():
        row = {"decode_ms": decode_ms}
        row.update({f"{stage}_ms": _median_ms(values) for stage, values in stages.items()})
        row["total_ms"] = sum(row[f"{s}_ms"] for s in ("decode", "network", "superpixels",
                                                        "merge"))
        rows[name] = row
    for method, values in alone.items():
        rows[f"{method} alone"] = {"decode_ms": decode_ms,
                                   "superpixels_ms": _median_ms(values),
                                   "total_ms": decode_ms + _median_ms(values)}
    for row in rows.values():
        row["images_per_s"] = 1000.0 / row["total_ms"]

    for row in rows.values():
        row["x_egs"] = row["total_ms"] / rows["egs alone"]["total_ms"]
        row["x_slic"] = row["total_ms"] / rows["slic alone"]["total_ms"]
    return rows


def format_table(rows):
    """Markdown table of ``benchmark()`` rows."""
    lines = ["| pipeline | decode | network | superpixels | merge | total ms | images/s | "
             "x EGS alone | x SLIC alone |", "|---|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        cell = lambda key: f"{row[key]:.1f}" if key in row else "-"  # noqa: E731
        lines.append(f"| {name} | {cell('decode_ms')} | {cell('network_ms')} | "
                     f"{cell('superpixels_ms')} | {cell('merge_ms')} | {row['total_ms']:.1f}"
                     f" | {row['images_per_s']:.2f} | {row['x_egs']:.2f} | "
                     f"{row['x_slic']:.2f} |")
    return "\n".join(lines)
