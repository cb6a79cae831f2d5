"""``tf-binmap beam-segment`` and ``beam-fit-itq`` driven as a user would (subprocess)."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest
import skimage.data
from helpers import run_cli as run
from helpers import write_mixed_folder

pytest.importorskip("apache_beam", reason="needs the optional extra tf-binmap[beam]")

pytestmark = pytest.mark.slow


@pytest.fixture
def mixed_folder(tmp_path):
    """Good photos in four flavours; a truncated JPEG, text named .png, an image below
    the network's receptive field, and two inputs whose outputs would clash."""
    folder = tmp_path / "in"
    photo = write_mixed_folder(folder)
    cv2.imwrite(str(folder / "tiny.png"), photo[:8, :8])
    cv2.imwrite(str(folder / "cat.jpg"), photo)
    cv2.imwrite(str(folder / "cat.png"), photo)  # cat.png would be both outputs' name
    return folder


@pytest.mark.network
def test_beam_segment_reports_bad_files_as_rows_keeps_good_ones_and_resumes(
        mixed_folder, tmp_path, weights_cache):
    out = tmp_path / "out"
    args = ["beam-segment", str(mixed_folder), "--out", str(out), "--segments", "30"]
    result = run(args, tmp_path, weights_cache)
    assert result.returncode == 1, result.stderr
    assert "4 segmented, 0 already done, 5 failed (" in result.stdout
    rows = {os.path.basename(row["input"]): row for row in map(
        json.loads, (out / "tf_binmap_manifest.jsonl").read_text().splitlines())}
    assert len(rows) == 9
    bad = {"corrupt.jpg": "truncated or corrupt", "notes.png": "not a readable image",
           "tiny.png": "too small to segment", "cat.jpg": "would also be written for",
           "cat.png": "would also be written for"}
    for name, reason in bad.items():
        row = rows[name]
        assert row["status"] == "failed" and reason in row["error"], row
        assert name in row["error"] and name in result.stderr
        assert not (out / f"{name.split('.')[0]}_overlay.png").exists()
    for name in ("rgb", "gray", "rgba", "deep"):
        row = next(row for key, row in rows.items() if key.startswith(name + "."))
        assert row["status"] == "done" and row["segments"] == 30
        labels = cv2.imread(str(out / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert labels.dtype == np.uint16 and labels.shape == (256, 256), name
        assert labels.max() == 29 and len(np.unique(labels)) == 30, name
        for kind in ("_overlay", "_binary_map"):
            assert cv2.imread(str(out / f"{name}{kind}.png")).shape == (256, 256, 3)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]

    # A re-run (as after an interruption) skips what is done and rewrites nothing else.
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    (out / "gray_overlay.png").unlink()  # as if killed before this one was written
    result = run(args, tmp_path, weights_cache)
    assert result.returncode == 1, result.stderr
    assert "1 segmented, 3 already done, 5 failed (" in result.stdout
    for name, stamp in stamps.items():
        if not name.startswith("gray"):
            assert (out / name).stat().st_mtime_ns == stamp, name


@pytest.mark.network
def test_beam_fit_itq_writes_parameters(tmp_path, weights_cache):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("astronaut", "coffee"):  # 961 and 850 conv5 vectors
        cv2.imwrite(str(folder / f"{name}.png"), getattr(skimage.data, name)()[:, ::-1])
    out = tmp_path / "itq.npz"
    result = run(["beam-fit-itq", "--images", str(folder), "--bits", "4", "--upscale", "1",
                  "--vectors-per-image", "200", "--out", str(out)], tmp_path, weights_cache)
    assert result.returncode == 0, result.stderr
    assert "fitted 4-bit ITQ on 400 conv5 vectors from 2 images" in result.stdout
    from tf_binmap.hashing.params import load_itq_parameters

    mean, projection = load_itq_parameters(out, bits=4, layer="conv5", dim=256)
    assert mean.shape == (256,) and projection.shape == (256, 4)


@pytest.mark.network  # the Prism run loads the network first (weights)
def test_beam_commands_refuse_misfit_options_and_say_what_a_runner_needs(tmp_path,
                                                                        weights_cache):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), skimage.data.chelsea()[::4, ::4])
    out = str(tmp_path / "out")
    for command in ("beam-segment", "beam-fit-itq"):
        result = run([command, "--help"], tmp_path, weights_cache)
        assert result.returncode == 0 and "examples" in result.stdout
    result = run(["beam-segment", str(photo), "--out", out, "--runner", "flink",
                  "--workers", "2"], tmp_path, weights_cache)
    assert result.returncode == 2 and "--parallelism" in result.stderr
    result = run(["beam-segment", str(photo), "--out", out, "--worker-processes"],
                 tmp_path, weights_cache)
    assert result.returncode == 2 and "--worker-processes needs --workers" in result.stderr
    result = run(["beam-segment", str(photo), "--out", out, "--saved-model", out,
                  "--preset", "binmap_conv5"], tmp_path, weights_cache)
    assert result.returncode == 2 and "--preset: settings of the Keras model" in result.stderr
    result = run(["beam-segment", str(photo), "--out", out, "--runner", "dataflow"],
                 tmp_path, weights_cache)
    assert result.returncode == 2 and "use gs:// paths" in result.stderr
    result = run(["segment", str(photo), "--direct_num_workers=2"], tmp_path, weights_cache)
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr
    # Beam's flags pass through: a Prism binary that is not there is a clear error.
    result = run(["beam-segment", str(photo), "--out", out, "--runner", "prism",
                  f"--prism_location={tmp_path / 'no_prism'}"], tmp_path, weights_cache)
    assert result.returncode == 1, result.stderr
    assert "the prism runner cannot start" in result.stderr
    assert "--prism_location" in result.stderr and "Traceback" not in result.stderr
