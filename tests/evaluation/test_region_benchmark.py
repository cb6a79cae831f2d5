"""The BSDS region benchmark (`tf_binmap.evaluation.region_benchmark`) against values
derived by hand, against brute force, and on one BSDS500 val image against an
independent implementation.

Notation: G an annotation, S a segmentation, IoU(R, R') = |R & R'| / |R | R'|.
Covering (of G by S) = sum_R |R| max_R' IoU(R, R') / sum_R |R|; RI = 1 - D / C(N, 2)
with D the unordered pixel pairs (no self-pairs) on which S and G disagree; VOI =
H(S|G) + H(G|S) in bits. Labels follow the package: 0.., -1 void in ground truth.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tf_binmap.evaluation.region_benchmark import (
    RegionImageScores,
    benchmark_tables,
    bsds_covering_matches,
    bsds_rand_index,
    bsds_variation_of_information,
    image_region_scores,
    merge_table_columns,
    ods_ois,
)

LOG2_3, LOG2_5, LOG2_7 = math.log2(3), math.log2(5), math.log2(7)

# --- one annotation, 3x3 --------------------------------------------------------------
# G: A = rows 0-1 (6 px), B = row 2 (3 px).
G_ROWS = np.array([[0, 0, 0], [0, 0, 0], [1, 1, 1]])
# S: S0 = top-left 2x2 (4 px, in A), S1 = right column (3 px: 2 in A, 1 in B),
#    S2 = (2,0), (2,1) (2 px, in B).
S_3X3 = np.array([[0, 0, 1], [0, 0, 1], [2, 2, 1]])


def test_covering_of_the_ground_truth_by_the_segmentation_3x3():
    # A: IoU(A, S0) = 4 / (6 + 4 - 4) = 2/3, IoU(A, S1) = 2 / (6 + 3 - 2) = 2/7 -> 2/3
    # B: IoU(B, S1) = 1 / (3 + 3 - 1) = 1/5, IoU(B, S2) = 2 / (3 + 2 - 2) = 2/3 -> 2/3
    # covering = (6 * 2/3 + 3 * 2/3) / 9 = 6/9 = 2/3
    r = image_region_scores([G_ROWS], [S_3X3])
    assert r["covering_numerator"] == [pytest.approx(6.0)]
    assert r["covering_denominator"] == 9.0
    assert r["covering"] == [pytest.approx(2 / 3)]
    # The other direction (segments covered by G) would be
    # (4 * 2/3 + 3 * max(2/7, 1/5) + 2 * 2/3) / 9 = (8/3 + 6/7 + 4/3) / 9 = 34/63.
    best, area = bsds_covering_matches(benchmark_tables(S_3X3, G_ROWS)[0])
    assert float(np.sum(best * area)) / 9 == pytest.approx(34 / 63)
    assert 34 / 63 != pytest.approx(2 / 3)


def test_rand_index_counts_pairs_of_distinct_pixels_3x3():
    # Pairs together in G, apart in S: inside A, S0 x S1 = 4 * 2 = 8; inside B,
    # S1 x S2 = 1 * 2 = 2. Together in S, apart in G: inside S1, A x B = 2 * 1 = 2.
    # D = 12 of C(9, 2) = 36 pairs: RI = 1 - 12/36 = 2/3.
    # (With the 81 ordered pairs including self-pairs it would be 1 - 24/81 = 57/81.)
    r = image_region_scores([G_ROWS], [S_3X3])
    assert r["pri"] == [pytest.approx(2 / 3)]
    assert r["pri"][0] != pytest.approx(57 / 81)


def test_variation_of_information_is_in_bits_3x3():
    # h = H(1/3, 2/3) = log2 3 - 2/3.
    # H(S|G) = 6/9 H(4/6, 2/6) + 3/9 H(1/3, 2/3) = h; H(G|S) = 3/9 H(2/3, 1/3) = h/3
    # (S0 and S2 lie in one region). VOI = 4h/3 = (4/3) log2 3 - 8/9 = 1.224394...
    # In nats it would be that times ln 2 = 0.8487.
    r = image_region_scores([G_ROWS], [S_3X3])
    assert r["voi"] == [pytest.approx(4 / 3 * LOG2_3 - 8 / 9)]
    assert r["voi"][0] == pytest.approx(1.224394, abs=1e-6)
    # 2x2: one region against two halves: H(G) = 1 bit, nothing shared: VOI = 1.
    assert bsds_variation_of_information(np.array([[2, 2]])) == pytest.approx(1.0)


# --- two annotations --------------------------------------------------------------------
def test_annotations_pool_covering_counts_and_average_pri_and_voi():
    # 2x2, S = one region. G1 = one region: covering 1, RI 1, VOI 0.
    # G2 = four singletons: each IoU 1/4 -> cntR = 4 * 1/4 = 1; all 6 pairs together in
    # S and apart in G2: RI 0; VOI = H(G2) = 2 bits.
    # Covering: (4 + 1) / (4 + 4) = 5/8; PRI = (1 + 0) / 2; VOI = (0 + 2) / 2.
    # PRI as Unnikrishnan's pair form: every pair is together in S and in half of the
    # annotations (p = 1/2): each scores 1/2, so PRI = 1/2 too.
    one = np.zeros((2, 2), int)
    singletons = np.array([[0, 1], [2, 3]])
    r = image_region_scores([one, singletons], [one])
    assert r["covering_numerator"] == [pytest.approx(5.0)] and r["covering_denominator"] == 8
    assert r["covering"] == [pytest.approx(5 / 8)]
    assert r["pri"] == [pytest.approx(0.5)]
    assert r["voi"] == [pytest.approx(1.0)]


def test_void_pixels_are_no_region_but_count_in_segment_sizes():
    # 2x2, S = rows: S0 = top row, S1 = bottom row.
    # G1 = rows: covering counts 2 * 1 + 2 * 1 = 4 of 4.
    # G2 = left column split in two, right column void (-1): regions (0,0) and (1,0),
    # 1 px each; S0 holds (0,0) and the void (0,1), so |S0| = 2 and IoU = 1 / (1 + 2 - 1)
    # = 1/2 (1 if void were masked out). cntR = 1/2 + 1/2 = 1 of sumR = 2.
    # Pooled: (4 + 1) / (4 + 2) = 5/6 (the mean of the annotations would be 3/4): an
    # annotation weighs by its non-void area.
    rows = np.array([[0, 0], [1, 1]])
    left_split = np.array([[0, -1], [1, -1]])
    r = image_region_scores([rows, left_split], [rows])
    assert r["covering_denominator"] == 6
    assert r["covering"] == [pytest.approx(5 / 6)]
    # PRI and VOI leave void out: on (0,0), (1,0) both maps split: RI 1, VOI 0.
    assert r["pri"] == [pytest.approx(1.0)] and r["voi"] == [pytest.approx(0.0)]


def test_labels_are_used_as_given():
    # 2x2, G = rows. S puts the diagonal (0,0), (1,1) in label 0 (disconnected) and
    # the other diagonal in label 1: each segment is one region of 2 px.
    # IoU(top row, label 0) = 1 / (2 + 2 - 1) = 1/3 for every pair: covering 1/3.
    # Splitting label 0 into its two pixels would give IoU 1/2 and covering 1/2.
    rows = np.array([[0, 0], [1, 1]])
    diagonal = np.array([[0, 1], [1, 0]])
    assert image_region_scores([rows], [diagonal])["covering"] == [pytest.approx(1 / 3)]
    # Label numbers do not matter, absent labels add empty columns: same figures.
    renamed = np.where(diagonal == 0, 7, 3)
    assert image_region_scores([rows], [renamed]) == image_region_scores([rows], [diagonal])


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="at least one ground-truth"):
        image_region_scores([], [np.zeros((2, 2), int)])
    with pytest.raises(ValueError, match="same shape"):
        image_region_scores([np.zeros((2, 2), int)], [np.zeros((2, 3), int)])
    with pytest.raises(ValueError, match=">= 0"):
        image_region_scores([np.zeros((2, 2), int)], [-np.ones((2, 2), int)])
    with pytest.raises(ValueError, match="at least two"):
        bsds_rand_index(np.array([[1]]))
    with pytest.raises(ValueError, match="same, non-zero number of scales"):
        ods_ois([image_region_scores([G_ROWS], [S_3X3]),
                 image_region_scores([G_ROWS], [S_3X3, S_3X3])])
    with pytest.raises(ValueError, match="no scale"):
        RegionImageScores().as_dict()


# --- ODS, OIS, Best ---------------------------------------------------------------------
# Image 1 (3x3, G_ROWS: A = rows 0-1, B = row 2), two scales:
# t0: X = all but (1,2), (2,2) (7 px: A 5, B 2), Y = (1,2), (2,2) (2 px: A 1, B 1).
#     A: IoU(A,X) = 5/(6+7-5) = 5/8, IoU(A,Y) = 1/7; B: IoU(B,X) = 2/8, IoU(B,Y) = 1/4.
#     covering = (6 * 5/8 + 3 * 1/4) / 9 = (15/4 + 3/4) / 9 = 1/2
#     RI: sum a^2 = 36 + 9 (G), sum b^2 = 49 + 4 (S), sum n^2 = 25 + 1 + 4 + 1 = 31;
#         D = 45/2 + 53/2 - 31 = 18 -> RI = 1 - 18/36 = 1/2
#     VOI = 2 H(G,S) - H(G) - H(S) = log2 3 - (10/9) log2 5 + (7/9) log2 7 + 4/9 = 1.63299
# t1: X' = row 0 (3 px, A), Y' = row 1 + (2,0), (2,1) (5 px: A 3, B 2), Z' = (2,2) (B).
#     A: IoU(A,X') = 3/6 = 1/2, IoU(A,Y') = 3/8; B: IoU(B,Y') = 2/6, IoU(B,Z') = 1/3.
#     covering = (6 * 1/2 + 3 * 1/3) / 9 = 4/9
#     RI: sum b^2 = 9 + 25 + 1 = 35, sum n^2 = 9 + 9 + 4 + 1 = 23; D = 45/2 + 35/2 - 23 = 17
#         -> RI = 19/36
#     VOI: H(G|S) = 5/9 H(3/5, 2/5) = (5/9) log2 5 - (1/3) log2 3 - 2/9,
#          H(S|G) = 6/9 * 1 + 3/9 H(2/3, 1/3) = 4/9 + (1/3) log2 3
#          VOI = (5/9) log2 5 + 2/9 = 1.51218
# So covering picks t0 (1/2 > 4/9) while PRI (19/36 > 1/2) and VOI (1.512 < 1.633) pick t1.
# Best: A takes 5/8 (t0), B 1/3 (t1): (6 * 5/8 + 3 * 1/3) / 9 = (19/4) / 9 = 19/36.
IMAGE1_T0 = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 1]])
IMAGE1_T1 = np.array([[0, 0, 0], [1, 1, 1], [1, 1, 2]])
VOI_T0 = LOG2_3 - 10 / 9 * LOG2_5 + 7 / 9 * LOG2_7 + 4 / 9
VOI_T1 = 5 / 9 * LOG2_5 + 2 / 9


def test_each_metric_picks_its_own_ods_scale():
    r = image_region_scores([G_ROWS], [IMAGE1_T0, IMAGE1_T1])
    np.testing.assert_allclose(r["covering"], [1 / 2, 4 / 9])
    np.testing.assert_allclose(r["pri"], [1 / 2, 19 / 36])
    np.testing.assert_allclose(r["voi"], [VOI_T0, VOI_T1])
    assert VOI_T0 == pytest.approx(1.632985, abs=1e-6) and VOI_T1 == pytest.approx(1.512182, abs=1e-6)
    assert r["best_covering_numerator"] == pytest.approx(19 / 4)
    figures = ods_ois([r])
    assert figures["covering"]["ods_index"] == 0 and figures["covering"]["ods"] == pytest.approx(1 / 2)
    assert figures["pri"]["ods_index"] == 1 and figures["pri"]["ods"] == pytest.approx(19 / 36)
    assert figures["voi"]["ods_index"] == 1 and figures["voi"]["ods"] == pytest.approx(VOI_T1)
    assert figures["covering"]["best"] == pytest.approx(19 / 36)  # above ODS = OIS = 1/2


def test_ods_pools_the_dataset_and_ois_takes_each_images_best():
    # Image 2 (2x2, G = rows): t0 = one region: IoU 2/4 each -> cntR 2 of 4; RI: the 4
    # pairs across rows disagree of 6 -> 1/3; VOI = H(G) = 1. t1 = G itself: 4 of 4, RI 1,
    # VOI 0.
    # Covering per scale, pooled (sumR 9 + 4 = 13): t0 (9/2 + 2) / 13 = 1/2,
    # t1 (4 + 4) / 13 = 8/13 -> ODS 8/13 at t1 (the mean of the images' coverings at t1
    # would be (4/9 + 1) / 2 = 13/18).
    # OIS: image 1 takes t0 (cntR 9/2), image 2 t1 (4): (9/2 + 4) / 13 = 17/26.
    # Best: (19/4 + 4) / 13 = 35/52.
    # PRI per scale: t0 (1/2 + 1/3) / 2 = 5/12, t1 (19/36 + 1) / 2 = 55/72 -> ODS t1;
    # OIS: both images' best is t1: 55/72. VOI: t0 (VOI_T0 + 1) / 2, t1 VOI_T1 / 2.
    rows = np.array([[0, 0], [1, 1]])
    images = [image_region_scores([G_ROWS], [IMAGE1_T0, IMAGE1_T1]),
              image_region_scores([rows], [np.zeros((2, 2), int), rows])]
    figures = ods_ois(images)
    cov = figures["covering"]
    np.testing.assert_allclose(cov["per_scale"], [1 / 2, 8 / 13])
    assert cov["ods"] == pytest.approx(8 / 13) and cov["ods_index"] == 1
    assert cov["ods"] != pytest.approx(13 / 18)
    assert cov["ois"] == pytest.approx(17 / 26) and cov["ois_index"] == [0, 1]
    assert cov["best"] == pytest.approx(35 / 52)
    np.testing.assert_allclose(figures["pri"]["per_scale"], [5 / 12, 55 / 72])
    assert figures["pri"]["ods"] == pytest.approx(55 / 72)
    assert figures["pri"]["ois"] == pytest.approx(55 / 72) and figures["pri"]["ois_index"] == [1, 1]
    np.testing.assert_allclose(figures["voi"]["per_scale"], [(VOI_T0 + 1) / 2, VOI_T1 / 2])
    assert figures["voi"]["ods"] == pytest.approx(VOI_T1 / 2) and figures["voi"]["ods_index"] == 1


def test_dataset_covering_is_pooled_not_a_mean_of_images():
    # Image P (2x2, one annotation = rows), S = one region: cntR 2, sumR 4 (1/2).
    # Image Q (2x2, three annotations, each one region), S = one region: cntR 12 of 12.
    # Pooled: (2 + 12) / (4 + 12) = 7/8; the mean of the images would be 3/4.
    # PRI and VOI are plain means: PRI (1/3 + 1) / 2 = 2/3, VOI (1 + 0) / 2 = 1/2.
    one = np.zeros((2, 2), int)
    rows = np.array([[0, 0], [1, 1]])
    figures = ods_ois([image_region_scores([rows], [one]),
                       image_region_scores([one, one, one], [one])])
    assert figures["covering"]["ods"] == pytest.approx(7 / 8)
    assert figures["covering"]["ois"] == pytest.approx(7 / 8)
    assert figures["pri"]["ods"] == pytest.approx(2 / 3)
    assert figures["voi"]["ods"] == pytest.approx(1 / 2)


def test_ties_ods_takes_the_first_scale_ois_the_last():
    # 2x2, G = columns. t0 keeps the left column whole and splits the right one; t1 the
    # other way round. Each: the whole column IoU 1, the split one 1/2 per half ->
    # covering (2 + 1) / 4 = 3/4; RI: 1 disagreeing pair of 6 -> 5/6; VOI = 2/4 * 1 = 1/2.
    # Every metric ties: ODS takes t0 (MATLAB's max), OIS t1 (ff(end)), same values.
    # Best: both columns are whole at some scale: 1.
    columns = np.array([[0, 1], [0, 1]])
    t0 = np.array([[0, 1], [0, 2]])
    t1 = np.array([[0, 1], [2, 1]])
    figures = ods_ois([image_region_scores([columns], [t0, t1])])
    for metric, value in (("covering", 3 / 4), ("pri", 5 / 6), ("voi", 1 / 2)):
        assert figures[metric]["ods_index"] == 0 and figures[metric]["ois_index"] == [1]
        assert figures[metric]["ods"] == pytest.approx(value)
        assert figures[metric]["ois"] == pytest.approx(value)
    assert figures["covering"]["best"] == pytest.approx(1.0)


# --- brute force and the leaf tables ----------------------------------------------------
def _brute_force(gts, pred):
    pixels = pred.size
    flat = pred.ravel()
    numerator = denominator = 0.0
    ris, vois = [], []
    for gt in gts:
        g = gt.ravel()
        for label in np.unique(g[g >= 0]):
            region = g == label
            best = max(np.sum(region & (flat == s)) / np.sum(region | (flat == s))
                       for s in np.unique(flat))
            numerator += region.sum() * best
            denominator += region.sum()
        keep = np.flatnonzero(g >= 0)
        agree = [(g[i] == g[j]) == (flat[i] == flat[j])
                 for i, j in itertools.combinations(keep, 2)]
        ris.append(np.mean(agree))

        def conditional(x, y):  # H(x | y) in bits, over kept pixels
            total = 0.0
            for value in np.unique(y[keep]):
                inside = keep[y[keep] == value]
                _, counts = np.unique(x[inside], return_counts=True)
                p = counts / counts.sum()
                total += len(inside) / len(keep) * -np.sum(p * np.log2(p))
            return total

        vois.append(conditional(flat, g) + conditional(g, flat))
    assert pixels == flat.size
    return numerator / denominator, np.mean(ris), np.mean(vois)


@pytest.mark.parametrize("seed", range(8))
def test_random_maps_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    shape = (rng.integers(2, 5), rng.integers(2, 5))
    pred = rng.integers(0, rng.integers(1, 6), size=shape)
    gts = [rng.integers(-1 if k == 2 else 0, rng.integers(1, 5), size=shape) for k in range(3)]
    gts[2][0, 0] = 0  # some non-void pixels in the annotation with void
    gts[2][-1, -1] = 1
    r = image_region_scores(gts, [pred])
    covering, pri, voi = _brute_force(gts, pred)
    assert r["covering"][0] == pytest.approx(covering)
    assert r["pri"][0] == pytest.approx(pri)
    assert r["voi"][0] == pytest.approx(voi)


def test_merged_leaf_tables_equal_the_tables_of_the_coarse_map():
    rng = np.random.default_rng(0)
    leaves = rng.integers(0, 12, size=(6, 7))
    assignment = rng.integers(0, 4, size=12)
    gts = [rng.integers(-1, 3, size=(6, 7)), rng.integers(0, 5, size=(6, 7))]
    merged = merge_table_columns(benchmark_tables(gts, leaves), assignment)
    direct = benchmark_tables(gts, assignment[leaves])
    for a, b in zip(merged, direct):
        np.testing.assert_array_equal(a[:, :b.shape[1]], b)
        assert not a[:, b.shape[1]:].any()
    with pytest.raises(ValueError, match="12 columns"):
        merge_table_columns(benchmark_tables(gts, leaves), assignment[:5])


# --- one BSDS500 val image against an independent implementation -----------------------
# Independent values: a NumPy re-implementation of the BSR MATLAB benchmark written
# separately from this package from the MATLAB source (meteorshowers/hed,
# edgeval_matlab/BSDS500/bench/benchmarks/*.m), run as
#   python /work/scratch/region_bench/bsds_example.py
# (numpy 2.4.6, scipy 1.17.1, scikit-image 0.26.0): image 101085 (the first val image),
# 5 annotations, skimage felzenszwalb(scale=k, sigma=0.5, min_size=20) + 1 for
# k = 50, 100, 300, 1000 (1497, 968, 423, 142 regions).
BSDS_101085 = {
    "covering": [0.08542137, 0.17129638, 0.32627891, 0.49898951],
    "pri": [0.87573559, 0.87924036, 0.89695242, 0.87618090],
    "voi": [6.45675886, 5.34066103, 3.47908383, 2.31024272],
    "best": 0.53940217,
}


@pytest.mark.data
def test_one_bsds_val_image_matches_an_independent_implementation():
    from skimage.metrics import variation_of_information
    from skimage.segmentation import felzenszwalb

    from tf_binmap.evaluation.datasets import BSDS500, default_data_root

    root = default_data_root()
    if root is None:
        pytest.skip("../shared/data (BSDS500) is not here")
    sample = BSDS500(root, split="val")["101085"]
    segmentations = [felzenszwalb(sample.image, scale=k, sigma=0.5, min_size=20)
                     for k in (50, 100, 300, 1000)]
    assert [len(np.unique(s)) for s in segmentations] == [1497, 968, 423, 142]
    r = image_region_scores(sample.ground_truths, segmentations)
    assert r["covering_denominator"] == 5 * 321 * 481
    for metric in ("covering", "pri", "voi"):
        np.testing.assert_allclose(r[metric], BSDS_101085[metric], rtol=0, atol=1e-8)
    figures = ods_ois([r])
    assert figures["covering"]["best"] == pytest.approx(BSDS_101085["best"], abs=1e-8)
    assert (figures["covering"]["ods_index"], figures["pri"]["ods_index"],
            figures["voi"]["ods_index"]) == (3, 2, 3)
    # VOI again from scikit-image (its two conditional entropies, in bits).
    voi = np.mean([sum(variation_of_information(gt, segmentations[1]))
                   for gt in sample.ground_truths])
    assert r["voi"][1] == pytest.approx(voi, abs=1e-9)


def test_without_void_one_scale_equals_the_project_metrics_voi_in_bits():
    # tf_binmap.evaluation.metrics scores one segmentation: its covering and PRI are the
    # benchmark's per-image figures, its VOI is in nats (the benchmark's times ln 2).
    from tf_binmap.evaluation import metrics

    rng = np.random.default_rng(3)
    gts = [rng.integers(0, 4, size=(6, 7)) for _ in range(3)]
    pred = rng.integers(0, 5, size=(6, 7))
    r = image_region_scores(gts, [pred])
    assert r["covering"][0] == pytest.approx(metrics.covering(gts, pred), rel=1e-12)
    assert r["pri"][0] == pytest.approx(metrics.probabilistic_rand_index(gts, pred), rel=1e-12)
    assert r["voi"][0] * math.log(2) == pytest.approx(
        metrics.variation_of_information(gts, pred), rel=1e-12)
