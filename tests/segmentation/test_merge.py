import cv2
import numpy as np
import pytest

from tf_binmap.segmentation.merge import (
    code_map_to_pixels,
    merge_superpixels,
    region_adjacency,
    superpixel_codes,
    superpixel_mean_projections,
)


def _partition_pairs(labels):
    """Set of (i, j) pixel pairs in the same segment; compares partitions up to naming."""
    flat = labels.ravel()
    return {(i, j) for i in range(len(flat)) for j in range(i + 1, len(flat)) if flat[i] == flat[j]}


# --- code_map_to_pixels -------------------------------------------------------------


def test_center_mode_hand_example():
    codes = np.array([[7, 8, 9]])
    # stride 4, offset 1: cell centres at x = 1, 5, 9; ties (x = 3, 7) go to the later cell.
    pixels = code_map_to_pixels(codes, (2, 12), stride=4, offset=1)
    expected_row = [7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9, 9]
    np.testing.assert_array_equal(pixels, [expected_row, expected_row])


def test_center_mode_with_upscaled_network_input():
    codes = np.array([[7, 8, 9]])
    # scale 2: image pixel x sits at network x' = 2x + 0.5; cell = round((x' - 1) / 4).
    pixels = code_map_to_pixels(codes, (1, 6, 3), stride=4, offset=1, scale=2.0)
    np.testing.assert_array_equal(pixels, [[7, 7, 8, 8, 9, 9]])
    # (scale_y, scale_x) pair
    pixels = code_map_to_pixels(codes, (1, 6), stride=4, offset=1, scale=(1.0, 2.0))
    np.testing.assert_array_equal(pixels, [[7, 7, 8, 8, 9, 9]])


def test_center_mode_alexnet_conv5_cells_are_stride_wide():
    codes = np.arange(10, dtype=np.int32)[None, :]
    pixels = code_map_to_pixels(codes, (1, 160), stride=16, offset=15)[0]
    # Cell i owns pixels within 8 of its centre 16 i + 15: [16 i + 7, 16 i + 23).
    assert (pixels[:23] == 0).all() and pixels[23] == 1
    widths = np.bincount(pixels)
    assert (widths[1:-1] == 16).all()


@pytest.mark.parametrize("shapes", [((20, 30), (321, 481)), ((21, 31), (481, 321)), ((3, 5), (10, 13))])
def test_block_mode_is_nearest_resize(shapes):
    (h, w), (height, width) = shapes
    codes = np.arange(h * w, dtype=np.int32).reshape(h, w)
    pixels = code_map_to_pixels(codes, (height, width), mode="block")
    expected = cv2.resize(codes, (width, height), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(pixels, expected)


def test_code_map_to_pixels_errors():
    with pytest.raises(ValueError, match="mode"):
        code_map_to_pixels(np.zeros((2, 2), int), (4, 4), mode="bilinear")
    with pytest.raises(ValueError, match="code map"):
        code_map_to_pixels(np.zeros(4, int), (4, 4))


# --- superpixel codes ----------------------------------------------------------------


def test_majority_code_hand_example():
    labels = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2]])
    pixel_codes = np.array([[3, 3, 5, 6], [3, 1, 6, 5], [0, 15, 15, 0]])
    # sp0: 3 x3, 1 x1 -> 3; sp1: 5 x2, 6 x2 -> tie, smallest code 5; sp2: 0 x2, 15 x2 -> 0
    np.testing.assert_array_equal(superpixel_codes(labels, pixel_codes, n_bits=4), [3, 5, 0])


def test_majority_code_matches_brute_force():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 12, size=(30, 40))
    labels[0, :12] = np.arange(12)  # all labels present
    pixel_codes = rng.integers(0, 4, size=labels.shape) * 1_000_000  # 24-bit codes
    result = superpixel_codes(labels, pixel_codes, n_bits=24)
    for label in range(12):
        values, counts = np.unique(pixel_codes[labels == label], return_counts=True)
        assert result[label] == values[np.argmax(counts)]  # argmax takes the smallest on ties


def test_majority_code_with_many_bits():
    labels = np.array([[0, 0, 0, 1]])
    big = (1 << 61) + 5
    codes = superpixel_codes(labels, np.array([[big, big, 3, 3]]), n_bits=62)
    np.testing.assert_array_equal(codes, [big, 3])
    assert codes.dtype == np.int64
    assert superpixel_codes(labels, np.array([[1, 1, 0, 1]]), n_bits=8).dtype == np.int32


def test_superpixel_codes_validates():
    labels = np.array([[0, 2]])
    with pytest.raises(ValueError, match="dense"):
        superpixel_codes(labels, np.array([[1, 1]]), n_bits=2)
    with pytest.raises(ValueError, match="0..3"):
        superpixel_codes(np.array([[0, 1]]), np.array([[1, 4]]), n_bits=2)
    with pytest.raises(ValueError, match="n_bits"):
        superpixel_codes(np.array([[0, 1]]), np.array([[1, 1]]), n_bits=0)


def test_mean_projections():
    labels = np.array([[0, 0, 1], [0, 1, 1]])
    values = np.stack([labels * 10.0 + np.arange(3), -np.ones((2, 3))], axis=2)
    means = superpixel_mean_projections(labels, values)
    np.testing.assert_allclose(means, [[(0 + 1 + 0) / 3, -1], [10 + (2 + 1 + 2) / 3, -1]])
    assert superpixel_mean_projections(labels, labels.astype(float)).shape == (2, 1)


# --- adjacency and merging -------------------------------------------------------------


def test_region_adjacency_4_and_8():
    labels = np.array([[0, 1], [1, 2]])
    np.testing.assert_array_equal(region_adjacency(labels), [[0, 1], [1, 2]])
    np.testing.assert_array_equal(region_adjacency(labels, connectivity=8), [[0, 1], [0, 2], [1, 2]])
    labels = np.array([[0, 0, 1], [0, 2, 1], [3, 3, 3]])
    np.testing.assert_array_equal(
        region_adjacency(labels), [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    )
    assert region_adjacency(np.zeros((3, 3), int)).shape == (0, 2)


def test_adjacent_equal_codes_merge():
    labels = np.array([[0, 1, 2]])
    merged = merge_superpixels(labels, np.array([5, 5, 3]), n_bits=3)
    np.testing.assert_array_equal(merged, [[0, 0, 1]])
    assert merged.dtype == np.int32


def test_non_adjacent_equal_codes_do_not_merge():
    labels = np.array([[0, 1, 2]])
    merged = merge_superpixels(labels, np.array([5, 3, 5]), n_bits=3)
    np.testing.assert_array_equal(merged, [[0, 1, 2]])


def test_chains_close_transitively_in_any_order():
    # A - B - C in a row, B in the middle; A and C never touch.
    base = np.array([[0, 0, 1, 1, 2, 2]] * 2)
    codes = np.array([6, 6, 6])
    rng = np.random.default_rng(0)
    for _ in range(6):
        permutation = rng.permutation(3)
        merged = merge_superpixels(permutation[base], codes, n_bits=3)
        np.testing.assert_array_equal(merged, np.zeros_like(base))


def test_threshold_one_merges_hamming_one_neighbours():
    labels = np.array([[0, 1, 2, 3]])
    codes = np.array([0b000, 0b001, 0b011, 0b110])  # distances 1, 1, 2 along the row
    np.testing.assert_array_equal(merge_superpixels(labels, codes, 3, threshold=0), [[0, 1, 2, 3]])
    # A~B and B~C at distance 1 close transitively although A, C differ in 2 bits.
    np.testing.assert_array_equal(merge_superpixels(labels, codes, 3, threshold=1), [[0, 0, 0, 1]])
    np.testing.assert_array_equal(merge_superpixels(labels, codes, 3, threshold=2), [[0, 0, 0, 0]])


def test_absorb_single_neighbour():
    labels = np.array([[0, 0, 0, 2], [0, 1, 0, 2], [0, 0, 0, 2]])  # 1 is enclosed by 0
    codes = np.array([1, 2, 3])
    np.testing.assert_array_equal(
        merge_superpixels(labels, codes, 2), labels
    )
    # 1 and 2 each have the single neighbour 0.
    np.testing.assert_array_equal(
        merge_superpixels(labels, codes, 2, absorb_single_neighbour=True), np.zeros_like(labels)
    )


def test_merge_matches_brute_force_union_find():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.repeat(rng.permutation(30).reshape(5, 6), 2, axis=0), 3, axis=1)
    codes = rng.integers(0, 4, size=30)
    merged = merge_superpixels(labels, codes, n_bits=2)
    parent = list(range(30))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b in region_adjacency(labels):
        if codes[a] == codes[b]:
            parent[find(a)] = find(b)
    expected = np.vectorize(find)(labels)
    assert _partition_pairs(merged) == _partition_pairs(expected)
    assert set(np.unique(merged)) == set(range(merged.max() + 1))


def test_merge_validates_codes():
    with pytest.raises(ValueError, match="one per"):
        merge_superpixels(np.array([[0, 1]]), np.array([1, 2, 3]), n_bits=2)
