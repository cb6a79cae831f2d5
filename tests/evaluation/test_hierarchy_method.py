"""The hierarchy (beyond the paper) as an evaluation method, and the curve comparison."""

import json

import numpy as np
import pytest
from PIL import Image
from test_runner import (
    FakeModel,
    _assert_same_scores,
    _direct_summary,
    _synthetic_images,
)

from tf_binmap.evaluation import runner
from tf_binmap.evaluation.command import evaluate_command
from tf_binmap.evaluation.compare import (
    compare_curves,
    format_comparison,
    interpolate_log,
    pooled_points,
)
from tf_binmap.evaluation.hierarchy_method import HierarchyMethod
from tf_binmap.evaluation.method_specs import (
    as_method,
    default_methods,
    figure4_methods,
    parse_method,
    sweep_methods,
)
from tf_binmap.evaluation.methods import BinaryMapMethod, MethodSpecError
from tf_binmap.evaluation.runner import evaluate
from tf_binmap.segmentation.segmenter import Segmenter


class FakeProjectionModel(FakeModel):
    """FakeModel with real-valued projections: +-1 per bit from the same cell pattern
    (8 bits, the code length of the shipped merge scorer; the top 6 are constant)."""

    name = "fake_projections"
    bits = 8

    def __init__(self):
        super().__init__()
        self.projection_calls = 0

    def projections(self, images):
        self.projection_calls += 1
        codes = np.asarray(FakeModel.encode(self, images))
        self.calls -= 1
        bits = (codes[..., None] >> np.arange(self.bits)[::-1]) & 1
        return np.where(bits == 1, 1.0, -1.0).astype(np.float32)


class FakeModelWithTwoBitProjections(FakeModel):
    def projections(self, images):
        return np.zeros(np.shape(images)[:3] + (2,), np.float32)


@pytest.fixture
def dataset():
    return _synthetic_images()


def test_parse_hierarchy():
    method = parse_method("hierarchy:n_segments=50,scorer=none,w_code=2,itq=/tmp/x.npz")
    assert isinstance(method, HierarchyMethod)
    assert (method.n_segments, method.w_code, method.w_colour, method.itq_path) == (
        50, 2.0, 1.0, "/tmp/x.npz")
    assert method.name == "hierarchy (binmap_conv5_x1, scorer=none, w_code=2) n=50"
    assert method.curve == "hierarchy (binmap_conv5_x1, scorer=none, w_code=2)"
    assert method.parameter == 50 and method.uses_network
    assert method.superpixel_params == {"scale": 50, "sigma": 0.8, "min_size": 20}
    plain = parse_method("hier:segments=20,preset=none")
    assert plain.curve == "hierarchy (no CNN)" and not plain.uses_network
    assert plain.model_key() is None and plain.scorer is None
    assert plain.small_region_factor == 0.4  # the distance's own rule
    # The default: the learned merge order (shipped scorer), no small-region rule.
    default = parse_method("hierarchy")
    assert (default.scorer, default.size_exponent, default.small_region_factor) == (
        "bsds500_train", None, 0.0)
    assert default.curve == "hierarchy (binmap_conv5_x1)" and default.uses_network
    assert default.spec()["scorer"] == "bsds500_train"
    gamma = parse_method("hierarchy:gamma=0.2")
    assert gamma.curve == "hierarchy (binmap_conv5_x1, size_exponent=0.2)"
    assert gamma.tree_key() != default.tree_key()
    schedule = parse_method("hierarchy:gamma=30:1/300:0.1,n_segments=40")
    assert schedule.size_exponent == ((30.0, 1.0), (300.0, 0.1)) and schedule.n_segments == 40
    assert schedule.curve == "hierarchy (binmap_conv5_x1, size_exponent=30:1/300:0.1)"
    with pytest.raises(MethodSpecError, match="hierarchy: size exponent '300:1/30:0.1'.*increasing"):
        parse_method("hierarchy:gamma=300:1/30:0.1")
    with pytest.raises(MethodSpecError, match="hierarchy: size exponent 'x': expected a number"):
        parse_method("hierarchy:gamma=x")
    # Methods differing only in n_segments share a tree; other settings do not.
    assert parse_method("hierarchy:n_segments=20").tree_key() == \
        parse_method("hierarchy:n_segments=300").tree_key()
    assert parse_method("hierarchy:scorer=none,w_boundary=0").tree_key() != \
        parse_method("hierarchy:scorer=none").tree_key()
    assert parse_method("hierarchy:scorer=none").tree_key() != default.tree_key()
    # The small-region rule: on with the distance (0 switches it off), off with the scorer.
    distance = parse_method("hierarchy:scorer=none")
    assert distance.small_region_factor == 0.4
    assert distance.curve == "hierarchy (binmap_conv5_x1, scorer=none)"
    off = parse_method("hierarchy:scorer=none,small=0")
    assert off.small_region_factor == 0 and off.hierarchy_params()["small_region_factor"] == 0
    assert off.curve == "hierarchy (binmap_conv5_x1, scorer=none, small_region_factor=0)"
    assert off.tree_key() != distance.tree_key()
    assert parse_method("hierarchy:small=0.4").curve == \
        "hierarchy (binmap_conv5_x1, small_region_factor=0.4)"
    assert parse_method("hierarchy:small_power=1").spec()["small_region_power"] == 1
    with pytest.raises(MethodSpecError, match="small_region_factor must be >= 0"):
        parse_method("hierarchy:small_region_factor=-1")
    # Settings that do not fit the learned order are refused, naming the fix.
    with pytest.raises(MethodSpecError, match="w_code: weight.*add scorer=none"):
        parse_method("hierarchy:w_code=2")
    with pytest.raises(MethodSpecError, match="size_exponent is a setting of the learned"):
        parse_method("hierarchy:scorer=none,size_exponent=0.2")
    with pytest.raises(MethodSpecError, match="needs the CNN codes; preset=none goes with"):
        parse_method("hierarchy:preset=none,scorer=/tmp/x.npz")
    with pytest.raises(MethodSpecError, match="scorer=/no/such.npz: merge scorer file not found"):
        parse_method("hierarchy:scorer=/no/such.npz")
    with pytest.raises(MethodSpecError, match="unknown merge scorer 'nosuch'; shipped: bsds500_train"):
        parse_method("hierarchy:scorer=nosuch")
    with pytest.raises(MethodSpecError, match=r"unknown key\(s\) \['scale'\].*valid keys"):
        parse_method("hierarchy:scale=100")
    with pytest.raises(MethodSpecError, match="n_segments must be >= 1"):
        parse_method("hierarchy:n_segments=0")
    with pytest.raises(MethodSpecError, match="w_code must be >= 0"):
        parse_method("hierarchy:scorer=none,w_code=-1")
    with pytest.raises(MethodSpecError, match="hierarchy"):
        parse_method("nosuch:x=1")
    # "ours" and "paper" stay the paper's method.
    assert isinstance(parse_method("paper:scale=200"), BinaryMapMethod)
    assert isinstance(parse_method("ours"), BinaryMapMethod)


def test_sweeps_and_default_tables_include_the_hierarchy():
    methods = sweep_methods("hierarchy", (20, 100), scorer="none", w_boundary=0)
    assert [m.n_segments for m in methods] == [20, 100]
    assert len({m.tree_key() for m in methods}) == 1
    names = [m.name for m in figure4_methods()]
    assert len(names) == len(set(names)) == 11 + 6 + 4 + 4 + 11
    assert "hierarchy (binmap_conv5_x1) n=20" in names and "EGS k=10000" in names
    assert [m.name for m in default_methods(presets=["binmap_conv5"])] == [
        "EGS k=100", "SLIC 200", "binmap_conv5 on EGS k=100", "binmap_conv5 on SLIC 200",
        "hierarchy (binmap_conv5_x1) n=100"]
    assert len(default_methods(presets=["binmap_conv5"], hierarchy=False)) == 4


def test_evaluate_hierarchy_shares_one_tree_and_matches_the_segmenter(dataset, monkeypatch):
    model = FakeProjectionModel()
    methods = [HierarchyMethod(model=model, n_segments=n) for n in (2, 3, 5)]
    methods.append(HierarchyMethod(preset="none", n_segments=3))
    built = []
    real = runner.hierarchical_segmentation

    def counting(*args, **kwargs):
        built.append(kwargs.get("w_code", "learned"))
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "hierarchical_segmentation", counting)
    results = evaluate(dataset, methods, progress=False)
    monkeypatch.setattr(runner, "hierarchical_segmentation", real)

    assert model.projection_calls == 2 and model.calls == 0  # projections once per image
    assert sorted(built, key=str) == [0.0, 0.0, "learned", "learned"]  # one tree per image and setting
    by_name = {entry["name"]: entry for entry in results["methods"]}
    for method in methods[:3]:
        entry = by_name[method.name]
        segmenter = Segmenter(model, merge="hierarchy", n_segments=method.n_segments)
        _assert_same_scores(entry, _direct_summary(dataset, segmenter.segment))
        assert entry["family"] == "hierarchy" and entry["parameter"] == method.n_segments
        assert entry["seconds_per_image"]["network"] > 0
        assert entry["spec"]["family"] == "hierarchy"
    assert by_name["hierarchy (fake_projections) n=3"]["segments_per_image"] == 3.0
    plain = by_name["hierarchy (no CNN) n=3"]
    assert plain["seconds_per_image"]["network"] == 0.0
    # Per-image sums are stored for the bootstrap, in the order of image_names.
    assert results["image_names"] == ["a", "b"]
    rows = np.asarray(by_name["hierarchy (fake_projections) n=2"]["per_image"])
    assert rows.shape == (2, 5) and list(rows[:, 4]) == [2, 2]
    assert list(rows[:, 1]) == [5, 4]  # GT segments: image a 2 + 3, image b 4
    # A Segmenter in hierarchy mode becomes the same method.
    same = as_method(Segmenter(model, merge="hierarchy", n_segments=3))
    assert isinstance(same, HierarchyMethod) and same.tree_key() == methods[1].tree_key()
    off = as_method(Segmenter(model, n_segments=3, hierarchy_params={"small_region_factor": 0.4}))
    assert off.small_region_factor == 0.4 and off.tree_key() != same.tree_key()
    distance = as_method(Segmenter(model, n_segments=3, hierarchy_params={"scorer": None}))
    assert distance.scorer is None and distance.small_region_factor == 0.4
    assert distance.tree_key() != same.tree_key()
    with pytest.raises(ValueError, match=r"unknown hierarchy_params \['w_codes'\]; valid: leaves"):
        Segmenter(model, hierarchy_params={"w_codes": 1.0})
    with pytest.raises(MethodSpecError, match=r"hierarchy_params \['colour_spread'\], which evaluate"):
        as_method(Segmenter(model, hierarchy_params={"scorer": None, "colour_spread": 10.0}))
    with pytest.raises(ValueError, match=r"\['w_code'\]: setting\(s\) of the weighted distance"):
        Segmenter(model, hierarchy_params={"w_code": 2.0})
    with pytest.raises(ValueError, match="size_exponent: a setting of the learned merge order"):
        Segmenter(model, hierarchy_params={"scorer": None, "size_exponent": 0.5})
    assert Segmenter(model, hierarchy_params={"size_exponent": 0.5}).merge_scorer.size_exponent == 0.5
    assert Segmenter(model, hierarchy_params={"scorer": None}).merge_scorer is None
    # A Segmenter's complete settings rebuild the same Segmenter (as `tf-binmap bench` does).
    again = Segmenter(model, hierarchy_params=Segmenter(model).hierarchy_params)
    assert again.hierarchy_params == Segmenter(model).hierarchy_params
    with pytest.raises(ValueError, match="fitted on 8-bit codes; this model gives 2 bits"):
        Segmenter(FakeModelWithTwoBitProjections())


def test_evaluate_hierarchy_refuses_a_model_without_projections(dataset):
    with pytest.raises(MethodSpecError, match="projections"):
        evaluate(dataset, [HierarchyMethod(model=FakeModel())], progress=False)
    with pytest.raises(MethodSpecError, match="fitted on 8-bit codes and this model gives 2"):
        evaluate(dataset, [HierarchyMethod(model=FakeModelWithTwoBitProjections())], progress=False)
    two_bits = evaluate(dataset, [HierarchyMethod(model=FakeModelWithTwoBitProjections(),
                                                  scorer="none", n_segments=2)], progress=False)
    assert two_bits["methods"][0]["segments_per_image"] == 2.0


def _fake_results(method_rows, baseline_rows):
    """results with two curves from per-image rows [(images, 5) per point]."""
    def entries(curve, rows):
        return [{"name": f"{curve} {k}", "curve": curve, "parameter": k,
                 "per_image": np.asarray(r).tolist()} for k, r in enumerate(rows)]
    return {"methods": entries("ours", method_rows) + entries("base", baseline_rows)}


def _rows(segments, iou, n_images=30, seed=0):
    """Per-image rows of a point with the given mean segments and pooled IoU (%)."""
    rng = np.random.default_rng(seed)
    n_gt = rng.integers(3, 9, n_images)
    area = rng.integers(1000, 5000, n_images)
    return np.stack([n_gt * iou / 100, n_gt, area * iou / 100, area,
                     np.full(n_images, segments)], axis=1).astype(np.float64)


def test_interpolation_is_linear_in_log_segments_and_never_extrapolates():
    values = interpolate_log([10, 100, 1000], [10.0, 20.0, 40.0], [10, 31.6227766, 100, 500, 5, 2000])
    assert values[0] == pytest.approx(10) and values[1] == pytest.approx(15, abs=1e-6)
    assert values[2] == pytest.approx(20)
    assert values[3] == pytest.approx(20 + 20 * np.log10(5), abs=1e-9)
    assert np.isnan(values[4]) and np.isnan(values[5])


def test_compare_curves_recovers_a_known_gain_with_an_interval():
    baseline = [_rows(s, i) for s, i in ((10, 20.0), (100, 30.0), (1000, 35.0))]
    # Ours: 5 points above the baseline's interpolation at 20..500, one out of range.
    counts = [20, 50, 100, 500, 2000]
    expected_base = interpolate_log([10, 100, 1000], [20.0, 30.0, 35.0], counts)
    ours = [_rows(s, b + 3.0 if not np.isnan(b) else 40.0) for s, b in zip(counts, expected_base)]
    results = _fake_results(ours, baseline)
    rows = compare_curves(results, "ours", "base", n_resamples=200, seed=1)
    assert [row["segments"] for row in rows] == counts
    for row in rows[:4]:
        assert row["d_seg_iou"] == pytest.approx(3.0, abs=1e-9)
        assert row["d_covering"] == pytest.approx(3.0, abs=1e-9)
        # Every image has the same IoU: the difference does not vary between resamples.
        assert row["d_seg_iou_low"] == pytest.approx(3.0, abs=1e-9)
        assert row["d_seg_iou_high"] == pytest.approx(3.0, abs=1e-9)
    assert np.isnan(rows[4]["d_seg_iou"]) and np.isnan(rows[4]["d_covering_low"])
    text = format_comparison(rows, "ours", "base", 200)
    assert "| 20.0 | " in text and "no matched point" in text
    assert "above on both metrics at 4 of 4 matched counts; interval above 0 on both at 4" in text


def test_compare_curves_interval_widens_with_noise_and_is_paired():
    rng = np.random.default_rng(3)
    base = [_rows(s, i) for s, i in ((10, 20.0), (1000, 40.0))]
    # Per-image noise shared by both curves (paired): the interval of the difference
    # stays narrow; independent noise widens it.
    shared = rng.normal(0, 8, 30)
    base_noisy = [b.copy() for b in base]
    for b in base_noisy:
        b[:, 0] += b[:, 1] * shared / 100
    ours = base_noisy[1].copy()
    ours[:, 4] = 1000
    ours[:, 0] += ours[:, 1] * 0.01  # +1 IoU point on every image
    paired = compare_curves(_fake_results([ours], base_noisy), "ours", "base", 300)[0]
    assert paired["d_seg_iou"] == pytest.approx(1.0, abs=1e-9)
    assert paired["d_seg_iou_high"] - paired["d_seg_iou_low"] < 1e-6
    independent = ours.copy()
    independent[:, 0] += independent[:, 1] * rng.normal(0, 8, 30) / 100
    wide = compare_curves(_fake_results([independent], base_noisy), "ours", "base", 300)[0]
    assert wide["d_seg_iou_high"] - wide["d_seg_iou_low"] > 1.0
    assert wide["d_seg_iou_low"] < wide["d_seg_iou"] < wide["d_seg_iou_high"]


def test_compare_curves_errors():
    results = _fake_results([_rows(10, 20.0)], [_rows(10, 20.0)])
    with pytest.raises(ValueError, match="no curve named 'nope'.*'base', 'ours'"):
        compare_curves(results, "nope", "base")
    del results["methods"][0]["per_image"]
    with pytest.raises(ValueError, match="per-image sums"):
        compare_curves(results, "ours", "base")
    short = _fake_results([_rows(10, 20.0, n_images=5)], [_rows(10, 20.0)])
    with pytest.raises(ValueError, match="different images"):
        compare_curves(short, "ours", "base")
    segments, iou, cov = pooled_points(np.stack([_rows(10, 20.0)], axis=1))
    assert (segments[0], iou[0], cov[0]) == (10, pytest.approx(20.0), pytest.approx(20.0))


def test_evaluate_command_curves_compare_the_hierarchy_with_egs_and_slic(dataset, tmp_path,
                                                                        monkeypatch, capsys):
    model = FakeProjectionModel()
    monkeypatch.setattr(BinaryMapMethod, "load_model", lambda self: model)
    monkeypatch.setattr(HierarchyMethod, "load_model", lambda self: model)
    results = evaluate_command(dataset, methods=["egs"], curves=True, out=tmp_path / "eval",
                               bootstrap=20)
    printed = capsys.readouterr().out
    ours = "hierarchy (binmap_conv5_x1)"
    assert f"{ours} minus EGS at matched segment counts (paired bootstrap over images, 20 " \
        "resamples" in printed
    assert [c["baseline"] for c in results["comparisons"]] == ["EGS", "SLIC"]
    assert len(results["comparisons"][0]["rows"]) == 11
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == [
        "comparison.png", "figure4.png", "results.json", "table.md"]
    with Image.open(tmp_path / "eval" / "comparison.png") as picture:
        assert picture.format == "PNG" and picture.size[0] > 800 and picture.size[1] > 600
    table = (tmp_path / "eval" / "table.md").read_text()
    assert f"## {ours} vs EGS" in table and f"## {ours} vs SLIC" in table
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert saved["comparisons"][1]["n_resamples"] == 20
    with pytest.raises(ValueError, match="bootstrap must be >= 0"):
        evaluate_command(dataset, methods=["egs"], out=tmp_path, bootstrap=-1, quiet=True)
