"""Keras 3 models: the AlexNetFCN backbone and its small layers."""

from tf_binmap.models.alexnet import (
    FEATURE_LAYERS, VARIANTS, AlexNetFCN, AlexNetVariant, feature_map_size,
    feature_stride, min_input_size,
)
from tf_binmap.models.layers import ImagePreprocessing, LocalResponseNormalization

__all__ = [
    "AlexNetFCN", "AlexNetVariant", "FEATURE_LAYERS", "ImagePreprocessing",
    "LocalResponseNormalization", "VARIANTS", "feature_map_size", "feature_stride",
    "min_input_size",
]
