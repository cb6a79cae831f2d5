"""The hierarchy, image to merge tree: fine EGS leaves, their region statistics (colour,
soft CNN codes, border strengths), then greedy merging in the learned order (or by the
weighted distance), recorded once as a `MergeTree` that `cut` turns into any number of
segments.

The parts, one per module: `regions` (statistics), `agglomerate` (the merge loop),
`tree` (the tree and its cuts), `pair_features` and `scorer` (the learned order).
`HIERARCHY_DEFAULTS` are the settings of the default segmentation (docs/ABLATIONS.md).
"""

from __future__ import annotations

import numpy as np

from tf_binmap.segmentation.agglomerate import merge_hierarchy
from tf_binmap.segmentation.regions import lab_image, leaf_features, region_features
from tf_binmap.segmentation.scorer import MergeScorer
from tf_binmap.segmentation.superpixels import felzenszwalb_labels
from tf_binmap.segmentation.tree import MergeTree

__all__ = ["DISTANCE_DEFAULTS", "HIERARCHY_DEFAULTS", "hierarchical_segmentation",
           "hierarchy_leaves", "hierarchy_settings"]


#: The default (docs/ABLATIONS.md): fine EGS leaves merged in the learned order
#: (`tf_binmap.segmentation.scorer`, the scorer fitted on BSDS500 train, its size exponent
#: schedule chosen on BSDS500 val). The weights and the small-region rule are those of the
#: weighted distance (`DISTANCE_DEFAULTS`), unused while a scorer is set.
HIERARCHY_DEFAULTS = {"egs_scale": 50, "egs_sigma": 0.8, "egs_min_size": 20,
                      "scorer": "bsds500_train", "size_exponent": None,
                      "w_colour": 1.0, "w_code": 4.0, "w_boundary": 3.0,
                      "small_region_factor": 0.0, "small_region_power": 2.0}


#: The hand-weighted distance tuned on BSDS500 val (the default before the learned order):
#: colour + 4 x soft CNN code (conv5 at x1, 8 bits) + 3 x border strength, regions below
#: total area / (0.4 k^2) first while k regions are left.
DISTANCE_DEFAULTS = {**HIERARCHY_DEFAULTS, "scorer": None, "small_region_factor": 0.4}


def hierarchy_settings(**overrides) -> dict:
    """The complete settings of the hierarchy: `HIERARCHY_DEFAULTS` (the learned order) or,
    with ``scorer=None``, `DISTANCE_DEFAULTS` (the weighted distance with its small-region
    rule), updated with ``overrides``."""
    base = DISTANCE_DEFAULTS if overrides.get("scorer", HIERARCHY_DEFAULTS["scorer"]) is None \
        else HIERARCHY_DEFAULTS
    return {**base, **overrides}


def hierarchy_leaves(image: np.ndarray, pixel_codes=None, *, leaves=None,
                     egs_scale: float = 50, egs_sigma: float = 0.8, egs_min_size: int = 20,
                     edge_sigma: float = 1.0, strengths: bool = True):
    """Image -> (leaf superpixels, their `RegionFeatures`): the first half of
    `hierarchical_segmentation` (CIELAB colour, the codes, border strengths of the Lab
    image smoothed by ``edge_sigma``)."""
    if leaves is None:
        leaves = felzenszwalb_labels(image, scale=egs_scale, sigma=egs_sigma, min_size=egs_min_size)
    elif np.shape(leaves) != np.shape(image)[:2]:
        raise ValueError(f"leaves must have the image's shape {np.shape(image)[:2]}, got "
                         f"{np.shape(leaves)}")
    lab = lab_image(image)
    if not strengths:
        return leaves, region_features(leaves, colour=lab, code=pixel_codes)
    code = np.zeros(lab.shape[:2] + (0,), np.float32) if pixel_codes is None else pixel_codes
    if np.shape(code)[:2] != np.shape(leaves):
        raise ValueError(f"code must have shape {np.shape(leaves)} + (c,), got {np.shape(code)}")
    edge_values = lab_image(image, edge_sigma) if edge_sigma else lab
    # Compiled; equal to region_features(..., strengths=pixel_pair_strengths(edge_values)).
    return leaves, leaf_features(leaves, lab, np.asarray(code), edge_values)


def hierarchical_segmentation(image: np.ndarray, pixel_codes=None, *, leaves=None,
                              egs_scale: float = 50, egs_sigma: float = 0.8,
                              egs_min_size: int = 20, edge_sigma: float = 1.0,
                              scorer=None, size_exponent: float | None = None,
                              w_colour: float = 1.0, w_code: float = 0.0,
                              w_boundary: float = 0.0, size_power: float = 0.0,
                              colour_spread: float = 0.0, small_region_factor: float = 0.0,
                              small_region_power: float = 1.0) -> MergeTree:
    """Image -> merge tree, the whole pipeline with fine EGS superpixels as the leaves.

    Args:
        image: uint8 RGB (H, W, 3).
        pixel_codes: None or (H, W, c) real-valued per-pixel codes (e.g. the ITQ
            projections of the binary map, placed on the image pixels).
        leaves: ready (H, W) leaf superpixels (dense labels); by default
            ``felzenszwalb_labels(image, egs_scale, egs_sigma, egs_min_size)``.
        egs_scale, egs_sigma, egs_min_size: the leaf superpixels when ``leaves`` is None.
        edge_sigma: Gaussian smoothing (pixels) of the Lab image for the border strength.
        scorer: None (the weighted distance) or the learned merge order: a `MergeScorer`,
            the name of a shipped one (``"bsds500_train"``) or the path of a file from
            `tf-binmap fit-merge` (needs ``pixel_codes`` of the scorer's length).
        size_exponent: with a scorer, overrides its exponent of the smaller area (a
            number or a schedule, `parse_size_exponent`).
        w_colour, w_code, w_boundary, size_power, colour_spread, small_region_factor,
        small_region_power: see `merge_hierarchy`.
    """
    if scorer is None and size_exponent is not None:
        raise ValueError("size_exponent is a setting of the learned merge order (scorer); "
                         "the weighted distance does not use it")
    if scorer is not None:
        scorer = MergeScorer.resolve(scorer)
        if size_exponent is not None:
            scorer = scorer.with_size_exponent(size_exponent)
        if pixel_codes is None:
            raise ValueError("the learned merge order (scorer) needs the CNN codes "
                             "(pixel_codes); without them use scorer=None, the weighted "
                             "colour and border distance")
    leaves, features = hierarchy_leaves(image, pixel_codes, leaves=leaves, egs_scale=egs_scale,
                                        egs_sigma=egs_sigma, egs_min_size=egs_min_size,
                                        edge_sigma=edge_sigma,
                                        strengths=bool(w_boundary) or scorer is not None)
    return merge_hierarchy(leaves, features, w_colour=w_colour, w_code=w_code,
                           w_boundary=w_boundary, size_power=size_power,
                           colour_spread=colour_spread, small_region_factor=small_region_factor,
                           small_region_power=small_region_power, scorer=scorer)
