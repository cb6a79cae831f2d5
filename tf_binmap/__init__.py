"""tf_binmap: CNN-aware binary maps for category-free image segmentation (Keras 3).

The Keras parts are imported on first use, so the NumPy-only stages
(``tf_binmap.segmentation``, ``tf_binmap.evaluation``, ``tf_binmap.hashing.itq``) load
without TensorFlow.
"""

import os as _os

from tf_binmap.lazy_exports import lazy_exports as _lazy_exports

# TensorFlow's C++ start-up chatter (oneDNN, CPU features) drowns our own output; a
# value the user set is kept.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

__getattr__, __dir__, _names = _lazy_exports(__name__, {
    "AlexNetFCN": "tf_binmap.models.alexnet",
    "BinaryMapModel": "tf_binmap.models.binary_map",
    "HashingLayer": "tf_binmap.hashing.layer",
    "ImagePreprocessing": "tf_binmap.models.layers",
    "LocalResponseNormalization": "tf_binmap.models.layers",
    "Segmenter": "tf_binmap.segmentation.segmenter",
    "DEFAULT_PRESET": "tf_binmap.presets",
    "DEFAULT_BINARY_MAP_PRESET": "tf_binmap.presets",
    "DEFAULT_HIERARCHY_PRESET": "tf_binmap.presets",
    "list_presets": "tf_binmap.presets",
    "list_binary_map_presets": "tf_binmap.presets",
    "WeightsError": "tf_binmap.weights.named",
})
__all__ = [*_names, "__version__"]
