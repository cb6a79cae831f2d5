"""The learned merge order: pair features, the scorer file, training pairs, fitting, and
the hierarchy merging with it."""

import numpy as np
import pytest

from tf_binmap.segmentation.agglomerate import merge_hierarchy
from tf_binmap.segmentation.hierarchy import hierarchical_segmentation
from tf_binmap.segmentation.pair_features import PAIR_FEATURES, pair_features
from tf_binmap.segmentation.regions import region_features
from tf_binmap.segmentation.scorer import (
    DEFAULT_SIZE_EXPONENT,
    MergeScorer,
    format_size_exponent,
    parse_size_exponent,
)
from tf_binmap.segmentation.tree import cut
from tf_binmap.training.merge_fit import fit_merge_scorer, fit_merge_scorer_on_images
from tf_binmap.training.merge_pairs import (
    parse_train_scales,
    rescale_sample,
    training_pairs,
)


def _block_image(rows=4, cols=6, block=8, seed=0):
    """A two-halves picture (left dark red, right light blue) with pixel noise, its grid
    of block leaves and per-pixel codes that differ between the halves."""
    rng = np.random.default_rng(seed)
    height, width = rows * block, cols * block
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (150, 30, 30)
    image[:, width // 2 :] = (80, 160, 230)
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    leaves = (np.arange(height)[:, None] // block) * cols + np.arange(width)[None, :] // block
    codes = np.where(np.arange(width)[None, :, None] < width // 2, -1.0, 1.0) * np.ones((height, 1, 8))
    codes = codes + rng.normal(0, 0.2, codes.shape)
    return image, leaves.astype(np.int64), codes


def test_pair_features_by_hand():
    # Rows: [colour (3) | code (2) | colour squares (3)]
    va = np.array([[50.0, 0.0, 0.0, 1.0, 0.0, 2600.0, 4.0, 0.0]])
    vb = np.array([[53.0, 4.0, 0.0, 1.0, 2.0, 2809.0, 16.0, 0.0]])
    x = pair_features(va, vb, np.array([100.0]), np.array([400.0]), np.array([20.0]),
                      np.array([30.0]), count=10, total_area=1000.0, n_code=2)
    assert x.shape == (1, len(PAIR_FEATURES))
    values = dict(zip(PAIR_FEATURES, x[0]))
    assert values["colour"] == pytest.approx(5.0)
    assert values["code"] == pytest.approx(2.0)
    assert values["border"] == pytest.approx(1.5)
    assert values["lightness"] == pytest.approx(3.0)
    # spread = sqrt(mean over channels of (E[c^2] - E[c]^2)): a (100 + 4 + 0) / 3, b 0.
    assert values["spread_min"] == pytest.approx(0.0)
    assert values["spread_max"] == pytest.approx(np.sqrt(104 / 3))
    assert values["relative_area_min"] == pytest.approx(np.log(100 / 100))
    assert values["relative_area_max"] == pytest.approx(np.log(400 / 100))
    assert values["log_border_length"] == pytest.approx(np.log(20))
    assert values["contact"] == pytest.approx(20 / 10)
    assert values["log_count"] == pytest.approx(np.log(10))


def test_shipped_scorer_loads_and_ranks_obvious_pairs():
    scorer = MergeScorer.from_preset()
    assert scorer.n_code == 8 and scorer.size_exponent == DEFAULT_SIZE_EXPONENT
    scorer = scorer.with_size_exponent(0.1)
    assert "train" in scorer.metadata["dataset"] and int(scorer.metadata["images"]) == 200
    same = np.array([[0.5, 0.1, 0.5, 0.2, 2.0, 3.0, 0.0, 0.5, 3.0, 1.0, np.log(100)]])
    different = np.array([[40.0, 3.0, 25.0, 30.0, 2.0, 3.0, 0.0, 0.5, 3.0, 1.0, np.log(100)]])
    p_same, p_different = scorer.probabilities(np.concatenate([same, different]))
    assert p_same < 0.2 and p_different > 0.6  # labels are soft: annotators disagree
    # The score: (2p - 1) * (smaller area / image area) ** size_exponent.
    x = np.concatenate([same, different])
    expected = (2 * scorer.probabilities(x) - 1) * np.exp(0.1 * (x[:, 6] - x[:, 10]))
    np.testing.assert_allclose(scorer(x), expected)
    assert scorer.with_size_exponent(0.0)(x)[1] == pytest.approx(2 * p_different - 1)


def test_scorer_file_round_trip_and_errors(tmp_path):
    scorer = MergeScorer.from_preset()
    path = scorer.with_size_exponent(0.3).save(tmp_path / "merge.npz")
    loaded = MergeScorer.load(path)
    x = np.random.default_rng(0).normal(size=(50, len(PAIR_FEATURES)))
    np.testing.assert_allclose(loaded(x), scorer.with_size_exponent(0.3)(x))
    assert loaded.metadata == scorer.metadata and loaded.n_code == 8
    assert MergeScorer.resolve(str(path)).size_exponent == pytest.approx(0.3)
    assert [p.name for p in tmp_path.iterdir()] == ["merge.npz"]  # no temporary left
    with pytest.raises(FileNotFoundError, match="merge scorer file not found"):
        MergeScorer.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a merge scorer .npz file.*fit-merge"):
        MergeScorer.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", mean=np.zeros(3))
    with pytest.raises(ValueError, match="not a merge scorer file"):
        MergeScorer.load(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="unknown merge scorer 'nosuch'; shipped: bsds500_train"):
        MergeScorer.resolve("nosuch")
    with pytest.raises(ValueError, match="size exponent -1: expected a number >= 0"):
        scorer.with_size_exponent(-1)
    # A schedule survives the file.
    path = scorer.with_size_exponent("30:1/300:0.1").save(tmp_path / "schedule.npz")
    assert MergeScorer.load(path).size_exponent == ((30.0, 1.0), (300.0, 0.1))


def test_size_exponent_schedule_is_linear_in_log_count():
    assert parse_size_exponent("0.25") == 0.25
    assert parse_size_exponent("30:1/300:0.1") == ((30.0, 1.0), (300.0, 0.1))
    assert parse_size_exponent([[30, 1], [300, 0.1]]) == parse_size_exponent("30:1/300:0.1")
    assert parse_size_exponent("50:0.3") == 0.3  # one point: a constant
    assert format_size_exponent(DEFAULT_SIZE_EXPONENT) == "30:1/60:0.5/300:0.1"
    assert format_size_exponent(0.1) == "0.1"
    for bad, message in [("-1", "expected a number"), ("a", "expected a number"),
                         ("30:1/300", "expected a number"), ("300:1/30:0.1", "increasing"),
                         ("0:1/10:0", ">= 1"), ("30:-1/300:0", "exponents >= 0"),
                         ([[1, 2, 3]], "expected a number"), ("inf", "expected a number"),
                         ("30:1/inf:0.1", "expected a number"), ("nan", "expected a number")]:
        with pytest.raises(ValueError, match=message):
            parse_size_exponent(bad)
    scorer = MergeScorer.from_preset().with_size_exponent("30:1/300:0.1")
    rng = np.random.default_rng(1)
    x = np.repeat(rng.normal(size=(1, len(PAIR_FEATURES))), 4, axis=0)
    counts = np.array([10.0, 30.0, np.sqrt(30 * 300), 1000.0])  # below, at, midway, above
    x[:, PAIR_FEATURES.index("log_count")] = np.log(counts)
    x[:, PAIR_FEATURES.index("relative_area_min")] = np.log(0.5)  # area = image / (2 count)
    p = scorer.probabilities(x)
    exponents = np.array([1.0, 1.0, 0.55, 0.1])
    np.testing.assert_allclose(scorer(x), (2 * p - 1) * (0.5 / counts) ** exponents)
    # A constant schedule is the plain exponent.
    np.testing.assert_allclose(scorer.with_size_exponent("10:0.3/1000:0.3")(x),
                               scorer.with_size_exponent(0.3)(x))


def test_training_scales_parse_and_rescale_keeps_labels():
    assert parse_train_scales("1, 0.667") == (1.0, 0.667)
    assert parse_train_scales([1, 2 / 3]) == (1.0, 2 / 3) and parse_train_scales(0.5) == (0.5,)
    for bad, message in [("1,x", "bad training scales '1,x'"), ("", "bad training scales"),
                         ([], "no training scales"), ("1,0", "bad training scale 0.0"),
                         ("nan", "bad training scale nan"), ("5", "at most 4"),
                         ("1,0.5,1", "repeat a factor")]:
        with pytest.raises(ValueError, match=message):
            parse_train_scales(bad)

    image, _, _ = _block_image(rows=6, cols=9)  # 48 x 72
    truth = np.where(np.arange(72)[None, :] < 36, 1, 2) * np.ones((48, 1), int)
    truth[:, :4] = -1  # void survives (nearest neighbour, no blending of ids)
    small, (small_truth,) = rescale_sample(image, [truth], 2 / 3)
    assert small.shape == (32, 48, 3) and small.dtype == np.uint8
    assert small_truth.shape == (32, 48) and set(np.unique(small_truth)) == {-1, 1, 2}
    assert np.all(small_truth[:, 26:] == 2) and np.all(small_truth[:, 3:23] == 1)
    # Area averaging: the left half's colour is kept (no ringing at this size).
    assert np.abs(small[:, 4:20].mean(axis=(0, 1)) - image[:, 6:30].mean(axis=(0, 1))).max() < 2
    big, (big_truth,) = rescale_sample(image, [truth], 1.5)
    assert big.shape == (72, 108, 3) and set(np.unique(big_truth)) == {-1, 1, 2}
    same, (same_truth,) = rescale_sample(image, [truth], 1)
    assert same is image and same_truth is truth


def test_a_linear_scorer_reproduces_the_weighted_distance():
    image, leaves, codes = _block_image(seed=3)
    from tf_binmap.segmentation.regions import lab_image, pixel_pair_strengths

    lab = lab_image(image)
    features = region_features(leaves, colour=lab, code=codes,
                               strengths=pixel_pair_strengths(lab_image(image, 1.0)))
    index = {name: k for k, name in enumerate(PAIR_FEATURES)}

    def linear(x):
        return x[:, index["colour"]] + 4 * x[:, index["code"]] + 3 * x[:, index["border"]]

    learned = merge_hierarchy(leaves, features, scorer=linear)
    weighted = merge_hierarchy(leaves, features, w_colour=1.0, w_code=4.0, w_boundary=3.0)
    np.testing.assert_array_equal(learned.merges, weighted.merges)
    np.testing.assert_allclose(learned.distances, weighted.distances, rtol=1e-9)


def test_learned_order_separates_the_halves_and_checks_its_inputs():
    image, leaves, codes = _block_image()
    tree = hierarchical_segmentation(image, codes, leaves=leaves, scorer="bsds500_train")
    assert tree.min_segments == 1
    halves = cut(tree, 2)
    left, right = halves[:, : image.shape[1] // 2], halves[:, image.shape[1] // 2 :]
    assert len(np.unique(left)) == 1 and len(np.unique(right)) == 1 and left[0, 0] != right[0, 0]
    with pytest.raises(ValueError, match="needs the CNN codes"):
        hierarchical_segmentation(image, None, leaves=leaves, scorer="bsds500_train")
    with pytest.raises(ValueError, match="size_exponent is a setting of the learned"):
        hierarchical_segmentation(image, codes, leaves=leaves, scorer=None, size_exponent=0.2)
    coarse = cut(hierarchical_segmentation(image, codes, leaves=leaves, scorer="bsds500_train",
                                           size_exponent=1.0), 2)
    np.testing.assert_array_equal(coarse, halves)  # the same halves with another exponent
    with pytest.raises(ValueError, match="fitted on 8-dimensional codes; these regions have 2"):
        hierarchical_segmentation(image, codes[..., :2], leaves=leaves, scorer="bsds500_train")
    features = region_features(leaves, colour=image.astype(float), code=codes)
    with pytest.raises(ValueError, match="size_power: setting.*weighted distance"):
        merge_hierarchy(leaves, features, scorer=MergeScorer.from_preset(), size_power=0.2)


def test_training_pairs_labels_follow_the_annotators():
    image, leaves, codes = _block_image(rows=2, cols=4, block=4)
    features = region_features(leaves, colour=image.astype(float), code=codes)
    tree = merge_hierarchy(leaves, features, w_colour=1.0)
    halves = np.where(np.arange(16)[None, :] < 8, 0, 1) * np.ones((8, 1), int)
    one_region = np.zeros((8, 16), int)
    # Leaves only (counts=()): 8 leaves, a 2x4 grid, 10 adjacent pairs, 2 across the halves.
    x, y = training_pairs(tree, features, [halves, one_region], counts=())
    assert x.shape == (10, len(PAIR_FEATURES))
    assert sorted(y) == [0.0] * 8 + [0.5, 0.5]  # one of the two annotators splits them
    x, y = training_pairs(tree, features, [halves], counts=(2,), include_leaves=False)
    assert np.all(x[:, PAIR_FEATURES.index("log_count")] == np.log(2)) and list(y) == [1.0]


class _FakeCodes:
    """A binary-map stand-in: 8-dimensional projections, -1 left / +1 right."""

    bits, upscale, geometry, name = 8, 1.0, (16, 7.5), "fake"

    def projections(self, images):
        images = np.asarray(images)
        h, w = -(-images.shape[1] // 16), -(-images.shape[2] // 16)
        side = np.where(np.arange(w) < w / 2, -1.0, 1.0)
        return np.broadcast_to(side[None, None, :, None], (1, h, w, 8)).astype(np.float32)


class _NeedsHeight30(_FakeCodes):
    def projections(self, images):
        if np.shape(images)[1] < 30:
            raise ValueError(f"input height {np.shape(images)[1]} is too small")
        return super().projections(images)


@pytest.mark.slow
def test_fit_merge_scorer_learns_and_rounds_add_pairs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, len(PAIR_FEATURES)))
    y = (x[:, 0] + 0.5 * x[:, 2] > 0).astype(float)
    scorer = fit_merge_scorer(x, y, hidden=(8,), epochs=20, batch_size=256)
    accuracy = np.mean((scorer.probabilities(x) > 0.5) == (y > 0.5))
    assert accuracy > 0.95
    with pytest.raises(ValueError, match="expected x"):
        fit_merge_scorer(x[:, :3], y)

    samples = []
    for seed in range(3):
        image, _, _ = _block_image(rows=6, cols=8, seed=seed)
        truth = np.where(np.arange(image.shape[1])[None, :] < image.shape[1] // 2, 0, 1) * \
            np.ones((image.shape[0], 1), int)
        samples.append((f"img{seed}", image, [truth]))
    samples.append(("grey", np.zeros((48, 64), np.uint8), [np.zeros((48, 64), int)]))
    samples.append(("unlabelled", samples[0][1], []))
    messages = []
    fitted = fit_merge_scorer_on_images(_FakeCodes(), samples, rounds=2, epochs=2, counts=(8, 4, 2),
                                        progress=False, log=messages.append,
                                        metadata={"dataset": "synthetic"})
    assert fitted.n_code == 8 and fitted.metadata["images"] == 3
    assert fitted.metadata["rounds"] == 2 and fitted.metadata["dataset"] == "synthetic"
    assert fitted.metadata["scales"] == "1,0.666667,0.5"  # the default: full size, 2/3, 1/2
    assert messages[0].startswith("skipping grey: expected a uint8 RGB image")
    assert messages[1] == "skipping unlabelled: no ground-truth segmentation"
    round_sizes = [int(m.split()[4]) for m in messages if m.startswith("round")]
    assert len(round_sizes) == 2 and round_sizes[1] > round_sizes[0]
    assert "from 3 images at 3 size(s)" in messages[-1]
    # One size: fewer pairs (the smaller copies are gone).
    messages = []
    fit_merge_scorer_on_images(_FakeCodes(), samples[:3], rounds=1, epochs=1, counts=(8, 4, 2),
                               scales="1", progress=False, log=messages.append)
    assert len(messages) == 1 and "from 3 images at 1 size(s)" in messages[0]
    assert int(messages[0].split()[4]) < round_sizes[0]
    with pytest.raises(ValueError, match="repeat a factor"):
        fit_merge_scorer_on_images(_FakeCodes(), samples, scales=(1, 1), progress=False)
    # A size the network cannot take is reported per image and size; the rest is fitted.
    messages = []
    fitted = fit_merge_scorer_on_images(_NeedsHeight30(), samples[:2], rounds=1, epochs=1,
                                        counts=(8, 4, 2), scales=(1.0, 0.5), progress=False,
                                        log=messages.append)
    assert messages[:2] == [f"skipping img{seed} at x0.5: input height 24 is too small"
                            for seed in range(2)]
    assert fitted.metadata["images"] == 2 and "from 2 images at 2 size(s)" in messages[-1]
    with pytest.raises(ValueError, match="no usable training images"):
        fit_merge_scorer_on_images(_FakeCodes(), samples[3:], progress=False, log=messages.append)
