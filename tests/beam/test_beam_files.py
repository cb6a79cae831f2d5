"""Beam filesystems other than the local disk (a stand-in ``tfbtest://`` store, a local
folder behind Beam's FileSystem interface): inputs listed and read through it, the same
output files written there, atomically; and the runner options."""

from __future__ import annotations

import os

import cv2
import pytest
import skimage.data

pytest.importorskip("apache_beam", reason="needs the optional extra tf-binmap[beam]")

from apache_beam.io.filesystem import FileMetadata  # noqa: E402
from apache_beam.io.filesystems import FileSystems  # noqa: E402
from apache_beam.io.localfilesystem import LocalFileSystem  # noqa: E402

from tf_binmap.beam import files  # noqa: E402
from tf_binmap.beam.runners import pipeline_options  # noqa: E402

ROOT_VARIABLE = "TF_BINMAP_TEST_STORE"


class _StoreFileSystem(LocalFileSystem):
    """``tfbtest://KEY`` is the file ``$TF_BINMAP_TEST_STORE/KEY`` (this process only;
    every method on ``os`` directly, as LocalFileSystem's call each other)."""

    @classmethod
    def scheme(cls):
        return "tfbtest"

    @staticmethod
    def _local(path):
        return os.path.join(os.environ[ROOT_VARIABLE], path[len("tfbtest://"):])

    @staticmethod
    def _url(local):
        return "tfbtest://" + os.path.relpath(local, os.environ[ROOT_VARIABLE])

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/"), *paths])

    def split(self, path):
        head, tail = path.rstrip("/").rsplit("/", 1)
        return head, tail

    def _url_dirname(self, url):
        return self.split(url)[0]

    def mkdirs(self, path):
        super().mkdirs(self._local(path))

    def _list(self, prefix):
        local = self._local(prefix)
        for folder, _, names in os.walk(local if os.path.isdir(local) else
                                        os.path.dirname(local)):
            for name in names:
                path = os.path.join(folder, name)
                yield FileMetadata(self._url(path), os.path.getsize(path),
                                   os.path.getmtime(path))

    def metadata(self, path):
        local = self._local(path)
        return FileMetadata(path, os.path.getsize(local), os.path.getmtime(local))

    def create(self, path, *args, **kwargs):
        return super().create(self._local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def rename(self, sources, targets):
        for source, target in zip(sources, targets):
            os.replace(self._local(source), self._local(target))

    def exists(self, path):
        return os.path.exists(self._local(path))

    def delete(self, paths):
        for path in paths:
            os.remove(self._local(path))


@pytest.fixture
def store(tmp_path, monkeypatch):
    root = tmp_path / "store"
    (root / "in").mkdir(parents=True)
    monkeypatch.setenv(ROOT_VARIABLE, str(root))
    return root


def test_atomic_writes_leave_the_old_file_or_the_new_one(store, monkeypatch):
    target = "tfbtest://out/a.png"
    files.write_atomic(target, b"old")
    assert (store / "out" / "a.png").read_bytes() == b"old"

    def broken_rename(sources, targets):
        raise OSError("the store went away")

    monkeypatch.setattr(FileSystems, "rename", broken_rename)
    with pytest.raises(OSError, match="went away"):
        files.write_atomic(target, b"new")
    assert os.listdir(store / "out") == ["a.png"]  # no temporary file left
    assert (store / "out" / "a.png").read_bytes() == b"old"
    # An object store (gs://, s3://): written at its name, it appears when complete.
    monkeypatch.setattr(files, "DIRECT_WRITE_SCHEMES", ("tfbtest",))
    files.write_atomic(target, b"new")
    assert (store / "out" / "a.png").read_bytes() == b"new"


@pytest.mark.slow
@pytest.mark.network
def test_inputs_and_outputs_on_another_filesystem(store, tmp_path, monkeypatch,
                                                  weights_cache):
    from tf_binmap.batch.folder import segment_files
    from tf_binmap.beam.handlers import KerasModelHandler
    from tf_binmap.beam.segment import read_manifest, segment_with_beam
    from tf_binmap.segmentation.segmenter import Segmenter

    for name in ("coffee", "chelsea"):
        cv2.imwrite(str(store / "in" / f"{name}.jpg"), getattr(skimage.data, name)()[::2, ::-2])
    (store / "in" / "notes.png").write_text("not a picture")
    (store / "in" / "readme.txt").write_text("not listed: no image suffix")
    segment_files(Segmenter.from_preset(n_segments=30), sorted((store / "in").glob("*.jpg")),
                  tmp_path / "segment", progress=False)
    expected = {p.name: p.read_bytes() for p in (tmp_path / "segment").glob("*.png")}

    handler = KerasModelHandler(n_segments=30)
    summary = segment_with_beam(["tfbtest://in/"], "tfbtest://out", handler)
    assert (summary.done, len(summary.failures)) == (2, 1)
    assert summary.failures[0][0] == "tfbtest://in/notes.png"
    assert "tfbtest://in/notes.png: not a readable image" in summary.failures[0][1]
    out = store / "out"
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == expected
    assert (out / "tf_binmap_segment.json").read_text() == \
        (tmp_path / "segment" / "tf_binmap_segment.json").read_text()
    rows = read_manifest("tfbtest://out")
    assert {row["input"] for row in rows} == {f"tfbtest://in/{name}" for name in
                                              ("coffee.jpg", "chelsea.jpg", "notes.png")}
    assert "tfbtest://out/coffee.png" in next(r["outputs"] for r in rows
                                              if r["input"].endswith("coffee.jpg"))
    assert not [name for name in os.listdir(out) if name.startswith(".")]

    summary = segment_with_beam(["tfbtest://in/*.jpg"], "tfbtest://out", handler)
    assert (summary.done, summary.skipped, summary.failures) == (0, 2, [])
    # As on an object store, each file written at its name: the same files.
    monkeypatch.setattr(files, "DIRECT_WRITE_SCHEMES", ("tfbtest",))
    summary = segment_with_beam(["tfbtest://in/*.jpg"], "tfbtest://out", handler, redo=True)
    assert summary.done == 2
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == expected


def test_runner_options_say_what_fits():
    options = pipeline_options("direct", 2, ["--direct_runner_bundle_repeat=0"])
    flags = options.get_all_options()
    assert flags["runner"] == "FnApiRunner" and flags["direct_num_workers"] == 2
    assert flags["direct_running_mode"] == "multi_threading"
    flags = pipeline_options("direct", 2, processes=True).get_all_options()
    assert flags["direct_running_mode"] == "multi_processing"
    # Beam's own flags come last and win.
    flags = pipeline_options("direct", 2, ["--direct_running_mode=multi_processing"]
                             ).get_all_options()
    assert flags["direct_running_mode"] == "multi_processing"
    with pytest.raises(ValueError, match="processes needs workers > 1"):
        pipeline_options("direct", 1, processes=True)
    with pytest.raises(ValueError, match="unknown runner 'local'; choose from direct"):
        pipeline_options("local")
    with pytest.raises(ValueError, match="Flink --parallelism"):
        pipeline_options("flink", 2)
    with pytest.raises(ValueError, match="not as a Beam flag"):
        pipeline_options("direct", 1, ["--runner=DirectRunner"])
    with pytest.raises(ValueError, match=r"gs://bucket/x: Beam has no filesystem for gs:// "
                       r"here; pip install 'apache-beam\[gcp\]'"):
        files.check_filesystem("gs://bucket/x")
