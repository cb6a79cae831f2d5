"""Large photos at a working size: an image whose longer side exceeds ``max_side`` is
segmented at a copy shrunk to it, and its labels brought back to the full size with the
boundaries snapped to the full image's edges (`snap_labels`), so a 10-megapixel photo
costs about what a BSDS500 image does and the learned merge order sees the image sizes it
was fitted at (docs/ABLATIONS.md, "Image size")."""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_MAX_SIDE", "MIN_MAX_SIDE", "check_segmentable", "enlarge_labels",
           "min_image_side", "snap_labels", "working_size"]


#: Images whose longer side exceeds this many pixels are segmented at a copy shrunk to it
#: (labels returned at the full size). The shipped merge scorer was fitted on BSDS500 at
#: 481x321, 2/3 and 1/2 of it; a scorer used at twice its fitted size lost its margin
#: over EGS (docs/ABLATIONS.md, "Image size"), so the working size stays near 481.
DEFAULT_MAX_SIDE = 512


#: The smallest ``max_side`` accepted (0 turns the shrinking off).
MIN_MAX_SIDE = 128


def working_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(height, width) an image is segmented at: its own size, or shrunk (aspect kept,
    rounded, at least 1 pixel) so its longer side is ``max_side`` (0: never shrunk)."""
    longer = max(height, width)
    if not max_side or longer <= max_side:
        return int(height), int(width)
    factor = max_side / longer
    return max(1, round(height * factor)), max(1, round(width * factor))


def min_image_side(min_input_size: int, upscale: float) -> int:
    """The smallest image side (at image scale) whose network input, the side times
    ``upscale`` rounded (`tf_binmap.io.scaled_size`), reaches ``min_input_size``."""
    side = max(1, int(min_input_size / upscale) - 2)
    while max(1, int(round(side * upscale))) < min_input_size:
        side += 1
    return side


def check_segmentable(height: int, width: int, max_side: int, min_side: int) -> None:
    """Raise ValueError, saying why and what to do, when an image of (height, width)
    cannot be segmented: a side below ``min_side`` (the network's receptive field at
    image scale, `min_image_side`), or so elongated that shrinking its longer side to
    ``max_side`` leaves the shorter one below ``min_side``."""
    height, width = int(height), int(width)
    for side, value in (("height", height), ("width", width)):
        if value < min_side:
            raise ValueError(
                f"a {width}x{height} image is too small to segment: its {side} is {value} "
                f"pixel{'s' * (value != 1)}, the network needs at least {min_side} pixels "
                "a side; use a larger image (or pad this one)")
    h, w = working_size(height, width, max_side)
    if min(h, w) >= min_side:
        return
    longer, shorter = max(height, width), min(height, width)
    needed = max(MIN_MAX_SIDE, int(np.ceil((min_side - 0.5) * longer / shorter)))
    while needed < longer and min(working_size(height, width, needed)) < min_side:
        needed += 1
    raise ValueError(
        f"a {width}x{height} image is too elongated for max_side={max_side}: shrunk so its "
        f"longer side is {max_side} pixels it would be {w}x{h}, below the {min_side} "
        f"pixels a side the network needs; pass max_side={needed} or more "
        f"(--max-side {needed}), or 0 to segment it at its own size")


def enlarge_labels(labels: np.ndarray, shape) -> np.ndarray:
    """(h, w) label image -> (H, W) by nearest neighbour (H >= h, W >= w): pixel (i, j)
    takes label ``(i * h // H, j * w // W)``, so every label of the small image survives."""
    h, w = labels.shape[:2]
    height, width = int(shape[0]), int(shape[1])
    if (h, w) == (height, width):
        return labels
    rows = np.arange(height, dtype=np.int64) * h // height
    cols = np.arange(width, dtype=np.int64) * w // width
    return labels[rows[:, None], cols[None, :]]


def snap_labels(labels: np.ndarray, image: np.ndarray, small_image: np.ndarray,
                colour_sigma: float = 12.0, rows_per_chunk: int = 256) -> np.ndarray:
    """Labels of ``small_image`` -> labels of ``image`` (its full size), the boundaries
    following the full-size image's edges (joint-bilateral upsampling of labels).

    Each full-size pixel whose small-image pixel touches another label (a 3x3
    neighbourhood) takes the label of the neighbouring small-image pixel that is most
    like it: the smallest ``|colour - neighbour colour|^2 / colour_sigma^2 + distance^2``
    (distance in small-image pixels, from the pixel's position to the neighbour's
    centre); other pixels take their small-image pixel's label (`enlarge_labels`). Every
    label of ``labels`` survives (a label the choice would erase keeps its pixels of the
    plain enlargement).
    """
    labels, image, small_image = np.asarray(labels), np.asarray(image), np.asarray(small_image)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer) or labels.size == 0 \
            or labels.min() < 0:
        raise ValueError(f"snap_labels: expected (h, w) integer labels >= 0, got dtype "
                         f"{labels.dtype} and shape {labels.shape}")
    h, w = labels.shape
    height, width = image.shape[:2]
    if image.ndim != 3 or small_image.shape != (h, w, image.shape[2]) or height < h or \
            width < w:
        raise ValueError(f"snap_labels: expected the (H, W, c) image and its (h, w, c) "
                         f"shrunk copy with the labels' shape (h, w) = {labels.shape}, H >= h, "
                         f"W >= w; got {image.shape} and {small_image.shape}")
    base = enlarge_labels(labels, (height, width))
    if (h, w) == (height, width):
        return base
    padded = np.pad(labels, 1, mode="edge")
    border = np.zeros((h, w), dtype=bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            border |= padded[dy:dy + h, dx:dx + w] != labels
    small = np.asarray(small_image, dtype=np.float32)
    out = base.copy()
    rows_small = np.arange(height, dtype=np.int64) * h // height
    cols_small = np.arange(width, dtype=np.int64) * w // width
    # Each pixel's position in small-image pixel units (pixel centres at integers).
    y_pos = (np.arange(height) + 0.5) * h / height - 0.5
    x_pos = (np.arange(width) + 0.5) * w / width - 0.5
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    for top in range(0, height, rows_per_chunk):
        rows = slice(top, min(top + rows_per_chunk, height))
        r = rows_small[rows]
        hit = border[r[:, None], cols_small[None, :]]
        ii, jj = np.nonzero(hit)
        if not len(ii):
            continue
        ii_full = ii + top
        colour = np.asarray(image[ii_full, jj], dtype=np.float32)
        ry, cx = r[ii], cols_small[jj]
        best_cost = np.full(len(ii), np.inf, dtype=np.float32)
        best_label = base[ii_full, jj].copy()
        for dy, dx in offsets:
            ny = np.clip(ry + dy, 0, h - 1)
            nx = np.clip(cx + dx, 0, w - 1)
            difference = colour - small[ny, nx]
            cost = np.einsum("ij,ij->i", difference, difference) / colour_sigma ** 2 + \
                ((y_pos[ii_full] - ny) ** 2 + (x_pos[jj] - nx) ** 2).astype(np.float32)
            better = cost < best_cost
            best_cost[better] = cost[better]
            best_label[better] = labels[ny[better], nx[better]]
        out[ii_full, jj] = best_label
    n = int(labels.max()) + 1
    present = np.bincount(out.ravel(), minlength=n) > 0
    if not present.all():
        lost = np.isin(base, np.flatnonzero(~present))
        out[lost] = base[lost]
        if not (np.bincount(out.ravel(), minlength=n) > 0).all():
            return base
    return out
