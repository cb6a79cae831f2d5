"""Segmenting on Apache Beam (the local runner): the files `tf-binmap segment` writes, bit
for bit, in this process and in two worker processes, with either model handler."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

pytest.importorskip("apache_beam", reason="needs the optional extra tf-binmap[beam]")

from tf_binmap.batch.folder import segment_files  # noqa: E402
from tf_binmap.beam.handlers import KerasModelHandler, SavedModelHandler  # noqa: E402
from tf_binmap.beam.runners import pipeline_options  # noqa: E402
from tf_binmap.beam.segment import MANIFEST_FILE, read_manifest, segment_with_beam  # noqa: E402
from tf_binmap.segmentation.segmenter import Segmenter  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.network]

N_SEGMENTS = 40


def photos(folder: Path) -> Path:
    """Three photos of different sizes and one larger than max_side (segmented shrunk)."""
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        cv2.imwrite(str(folder / f"{name}.png"), getattr(skimage.data, name)()[::2, ::2, ::-1])
    large = np.tile(skimage.data.chelsea()[:, :, ::-1], (2, 2, 1))  # 600x902 -> 341x512
    cv2.imwrite(str(folder / "large.jpg"), large)
    return folder


def png_bytes(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix == ".png"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, weights_cache):
    """The photos and what the in-process batch path (`tf-binmap segment`) writes."""
    root = tmp_path_factory.mktemp("beam_reference")
    folder = photos(root / "in")
    segmenter = Segmenter.from_preset(n_segments=N_SEGMENTS)
    paths = sorted(folder.iterdir())
    summary = segment_files(segmenter, paths, root / "segment", progress=False)
    assert summary.done == 4 and not summary.failures
    return folder, root / "segment"


def check_same_files(reference_out: Path, out: Path):
    expected = png_bytes(reference_out)
    assert len(expected) == 12
    assert png_bytes(out) == expected  # labels, overlays, binary maps: bit for bit
    assert (out / "tf_binmap_segment.json").read_text() == \
        (reference_out / "tf_binmap_segment.json").read_text()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries


def test_beam_writes_the_files_of_tf_binmap_segment(reference, tmp_path):
    folder, reference_out = reference
    out = tmp_path / "beam"
    summary = segment_with_beam([folder], out, KerasModelHandler(n_segments=N_SEGMENTS))
    assert (summary.done, summary.skipped, summary.failures) == (4, 0, [])
    check_same_files(reference_out, out)
    rows = {Path(row["input"]).name: row for row in read_manifest(str(out))}
    assert sorted(rows) == ["astronaut.png", "chelsea.png", "coffee.png", "large.jpg"]
    for name, row in rows.items():
        stem = Path(name).stem
        assert row["status"] == "done" and row["error"] is None and row["seconds"] > 0
        assert [Path(p).name for p in row["outputs"]] == \
            [f"{stem}.png", f"{stem}_overlay.png", f"{stem}_binary_map.png"]
        labels = cv2.imread(str(out / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert row["segments"] == labels.max() + 1 == N_SEGMENTS
    assert cv2.imread(str(out / "large.png"), cv2.IMREAD_UNCHANGED).shape == (600, 902)

    # A second run skips every finished image and rewrites nothing.
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    summary = segment_with_beam([folder], out, KerasModelHandler(n_segments=N_SEGMENTS))
    assert (summary.done, summary.skipped) == (0, 4)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")} == stamps
    assert {row["status"] for row in read_manifest(str(out))} == {"skipped"}
    # Other settings into the same folder are refused, as by `tf-binmap segment`.
    with pytest.raises(ValueError, match="made with other settings"):
        segment_with_beam([folder], out, KerasModelHandler(n_segments=N_SEGMENTS + 1))


def test_two_worker_processes_write_the_same_files(reference, tmp_path):
    """The local runner with two worker processes (each loads the network once)."""
    folder, reference_out = reference
    out = tmp_path / "beam2"
    summary = segment_with_beam([folder], out, KerasModelHandler(n_segments=N_SEGMENTS),
                                pipeline_options(workers=2, processes=True))
    assert (summary.done, summary.failures) == (4, [])
    check_same_files(reference_out, out)
    workers = {row["worker"] for row in read_manifest(str(out))}
    assert f"{socket.gethostname()}:{os.getpid()}" not in workers  # segmented in the worker processes, not here


def test_two_worker_threads_write_the_same_files(reference, tmp_path):
    """The local runner's default for workers > 1: threads of this process."""
    folder, reference_out = reference
    out = tmp_path / "beam_threads"
    summary = segment_with_beam([folder], out, KerasModelHandler(n_segments=N_SEGMENTS),
                                pipeline_options(workers=2))
    assert (summary.done, summary.failures) == (4, [])
    check_same_files(reference_out, out)
    workers = {row["worker"] for row in read_manifest(str(out))}
    assert workers == {f"{socket.gethostname()}:{os.getpid()}"}  # here, in threads


def test_the_saved_model_handler_and_the_papers_method(reference, tmp_path):
    """SavedModelHandler runs an export; with merge="codes" the paper's method."""
    from tf_binmap.export.runners import SavedModelCodeMapper
    from tf_binmap.export.saved_model import export_saved_model
    from tf_binmap.models.binary_map import BinaryMapModel

    folder, _ = reference
    export = export_saved_model(BinaryMapModel.from_preset("binmap_conv5"),
                                base_dir=tmp_path / "saved")
    paths = [folder / "coffee.png", folder / "large.jpg"]
    segmenter = Segmenter(SavedModelCodeMapper(export), merge="codes")
    segment_files(segmenter, paths, tmp_path / "segment", progress=False)
    handler = SavedModelHandler(export.parent, merge="codes", max_batch_size=2)
    summary = segment_with_beam([str(p) for p in paths], tmp_path / "beam", handler)
    assert (summary.done, summary.failures) == (2, [])
    assert png_bytes(tmp_path / "beam") == png_bytes(tmp_path / "segment")
    settings = json.loads((tmp_path / "beam" / "tf_binmap_segment.json").read_text())
    assert settings["merge"] == "codes" and settings["bits"] == 8
    assert (tmp_path / "beam" / MANIFEST_FILE).is_file()


def test_a_retried_bundle_writes_the_same_files_and_rows(reference, tmp_path):
    """A runner retries a failed bundle by running it again: FnApiRunner's bundle repeat
    runs every bundle twice. The files are the same, and each image is one done row."""
    folder, reference_out = reference
    out = tmp_path / "retried"
    options = pipeline_options(args=["--direct_runner_bundle_repeat=1"])
    summary = segment_with_beam([folder], out, KerasModelHandler(n_segments=N_SEGMENTS),
                                options)
    assert (summary.done, summary.skipped, summary.failures) == (4, 0, [])
    check_same_files(reference_out, out)
    assert len(read_manifest(str(out))) == 4


def test_a_keras_file_runs_as_its_preset(reference, tmp_path):
    from tf_binmap.models.binary_map import BinaryMapModel

    folder, reference_out = reference
    BinaryMapModel.from_preset("binmap_conv5_x1").save(tmp_path / "model.keras")
    handler = KerasModelHandler(model_file=tmp_path / "model.keras", n_segments=N_SEGMENTS)
    summary = segment_with_beam([folder / "coffee.png"], tmp_path / "out", handler)
    assert summary.done == 1
    assert png_bytes(tmp_path / "out") == {name: data for name, data in
                                           png_bytes(reference_out).items()
                                           if name.startswith("coffee")}
    assert (tmp_path / "out" / "tf_binmap_segment.json").read_text() == \
        (reference_out / "tf_binmap_segment.json").read_text()
    with pytest.raises(ValueError, match="either model_file"):
        KerasModelHandler("binmap_conv5", model_file=tmp_path / "model.keras")
    with pytest.raises(TypeError, match="must be plain values"):
        KerasModelHandler(hierarchy_params={"scorer": object()})
