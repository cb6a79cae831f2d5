"""Datasets (BSDS500, MSRC v2) and region metrics (Segmentation-IoU, covering, PRI, VOI in
nats, `metrics`), and the BSDS500 region benchmark of hierarchies (covering, PRI, VOI in
bits at ODS and OIS, `region_benchmark`)."""

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
from tf_binmap.evaluation.region_benchmark import (
    RegionImageScores,
    image_region_scores,
    ods_ois,
)

__all__ = [
    "BSDS500",
    "MSRC",
    "MSRC_CLASS_COLOURS",
    "DatasetError",
    "Sample",
    "RegionImageScores",
    "SegmentationScores",
    "best_ious",
    "contingency",
    "covering",
    "default_data_root",
    "image_region_scores",
    "ods_ois",
    "probabilistic_rand_index",
    "rand_index",
    "segmentation_iou",
    "variation_of_information",
]
