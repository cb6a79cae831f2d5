import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from tf_binmap.evaluation import runner
from tf_binmap.evaluation.command import evaluate_command
from tf_binmap.evaluation.datasets import DatasetError
from tf_binmap.evaluation.method_specs import (
    as_method,
    default_methods,
    figure4_methods,
    parse_method,
    sweep_methods,
)
from tf_binmap.evaluation.methods import (
    BinaryMapMethod,
    EGSMethod,
    MethodSpecError,
    SLICMethod,
)
from tf_binmap.evaluation.metrics import SegmentationScores
from tf_binmap.evaluation.reports import (
    format_table,
    format_timings,
    plot_curves,
    write_json,
)
from tf_binmap.evaluation.runner import evaluate, sweep
from tf_binmap.segmentation import superpixels
from tf_binmap.segmentation.segmenter import Segmenter

# --- fakes ------------------------------------------------------------------------------


def _synthetic_images():
    """Two small images of flat colour blocks (+ mild noise) with known ground truth."""
    rng = np.random.default_rng(0)
    samples = []
    # Image A: left / right halves; two annotations (one splits the right half).
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = (200, 40, 40)
    image[:, 32:] = (40, 40, 200)
    image[24:, 32:] = (40, 200, 40)
    gt_a1 = np.zeros((48, 64), np.int32)
    gt_a1[:, 32:] = 1
    gt_a2 = gt_a1.copy()
    gt_a2[24:, 32:] = 2
    gt_a2[:2, :] = -1  # a void strip
    samples.append(("a", image, [gt_a1, gt_a2]))
    # Image B: four quadrants, one annotation.
    image = np.zeros((40, 56, 3), np.uint8)
    image[:20, :28] = (230, 230, 30)
    image[:20, 28:] = (30, 230, 230)
    image[20:, :28] = (230, 30, 230)
    image[20:, 28:] = (90, 90, 90)
    gt_b = np.zeros((40, 56), np.int32)
    gt_b[:20, 28:] = 1
    gt_b[20:, :28] = 2
    gt_b[20:, 28:] = 3
    samples.append(("b", image, [gt_b]))
    return [
        SimpleNamespace(
            name=name,
            image=np.clip(im.astype(int) + rng.integers(-6, 7, im.shape), 0, 255).astype(np.uint8),
            ground_truths=gts,
        )
        for name, im, gts in samples
    ]


@pytest.fixture
def dataset():
    return _synthetic_images()


class FakeModel:
    """Stands in for BinaryMapModel: a code map of one cell per 16x16 block whose code is
    the cell's column parity (so merging joins whole columns of superpixels)."""

    bits = 2
    upscale = 1.0
    geometry = (16, 7.5)
    name = "fake_model"

    def __init__(self):
        self.calls = 0

    def encode(self, images):
        self.calls += 1
        images = np.asarray(images)
        batch, height, width = images.shape[:3]
        h, w = -(-height // 16), -(-width // 16)
        codes = np.tile((np.arange(w) * 2 // max(w, 1)).astype(np.int32), (h, 1))
        codes[h // 2 :] += 2  # top / bottom halves differ in the other bit
        return np.repeat(codes[None], batch, axis=0)


class CountingDataset(list):
    """A list of samples that counts how often each sample is fetched."""

    def __init__(self, samples):
        super().__init__(samples)
        self.fetches = 0

    def __getitem__(self, index):
        self.fetches += 1
        return super().__getitem__(index)


def _direct_summary(dataset, segment):
    scores = SegmentationScores()
    for sample in dataset:
        scores.add(sample.name, sample.ground_truths, segment(sample.image))
    return scores.summary()


def _assert_same_scores(entry, expected):
    for key, value in expected.items():
        assert entry[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


# --- parsing ----------------------------------------------------------------------------


def test_parse_egs_and_slic():
    method = parse_method("egs:scale=200")
    assert isinstance(method, EGSMethod)
    assert (method.scale, method.sigma, method.min_size) == (200, 1.0, 20)
    assert method.name == "EGS k=200"
    assert parse_method("egs").name == "EGS k=100"
    assert parse_method("felzenszwalb:scale=50,sigma=0.8,min_size=10").superpixel_params == {
        "scale": 50, "sigma": 0.8, "min_size": 10}
    method = parse_method("slic:n_segments=400")
    assert isinstance(method, SLICMethod) and method.n_segments == 400 and method.compactness == 10
    assert method.name == "SLIC 400"
    assert parse_method(" SLIC : n_segments = 100 , name = coarse ").name == "coarse"


def test_parse_binmap():
    method = parse_method("binmap:preset=binmap_conv5,superpixels=slic,n_segments=200,threshold=0")
    assert isinstance(method, BinaryMapMethod)
    assert method.preset == "binmap_conv5"
    assert method.superpixel_method == "slic"
    assert method.superpixel_params == {"n_segments": 200}
    assert method.threshold == 0 and method.alignment == "center" and not method.absorb_single_neighbour
    assert method.name == "binmap_conv5 on SLIC 200"
    method = parse_method("ours:scale=300,threshold=1,alignment=block,absorb=true,itq=/tmp/x.npz")
    assert method.superpixel_method == "egs" and method.superpixel_params == {"scale": 300}
    assert method.threshold == 1 and method.alignment == "block" and method.absorb_single_neighbour
    assert str(method.itq_path) == "/tmp/x.npz"
    assert method.name == "binmap_conv5 on EGS k=300 (threshold 1, block alignment, absorb)"
    assert method.parameter == 300


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "empty"),
        ("watershed:markers=3", "unknown method family"),
        ("egs:n_segments=10", "valid keys: ['min_size', 'name', 'scale', 'sigma']"),
        ("slic:scale=10", "valid keys: ['compactness', 'n_segments', 'name']"),
        ("egs:scale=big", "scale='big' is not a number"),
        ("slic:n_segments=2.5", "is not an integer"),
        ("egs:scale", "expected key=value"),
        ("egs:scale=1,scale=2", "given twice"),
        ("binmap:superpixels=egs,n_segments=200", "valid keys"),
        ("binmap:superpixels=quickshift", "superpixels='quickshift'"),
        ("binmap:alignment=diagonal", "alignment must be"),
        ("binmap:absorb=maybe", "true/false"),
    ],
)
def test_parse_errors(spec, message):
    with pytest.raises(MethodSpecError, match=re.escape(message)):
        parse_method(spec)


def test_parse_binmap_error_lists_keys():
    with pytest.raises(MethodSpecError) as info:
        parse_method("binmap:superpixels=slic,scale=3")
    text = str(info.value)
    for key in ("n_segments", "compactness", "preset", "threshold", "alignment", "itq_path"):
        assert key in text


def test_as_method_and_sweeps():
    assert as_method({"family": "slic", "n_segments": 50}).n_segments == 50
    with pytest.raises(MethodSpecError, match="valid keys"):
        as_method({"family": "egs", "segments": 50})
    with pytest.raises(MethodSpecError):
        as_method(42)
    segmenter = Segmenter(FakeModel(), superpixel_method="slic", superpixel_params={"n_segments": 30},
                          merge="codes")
    method = as_method(segmenter)
    assert method.model is segmenter.model and method.name == "fake_model on SLIC 30"
    assert [m.scale for m in sweep_methods("egs", (50, 100))] == [50, 100]
    binmaps = sweep_methods("binmap", (100, 400), superpixels="slic", itq_path="x.npz")
    assert [m.superpixel_params for m in binmaps] == [{"n_segments": 100}, {"n_segments": 400}]
    assert {m.curve for m in binmaps} == {"binmap_conv5 on SLIC"}
    names = [m.name for m in figure4_methods(hierarchy_segments=())]
    assert len(names) == len(set(names)) == 11 + 6 + 4 + 4
    assert [m.name for m in default_methods(presets=["binmap_conv5"], hierarchy=False)] == [
        "EGS k=100", "SLIC 200", "binmap_conv5 on EGS k=100", "binmap_conv5 on SLIC 200"]


# --- evaluate ---------------------------------------------------------------------------


def test_evaluate_baselines_match_direct_metrics(dataset):
    results = evaluate(dataset, [EGSMethod(scale=100), "slic:n_segments=20"], progress=False)
    assert results["n_images"] == 2 and results["n_errors"] == 0
    egs, slic = results["methods"]
    _assert_same_scores(egs, _direct_summary(dataset, lambda im: superpixels(im, "egs", scale=100)))
    _assert_same_scores(slic, _direct_summary(dataset, lambda im: superpixels(im, "slic", n_segments=20)))
    assert egs["n_gt_segments"] == 2 + 3 + 4
    assert egs["spec"] == {"family": "egs", "scale": 100, "sigma": 1.0, "min_size": 20}
    assert egs["seconds_per_image"]["network"] == 0.0
    assert egs["seconds_per_image"]["superpixels"] > 0
    assert egs["seconds_per_image"]["total"] == pytest.approx(sum(
        egs["seconds_per_image"][stage] for stage in runner.STAGES))


def test_evaluate_binary_map_shares_code_maps_and_superpixels(dataset, monkeypatch):
    model = FakeModel()
    methods = [
        EGSMethod(),
        BinaryMapMethod(model=model, superpixel_method="egs"),
        BinaryMapMethod(model=model, superpixel_method="egs", threshold=1),
        BinaryMapMethod(model=model, superpixel_method="slic", superpixel_params={"n_segments": 30}),
        SLICMethod(n_segments=30),
    ]
    calls = []
    real = runner.superpixels

    def counting(image, method, **params):
        calls.append((method, tuple(sorted(params.items()))))
        return real(image, method, **params)

    monkeypatch.setattr(runner, "superpixels", counting)
    counted = CountingDataset(dataset)
    results = evaluate(counted, methods, progress=False)

    assert model.calls == 2  # one code map per image, shared by three methods
    assert len(calls) == 4  # EGS k=100 and SLIC 30 once per image each
    assert counted.fetches == 2  # each sample read once
    monkeypatch.setattr(runner, "superpixels", real)

    by_name = {entry["name"]: entry for entry in results["methods"]}
    assert list(by_name) == [
        "EGS k=100", "fake_model on EGS k=100", "fake_model on EGS k=100 (threshold 1)",
        "fake_model on SLIC 30", "SLIC 30"]
    for method in methods[1:4]:
        segmenter = Segmenter(model, superpixel_method=method.superpixel_method,
                              superpixel_params=method.superpixel_params, threshold=method.threshold,
                              merge="codes")
        _assert_same_scores(by_name[method.name], _direct_summary(dataset, segmenter.segment))
    ours = by_name["fake_model on EGS k=100"]
    assert ours["segments_per_image"] < by_name["EGS k=100"]["segments_per_image"]
    assert ours["seconds_per_image"]["network"] > 0
    assert ours["seconds_per_image"]["superpixels"] == by_name["EGS k=100"]["seconds_per_image"]["superpixels"]
    assert ours["family"] == "binmap" and ours["curve"] == "fake_model on EGS"
    assert set(results["stage_seconds"]) >= {"read", "network", "superpixels", "merge", "metrics"}


def test_evaluate_limit_and_errors(dataset):
    assert evaluate(dataset, ["egs"], limit=1, progress=False)["n_images"] == 1

    class Broken:
        name = "broken"

        @property
        def image(self):
            raise DatasetError("/data/broken.jpg: not a readable image")

        ground_truths = ()

    samples = [dataset[0], Broken(), dataset[1]]
    with pytest.raises(DatasetError, match="broken.jpg"):
        evaluate(samples, ["egs"], progress=False)
    results = evaluate(samples, ["egs"], progress=False, skip_errors=True)
    assert results["n_images"] == 2 and results["n_errors"] == 1
    assert "broken.jpg" in results["errors"][0]["error"] and results["errors"][0]["index"] == 1
    with pytest.raises(DatasetError, match="no image"):
        evaluate([Broken()], ["egs"], progress=False, skip_errors=True)
    with pytest.raises(ValueError, match="unique"):
        evaluate(dataset, ["egs", "egs:scale=100.0"], progress=False)


# --- outputs ----------------------------------------------------------------------------


def test_table_json_and_png(dataset, tmp_path):
    model = FakeModel()
    methods = [*sweep_methods("egs", (50, 100, 300)), *sweep_methods("slic", (10, 30)),
               *sweep_methods("binmap", (50, 100), superpixels="egs", model=model)]
    results = evaluate(dataset, methods, progress=False)

    table = format_table(results)
    lines = table.splitlines()
    assert lines[0] == ("| method | Seg-IoU pooled | per-image | covering | PRI | VOI | "
                        "segments/image | s/image |")
    assert len(lines) == 2 + len(methods)
    assert lines[3].startswith("| EGS k=100 | ")
    assert format_timings(results).splitlines()[0].startswith("| method | network | superpixels")

    path = write_json(results, tmp_path / "out" / "results.json")
    loaded = json.loads(path.read_text())
    assert [m["name"] for m in loaded["methods"]] == [m.name for m in methods]
    assert loaded["methods"][0]["seg_iou_pooled"] == pytest.approx(results["methods"][0]["seg_iou_pooled"])
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files left

    png = plot_curves(results, tmp_path / "figure4.png", title="synthetic")
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.mode in ("RGB", "RGBA")
        assert image.size[0] > 800 and image.size[1] > 400
        image.load()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure4.png", "out"]


def test_sweep_helper(dataset):
    results = sweep(dataset, "slic", (10, 30), limit=1, progress=False)
    assert [m["name"] for m in results["methods"]] == ["SLIC 10", "SLIC 30"]
    assert results["n_images"] == 1


def test_evaluate_command_writes_files(dataset, tmp_path, capsys):
    model = FakeModel()
    results = evaluate_command(dataset, methods=["egs", BinaryMapMethod(model=model)],
                               out=tmp_path / "eval")
    printed = capsys.readouterr().out
    assert "| EGS k=100 |" in printed and "| fake_model on EGS k=100 |" in printed
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == ["results.json", "table.md"]
    assert "| EGS k=100 |" in (tmp_path / "eval" / "table.md").read_text()
    assert json.loads((tmp_path / "eval" / "results.json").read_text())["table_methods"] == [
        "EGS k=100", "fake_model on EGS k=100"]
    assert results["n_images"] == 2
    with pytest.raises(ValueError, match="unknown dataset"):
        evaluate_command("pascal", methods=["egs"], data_root=tmp_path, quiet=True)


# --- real data ----------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.slow
def test_bsds_val_egs_matches_direct_metrics():
    from tf_binmap.evaluation.datasets import BSDS500, default_data_root

    root = default_data_root()
    if root is None or not (root / "BSDS500").is_dir():
        pytest.skip("BSDS500 not found under the data root (../shared/data or $TF_BINMAP_DATA)")
    data = BSDS500(root, split="val")
    results = evaluate(data, [EGSMethod(scale=100, sigma=1.0, min_size=20)], limit=10, progress=False)
    expected = _direct_summary(data[:10], lambda im: superpixels(im, "egs", scale=100, sigma=1.0, min_size=20))
    _assert_same_scores(results["methods"][0], expected)
    assert results["n_images"] == 10


def test_evaluate_command_applies_itq_path_to_default_preset(dataset, tmp_path, monkeypatch):
    loaded = []

    def fake_load(self):
        loaded.append((self.preset, self.itq_path))
        return FakeModel()

    monkeypatch.setattr(BinaryMapMethod, "load_model", fake_load)
    given = BinaryMapMethod(superpixel_method="slic", superpixel_params={"n_segments": 30})
    results = evaluate_command(dataset, methods=[given, "binmap:scale=100"], out=tmp_path,
                               itq_path="/tmp/itq.npz", quiet=True)
    assert loaded == [("binmap_conv5", "/tmp/itq.npz")]  # one model, shared by both
    assert given.itq_path is None  # the caller's spec is not changed
    assert results["methods"][0]["spec"]["itq_path"] == "/tmp/itq.npz"
