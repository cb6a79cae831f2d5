"""The region benchmark over a dataset: sweeps, shared trees, the command and its files."""

import json

import cv2
import numpy as np
import pytest
from test_hierarchy_method import FakeProjectionModel
from test_runner import _synthetic_images

from tf_binmap.evaluation import runner
from tf_binmap.evaluation.command import evaluate_command, region_benchmark_command
from tf_binmap.evaluation.hierarchy_method import HierarchyMethod
from tf_binmap.evaluation.methods import EGSMethod, MethodSpecError, SLICMethod
from tf_binmap.evaluation.region_benchmark import image_region_scores, ods_ois
from tf_binmap.evaluation.region_report import (
    PUBLISHED_BSDS500_TEST,
    format_region_comparison,
    format_region_table,
    plot_region_curves,
)
from tf_binmap.evaluation.region_sweeps import (
    REGION_LEVELS,
    REGION_SEGMENTS,
    RegionSweep,
    default_region_sweeps,
    region_sweeps,
    run_region_benchmark,
)
from tf_binmap.segmentation import superpixels
from tf_binmap.segmentation.hierarchy import hierarchical_segmentation
from tf_binmap.segmentation.placement import projections_on_pixels
from tf_binmap.segmentation.tree import cut, cut_at_level


@pytest.fixture
def dataset():
    return _synthetic_images()


def _figures_equal(entry, expected):
    for metric in ("covering", "pri", "voi"):
        for key in ("ods", "ois", "ods_index", "ois_index", "per_scale"):
            np.testing.assert_allclose(entry[metric][key], expected[metric][key],
                                       rtol=1e-12, atol=1e-12)
    assert entry["covering"]["best"] == pytest.approx(expected["covering"]["best"], rel=1e-12)


def test_sweeps_from_specs():
    sweeps = region_sweeps(["egs:sigma=0.5", "slic", "hierarchy", "hierarchy:scorer=none"])
    assert [s.name for s in sweeps] == [
        "EGS (sigma=0.5)", "SLIC", "hierarchy (binmap_conv5_x1), count cuts",
        "hierarchy (binmap_conv5_x1), level cuts",
        "hierarchy (binmap_conv5_x1, scorer=none), count cuts"]
    assert [s.parameter_name for s in sweeps] == ["k", "n_segments", "segments", "level",
                                                  "segments"]
    egs = sweeps[0].methods()
    assert [m.scale for m in egs] == [50, 100, 200, 300, 500, 800, 1200, 2000, 3500, 6000, 10000]
    assert {m.sigma for m in egs} == {0.5} and egs[0].name == "EGS k=50 (sigma=0.5)"
    assert [m.n_segments for m in sweeps[1].methods()] == [6, 12, 25, 50, 100, 200, 400, 800]
    assert sweeps[2].values == REGION_SEGMENTS and sweeps[3].values == REGION_LEVELS
    assert len(sweeps[2].methods()) == 1 and sweeps[2].spec()["cut"] == "segments"
    paper = RegionSweep("binmap:superpixels=slic,compactness=20", (100, 400))
    assert [m.superpixel_params for m in paper.methods()] == [
        {"compactness": 20, "n_segments": 100}, {"compactness": 20, "n_segments": 400}]
    assert paper.parameter_name == "n_segments" and paper.family == "binmap"
    assert [s.name for s in default_region_sweeps()] == [
        "hierarchy (binmap_conv5_x1), count cuts", "hierarchy (binmap_conv5_x1), level cuts",
        "EGS", "SLIC"]
    # The level grid: symmetric, 0 in the middle, spanning the scores' range [-1, 1].
    assert REGION_LEVELS[0] == -1.0 and REGION_LEVELS[-1] == 1.0 and 0.0 in REGION_LEVELS
    assert list(REGION_LEVELS) == sorted(REGION_LEVELS)
    with pytest.raises(MethodSpecError, match="level cuts need a hierarchy"):
        RegionSweep(EGSMethod(), (0.1,), cut="level")
    with pytest.raises(MethodSpecError, match="segment counts must be >= 1"):
        RegionSweep(HierarchyMethod(preset="none"), (0, 5))
    with pytest.raises(MethodSpecError, match="at least one value"):
        RegionSweep(SLICMethod(), ())
    with pytest.raises(ValueError, match="unique"):
        run_region_benchmark([], ["egs", "egs:scale=300"])


def test_baseline_sweeps_score_their_superpixels(dataset):
    sweeps = [RegionSweep(EGSMethod(), (50, 300)), RegionSweep("slic", (4, 20))]
    results = run_region_benchmark(dataset, sweeps, progress=False)
    assert results["n_images"] == 2 and results["image_names"] == ["a", "b"]
    egs, slic = results["sweeps"]
    for entry, method, key in ((egs, "egs", "scale"), (slic, "slic", "n_segments")):
        per_image = [image_region_scores(s.ground_truths,
                                         [superpixels(s.image, method, **{key: v})
                                          for v in entry["values"]]) for s in dataset]
        _figures_equal(entry, ods_ois(per_image))
        assert [image["pri"] for image in entry["per_image"]] == \
            [image["pri"] for image in per_image]
        chosen = entry["covering"]["ods_index"]
        assert entry["covering"]["ods_value"] == entry["values"][chosen]
        assert entry["covering"]["ods_segments"] == pytest.approx(
            np.mean([image["n_segments"][chosen] for image in per_image]))
    assert egs["parameter"] == "k" and egs["seconds_per_image"] > 0


def test_hierarchy_cuts_share_one_tree_per_image(dataset, monkeypatch):
    model = FakeProjectionModel()
    method = HierarchyMethod(model=model)
    built = []
    real = runner.hierarchical_segmentation

    def counting(*args, **kwargs):
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "hierarchical_segmentation", counting)
    counts, levels = (1, 2, 3, 5, 1000), (-0.5, -0.01, 0.0, 0.01, 0.5)
    results = run_region_benchmark(dataset, [RegionSweep(method, counts),
                                             RegionSweep(method, levels, cut="level")],
                                   progress=False)
    monkeypatch.setattr(runner, "hierarchical_segmentation", real)
    assert len(built) == 2 and model.projection_calls == 2  # one tree per image for both

    by_counts, by_levels = [], []
    for sample in dataset:
        projections = np.asarray(model.projections(sample.image[None]))[0]
        pixel_values = projections_on_pixels(model, projections, sample.image.shape)[0]
        leaves = superpixels(sample.image, "egs", **method.superpixel_params)
        tree = hierarchical_segmentation(sample.image, pixel_values, leaves=leaves,
                                         **method.hierarchy_params())
        by_counts.append(image_region_scores(sample.ground_truths,
                                             [cut(tree, n) for n in counts]))
        by_levels.append(image_region_scores(sample.ground_truths,
                                             [cut_at_level(tree, t) for t in levels]))
    count_entry, level_entry = results["sweeps"]
    _figures_equal(count_entry, ods_ois(by_counts))
    _figures_equal(level_entry, ods_ois(by_levels))
    assert count_entry["per_image"][0]["n_segments"][:4] == [1, 2, 3, 5]
    assert count_entry["name"] == "hierarchy (fake_projections), count cuts"
    assert level_entry["parameter"] == "level" and level_entry["cut"] == "level"


def test_tables_and_the_command(dataset, tmp_path, capsys):
    sweeps = [RegionSweep("egs", (50, 300)), RegionSweep("hierarchy:preset=none", (2, 4))]
    results = region_benchmark_command(dataset, methods=sweeps, out=tmp_path)
    printed = capsys.readouterr().out
    text = (tmp_path / "region_benchmark.md").read_text()
    saved = json.loads((tmp_path / "region_benchmark.json").read_text())
    assert saved["n_images"] == 2 and len(saved["sweeps"][0]["per_image"]) == 2
    assert saved["sweeps"][1]["covering"]["ods"] == pytest.approx(
        results["sweeps"][1]["covering"]["ods"])
    # Another dataset than BSDS500: no published rows, no comparison with them.
    table = format_region_table(results, published=False)
    assert table in text and table in printed
    assert "published, BSDS500" not in text and "not comparable" in text
    egs = results["sweeps"][0]
    row = next(line for line in table.splitlines() if line.startswith("| EGS |"))
    assert f"| {egs['covering']['ods']:.3f} | {egs['covering']['ois']:.3f} |" in row
    assert f"k = {egs['covering']['ods_value']} / " in row
    table = format_region_table(results)
    assert "| *published, BSDS500 test:* gPb-owt-ucm | 0.59 | 0.65 | - | 0.83 | 0.86 " \
        "| 1.69 | 1.48 |" in table
    assert "| *published, BSDS500 test:* humans | 0.72 | - | - | 0.88 | - | 1.17 | - |" in table
    # The comparison: ours minus the published figure; for VOI lower is better.
    comparison = format_region_comparison(results)
    voi = egs["voi"]["ods"] - PUBLISHED_BSDS500_TEST["gPb-owt-ucm"]["voi"][0]
    assert f"{voi:+.3f} ({'better' if voi < 0 else 'worse'})" in comparison
    covering = egs["covering"]["ois"] - PUBLISHED_BSDS500_TEST["gPb-owt-ucm"]["covering"][1]
    assert f"{covering:+.3f} ({'better' if covering > 0 else 'worse'})" in comparison
    with pytest.raises(ValueError, match="leave out curves"):
        evaluate_command(dataset, region_benchmark=True, curves=True, out=tmp_path)


def test_the_command_draws_the_curves(dataset, tmp_path, capsys):
    sweeps = [RegionSweep("egs", (50, 300)), RegionSweep("hierarchy:preset=none", (2, 4))]
    results = region_benchmark_command(dataset, methods=sweeps, out=tmp_path)
    figure = tmp_path / "region_benchmark.png"
    assert results["files"]["figure"] == str(figure)
    assert f"wrote {figure}" in capsys.readouterr().out
    image = cv2.imread(str(figure))
    assert image is not None and image.shape == (560, 1500, 3)
    # Three panels of curves: not a blank canvas, and no temporary file left behind.
    assert (image < 200).any(axis=2).mean() > 0.01
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "region_benchmark.json", "region_benchmark.md", "region_benchmark.png"]
    with pytest.raises(ValueError, match="no sweep"):
        plot_region_curves({"sweeps": []}, tmp_path / "empty.png")
    # With the published rows: another figure, the same size.
    path = plot_region_curves(results, tmp_path / "published.png", published=True)
    published = cv2.imread(str(path))
    assert published.shape == image.shape and (published != image).any()


def test_an_unwritable_output_folder_fails_before_any_image_is_scored(dataset, tmp_path,
                                                                      monkeypatch):
    from tf_binmap.evaluation import command
    from tf_binmap.io.files import ImageWriteError

    def must_not_run(*args, **kwargs):
        raise AssertionError("the benchmark ran before the output folder was checked")

    monkeypatch.setattr(command, "run_region_benchmark", must_not_run)
    monkeypatch.setattr(command, "evaluate", must_not_run)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for out in (blocker, blocker / "inside"):
        with pytest.raises(ImageWriteError, match=rf"{out}: cannot create or write the "
                           "output folder .*choose another output folder"):
            region_benchmark_command(dataset, methods=["egs"], out=out)
        with pytest.raises(ImageWriteError, match="cannot create or write the output"):
            evaluate_command(dataset, methods=["egs"], out=out)
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
