"""tf_binmap: CNN-aware binary maps for category-free image segmentation (Keras 3)."""

import os as _os

# TensorFlow's C++ start-up chatter (oneDNN, CPU features) drowns our own output; a
# value the user set is kept.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tf_binmap.models import AlexNetFCN, ImagePreprocessing, LocalResponseNormalization
from tf_binmap.presets import DEFAULT_PRESET, list_presets
from tf_binmap.weights import WeightsError

__version__ = "0.1.0"

__all__ = [
    "AlexNetFCN", "DEFAULT_PRESET", "ImagePreprocessing", "LocalResponseNormalization",
    "WeightsError", "list_presets", "__version__",
]
