"""The compiled (numba) paths give what the reference paths give: the same EGS labels as
scikit-image, the same leaf features as region_features, the same merge trees as the
Python loop, and the same labels end to end as the pre-compiled pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from skimage.segmentation import felzenszwalb

from tf_binmap.segmentation.agglomerate import merge_hierarchy
from tf_binmap.segmentation.felzenszwalb import felzenszwalb_numba
from tf_binmap.segmentation.hierarchy import hierarchy_leaves
from tf_binmap.segmentation.regions import (
    lab_image, leaf_features, pixel_pair_strengths, region_features,
)
from tf_binmap.segmentation.scorer import MergeScorer
from tf_binmap.segmentation.superpixels import felzenszwalb_labels, relabel_dense
from tf_binmap.segmentation.tree import cut


def _images():
    rng = np.random.default_rng(0)
    return {
        "astronaut": skimage.data.astronaut()[::2, ::2],
        "coffee": skimage.data.coffee()[::2, ::2],
        "noise": rng.integers(0, 256, (37, 53, 3), dtype=np.uint8),
        "two levels": rng.integers(0, 2, (30, 40, 3), dtype=np.uint8) * 255,  # many ties
        "flat": np.full((20, 30, 3), 128, np.uint8),
        "one row": rng.integers(0, 256, (1, 60, 3), dtype=np.uint8),
        "one column": rng.integers(0, 256, (45, 1, 3), dtype=np.uint8),
    }


@pytest.mark.parametrize("params", [(100, 1.0, 20), (50, 0.8, 20), (3, 0.5, 5), (800, 0, 50)])
def test_compiled_egs_gives_scikit_images_labels(params):
    for name, image in _images().items():
        expected = relabel_dense(felzenszwalb(image, *params, channel_axis=-1))
        actual = felzenszwalb_numba(image, *params)
        assert actual.dtype == np.int32, name
        np.testing.assert_array_equal(actual, expected, err_msg=f"{name} {params}")
    image = _images()["coffee"]
    np.testing.assert_array_equal(felzenszwalb_labels(image, engine="skimage"),
                                  felzenszwalb_labels(image))
    with pytest.raises(ValueError, match="engine"):
        felzenszwalb_labels(image, engine="opencv")


def test_leaf_features_equal_region_features_bit_for_bit():
    rng = np.random.default_rng(1)
    for name, image in _images().items():
        if min(image.shape[:2]) < 2:
            continue
        leaves = felzenszwalb_labels(image, 50, 0.8, 20)
        lab, smooth = lab_image(image), lab_image(image, 1.0)
        for code in (rng.normal(size=image.shape[:2] + (8,)).astype(np.float32),
                     np.zeros(image.shape[:2] + (0,), np.float32)):
            expected = region_features(leaves, colour=lab, code=code,
                                       strengths=pixel_pair_strengths(smooth))
            actual = leaf_features(leaves, lab, code, smooth)
            for field in ("area", "colour", "code", "edges", "border_length",
                          "border_strength", "colour_squares"):
                np.testing.assert_array_equal(getattr(actual, field), getattr(expected, field),
                                              err_msg=f"{name}: {field}")
    with pytest.raises(ValueError, match="code must have shape"):
        leaf_features(leaves, lab, code[:-1], smooth)


def _learned_inputs(image, seed=2):
    """Leaves and features of a photo with codes a real scorer can read (smooth random
    projections: nearby pixels have similar codes)."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(size=(image.shape[0] // 16 + 1, image.shape[1] // 16 + 1, 8))
    codes = np.repeat(np.repeat(coarse, 16, axis=0), 16, axis=1)[:image.shape[0],
                                                                 :image.shape[1]]
    return hierarchy_leaves(image, codes.astype(np.float32))


@pytest.mark.parametrize("name", ["astronaut", "coffee", "noise"])
def test_compiled_merge_loop_gives_the_python_loops_tree(name):
    image = _images()[name]
    leaves, features = _learned_inputs(image)
    scorer = MergeScorer.from_preset()
    for version in (scorer, scorer.with_size_exponent(0.1), scorer.with_size_exponent(0.0)):
        reference = merge_hierarchy(leaves, features, scorer=version, engine="python")
        compiled = merge_hierarchy(leaves, features, scorer=version)
        np.testing.assert_array_equal(compiled.merges, reference.merges)
        np.testing.assert_allclose(compiled.distances, reference.distances, rtol=1e-9,
                                   atol=1e-12)
        np.testing.assert_array_equal(cut(compiled, 20), cut(reference, 20))


def test_merge_loop_engines_and_fallbacks():
    image = _images()["coffee"]
    leaves, features = _learned_inputs(image)
    scorer = MergeScorer.from_preset()
    with pytest.raises(ValueError, match="engine"):
        merge_hierarchy(leaves, features, scorer=scorer, engine="numba")
    # The small-region rule and a scorer of another depth run the Python loop.
    ruled = merge_hierarchy(leaves, features, scorer=scorer, small_region_factor=0.4,
                            small_region_power=2.0)
    assert len(ruled.merges) == features.area.size - 1
    linear = MergeScorer(scorer.mean, scorer.std, [(np.ones((11, 1)), np.zeros(1))],
                         scorer.n_code)
    assert linear.compiled_parameters() is None
    np.testing.assert_array_equal(
        merge_hierarchy(leaves, features, scorer=linear).merges,
        merge_hierarchy(leaves, features, scorer=linear, engine="python").merges)


@pytest.mark.network
def test_the_default_segmenter_gives_the_reference_pipelines_labels(weights_cache):
    """End to end: Segmenter().segment (compiled leaves, features and merge; the network
    in a thread) against the same stages run by the reference code (scikit-image's EGS,
    region_features, the Python merge loop) on the same network output."""
    from tf_binmap.segmentation.placement import projections_on_pixels
    from tf_binmap.segmentation.segmenter import Segmenter

    segmenter = Segmenter.from_preset(n_segments=60)
    for name in ("astronaut", "chelsea"):
        image = getattr(skimage.data, name)()[:300, :400]
        labels = segmenter.segment(image)
        projections = segmenter.network_outputs(image[None])[0]
        codes = projections_on_pixels(segmenter.model, projections, image.shape)[0]
        leaves = felzenszwalb_labels(image, 50, 0.8, 20, engine="skimage")
        lab = lab_image(image)
        features = region_features(leaves, colour=lab, code=codes,
                                   strengths=pixel_pair_strengths(lab_image(image, 1.0)))
        tree = merge_hierarchy(leaves, features, scorer=segmenter.merge_scorer,
                               engine="python")
        np.testing.assert_array_equal(labels, cut(tree, 60), err_msg=name)
