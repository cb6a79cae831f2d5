"""Binary encoding of CNN features: ITQ fitting (NumPy) and packed-code utilities."""

from tf_binmap.hashing.codes import (
    MAX_BITS,
    code_dtype,
    code_map_to_rgb,
    hamming_distance,
    pack_bits,
    unpack_bits,
)
from tf_binmap.hashing.itq import (
    ITQResult,
    encode,
    fit_itq,
    itq_rotation,
    pca_projection,
    project_features,
    quantization_loss,
)
from tf_binmap.hashing.statistics import FeatureStatistics

__all__ = [
    "MAX_BITS", "FeatureStatistics", "ITQResult", "code_dtype", "code_map_to_rgb",
    "encode", "fit_itq", "hamming_distance", "itq_rotation", "pack_bits",
    "pca_projection", "project_features", "quantization_loss", "unpack_bits",
]
