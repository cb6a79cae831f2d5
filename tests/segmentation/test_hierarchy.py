"""Behaviour of the hierarchical merging (tf_binmap.segmentation.hierarchy)."""

import dataclasses

import numpy as np
import pytest

from tf_binmap.segmentation.agglomerate import merge_hierarchy
from tf_binmap.segmentation.hierarchy import hierarchical_segmentation
from tf_binmap.segmentation.regions import (
    border_statistics,
    lab_image,
    pixel_pair_strengths,
    region_features,
)
from tf_binmap.segmentation.tree import MergeTree, cut, cut_at_level


def _two_halves(height=24, width=32):
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (200, 30, 30)
    image[:, width // 2:] = (20, 60, 220)
    return image


def _grid_labels(height=24, width=32, cell=8):
    """Superpixels: a grid of cell x cell squares, dense labels in raster order."""
    rows = np.arange(height)[:, None] // cell
    cols = np.arange(width)[None, :] // cell
    return (rows * ((width + cell - 1) // cell) + cols).astype(np.int32)


def _tree(image, labels, **weights):
    lab = lab_image(image)
    features = region_features(labels, colour=lab, strengths=pixel_pair_strengths(lab))
    return merge_hierarchy(labels, features, **weights)


def test_two_flat_halves_end_as_the_two_halves():
    image = _two_halves()
    labels = _grid_labels()
    for weights in (dict(w_colour=1.0), dict(w_colour=0.0, w_boundary=1.0),
                    dict(w_colour=1.0, w_boundary=1.0, size_power=0.5)):
        segments = cut(_tree(image, labels, **weights), 2)
        assert segments.dtype == np.int32
        assert np.array_equal(np.unique(segments), [0, 1])
        assert np.all(segments[:, :16] == segments[0, 0])
        assert np.all(segments[:, 16:] == segments[0, -1])
        assert segments[0, 0] != segments[0, -1]


def test_full_pipeline_on_two_halves():
    tree = hierarchical_segmentation(_two_halves(48, 64), egs_scale=10, w_boundary=1.0)
    segments = cut(tree, 2)
    assert np.all(segments[:, :32] == segments[0, 0]) and np.all(segments[:, 32:] == segments[0, -1])
    assert segments[0, 0] != segments[0, -1]


def test_cut_gives_exactly_n_dense_segments_for_every_n():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    labels = _grid_labels()
    n_leaves = int(labels.max()) + 1
    code = rng.normal(size=(24, 32, 4))
    lab = lab_image(image)
    features = region_features(labels, colour=lab, code=code, strengths=pixel_pair_strengths(lab))
    tree = merge_hierarchy(labels, features, w_colour=1.0, w_code=2.0, w_boundary=1.0, size_power=0.3)
    assert isinstance(tree, MergeTree)
    assert tree.n_leaves == n_leaves and tree.min_segments == 1
    assert len(tree.merges) == n_leaves - 1
    assert np.all(np.diff(tree.levels) >= 0)
    previous = None
    for n in range(1, n_leaves + 1):
        segments = cut(tree, n)
        assert segments.dtype == np.int32 and segments.shape == labels.shape
        assert np.array_equal(np.unique(segments), np.arange(n))
        # Each segment is a union of whole superpixels.
        for leaf in range(n_leaves):
            assert np.unique(segments[labels == leaf]).size == 1
        if previous is not None:  # nested: a finer cut refines the coarser one
            for region in range(n):
                assert np.unique(previous[segments == region]).size == 1
        previous = segments
    assert np.array_equal(cut(tree, n_leaves), labels)
    assert np.array_equal(cut(tree, 0), cut(tree, 1))
    assert np.array_equal(cut(tree, 10 ** 6), labels)


def test_cut_at_level_matches_cut_by_count():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    labels = _grid_labels()
    tree = _tree(image, labels, w_colour=1.0)
    for k in range(len(tree.merges)):
        n = tree.n_leaves - k - 1
        level = tree.levels[k]
        if k + 1 < len(tree.levels) and tree.levels[k + 1] == level:
            continue  # ties: the level cut also takes the tied merges
        assert np.array_equal(cut_at_level(tree, level), cut(tree, n))
    assert np.array_equal(cut_at_level(tree, -np.inf), labels)


def test_merge_order_is_deterministic():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 4, (24, 32, 3), dtype=np.uint8)  # many equal distances (ties)
    labels = _grid_labels()
    first = _tree(image, labels, w_colour=1.0, w_boundary=0.5)
    second = _tree(image.copy(), labels.copy(), w_colour=1.0, w_boundary=0.5)
    assert np.array_equal(first.merges, second.merges)
    assert np.array_equal(first.distances, second.distances)


def test_merged_features_are_area_weighted_means():
    # Three vertical strips; values 0, 0, 30 in L: the first two merge first, and the
    # distance of the last merge is that of the area-weighted means (0 vs 30 -> 30).
    labels = np.repeat(np.array([[0] * 4 + [1] * 8 + [2] * 4]), 4, axis=0).astype(np.int32)
    colour = np.zeros(labels.shape + (3,))
    colour[labels == 2, 0] = 30.0
    features = region_features(labels, colour=colour)
    tree = merge_hierarchy(labels, features, w_colour=1.0)
    assert tree.merges[0].tolist() == [0, 1]
    assert tree.distances.tolist() == [0.0, 30.0]


def test_code_term_weighted_by_region_size():
    # Strips of 4, 8 and 4 columns (mean area 21.33 px); codes 0, 0, 2: the last merge
    # joins {0, 1} (48 px) with 2 (16 px), code distance 2, size ratio 16 / 21.33.
    labels = np.repeat(np.array([[0] * 4 + [1] * 8 + [2] * 4]), 4, axis=0).astype(np.int32)
    code = np.zeros(labels.shape + (1,))
    code[labels == 2] = 2.0
    features = region_features(labels, code=code)
    plain = merge_hierarchy(labels, features, w_colour=0.0, w_code=3.0)
    assert plain.distances.tolist() == [0.0, 6.0]
    weighted = merge_hierarchy(labels, features, w_colour=0.0, w_code=3.0, code_size_power=0.5)
    assert weighted.distances[1] == pytest.approx(6.0 * (16 / (64 / 3)) ** 0.5)
    # Also through the batch distances of the first pass (one merge between two leaves).
    two = labels[:, :8] // 1
    two[:, 4:] = 1
    code_two = np.zeros(two.shape + (1,))
    code_two[two == 1] = 1.0
    tree = merge_hierarchy(two, region_features(two, code=code_two), w_colour=0.0, w_code=1.0,
                           code_size_power=1.0)
    assert tree.distances.tolist() == [1.0]  # equal areas: ratio 1


def test_colour_spread_divides_by_the_regions_colour_variance():
    # Two 4x4 leaves: flat L=0 and a checkerboard of L=0 / L=20 (mean 10, variance
    # 100 / 3 over the three channels). Distance 10 / sqrt(1 + (0 + 100/3) / s^2).
    labels = np.zeros((4, 8), np.int32)
    labels[:, 4:] = 1
    colour = np.zeros((4, 8, 3))
    colour[:, 4:, 0] = np.indices((4, 4)).sum(axis=0) % 2 * 20.0
    features = region_features(labels, colour=colour)
    assert features.colour_squares[1].tolist() == [200.0, 0.0, 0.0]
    assert merge_hierarchy(labels, features).distances.tolist() == [10.0]
    spread = merge_hierarchy(labels, features, colour_spread=5.0).distances[0]
    assert spread == pytest.approx(10.0 / np.sqrt(1.0 + (100.0 / 3.0) / 25.0))
    with pytest.raises(ValueError, match="colour_squares"):
        merge_hierarchy(labels, dataclasses.replace(features, colour_squares=None),
                        colour_spread=5.0)


def test_small_region_factor_absorbs_specks_before_they_use_up_the_count():
    # Two close grey halves (8x8 leaves) with two white one-pixel specks as leaves of
    # their own: by distance alone the specks are the last to merge, so the cut at 3
    # segments is {speck, speck, rest}; with the rule they join their cell first and
    # the cut at 2 is the two halves.
    image = np.zeros((24, 32, 3), np.uint8)
    image[:, :16] = (120, 120, 120)
    image[:, 16:] = (100, 100, 135)
    labels = _grid_labels()
    for index, (y, x) in enumerate([(3, 3), (13, 20)]):
        image[y, x] = 255
        labels[y, x] = 12 + index
    plain = _tree(image, labels, w_colour=1.0, w_boundary=1.0)
    assert sorted(np.bincount(cut(plain, 3).ravel()).tolist()) == [1, 1, 766]
    off = _tree(image, labels, w_colour=1.0, w_boundary=1.0, small_region_factor=0.0)
    assert np.array_equal(off.merges, plain.merges) and np.array_equal(off.distances, plain.distances)
    ruled = _tree(image, labels, w_colour=1.0, w_boundary=1.0, small_region_factor=1.0)
    assert ruled.merges.shape == plain.merges.shape  # still one merge per leaf but one
    segments = cut(ruled, 2)
    assert np.all(segments[:, :16] == segments[0, 0]) and np.all(segments[:, 16:] == segments[0, -1])
    assert segments[0, 0] != segments[0, -1]
    # The specks are the first two merges (smallest first), each into its own cell.
    first = ruled.merges[:2].tolist()
    assert sorted(first) == [[0, 12], [6, 13]]
    with pytest.raises(ValueError, match="small_region_factor"):
        _tree(image, labels, small_region_factor=-1.0)


def test_border_statistics_counts_pixel_pairs():
    labels = np.array([[0, 0, 1], [0, 2, 1]], np.int32)
    edges, lengths, sums = border_statistics(labels)
    assert edges.tolist() == [[0, 1], [0, 2], [1, 2]]
    assert lengths.tolist() == [1.0, 2.0, 1.0]
    assert sums.tolist() == [0.0, 0.0, 0.0]


def test_bad_inputs_are_refused():
    labels = _grid_labels()
    with pytest.raises(ValueError):
        region_features(labels.astype(float))
    with pytest.raises(ValueError):
        region_features(labels, colour=np.zeros((3, 3, 3)))
    features = region_features(labels[:8, :8])
    with pytest.raises(ValueError):
        merge_hierarchy(labels, features)


@pytest.mark.network
def test_segmenter_default_is_the_hierarchy_with_the_requested_count(weights_cache, photo):
    from tf_binmap.segmentation.segmenter import Segmenter

    segmenter = Segmenter.from_preset(n_segments=40)
    assert segmenter.merge_mode == "hierarchy" and segmenter.model.name == "binmap_conv5_x1"
    assert segmenter.model.upscale == 1.0
    paper = Segmenter.paper()
    assert paper.merge_mode == "codes" and paper.model.name == "binmap_conv5"
    assert (paper.superpixel_method, paper.threshold) == ("egs", 0)
    image = photo[:241, :321]
    result = segmenter.segment(image, return_intermediates=True)
    assert result.labels.shape == image.shape[:2] and result.labels.dtype == np.int32
    assert result.labels.max() + 1 == 40 and len(np.unique(result.labels)) == 40
    assert result.superpixels.max() + 1 > 40  # cut from finer EGS leaves
    assert result.pixel_codes.shape == image.shape[:2]
    with pytest.raises(ValueError, match="merge must be 'codes' or 'hierarchy'"):
        Segmenter(segmenter.model, merge="tree")
    with pytest.raises(ValueError, match="superpixel_method, threshold: setting.*merge='codes'"):
        Segmenter(segmenter.model, superpixel_method="slic", threshold=1)
    with pytest.raises(ValueError, match="needs the real-valued projections.*merge='codes'"):
        Segmenter(type("Runner", (), {"bits": 8, "upscale": 2.0, "geometry": (16, 15),
                                      "encode": None})())
