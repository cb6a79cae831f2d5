"""Training pairs for the learned merge order: the adjacent region pairs of a merge
tree's cuts, each with its features and a soft label (the fraction of the image's
annotators whose majority segments of the two regions differ), and the image sizes the
pairs are collected at.

Several pair features (the region count, border lengths, leaves, textures) change with
the image size, and a scorer fitted at one size lost its margin over EGS on smaller
images (docs/ABLATIONS.md, "Image size"), so the shipped scorer sees each training image
at its own size, 2/3 and 1/2 of it (``DEFAULT_TRAIN_SCALES``, `rescale_sample`).
"""

from __future__ import annotations

import cv2
import numpy as np

from tf_binmap.evaluation.metrics import contingency
from tf_binmap.segmentation.pair_features import PAIR_FEATURES, pair_features
from tf_binmap.segmentation.tree import leaf_assignment

__all__ = ["DEFAULT_TRAIN_SCALES", "SNAPSHOT_COUNTS", "pairs_from_tables", "parse_train_scales",
           "region_pairs", "rescale_sample", "training_pairs"]


#: Region counts at which a training tree is cut to collect pairs (besides its leaves).
SNAPSHOT_COUNTS = (700, 500, 350, 250, 180, 130, 90, 65, 45, 30, 20, 14, 10)


#: The sizes (factors of each image's own size) the shipped scorer's training images are
#: used at: the full size, two thirds and half of it (docs/ABLATIONS.md, "Image size").
DEFAULT_TRAIN_SCALES = (1.0, 2.0 / 3.0, 0.5)


def parse_train_scales(value) -> tuple:
    """Training sizes, checked: factors > 0 (at most 4) of each image's own size, no
    repeats; a sequence of numbers or text ``"1,0.667"`` (the order is the fitting order)."""
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
        try:
            value = [float(part) for part in parts]
        except ValueError:
            raise ValueError(f"bad training scales {value!r}: expected factors of the image "
                             "size separated by commas, e.g. '1,0.667'") from None
    try:
        scales = tuple(float(v) for v in np.atleast_1d(value))
    except (TypeError, ValueError):
        raise ValueError(f"bad training scales {value!r}: expected factors of the image size, "
                         "e.g. (1.0, 0.667)") from None
    if not scales:
        raise ValueError("no training scales given: expected at least one factor, e.g. 1")
    for scale in scales:
        if not (0.0 < scale <= 4.0):  # also refuses nan
            raise ValueError(f"bad training scale {scale}: a factor of the image size must be "
                             "above 0 and at most 4")
    if len(set(scales)) != len(scales):
        raise ValueError(f"training scales {scales} repeat a factor; give each size once")
    return scales


def rescale_sample(image, ground_truths, factor):
    """An image and its annotations at ``factor`` times their size (rounded to whole
    pixels): the image by area averaging (or linear interpolation when enlarging), the
    label maps by nearest neighbour, so void (< 0) and segment ids survive. Factor 1 returns
    the inputs unchanged."""
    factor = float(factor)
    if factor == 1.0:
        return image, list(ground_truths)
    height, width = np.shape(image)[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return (cv2.resize(np.asarray(image), size, interpolation=interpolation),
            [cv2.resize(np.asarray(g, dtype=np.int32), size, interpolation=cv2.INTER_NEAREST)
             for g in ground_truths])


def training_pairs(tree, features, ground_truths, counts=SNAPSHOT_COUNTS, include_leaves=True):
    """Features and soft labels of the adjacent pairs of a tree's cuts.

    Args:
        tree: a `MergeTree` of the image.
        features: the leaves' `RegionFeatures` (with colour, ``colour_squares``, code).
        ground_truths: the image's annotations, (H, W) integer maps (< 0 = void).
        counts: the cuts (region counts) besides the leaves themselves.
        include_leaves: also the pairs of the leaves (the tree's finest level).

    Returns:
        x (m, n_features), y (m,) the fraction of annotators whose majority segments of
        the two regions differ.
    """
    tables = [contingency(gt, tree.superpixels) for gt in ground_truths]
    return pairs_from_tables(tree, features, tables, counts, include_leaves)


def region_pairs(tree, features, leaf_vectors, counts=SNAPSHOT_COUNTS, include_leaves=True):
    """The adjacent region pairs of a tree's cuts (at ``counts`` and, with
    ``include_leaves``, at its leaves), from the finest cut down.

    Yields, per cut: ``(k, assignment, area, vectors, a, b, length, strength)``: the
    region count, each leaf's region, the regions' pixel counts and area-weighted means
    of the rows of ``leaf_vectors`` (n_leaves, d), the two region ids of each adjacent
    pair (a < b, sorted), and the pair's border length and summed border strength.
    """
    weighted = leaf_vectors * features.area[:, None]
    levels = sorted({tree.n_leaves, *counts} if include_leaves else set(counts), reverse=True)
    for k in levels:
        if k > tree.n_leaves or k < tree.min_segments:
            continue
        assignment = leaf_assignment(tree, tree.n_leaves - k)
        area = np.bincount(assignment, weights=features.area, minlength=k)
        vectors = np.stack([np.bincount(assignment, weights=weighted[:, j], minlength=k)
                            for j in range(weighted.shape[1])], axis=1) / area[:, None]
        first, second = assignment[features.edges[:, 0]], assignment[features.edges[:, 1]]
        keep = first != second
        low, high = np.minimum(first, second)[keep], np.maximum(first, second)[keep]
        keys, inverse = np.unique(low * k + high, return_inverse=True)
        length = np.bincount(inverse, weights=features.border_length[keep], minlength=len(keys))
        strength = np.bincount(inverse, weights=features.border_strength[keep], minlength=len(keys))
        yield k, assignment, area, vectors, keys // k, keys % k, length, strength


def pairs_from_tables(tree, features, tables, counts=SNAPSHOT_COUNTS, include_leaves=True):
    """`training_pairs` from the (GT segments, leaves) contingency tables of the
    annotations (`tf_binmap.evaluation.metrics.contingency` of each with the leaves):
    what a multi-round fit keeps instead of the full-size annotations."""
    if features.colour.shape[1] != 3 or features.colour_squares is None:
        raise ValueError("training pairs need colour means and squares (region_features "
                         "with a CIELAB colour image)")
    leaf_vectors = np.concatenate([features.colour, features.code, features.colour_squares], axis=1)
    n_code = features.code.shape[1]
    total = float(features.area.sum())
    xs, ys = [], []
    for k, assignment, area, vectors, a, b, length, strength in region_pairs(
            tree, features, leaf_vectors, counts, include_leaves):
        xs.append(pair_features(vectors[a], vectors[b], area[a], area[b], length, strength,
                                k, total, n_code))
        different = np.zeros(len(a))
        onehot = np.zeros((tree.n_leaves, k))
        onehot[np.arange(tree.n_leaves), assignment] = 1.0
        for table in tables:
            majority = np.argmax(table @ onehot, axis=0)  # (GT segments, regions) -> per region
            different += majority[a] != majority[b]
        ys.append(different / max(len(tables), 1))
    if not xs:  # a tree with fewer regions than every count asked
        return np.zeros((0, len(PAIR_FEATURES))), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys)
