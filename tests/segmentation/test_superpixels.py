import numpy as np
import pytest
from skimage.segmentation import felzenszwalb, slic

from tf_binmap.segmentation.superpixels import (
    BASELINES,
    felzenszwalb_labels,
    relabel_dense,
    slic_labels,
    superpixels,
)


def _two_tone_image(height=40, width=60):
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, : width // 2] = (200, 30, 30)
    image[:, width // 2 :] = (20, 40, 220)
    return image


def _noisy_image(seed=0, height=48, width=64):
    rng = np.random.default_rng(seed)
    image = _two_tone_image(height, width).astype(np.int16)
    image += rng.integers(-20, 20, size=image.shape, dtype=np.int16)
    return np.clip(image, 0, 255).astype(np.uint8)


def _same_partition(a, b):
    """True when two label images group the pixels identically (up to renaming)."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return pairs.shape[1] == len(np.unique(a)) == len(np.unique(b))


def _assert_dense_int32(labels, shape):
    assert labels.dtype == np.int32
    assert labels.shape == shape
    assert labels.min() == 0
    assert set(np.unique(labels)) == set(range(labels.max() + 1))


def test_relabel_dense_keeps_order():
    labels = np.array([[5, 5, 9], [2, 9, 2]], dtype=np.uint16)
    np.testing.assert_array_equal(relabel_dense(labels), [[1, 1, 2], [0, 2, 0]])
    assert relabel_dense(labels).dtype == np.int32


def test_relabel_dense_rejects_floats():
    with pytest.raises(ValueError, match="integer"):
        relabel_dense(np.zeros((2, 2)))


def test_felzenszwalb_respects_a_strong_edge():
    labels = felzenszwalb_labels(_two_tone_image())
    _assert_dense_int32(labels, (40, 60))
    left, right = set(np.unique(labels[:, :30])), set(np.unique(labels[:, 30:]))
    assert not left & right  # no segment crosses the colour edge


def test_felzenszwalb_matches_scikit_image():
    image = _noisy_image()
    expected = felzenszwalb(image, scale=100, sigma=1.0, min_size=20)
    labels = superpixels(image, method="egs")
    _assert_dense_int32(labels, image.shape[:2])
    assert _same_partition(labels, expected)


def test_slic_matches_scikit_image():
    image = _noisy_image(1)
    expected = slic(image, n_segments=200, compactness=10, start_label=1)
    labels = superpixels(image, method="slic")
    _assert_dense_int32(labels, image.shape[:2])
    assert _same_partition(labels, expected)
    np.testing.assert_array_equal(labels, slic_labels(image))


def test_parameters_are_passed_on():
    image = _noisy_image(2)
    few = superpixels(image, "slic", n_segments=10)
    many = superpixels(image, "slic", n_segments=100)
    assert few.max() < many.max()
    coarse = superpixels(image, "egs", scale=5000, min_size=50)
    fine = superpixels(image, "egs", scale=10, min_size=5)
    assert coarse.max() < fine.max()


def test_baselines_are_the_papers_settings():
    assert BASELINES["egs"] == {"scale": 100, "sigma": 1.0, "min_size": 20}
    assert BASELINES["slic"] == {"n_segments": 200, "compactness": 10}
    image = _noisy_image(3)
    for method, params in BASELINES.items():
        np.testing.assert_array_equal(superpixels(image, method, **params), superpixels(image, method))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((8, 8), np.uint8),
        np.zeros((8, 8, 4), np.uint8),
        np.zeros((8, 8, 3), np.float32),
        np.zeros((0, 8, 3), np.uint8),
    ],
)
def test_wrong_image_is_a_clear_error(bad):
    with pytest.raises(ValueError, match=r"expected a uint8 RGB image of shape \(H, W, 3\), got"):
        superpixels(bad)


def test_unknown_method_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown superpixel method 'watershed'.*egs.*slic"):
        superpixels(_two_tone_image(), method="watershed")
