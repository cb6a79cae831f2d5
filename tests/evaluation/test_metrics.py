import itertools
import math

import numpy as np
import pytest
import skimage.metrics

from tf_binmap.evaluation.metrics import (
    SegmentationScores,
    best_ious,
    contingency,
    covering,
    probabilistic_rand_index,
    rand_index,
    segmentation_iou,
    variation_of_information,
)

# 2 x 4 hand example: gt has two 4-pixel halves, pred splits 6 | 2.
GT = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
PRED = np.array([[0, 0, 0, 1], [0, 0, 0, 1]])
# gt0 vs pred0: inter 4, union 4 + 6 - 4 = 6 -> 2/3
# gt1 vs pred0: inter 2, union 4 + 6 - 2 = 8 -> 1/4; gt1 vs pred1: inter 2, union 4 -> 1/2


def _brute_force_rand_index(gt, pred):
    gt, pred = gt.ravel(), pred.ravel()
    keep = np.flatnonzero(gt >= 0)
    agree = total = 0
    for i, j in itertools.combinations(keep, 2):
        agree += (gt[i] == gt[j]) == (pred[i] == pred[j])
        total += 1
    return agree / total


def test_contingency_hand_example():
    np.testing.assert_array_equal(contingency(GT, PRED), [[4, 0], [2, 2]])
    assert contingency(GT, PRED).dtype == np.int64


def test_contingency_excludes_void():
    gt = GT.copy()
    gt[:, 0] = -1
    np.testing.assert_array_equal(contingency(gt, PRED), [[2, 0], [2, 2]])


def test_best_ious_hand_example():
    ious, areas = best_ious(GT, PRED)
    np.testing.assert_allclose(ious, [2 / 3, 1 / 2])
    np.testing.assert_array_equal(areas, [4, 4])


def test_best_ious_skip_absent_labels_and_void():
    gt = np.array([[0, 0, 2, 2], [-1, -1, 2, 2]])  # label 1 absent, two void pixels
    ious, areas = best_ious(gt, PRED)
    # gt0 {(0,0),(0,1)} vs pred0 restricted to non-void {4 pixels}: 2/4
    # gt2 vs pred1: inter 2, union 4 + 2 - 2 = 4 -> 1/2; vs pred0 inter 2, union 4 + 4 - 2 -> 1/3
    np.testing.assert_allclose(ious, [1 / 2, 1 / 2])
    np.testing.assert_array_equal(areas, [2, 4])


def test_segmentation_iou_pools_annotations():
    second = np.zeros_like(GT)  # one segment covering everything: best IoU 6/8 with pred0
    result = segmentation_iou([GT, second], PRED)
    np.testing.assert_allclose(result["best_ious"], [2 / 3, 1 / 2, 3 / 4])
    np.testing.assert_array_equal(result["areas"], [4, 4, 8])
    assert result["mean"] == pytest.approx((2 / 3 + 1 / 2 + 3 / 4) / 3)


def test_covering_hand_example():
    assert covering(GT, PRED) == pytest.approx((4 * 2 / 3 + 4 * 1 / 2) / 8)
    second = np.zeros_like(GT)
    assert covering([GT, second], PRED) == pytest.approx((4 * 2 / 3 + 4 * 1 / 2 + 8 * 3 / 4) / 16)


def test_perfect_prediction():
    pred = GT * 7 + 3  # same partition, other label names
    ious, _ = best_ious(GT, pred)
    np.testing.assert_allclose(ious, 1.0)
    assert covering(GT, pred) == 1.0
    assert probabilistic_rand_index([GT], pred) == 1.0
    assert variation_of_information(GT, pred) == pytest.approx(0.0)


def test_rand_index_hand_example():
    # 28 pairs; same-in-gt 2*C(4,2) = 12, same-in-pred C(6,2)+C(2,2) = 16, both 6 + 1 + 1 = 8
    assert rand_index(GT, PRED) == pytest.approx((28 + 2 * 8 - 12 - 16) / 28)
    assert rand_index(GT, PRED) == pytest.approx(_brute_force_rand_index(GT, PRED))


@pytest.mark.parametrize("seed", range(4))
def test_rand_index_matches_brute_force_pair_count(seed):
    rng = np.random.default_rng(seed)
    gt = rng.integers(-1, 4, size=(5, 6))  # includes void pixels
    pred = rng.integers(0, 5, size=(5, 6))
    assert rand_index(gt, pred) == pytest.approx(_brute_force_rand_index(gt, pred))
    other = rng.integers(0, 3, size=(5, 6))
    assert probabilistic_rand_index([gt, other], pred) == pytest.approx(
        (_brute_force_rand_index(gt, pred) + _brute_force_rand_index(other, pred)) / 2
    )


@pytest.mark.parametrize("seed", range(4))
def test_voi_matches_scikit_image(seed):
    # scikit-image returns the two conditional entropies in bits (log2); ours is in nats.
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 5, size=(20, 30))
    pred = rng.integers(0, 8, size=(20, 30)) // (1 + gt % 2)
    expected = skimage.metrics.variation_of_information(gt, pred).sum() * math.log(2)
    assert variation_of_information(gt, pred) == pytest.approx(expected)
    other = rng.integers(0, 3, size=(20, 30))
    expected_other = skimage.metrics.variation_of_information(other, pred).sum() * math.log(2)
    assert variation_of_information([gt, other], pred) == pytest.approx((expected + expected_other) / 2)


def test_voi_hand_example_natural_log():
    # gt halves vs pred all-one: H(gt | pred) = log 2, H(pred | gt) = 0
    assert variation_of_information(GT, np.zeros_like(GT)) == pytest.approx(math.log(2))


def test_scores_accumulator():
    scores = SegmentationScores()
    scores.add("a", [GT, np.zeros_like(GT)], PRED)
    scores.add("b", GT, GT)
    summary = scores.summary()
    assert summary["n_images"] == 2
    assert summary["n_gt_segments"] == 5
    pooled = (2 / 3 + 1 / 2 + 3 / 4 + 1 + 1) / 5
    per_image = ((2 / 3 + 1 / 2 + 3 / 4) / 3 + 1) / 2
    assert summary["seg_iou_pooled"] == pytest.approx(100 * pooled)
    assert summary["seg_iou_per_image"] == pytest.approx(100 * per_image)
    covering_a = (4 * 2 / 3 + 4 / 2 + 8 * 3 / 4) / 16
    assert summary["covering"] == pytest.approx(100 * (16 * covering_a + 8) / 24)
    assert summary["covering_per_image"] == pytest.approx(100 * (covering_a + 1) / 2)
    assert summary["segments_per_image"] == 2
    assert 0 < summary["pri"] < 1 and summary["voi"] > 0
    assert len(scores) == 2 and scores.records[0]["name"] == "a"


def test_empty_accumulator_and_bad_inputs():
    with pytest.raises(ValueError, match="no image"):
        SegmentationScores().summary()
    with pytest.raises(ValueError, match="same shape"):
        contingency(GT, PRED[:, :3])
    with pytest.raises(ValueError, match=">= 0"):
        contingency(GT, PRED - 1)
    with pytest.raises(ValueError, match="integer"):
        contingency(GT, PRED.astype(float))
