"""The tf-binmap command line, driven as a user would (subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import skimage.data
from helpers import run_cli as run
from helpers import write_mixed_folder

pytestmark = pytest.mark.slow


def test_usage_error_exit_code_and_help(tmp_path, weights_cache):
    result = run(["segment"], tmp_path, weights_cache)
    assert result.returncode == 2 and "usage" in result.stderr
    for command in ("segment", "fit-itq", "fit-merge", "features", "convert-weights", "presets",
                    "beam-segment", "beam-fit-itq"):  # help needs no apache-beam
        result = run([command, "--help"], tmp_path, weights_cache)
        assert result.returncode == 0 and "example" in result.stdout, command
    # The help's default gamma (kept literal: parsing stays free of heavy imports) is the
    # shipped one.
    from tf_binmap.segmentation.scorer import (
        DEFAULT_SIZE_EXPONENT,
        format_size_exponent,
    )

    result = run(["fit-merge", "--help"], tmp_path, weights_cache)
    from tf_binmap.training.merge_pairs import DEFAULT_TRAIN_SCALES

    help_text = " ".join(result.stdout.split())
    assert f"default {format_size_exponent(DEFAULT_SIZE_EXPONENT)}" in help_text
    assert "default " + ",".join(f"{s:.3g}" for s in DEFAULT_TRAIN_SCALES) in help_text


def test_presets_lists_the_default(tmp_path, weights_cache):
    result = run(["presets"], tmp_path, weights_cache)
    assert result.returncode == 0
    assert "alexnet_torchvision_lpips (default)" in result.stdout


@pytest.fixture
def mixed_folder(tmp_path):
    """Valid photos in four flavours plus two bad files."""
    folder = tmp_path / "in"
    write_mixed_folder(folder)
    return folder


@pytest.mark.network
def test_segment_reports_bad_files_keeps_good_ones_and_resumes(mixed_folder, tmp_path,
                                                              weights_cache):
    out = tmp_path / "out"
    result = run(["segment", str(mixed_folder), "--out", str(out)], tmp_path, weights_cache)
    assert result.returncode == 1, result.stderr
    assert "corrupt.jpg" in result.stderr and "notes.png" in result.stderr
    assert "4 segmented, 0 already done, 2 failed (" in result.stdout
    for name in ("rgb", "gray", "rgba", "deep"):
        labels = cv2.imread(str(out / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert labels.dtype == np.uint16 and labels.shape == (256, 256), name
        assert labels.min() == 0 and len(np.unique(labels)) == labels.max() + 1, name
        for kind in ("_overlay", "_binary_map"):
            picture = cv2.imread(str(out / f"{name}{kind}.png"))
            assert picture.shape == (256, 256, 3), (name, kind)
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))

    # A second run (as after an interruption) skips what is done and rewrites nothing.
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (out / "gray_overlay.png").unlink()  # as if killed before this one was written
    result = run(["segment", str(mixed_folder), "--out", str(out)], tmp_path, weights_cache)
    assert result.returncode == 1, result.stderr  # the two bad files are still bad
    assert "1 segmented, 3 already done, 2 failed (" in result.stdout
    for name, stamp in stamps.items():
        if not name.startswith("gray"):
            assert (out / name).stat().st_mtime_ns == stamp, name


@pytest.mark.network
def test_fit_itq_writes_parameters(tmp_path, weights_cache):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        cv2.imwrite(str(folder / f"{name}.png"), getattr(skimage.data, name)()[..., ::-1])
    out = tmp_path / "itq.npz"
    result = run(["fit-itq", "--images", str(folder), "--bits", "4", "--upscale", "1",
                  "--vectors-per-image", "200", "--out", str(out)], tmp_path, weights_cache)
    assert result.returncode == 0, result.stderr
    assert "fitted 4-bit ITQ on 600 conv5 vectors from 3 images" in result.stdout
    from tf_binmap.hashing.params import load_itq_parameters

    mean, projection = load_itq_parameters(out, bits=4, layer="conv5", dim=256)
    assert mean.shape == (256,)


@pytest.mark.network
def test_fit_merge_writes_a_scorer_that_segment_uses(tmp_path, weights_cache):
    import scipy.io

    data = tmp_path / "BSDS500" / "data"
    (data / "images" / "train").mkdir(parents=True)
    (data / "groundTruth" / "train").mkdir(parents=True)
    for name in ("astronaut", "coffee"):
        photo = getattr(skimage.data, name)()[::2, ::2]
        cv2.imwrite(str(data / "images" / "train" / f"{name}.jpg"), photo[..., ::-1])
        # One annotator: left / right halves; another: one region.
        halves = np.where(np.arange(photo.shape[1])[None, :] < photo.shape[1] // 2, 1, 2)
        halves = np.broadcast_to(halves, photo.shape[:2]).astype(np.uint16)
        cells = np.empty((1, 2), dtype=object)
        cells[0, 0] = {"Segmentation": halves, "Boundaries": np.zeros_like(halves, np.uint8)}
        cells[0, 1] = {"Segmentation": np.ones_like(halves), "Boundaries": np.zeros_like(halves, np.uint8)}
        scipy.io.savemat(data / "groundTruth" / "train" / f"{name}.mat", {"groundTruth": cells})
    out = tmp_path / "merge.npz"
    result = run(["fit-merge", "--data-root", str(tmp_path), "--epochs", "1", "--out", str(out)],
                 tmp_path, weights_cache)
    assert result.returncode == 0, result.stderr
    assert "round 2: fitted on" in result.stdout and \
        f"(2 images at sizes x1, x0.667, x0.5, 2 round(s), size exponent 30:1/60:0.5/300:0.1) -> {out}" \
        in result.stdout
    from tf_binmap.segmentation.scorer import MergeScorer

    scorer = MergeScorer.load(out)
    assert scorer.metadata["dataset"] == "BSDS500 layout, split train" and scorer.n_code == 8
    image = data / "images" / "train" / "coffee.jpg"
    result = run(["segment", str(image), "--scorer", str(out), "--segments", "12", "--out",
                  str(tmp_path / "seg")], tmp_path, weights_cache)
    assert result.returncode == 0, result.stderr
    labels = cv2.imread(str(tmp_path / "seg" / "coffee.png"), cv2.IMREAD_UNCHANGED)
    assert labels.max() == 11
    # Bad input: no .npz name, a split that is not there.
    result = run(["fit-merge", "--data-root", str(tmp_path), "--out", str(tmp_path / "m.txt")],
                 tmp_path, weights_cache)
    assert result.returncode == 2 and "ending in .npz" in result.stderr
    result = run(["fit-merge", "--data-root", str(tmp_path), "--size-exponent", "300:1/30:0",
                  "--out", str(tmp_path / "m.npz")], tmp_path, weights_cache)
    assert result.returncode == 2 and "--size-exponent: size exponent '300:1/30:0'" in result.stderr
    result = run(["fit-merge", "--data-root", str(tmp_path), "--scales", "1,0",
                  "--out", str(tmp_path / "m.npz")], tmp_path, weights_cache)
    assert result.returncode == 2 and "--scales: bad training scale 0.0" in result.stderr
    result = run(["fit-merge", "--data-root", str(tmp_path), "--split", "val", "--out",
                  str(tmp_path / "m.npz")], tmp_path, weights_cache)
    assert result.returncode == 1 and "'val' is missing" in result.stderr
    assert not (tmp_path / "m.npz").exists()
    result = run(["fit-merge", "--data-root", str(tmp_path), "--out",
                  str(tmp_path / "no" / "such" / "m.npz")], tmp_path, weights_cache)
    assert result.returncode == 1 and "does not exist; create it first" in result.stderr


@pytest.mark.network
def test_missing_image_is_a_clear_error(tmp_path, weights_cache):
    result = run(["features", str(tmp_path / "nope.jpg")], tmp_path, weights_cache)
    assert result.returncode == 1
    assert "nope.jpg" in result.stderr


@pytest.mark.network
def test_demo_writes_one_figure_per_photo(tmp_path, weights_cache):
    out = tmp_path / "demo"
    result = run(["demo", "--out", str(out)], tmp_path, weights_cache)
    assert result.returncode == 0, result.stderr
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        assert f"{out / name}.png" in result.stdout
        figure = cv2.imread(str(out / f"{name}.png"))
        photo = getattr(skimage.data, name)()
        # Four panels at the photo's height: image | binary map | superpixels | segments.
        assert figure.shape[0] == photo.shape[0]
        assert figure.shape[1] >= 4 * photo.shape[1]
    # The 600x400 coffee photo is over max_side (512): the line says so.
    assert "coffee: 600x400 (segmented at 512x341)" in result.stdout
    assert "chelsea: 451x300, code map" in result.stdout


@pytest.mark.network
def test_bench_prints_ratios_and_writes_json(tmp_path, weights_cache):
    import json

    result = run(["bench", "--size", "241", "321", "--images", "2", "--repeats", "1",
                  "--json", str(tmp_path / "bench.json")], tmp_path, weights_cache)
    assert result.returncode == 0, result.stderr
    assert "| ours (Keras) |" in result.stdout
    assert "| EGS alone (scikit-image) |" in result.stdout
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    assert rows["EGS alone (scikit-image)"]["x_egs"] == 1.0
    assert set(rows) == {"ours (Keras)", "EGS alone (scikit-image)", "EGS alone (compiled)",
                         "SLIC alone (scikit-image)"}
    ours = rows["ours (Keras)"]
    assert ours["total_ms"] > ours["merge_ms"] > 0 and ours["network_ms"] > 0
    assert ours["x_egs"] > 0


@pytest.mark.network
def test_killed_run_resumes_without_rewriting_finished_images(tmp_path, weights_cache):
    import signal
    import time

    folder = tmp_path / "many"
    folder.mkdir()
    photo = skimage.data.coffee()[::2, ::2]
    for index in range(12):
        cv2.imwrite(str(folder / f"img{index:02d}.jpg"), np.roll(photo, 7 * index, 1)[..., ::-1])
    out = tmp_path / "out"
    env = dict(os.environ, TF_BINMAP_CACHE=str(weights_cache), TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(
        [sys.executable, "-m", "tf_binmap.cli", "segment", str(folder), "--out", str(out),
         "--batch", "1", "--quiet"], env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if len(list(out.glob("img??.png"))) >= 3:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait(timeout=60)
    finished = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")
                if all((out / f"{p.stem.split('_')[0]}{k}.png").is_file()
                       for k in ("", "_overlay", "_binary_map"))}
    assert finished, "nothing finished before the kill"
    assert len(list(out.glob("img??.png"))) < 12, "the run ended before it could be killed"
    # A kill can leave at most a hidden temp file, never a partial output file.
    result = run(["segment", str(folder), "--out", str(out)], tmp_path, weights_cache)
    assert result.returncode == 0, result.stderr
    assert len(list(out.glob("img??.png"))) == 12
    for name, stamp in finished.items():
        assert (out / name).stat().st_mtime_ns == stamp, f"{name} was rewritten"


@pytest.mark.network
def test_segment_refuses_clashing_names_other_settings_and_misfit_flags(tmp_path,
                                                                       weights_cache):
    folder = tmp_path / "in"
    folder.mkdir()
    photo = skimage.data.chelsea()[::2, ::2, ::-1]
    cv2.imwrite(str(folder / "cat.jpg"), photo)
    cv2.imwrite(str(folder / "cat.png"), photo)  # same stem: same output names
    cv2.imwrite(str(folder / "dog.png"), photo)
    out = tmp_path / "out"
    result = run(["segment", str(folder), "--out", str(out)], tmp_path, weights_cache)
    assert result.returncode == 1
    assert "1 segmented, 0 already done, 2 failed (" in result.stdout
    assert "would also be written for" in result.stderr
    assert (out / "dog.png").is_file() and not (out / "cat.png").exists()

    # The same folder with other settings is refused, not silently reused.
    result = run(["segment", str(folder / "dog.png"), "--out", str(out),
                  "--merge", "codes", "--superpixels", "slic"], tmp_path, weights_cache)
    assert result.returncode == 1 and "made with other settings" in result.stderr
    result = run(["segment", str(folder / "dog.png"), "--out", str(out),
                  "--merge", "codes", "--superpixels", "slic", "--redo"], tmp_path, weights_cache)
    assert result.returncode == 0 and "1 segmented" in result.stdout

    # Flags of the other method or superpixels, bad values, nothing to do.
    result = run(["segment", str(folder), "--out", str(out), "--n-segments", "50"],
                 tmp_path, weights_cache)
    assert result.returncode == 2 and "--n-segments: setting(s) of the paper's method" \
        in result.stderr
    result = run(["segment", str(folder), "--out", str(out), "--merge", "codes",
                  "--n-segments", "50"], tmp_path, weights_cache)
    assert result.returncode == 2 and "--n-segments is a SLIC setting" in result.stderr
    result = run(["segment", str(folder), "--out", str(out), "--merge", "codes",
                  "--segments", "50"], tmp_path, weights_cache)
    assert result.returncode == 2 and "--segments sets the hierarchy" in result.stderr
    result = run(["segment", str(folder), "--batch", "0"], tmp_path, weights_cache)
    assert result.returncode == 2 and "must be > 0" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(["segment", str(empty)], tmp_path, weights_cache)
    assert result.returncode == 1 and "no images found" in result.stderr


@pytest.mark.data
def test_evaluate_dataset_option_reaches_the_reader(tmp_path, weights_cache):
    from tf_binmap.evaluation.datasets import default_data_root

    if default_data_root() is None:
        pytest.skip("../shared/data is not here")
    result = run(["evaluate", "--dataset", "bsds500:nosuch", "--methods", "egs",
                  "--limit", "1", "--out", str(tmp_path)], tmp_path, weights_cache)
    assert result.returncode == 1 and "nosuch" in result.stderr
    result = run(["evaluate", "--dataset", "bsds500:train", "--methods", "egs:scale=200",
                  "--limit", "2", "--out", str(tmp_path / "train")], tmp_path, weights_cache)
    assert result.returncode == 0, result.stderr
    assert "split='train'" in result.stdout


@pytest.mark.data
def test_evaluate_region_benchmark_on_two_images(tmp_path, weights_cache):
    import json

    from tf_binmap.evaluation.datasets import BSDS500, default_data_root
    from tf_binmap.evaluation.region_sweeps import run_region_benchmark

    if default_data_root() is None:
        pytest.skip("../shared/data is not here")
    methods = ["egs:sigma=0.8", "slic", "hierarchy:preset=none"]  # no network needed
    out = tmp_path / "region"
    result = run(["evaluate", "--region-benchmark", "--methods", *methods, "--limit", "2",
                  "--out", str(out)], tmp_path, weights_cache)
    assert result.returncode == 0, result.stderr
    saved = json.loads((out / "region_benchmark.json").read_text())
    table = (out / "region_benchmark.md").read_text()
    assert saved["n_images"] == 2 and saved["image_names"] == ["101085", "101087"]
    assert [s["name"] for s in saved["sweeps"]] == [
        "EGS (sigma=0.8)", "SLIC", "hierarchy (no CNN), count cuts"]
    # The same numbers as the Python API on the same images.
    expected = run_region_benchmark(BSDS500(default_data_root(), "val"), methods, limit=2,
                                    progress=False)
    for got, want in zip(saved["sweeps"], expected["sweeps"]):
        for metric in ("covering", "pri", "voi"):
            assert got[metric]["ods"] == pytest.approx(want[metric]["ods"], rel=1e-12)
            assert got[metric]["ois"] == pytest.approx(want[metric]["ois"], rel=1e-12)
            assert got[metric]["ods_value"] == want[metric]["ods_value"]
        assert f"| {got['name']} | {got['covering']['ods']:.3f} |" in table
        assert f"| {got['name']} | {got['covering']['ods']:.3f} |" in result.stdout
    assert "published, BSDS500 test:* gPb-owt-ucm" in table and "another set of images" in table
    assert "Difference to gPb-owt-ucm" in table
    result = run(["evaluate", "--region-benchmark", "--curves", "--limit", "1"], tmp_path,
                 weights_cache)
    assert result.returncode == 2 and "leave out --curves" in result.stderr


@pytest.mark.network
def test_segment_default_is_the_hierarchy_with_the_asked_count(tmp_path, weights_cache):
    import json

    image = tmp_path / "cat.png"
    cv2.imwrite(str(image), skimage.data.chelsea()[::2, ::2, ::-1])
    out = tmp_path / "out"
    result = run(["segment", str(image), "--out", str(out), "--segments", "30"], tmp_path,
                 weights_cache)
    assert result.returncode == 0, result.stderr
    labels = cv2.imread(str(out / "cat.png"), cv2.IMREAD_UNCHANGED)
    assert len(np.unique(labels)) == 30 and labels.max() == 29
    settings = json.loads((out / "tf_binmap_segment.json").read_text())
    assert settings["merge"] == "hierarchy" and settings["model"] == "binmap_conv5_x1"
    from tf_binmap.segmentation.scorer import MergeScorer

    assert settings["hierarchy"]["scorer"] == MergeScorer.from_preset().fingerprint()

    # The weighted distance is one flag away; another merge order is other settings.
    result = run(["segment", str(image), "--out", str(out), "--segments", "30",
                  "--scorer", "none"], tmp_path, weights_cache)
    assert result.returncode == 1 and "made with other settings" in result.stderr
    result = run(["segment", str(image), "--out", str(tmp_path / "distance"), "--segments",
                  "30", "--scorer", "none"], tmp_path, weights_cache)
    assert result.returncode == 0, result.stderr
    distance = cv2.imread(str(tmp_path / "distance" / "cat.png"), cv2.IMREAD_UNCHANGED)
    assert len(np.unique(distance)) == 30 and not np.array_equal(distance, labels)
    result = run(["segment", str(image), "--scorer", str(tmp_path / "missing.npz")], tmp_path,
                 weights_cache)
    assert result.returncode == 1 and "merge scorer file not found" in result.stderr
    result = run(["segment", str(image), "--merge", "codes", "--scorer", "none"], tmp_path,
                 weights_cache)
    assert result.returncode == 2 and "--scorer sets the hierarchy's merge order" in result.stderr

    # The paper's method stays one flag away, on its own x2 preset.
    paper = tmp_path / "paper"
    result = run(["segment", str(image), "--out", str(paper), "--merge", "codes"], tmp_path,
                 weights_cache)
    assert result.returncode == 0, result.stderr
    settings = json.loads((paper / "tf_binmap_segment.json").read_text())
    assert settings["merge"] == "codes" and settings["model"] == "binmap_conv5"

    # A missing export is named.
    result = run(["bench", "--tflite", str(tmp_path / "any.tflite")], tmp_path, weights_cache)
    assert result.returncode == 1 and "any.tflite does not exist" in result.stderr


@pytest.mark.network
def test_segment_shrinks_large_photos_to_max_side_and_writes_full_size_labels(tmp_path,
                                                                              weights_cache):
    import json

    image = tmp_path / "big.png"
    big = cv2.resize(skimage.data.chelsea(), (1353, 900), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(image), big[:, :, ::-1])
    out = tmp_path / "out"
    result = run(["segment", str(image), "--out", str(out), "--segments", "20"], tmp_path,
                 weights_cache)
    assert result.returncode == 0, result.stderr
    labels = cv2.imread(str(out / "big.png"), cv2.IMREAD_UNCHANGED)
    overlay = cv2.imread(str(out / "big_overlay.png"))
    assert labels.shape == overlay.shape[:2] == (900, 1353)
    assert len(np.unique(labels)) == 20 and labels.max() == 19
    settings = json.loads((out / "tf_binmap_segment.json").read_text())
    assert settings["max_side"] == 512
    # Another working size is another setting; the paper's method shrinks as well.
    result = run(["segment", str(image), "--out", str(out), "--max-side", "0"], tmp_path,
                 weights_cache)
    assert result.returncode == 1 and "made with other settings" in result.stderr
    result = run(["segment", str(image), "--out", str(tmp_path / "paper"), "--merge", "codes"],
                 tmp_path, weights_cache)
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(tmp_path / "paper" / "big.png"), cv2.IMREAD_UNCHANGED).shape == \
        (900, 1353)
    result = run(["segment", str(image), "--max-side", "100"], tmp_path, weights_cache)
    assert result.returncode == 2 and "--max-side" in result.stderr and ">= 128" in result.stderr
    result = run(["segment", "--help"], tmp_path, weights_cache)
    help_text = " ".join(result.stdout.split())
    assert "--max-side" in help_text and "(default 512;" in help_text  # DEFAULT_MAX_SIDE
