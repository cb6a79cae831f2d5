"""Superpixels, code per superpixel and merging (numpy / scikit-image, no Keras)."""

from tf_binmap.segmentation.merge import (
    code_map_to_pixels,
    merge_superpixels,
    region_adjacency,
    superpixel_codes,
    superpixel_mean_projections,
)
from tf_binmap.segmentation.superpixels import (
    BASELINES,
    SUPERPIXEL_METHODS,
    felzenszwalb_labels,
    relabel_dense,
    slic_labels,
    superpixels,
)

__all__ = [
    "BASELINES",
    "SUPERPIXEL_METHODS",
    "code_map_to_pixels",
    "felzenszwalb_labels",
    "merge_superpixels",
    "region_adjacency",
    "relabel_dense",
    "slic_labels",
    "superpixel_codes",
    "superpixel_mean_projections",
    "superpixels",
]
