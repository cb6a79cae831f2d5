"""From a code map to segments (pipeline steps 4-5).

1. `code_map_to_pixels`: give every image pixel a code from the network's (h, w) code
   map, either from the cell whose receptive-field centre is nearest ("center") or by
   the paper's plain block copy ("block").
2. `superpixel_codes`: the majority code of each superpixel.
3. `region_adjacency` + `merge_superpixels`: merge adjacent superpixels whose codes are
   within a Hamming distance (0 = equal codes, the paper), with full transitive closure
   (connected components), so the result does not depend on any processing order.

Codes are non-negative integers of packed bits (MSB first) with a bit count `n_bits`.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tf_binmap.hashing.codes import MAX_BITS, code_dtype, hamming_distance

__all__ = [
    "code_map_to_pixels",
    "merge_superpixels",
    "region_adjacency",
    "superpixel_codes",
    "superpixel_mean_projections",
]


def _check_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"expected an integer label image of shape (H, W), got dtype {labels.dtype} "
            f"and shape {labels.shape}"
        )
    if labels.size == 0:
        raise ValueError("expected a non-empty label image")
    if labels.min() < 0:
        raise ValueError("labels must be >= 0 (dense labels 0..n-1)")
    return labels


def _check_n_bits(n_bits: int) -> int:
    if not (isinstance(n_bits, (int, np.integer)) and 1 <= n_bits <= MAX_BITS):
        raise ValueError(f"n_bits must be an integer in 1..{MAX_BITS}, got {n_bits!r}")
    return int(n_bits)


def code_map_to_pixels(
    codes: np.ndarray,
    image_shape: tuple[int, ...],
    stride: int = 16,
    offset: float = 15,
    mode: str = "center",
    scale: float | tuple[float, float] = 1.0,
) -> np.ndarray:
    """Give every image pixel a code from the network's code map.

    Args:
        codes: (h, w) code map (any dtype; returned unchanged in dtype).
        image_shape: (H, W) or (H, W, C) of the image the pixels belong to.
        stride, offset: code-map cell i is centred on network-input pixel
            ``offset + stride * i`` (conv5 of AlexNet: 16 i + 15).
        mode: "center": each pixel takes the cell whose centre is nearest (clipped at
            the borders). "block": plain nearest-neighbour resize of (h, w) to (H, W),
            i.e. the paper's block copy (same result as ``cv2.resize(...,
            interpolation=cv2.INTER_NEAREST)``); stride/offset/scale are not used.
        scale: network-input size / image size, a float or (scale_y, scale_x), when the
            image was resized before the network. Pixel centres follow the usual
            half-pixel convention of image resizing: image pixel y sits at network
            coordinate ``(y + 0.5) * scale - 0.5`` (= y when scale is 1). Ties between
            two centres go to the later cell.

    Returns:
        (H, W) array of codes.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2 or 0 in codes.shape:
        raise ValueError(f"expected a (h, w) code map, got shape {codes.shape}")
    if len(image_shape) < 2:
        raise ValueError(f"image_shape must be (H, W) or (H, W, C), got {image_shape}")
    height, width = int(image_shape[0]), int(image_shape[1])
    h, w = codes.shape
    if mode == "block":
        rows = (np.arange(height, dtype=np.int64) * h) // height
        cols = (np.arange(width, dtype=np.int64) * w) // width
    elif mode == "center":
        scale_y, scale_x = (scale, scale) if np.isscalar(scale) else scale
        if stride <= 0 or scale_y <= 0 or scale_x <= 0:
            raise ValueError(f"stride and scale must be positive, got {stride} and {scale}")
        net_y = (np.arange(height) + 0.5) * scale_y - 0.5
        net_x = (np.arange(width) + 0.5) * scale_x - 0.5
        # floor(v + 0.5) rather than np.rint: rint rounds ties to even, which would make
        # cells alternately stride - 1 and stride + 1 pixels wide; this way a pixel
        # exactly between two centres always goes to the later cell.
        rows = np.clip(np.floor((net_y - offset) / stride + 0.5), 0, h - 1).astype(np.int64)
        cols = np.clip(np.floor((net_x - offset) / stride + 0.5), 0, w - 1).astype(np.int64)
    else:
        raise ValueError(f"unknown mode {mode!r}; valid modes: ['block', 'center']")
    return codes[rows[:, None], cols[None, :]]


def superpixel_codes(labels: np.ndarray, pixel_codes: np.ndarray, n_bits: int) -> np.ndarray:
    """Majority code of each superpixel.

    Args:
        labels: (H, W) dense labels 0..n-1.
        pixel_codes: (H, W) integer codes in 0..2**n_bits - 1 (see `code_map_to_pixels`).
        n_bits: bits per code, 1..62.

    Returns:
        (n,) codes (int32 up to 31 bits, else int64, as `tf_binmap.hashing.codes`): the
        most frequent code of each superpixel; ties go to the smallest code.
    """
    labels = _check_labels(labels)
    n_bits = _check_n_bits(n_bits)
    pixel_codes = np.asarray(pixel_codes)
    if pixel_codes.shape != labels.shape or not np.issubdtype(pixel_codes.dtype, np.integer):
        raise ValueError(
            f"pixel_codes must be an integer array of shape {labels.shape}, got dtype "
            f"{pixel_codes.dtype} and shape {pixel_codes.shape}"
        )
    pixel_codes = pixel_codes.astype(np.int64).ravel()
    if pixel_codes.min() < 0 or pixel_codes.max() >= (1 << n_bits):
        raise ValueError(f"pixel codes must lie in 0..{(1 << n_bits) - 1} for n_bits={n_bits}")
    n_superpixels = int(labels.max()) + 1
    flat_labels = labels.astype(np.int64).ravel()
    # Runs of equal (label, code) pairs after sorting give each pair's pixel count.
    order = np.lexsort((pixel_codes, flat_labels))
    sorted_labels, sorted_codes = flat_labels[order], pixel_codes[order]
    starts = np.flatnonzero(
        np.concatenate(
            [[True], (sorted_labels[1:] != sorted_labels[:-1]) | (sorted_codes[1:] != sorted_codes[:-1])]
        )
    )
    counts = np.diff(np.append(starts, len(order)))
    pair_labels, pair_codes = sorted_labels[starts], sorted_codes[starts]
    # Sort the pairs by label, then count descending, then code ascending: the first
    # pair of each label is its majority code.
    order = np.lexsort((pair_codes, -counts, pair_labels))
    pair_labels, pair_codes = pair_labels[order], pair_codes[order]
    first = np.ones(len(pair_labels), dtype=bool)
    first[1:] = pair_labels[1:] != pair_labels[:-1]
    if first.sum() != n_superpixels:
        raise ValueError("labels must be dense 0..n-1 (some labels have no pixels)")
    return pair_codes[first].astype(code_dtype(n_bits))


def superpixel_mean_projections(labels: np.ndarray, pixel_values: np.ndarray) -> np.ndarray:
    """Mean of real-valued per-pixel values over each superpixel ("soft codes").

    Args:
        labels: (H, W) dense labels 0..n-1.
        pixel_values: (H, W, c) or (H, W) values, e.g. the projections before the
            binarizing threshold.

    Returns:
        (n, c) float64 means (c = 1 for a 2-D input).
    """
    labels = _check_labels(labels)
    values = np.asarray(pixel_values, dtype=np.float64)
    if values.ndim == 2:
        values = values[:, :, None]
    if values.shape[:2] != labels.shape or values.ndim != 3:
        raise ValueError(
            f"pixel_values must have shape {labels.shape} or {labels.shape + ('c',)}, "
            f"got {values.shape}"
        )
    flat_labels = labels.ravel()
    n_superpixels = int(labels.max()) + 1
    areas = np.bincount(flat_labels, minlength=n_superpixels).astype(np.float64)
    if np.any(areas == 0):
        raise ValueError("labels must be dense 0..n-1 (some labels have no pixels)")
    flat_values = values.reshape(-1, values.shape[2])
    sums = np.stack(
        [np.bincount(flat_labels, weights=flat_values[:, k], minlength=n_superpixels) for k in range(flat_values.shape[1])],
        axis=1,
    )
    return sums / areas[:, None]


def region_adjacency(labels: np.ndarray, connectivity: int = 4) -> np.ndarray:
    """Unique undirected edges between touching superpixels.

    Args:
        labels: (H, W) integer labels >= 0.
        connectivity: 4 (share an edge) or 8 (also diagonal neighbours).

    Returns:
        (E, 2) int64 array of pairs (a, b) with a < b, sorted lexicographically.
    """
    labels = _check_labels(labels)
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    labels = labels.astype(np.int64, copy=False)
    pairs = [
        (labels[:, :-1], labels[:, 1:]),  # horizontal neighbours
        (labels[:-1, :], labels[1:, :]),  # vertical neighbours
    ]
    if connectivity == 8:
        pairs += [(labels[:-1, :-1], labels[1:, 1:]), (labels[:-1, 1:], labels[1:, :-1])]
    first = np.concatenate([a.ravel() for a, _ in pairs])
    second = np.concatenate([b.ravel() for _, b in pairs])
    different = first != second
    low = np.minimum(first[different], second[different])
    high = np.maximum(first[different], second[different])
    n_labels = int(labels.max()) + 1
    keys = np.unique(low * n_labels + high)
    return np.stack([keys // n_labels, keys % n_labels], axis=1)


def merge_superpixels(
    labels: np.ndarray,
    codes: np.ndarray,
    n_bits: int,
    threshold: int = 0,
    absorb_single_neighbour: bool = False,
    connectivity: int = 4,
) -> np.ndarray:
    """Merge adjacent superpixels whose codes differ in at most `threshold` bits.

    Merging is the transitive closure (connected components of the graph of adjacent
    superpixels with Hamming distance <= threshold): if A~B and B~C, all three merge,
    whatever the order. threshold=0 (equal codes) is the paper's rule; the authors'
    code writes it as ``distance < th`` with th=1.

    Args:
        labels: (H, W) dense superpixel labels 0..n-1.
        codes: (n,) code of each superpixel (e.g. from `superpixel_codes`).
        n_bits: bits per code (1..62).
        threshold: largest Hamming distance that still merges.
        absorb_single_neighbour: also merge every superpixel that has exactly one
            neighbour (in the superpixel adjacency graph) into that neighbour, whatever
            the codes (an option of the authors' code).
        connectivity: 4 or 8, for the adjacency.

    Returns:
        (H, W) int32 dense labels 0..m-1 of the merged segments, m <= n.
    """
    labels = _check_labels(labels)
    _check_n_bits(n_bits)
    codes = np.asarray(codes)
    n_superpixels = int(labels.max()) + 1
    if codes.shape != (n_superpixels,) or not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(
            f"codes must be an integer array of shape ({n_superpixels},) (one per "
            f"superpixel), got dtype {codes.dtype} and shape {codes.shape}"
        )
    edges = region_adjacency(labels, connectivity=connectivity)
    distances = hamming_distance(codes[edges[:, 0]], codes[edges[:, 1]], n_bits)
    keep = distances <= threshold
    if absorb_single_neighbour and len(edges):
        degree = np.bincount(edges.ravel(), minlength=n_superpixels)
        keep |= (degree[edges[:, 0]] == 1) | (degree[edges[:, 1]] == 1)
    merged = edges[keep]
    graph = coo_matrix(
        (np.ones(len(merged), dtype=np.int8), (merged[:, 0], merged[:, 1])),
        shape=(n_superpixels, n_superpixels),
    ).tocsr()
    _, component = connected_components(graph, directed=False)
    # connected_components numbers components in order of their smallest node, so the
    # result is already dense 0..m-1.
    return component.astype(np.int32)[labels]
