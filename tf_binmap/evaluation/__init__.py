"""Datasets (BSDS500, MSRC v2) and region metrics (Segmentation-IoU, covering, PRI, VOI)."""

from tf_binmap.evaluation.datasets import (
    BSDS500,
    MSRC,
    MSRC_CLASS_COLOURS,
    DatasetError,
    Sample,
    default_data_root,
)
from tf_binmap.evaluation.metrics import (
    SegmentationScores,
    best_ious,
    contingency,
    covering,
    probabilistic_rand_index,
    rand_index,
    segmentation_iou,
    variation_of_information,
)

__all__ = [
    "BSDS500",
    "MSRC",
    "MSRC_CLASS_COLOURS",
    "DatasetError",
    "Sample",
    "SegmentationScores",
    "best_ious",
    "contingency",
    "covering",
    "default_data_root",
    "probabilistic_rand_index",
    "rand_index",
    "segmentation_iou",
    "variation_of_information",
]
