"""Keras 3 models: the AlexNetFCN backbone (`alexnet`), its small layers (`layers`), the
image -> code map model (`binary_map`) and the architecture facts they are built from
(`architecture`, no Keras). Names load on first use."""

from tf_binmap.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "AlexNetFCN": "tf_binmap.models.alexnet",
    "BinaryMapModel": "tf_binmap.models.binary_map",
    "ImagePreprocessing": "tf_binmap.models.layers",
    "LocalResponseNormalization": "tf_binmap.models.layers",
    **{name: "tf_binmap.models.architecture" for name in (
        "AlexNetVariant", "FEATURE_LAYERS", "VARIANTS", "WEIGHT_LAYERS", "feature_geometry",
        "feature_map_size", "feature_stride", "min_input_size")},
})
