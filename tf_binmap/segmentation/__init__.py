"""Segmentation, NumPy / scikit-image / OpenCV only (no Keras): superpixels, the paper's
equal-code merging, the hierarchy and its learned merge order, and `Segmenter`, which
composes them with a binary-map model.

One concept per module: `superpixels` (EGS, SLIC), `merge` (code per superpixel,
equal-code merging), `placement` (model cells -> pixels), `regions` (region statistics),
`agglomerate` (the greedy merge loop), `tree` (merge trees and their cuts),
`pair_features` and `scorer` (the learned merge order), `hierarchy` (image -> tree),
`working_size` (large photos), `segmenter` (`Segmenter`).
"""

from tf_binmap.segmentation.hierarchy import (
    DISTANCE_DEFAULTS,
    HIERARCHY_DEFAULTS,
    hierarchical_segmentation,
    hierarchy_leaves,
)
from tf_binmap.segmentation.merge import (
    code_map_to_pixels,
    merge_superpixels,
    region_adjacency,
    superpixel_codes,
    superpixel_mean_projections,
)
from tf_binmap.segmentation.scorer import MergeScorer
from tf_binmap.segmentation.superpixels import (
    BASELINES,
    SUPERPIXEL_METHODS,
    felzenszwalb_labels,
    relabel_dense,
    slic_labels,
    superpixels,
)
from tf_binmap.segmentation.tree import MergeTree, cut, cut_at_level

__all__ = [
    "BASELINES", "DISTANCE_DEFAULTS", "HIERARCHY_DEFAULTS", "SUPERPIXEL_METHODS", "MergeScorer",
    "MergeTree", "code_map_to_pixels", "cut", "cut_at_level", "felzenszwalb_labels",
    "hierarchical_segmentation", "hierarchy_leaves", "merge_superpixels", "region_adjacency",
    "relabel_dense", "slic_labels", "superpixel_codes", "superpixel_mean_projections",
    "superpixels",
]
