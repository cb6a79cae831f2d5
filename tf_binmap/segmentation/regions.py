"""Regions of a label image as the hierarchy sees them: per-region statistics (area,
mean CIELAB colour and its squares, mean code) and the adjacent pairs with the length and
summed edge strength of their shared border (`region_features`, `RegionFeatures`).

Every statistic is a sum or an area-weighted mean, so the statistics of two merged
regions follow exactly from theirs (what `tf_binmap.segmentation.agglomerate` relies on).
`leaf_features` computes the same values compiled (numba), for the hierarchy's leaves.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numba import njit

from tf_binmap.segmentation.compile_notice import install_compile_notice

install_compile_notice()

__all__ = ["RegionFeatures", "border_statistics", "check_labels", "lab_image", "leaf_features",
           "pixel_pair_strengths", "region_features"]


def check_labels(labels) -> np.ndarray:
    """``labels`` as int64, or a ValueError unless they are a non-empty integer (H, W) label
    image with no negative label."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"expected a non-empty integer (H, W) label image, got dtype "
                         f"{labels.dtype} and shape {labels.shape}")
    if labels.min() < 0:
        raise ValueError("labels must be dense 0..n-1")
    return labels.astype(np.int64, copy=False)


@dataclasses.dataclass
class RegionFeatures:
    """Per-superpixel statistics for `merge_hierarchy` (n = number of superpixels).

    Attributes:
        area: (n,) pixel counts.
        colour: (n, 3) mean colour (e.g. CIELAB), or (n, 0).
        code: (n, c) mean real-valued code / feature vector, or (n, 0).
        edges: (E, 2) int64 adjacent pairs (a < b).
        border_length: (E,) number of 4-neighbour pixel pairs on each shared border.
        border_strength: (E,) sum of the pixel-pair edge strengths on that border.
        colour_squares: (n, 3) mean of the squared colour (for the within-region
            colour variance), or None.
    """

    area: np.ndarray
    colour: np.ndarray
    code: np.ndarray
    edges: np.ndarray
    border_length: np.ndarray
    border_strength: np.ndarray
    colour_squares: np.ndarray | None = None


def lab_image(image: np.ndarray, sigma: float = 0.0) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float32 CIELAB (L in 0..100), optionally Gaussian-smoothed
    (``sigma`` in pixels, per channel) after the conversion."""
    import cv2

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    if sigma > 0:
        lab = cv2.GaussianBlur(lab, (0, 0), sigma)
    return lab


def pixel_pair_strengths(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge strength of every horizontal and vertical pixel pair: the L2 difference of
    ``values`` (H, W, c) or (H, W) across the pair.

    Returns:
        (horizontal (H, W-1), vertical (H-1, W)) float64.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2:
        values = values[:, :, None]

    def norm(difference):
        # Channel by channel (the order np.sum uses over a short axis), without the slow
        # reduction over a length-3 last axis.
        total = difference[..., 0] ** 2
        for k in range(1, difference.shape[-1]):
            total += difference[..., k] ** 2
        return np.sqrt(total, out=total)

    return norm(values[:, 1:] - values[:, :-1]), norm(values[1:] - values[:-1])


def border_statistics(labels: np.ndarray, strengths=None):
    """Adjacent superpixel pairs with the length and summed strength of their border.

    Args:
        labels: (H, W) dense labels 0..n-1.
        strengths: None (all strengths 0) or (horizontal (H, W-1), vertical (H-1, W))
            edge strengths of the pixel pairs (`pixel_pair_strengths`).

    Returns:
        edges (E, 2) int64 with a < b sorted lexicographically, lengths (E,) float64
        (4-neighbour pixel pairs), strength sums (E,) float64.
    """
    labels = check_labels(labels)
    n = int(labels.max()) + 1
    first = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    second = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    if strengths is None:
        weights = np.zeros(first.size)
    else:
        horizontal, vertical = strengths
        if horizontal.shape != (labels.shape[0], labels.shape[1] - 1) or \
                vertical.shape != (labels.shape[0] - 1, labels.shape[1]):
            raise ValueError("strengths must have shapes (H, W-1) and (H-1, W)")
        weights = np.concatenate([np.ravel(horizontal), np.ravel(vertical)]).astype(np.float64)
    different = first != second
    low = np.minimum(first[different], second[different])
    high = np.maximum(first[different], second[different])
    keys, inverse = np.unique(low * n + high, return_inverse=True)
    lengths = np.bincount(inverse, minlength=keys.size).astype(np.float64)
    sums = np.bincount(inverse, weights=weights[different], minlength=keys.size)
    edges = np.stack([keys // n, keys % n], axis=1)
    return edges, lengths, sums


def _region_means(flat_labels: np.ndarray, n: int, values: np.ndarray, area: np.ndarray) -> np.ndarray:
    values = values.reshape(flat_labels.size, -1).astype(np.float64)
    sums = np.stack([np.bincount(flat_labels, weights=values[:, k], minlength=n)
                     for k in range(values.shape[1])], axis=1) if values.shape[1] else \
        np.zeros((n, 0))
    return sums / area[:, None]


def region_features(labels: np.ndarray, colour=None, code=None, strengths=None) -> RegionFeatures:
    """Statistics of each superpixel for `merge_hierarchy`.

    Args:
        labels: (H, W) dense superpixel labels 0..n-1.
        colour: None or (H, W, 3) per-pixel colour (e.g. `lab_image`).
        code: None or (H, W, c) per-pixel real-valued codes (e.g. ITQ projections placed
            on the image pixels).
        strengths: None or the (horizontal, vertical) pixel-pair edge strengths.
    """
    labels = check_labels(labels)
    n = int(labels.max()) + 1
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n).astype(np.float64)
    if np.any(area == 0):
        raise ValueError("labels must be dense 0..n-1 (some labels have no pixels)")
    for name, value in (("colour", colour), ("code", code)):
        if value is not None and np.shape(value)[:2] != labels.shape:
            raise ValueError(f"{name} must have shape {labels.shape} + (c,), got {np.shape(value)}")
    colour_means = np.zeros((n, 0)) if colour is None else _region_means(flat, n, np.asarray(colour), area)
    squares = None if colour is None else _region_means(
        flat, n, np.square(np.asarray(colour, dtype=np.float64)), area)
    code_means = np.zeros((n, 0)) if code is None else _region_means(flat, n, np.asarray(code), area)
    edges, lengths, sums = border_statistics(labels, strengths)
    return RegionFeatures(area, colour_means, code_means, edges, lengths, sums, squares)


@njit(cache=True, nogil=True)
def _region_sums(labels, colour, code, n):
    """Area, mean colour, mean squared colour and mean code per region, summed in raster
    order channel by channel (the order of `region_features`' ``np.bincount`` calls)."""
    height, width = labels.shape
    area = np.zeros(n)
    means = np.zeros((n, 3))
    squares = np.zeros((n, 3))
    codes = np.zeros((n, code.shape[2]))
    for i in range(height):
        for j in range(width):
            area[labels[i, j]] += 1.0
    for k in range(3):
        for i in range(height):
            for j in range(width):
                means[labels[i, j], k] += np.float64(colour[i, j, k])
    for k in range(3):
        for i in range(height):
            for j in range(width):
                value = np.float64(colour[i, j, k])
                squares[labels[i, j], k] += value * value
    for k in range(code.shape[2]):
        for i in range(height):
            for j in range(width):
                codes[labels[i, j], k] += np.float64(code[i, j, k])
    for r in range(n):
        for k in range(3):
            means[r, k] /= area[r]
            squares[r, k] /= area[r]
        for k in range(code.shape[2]):
            codes[r, k] /= area[r]
    return area, means, squares, codes


@njit(cache=True, nogil=True)
def _border_pairs(labels, values, n):
    """(low * n + high, strength) of every 4-neighbour pixel pair across a border, the
    horizontal pairs row by row, then the vertical ones (`border_statistics`' order); the
    strength is the L2 difference of ``values`` across the pair, channel by channel as
    `pixel_pair_strengths` computes it."""
    height, width = labels.shape
    channels = values.shape[2]
    count = 0
    for i in range(height):
        for j in range(width - 1):
            if labels[i, j] != labels[i, j + 1]:
                count += 1
    for i in range(height - 1):
        for j in range(width):
            if labels[i, j] != labels[i + 1, j]:
                count += 1
    keys = np.empty(count, np.int64)
    strengths = np.empty(count)
    index = 0
    for vertical in range(2):
        rows = height - vertical
        cols = width - 1 + vertical
        for i in range(rows):
            for j in range(cols):
                i2, j2 = i + vertical, j + 1 - vertical
                a, b = labels[i, j], labels[i2, j2]
                if a == b:
                    continue
                total = 0.0
                for k in range(channels):
                    d = np.float64(values[i2, j2, k]) - np.float64(values[i, j, k])
                    total = d * d if k == 0 else total + d * d
                keys[index] = min(a, b) * n + max(a, b)
                strengths[index] = np.sqrt(total)
                index += 1
    return keys, strengths


@njit(cache=True, nogil=True)
def _group_borders(keys, strengths, order, n):
    """Sorted adjacent pairs with their border length and strength sum (summed in the
    order the pairs were found, as ``np.bincount`` sums)."""
    m = order.shape[0]
    n_edges = 0
    for i in range(m):
        if i == 0 or keys[order[i]] != keys[order[i - 1]]:
            n_edges += 1
    edges = np.empty((n_edges, 2), np.int64)
    lengths = np.zeros(n_edges)
    sums = np.zeros(n_edges)
    e = -1
    for i in range(m):
        key = keys[order[i]]
        if i == 0 or key != keys[order[i - 1]]:
            e += 1
            edges[e, 0] = key // n
            edges[e, 1] = key % n
        lengths[e] += 1.0
        sums[e] += strengths[order[i]]
    return edges, lengths, sums


def leaf_features(labels: np.ndarray, colour: np.ndarray, code: np.ndarray,
                  edge_values: np.ndarray) -> RegionFeatures:
    """``region_features(labels, colour, code, pixel_pair_strengths(edge_values))``,
    compiled: the same values, bit for bit, in a fraction of the time (the strengths are
    computed only across borders, and no per-pair array the size of the image is made).

    Args:
        labels: (H, W) dense labels 0..n-1.
        colour: (H, W, 3) per-pixel colour (`lab_image`).
        code: (H, W, c) per-pixel codes (c may be 0).
        edge_values: (H, W, k) values whose pair differences are the border strengths
            (the smoothed CIELAB image).
    """
    labels = check_labels(labels)
    n = int(labels.max()) + 1
    shape = labels.shape
    for name, value in (("colour", colour), ("code", code), ("edge_values", edge_values)):
        if np.ndim(value) != 3 or np.shape(value)[:2] != shape:
            raise ValueError(f"{name} must have shape {shape} + (c,), got {np.shape(value)}")
    if np.shape(colour)[2] != 3:
        raise ValueError(f"colour must have 3 channels, got {np.shape(colour)}")
    area, means, squares, codes = _region_sums(labels, np.ascontiguousarray(colour),
                                               np.ascontiguousarray(code), n)
    if np.any(area == 0):
        raise ValueError("labels must be dense 0..n-1 (some labels have no pixels)")
    keys, strengths = _border_pairs(labels, np.ascontiguousarray(edge_values), n)
    edges, lengths, sums = _group_borders(keys, strengths, np.argsort(keys, kind="stable"), n)
    return RegionFeatures(area, means, codes, edges, lengths, sums, squares)
