"""Low-level superpixels (pipeline step 3): Felzenszwalb-Huttenlocher ("EGS") and SLIC.

Both check the input and return the project's label image: an int32 (H, W) array with
dense labels 0..n-1. EGS runs compiled (`tf_binmap.segmentation.felzenszwalb`, exactly
scikit-image's labels, faster); SLIC is scikit-image's.
"""

from __future__ import annotations

import numpy as np
from skimage.segmentation import felzenszwalb, slic

from tf_binmap.segmentation.felzenszwalb import felzenszwalb_numba

__all__ = [
    "BASELINES",
    "SUPERPIXEL_METHODS",
    "felzenszwalb_labels",
    "relabel_dense",
    "slic_labels",
    "superpixels",
]

#: The paper's baselines with the settings of METHOD.md's reference measurements:
#: ``skimage.segmentation.felzenszwalb(scale=100, sigma=1.0, min_size=20)`` and
#: ``skimage.segmentation.slic(n_segments=200, compactness=10, start_label=1)``.
BASELINES: dict[str, dict[str, float]] = {
    "egs": {"scale": 100, "sigma": 1.0, "min_size": 20},
    "slic": {"n_segments": 200, "compactness": 10},
}


def relabel_dense(labels: np.ndarray) -> np.ndarray:
    """Renumber any integer label image to dense int32 labels 0..n-1, keeping order.

    The smallest input label becomes 0, the next one 1, and so on.
    """
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"expected an integer label image, got dtype {labels.dtype}")
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int32, copy=False)


def _check_rgb_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(
            "expected a uint8 RGB image of shape (H, W, 3), got "
            f"dtype {image.dtype} and shape {image.shape} (use tf_binmap.io.read_image_rgb "
            "to read and convert files)"
        )
    return image


def felzenszwalb_labels(
    image: np.ndarray, scale: float = 100, sigma: float = 1.0, min_size: int = 20,
    engine: str = "numba",
) -> np.ndarray:
    """Felzenszwalb-Huttenlocher graph segmentation ("EGS") of a uint8 RGB image.

    Larger `scale` gives fewer, larger segments; `sigma` is the Gaussian pre-smoothing;
    `min_size` the smallest segment (pixels, enforced by post-merging). ``engine``:
    ``"numba"`` (default; `tf_binmap.segmentation.felzenszwalb`, the same labels 2.5-3x
    faster) or ``"skimage"`` (``skimage.segmentation.felzenszwalb``).
    Returns int32 (H, W) dense labels 0..n-1.
    """
    image = _check_rgb_image(image)
    if engine == "numba":
        return felzenszwalb_numba(image, scale=scale, sigma=sigma, min_size=min_size)
    if engine != "skimage":
        raise ValueError(f"engine must be 'numba' or 'skimage', got {engine!r}")
    labels = felzenszwalb(image, scale=scale, sigma=sigma, min_size=min_size, channel_axis=-1)
    return relabel_dense(labels)


def slic_labels(
    image: np.ndarray, n_segments: int = 200, compactness: float = 10, **params
) -> np.ndarray:
    """SLIC superpixels (k-means in Lab + position) of a uint8 RGB image.

    `n_segments` is the approximate number of superpixels, `compactness` trades colour
    similarity against regular shape; further keyword arguments go to
    ``skimage.segmentation.slic``. Returns int32 (H, W) dense labels 0..n-1.
    """
    image = _check_rgb_image(image)
    params.setdefault("start_label", 1)
    labels = slic(image, n_segments=n_segments, compactness=compactness, channel_axis=-1, **params)
    return relabel_dense(labels)


SUPERPIXEL_METHODS = {"egs": felzenszwalb_labels, "slic": slic_labels}


def superpixels(image: np.ndarray, method: str = "egs", **params) -> np.ndarray:
    """Superpixels of a uint8 RGB (H, W, 3) image as int32 (H, W) dense labels 0..n-1.

    Args:
        image: uint8 RGB image.
        method: "egs" (Felzenszwalb-Huttenlocher; defaults scale=100, sigma=1.0,
            min_size=20) or "slic" (defaults n_segments=200, compactness=10).
        **params: keyword arguments of `felzenszwalb_labels` / `slic_labels`.
    """
    try:
        function = SUPERPIXEL_METHODS[method]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown superpixel method {method!r}; valid methods: {sorted(SUPERPIXEL_METHODS)}"
        ) from None
    return function(image, **params)
