"""Image files at the edges: EXIF orientation, CMYK and palette images, animated and
multi-page files, decompression bombs, empty, unreadable and foreign files. Every input
is made here; no binary fixture is committed."""

from __future__ import annotations

import io
import logging
import os
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

import tf_binmap.io.images as images_module
from tf_binmap.io import ImageReadError, list_images, read_image_rgb
from tf_binmap.io.images import MAX_IMAGE_PIXELS, MAX_PIXELS_VARIABLE, max_image_pixels

REPO = Path(__file__).resolve().parents[1]


def _rgb(height=6, width=9, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def _exif(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width=12000, height=10000) -> bytes:
    """A valid greyscale PNG of zeros: ~120 kB that decodes to width x height bytes."""
    compressor = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0 + the row
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body)
            + _png_chunk(b"IEND", b""))


def gif_claiming(width, height) -> bytes:
    """A 100-byte GIF whose logical screen is width x height, with one 1x1 frame; PIL
    decodes it onto a full-size canvas."""
    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0)
            + b"\0\0\0\xff\xff\xff"  # a two-colour global palette
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
            + b"\x3b")


# ---------------------------------------------------------------- EXIF orientation
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_viewers_show_it(tmp_path, orientation, caplog):
    stored = _rgb()
    path = tmp_path / f"o{orientation}.jpg"
    Image.fromarray(stored).save(path, quality=100, subsampling=0, exif=_exif(orientation))
    with caplog.at_level(logging.INFO, logger="tf_binmap.io"):
        result = read_image_rgb(path)
    with Image.open(path) as image:
        shown = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    np.testing.assert_array_equal(result, shown)
    assert result.shape == ((9, 6, 3) if orientation >= 5 else (6, 9, 3))
    if orientation > 1:
        assert f"EXIF orientation {orientation}" in caplog.text and path.name in caplog.text


def test_orientation_six_puts_the_stored_top_left_at_the_top_right(tmp_path):
    # Orientation 6: the camera was turned clockwise; viewers rotate the stored pixels
    # 90 degrees clockwise, so the stored top-left corner shows at the top right.
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:10, :10] = 255
    path = tmp_path / "portrait.png"
    Image.fromarray(stored).save(path, exif=_exif(6))
    shown = read_image_rgb(path)
    assert shown.shape == (60, 40, 3)
    assert shown[:10, -10:].min() == 255 and shown[-10:, :10].max() == 0


def test_exif_orientation_of_a_sixteen_bit_png(tmp_path):
    # 16-bit colour is decoded by OpenCV (full precision); the orientation still counts.
    deep = np.random.default_rng(2).integers(0, 65536, size=(4, 6, 3)).astype(np.uint16)
    ok, encoded = cv2.imencode(".png", deep[:, :, ::-1])
    data = encoded.tobytes()
    exif_chunk = _png_chunk(b"eXIf", _exif(8)[6:])  # the TIFF block, without "Exif\0\0"
    path = tmp_path / "deep.png"
    path.write_bytes(data[:33] + exif_chunk + data[33:])  # after the signature and IHDR
    expected = np.rint(deep.astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(read_image_rgb(path), np.rot90(expected, 1))


def test_corrupt_exif_is_ignored_and_the_pixels_kept(tmp_path):
    path = tmp_path / "odd_exif.jpg"
    Image.fromarray(_rgb()).save(path, quality=100, subsampling=0,
                                 exif=b"Exif\0\0II*\0\xff\xff\xff\x7f")  # IFD past the end
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert read_image_rgb(path).shape == (6, 9, 3)


# ------------------------------------------------------------- modes and frames
@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_images_become_rgb(tmp_path, suffix, caplog):
    cmyk = Image.fromarray(_rgb(16, 16)).convert("CMYK")
    path = tmp_path / f"cmyk{suffix}"
    cmyk.save(path)
    with caplog.at_level(logging.INFO, logger="tf_binmap.io"):
        result = read_image_rgb(path)
    with Image.open(path) as image:
        assert image.mode == "CMYK"
        np.testing.assert_array_equal(result, np.asarray(image.convert("RGB")))
    assert "CMYK image converted to RGB" in caplog.text


def test_palette_gif_with_transparency_drops_it(tmp_path):
    image = Image.fromarray(_rgb()).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    path = tmp_path / "palette.gif"
    image.save(path, transparency=0)
    expected = np.asarray(Image.open(path).convert("RGBA"))[:, :, :3]
    np.testing.assert_array_equal(read_image_rgb(path), expected)


@pytest.mark.parametrize("suffix", [".gif", ".tif"])
def test_animated_gif_and_multi_page_tiff_give_the_first_frame(tmp_path, suffix, caplog):
    first, second = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)
    first[:4] = (255, 0, 0)
    path = tmp_path / f"frames{suffix}"
    Image.fromarray(first).save(path, save_all=True, append_images=[Image.fromarray(second)])
    with Image.open(path) as image:
        assert image.n_frames == 2
    with caplog.at_level(logging.INFO, logger="tf_binmap.io"):
        np.testing.assert_array_equal(read_image_rgb(path), first)
    assert "2 frames" in caplog.text and "the first is used" in caplog.text


def test_folders_list_gif_files(tmp_path):
    Image.fromarray(_rgb()).save(tmp_path / "a.gif")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_images(tmp_path)] == ["a.gif"]


# --------------------------------------------------------- decompression bombs
def _read_in_a_fresh_process(path, max_pixels=None):
    """read_image_rgb(path) in a new interpreter -> (error message or shape, peak RSS
    growth in MB during the call)."""
    script = (
        "import resource, sys\n"
        "from tf_binmap.io.images import read_image_rgb\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        f"    outcome = str(read_image_rgb(sys.argv[1], max_pixels={max_pixels!r}).shape)\n"
        "except Exception as error:\n"
        "    outcome = f'{type(error).__name__}: {error}'\n"
        "grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(outcome); print(grown / 1024)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    outcome, grown = result.stdout.strip().splitlines()[-2:]
    return outcome, float(grown)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in kB is Linux's")
@pytest.mark.parametrize("kind", ["png", "gif", "gif_over_pil_limit"])
def test_decompression_bomb_is_refused_before_decoding(tmp_path, kind):
    data, claimed = {
        "png": lambda: (png_bomb(12000, 10000), (12000, 10000)),  # zlib: 120 MB of zeros
        "gif": lambda: (gif_claiming(15000, 10000), (15000, 10000)),
        "gif_over_pil_limit": lambda: (gif_claiming(65535, 65535), (65535, 65535)),
    }[kind]()
    path = tmp_path / f"bomb.{kind[:3]}"
    path.write_bytes(data)
    assert len(data) < 200_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's DecompressionBombWarning when it opens it
        if kind != "gif_over_pil_limit":
            with Image.open(path) as image:  # a real bomb: decoding needs >= 120 MB
                assert image.size == claimed
        with pytest.raises(ImageReadError) as error:
            read_image_rgb(path)
    message = str(error.value)
    megapixels = claimed[0] * claimed[1] / 1e6
    assert str(path) in message and f"{megapixels:.1f} megapixels" in message
    assert f"limit of {MAX_IMAGE_PIXELS / 1e6:g} megapixels" in message
    assert "--max-pixels" in message and MAX_PIXELS_VARIABLE in message
    outcome, grown_mb = _read_in_a_fresh_process(path)
    assert outcome.startswith("ImageReadError") and "over the limit" in outcome
    assert grown_mb < 64, f"refusing {path.name} grew the peak memory by {grown_mb:.0f} MB"


def test_the_limit_is_a_parameter_an_environment_variable_and_zero_is_none(tmp_path,
                                                                        monkeypatch):
    path = tmp_path / "small.png"
    Image.fromarray(_rgb(64, 80)).save(path)
    with pytest.raises(ImageReadError, match=r"small\.png: a 80x64 image .* limit of "
                                             r"0\.005 megapixels"):
        read_image_rgb(path, max_pixels=5000)
    assert read_image_rgb(path, max_pixels=5120).shape == (64, 80, 3)
    monkeypatch.setenv(MAX_PIXELS_VARIABLE, "5000")
    assert max_image_pixels() == 5000
    with pytest.raises(ImageReadError, match="over the limit"):
        read_image_rgb(path)
    assert read_image_rgb(path, max_pixels=0).shape == (64, 80, 3)  # the parameter wins
    monkeypatch.setenv(MAX_PIXELS_VARIABLE, "1e8")
    assert max_image_pixels() == 100_000_000
    monkeypatch.setenv(MAX_PIXELS_VARIABLE, "lots")
    with pytest.raises(ValueError, match=f"{MAX_PIXELS_VARIABLE}='lots': expected a whole"):
        read_image_rgb(path)
    monkeypatch.delenv(MAX_PIXELS_VARIABLE)
    assert max_image_pixels() == MAX_IMAGE_PIXELS
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="max_pixels="):
            max_image_pixels(bad)


def test_a_limit_above_pils_own_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL errors above 2000
    path = tmp_path / "medium.png"
    Image.fromarray(_rgb(64, 80)).save(path)  # 5120 pixels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ImageReadError, match=r"medium\.png: the image \(0\.0 megapixels\)"
                                                 r" is over the limit of 0\.004"):
            read_image_rgb(path, max_pixels=4000)
        assert read_image_rgb(path, max_pixels=6000).shape == (64, 80, 3)


# ------------------------------------------------------- empty, unreadable, foreign
def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty\.jpg: empty file \(0 bytes\)"):
        read_image_rgb(tmp_path / "empty.jpg")


def test_a_folder_given_as_an_image(tmp_path):
    (tmp_path / "album.jpg").mkdir()
    with pytest.raises(ImageReadError, match=r"album\.jpg: is a folder, not an image file"):
        read_image_rgb(tmp_path / "album.jpg")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_is_not_read(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ImageReadError, match=r"pipe\.png: not a regular file"):
        read_image_rgb(tmp_path / "pipe.png")


def test_permission_denied_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "locked.png"
    Image.fromarray(_rgb()).save(path)

    def refusing_open(file, *args, **kwargs):  # root reads files whatever their mode
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(images_module, "open", refusing_open, raising=False)
    with pytest.raises(ImageReadError, match=r"locked\.png: permission denied; make the "
                                             r"file readable"):
        read_image_rgb(path)


def test_a_file_in_a_folder_that_cannot_be_searched(tmp_path, monkeypatch):
    path = tmp_path / "hidden" / "photo.png"
    real_stat = Path.stat

    def refusing_stat(self, *args, **kwargs):  # root searches any folder
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", refusing_stat)
    with pytest.raises(ImageReadError, match=r"photo\.png: permission denied \(its folder"):
        read_image_rgb(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root user")
def test_unreadable_file_for_real(tmp_path):
    path = tmp_path / "locked.png"
    Image.fromarray(_rgb()).save(path)
    path.chmod(0)
    try:
        with pytest.raises(ImageReadError, match="permission denied"):
            read_image_rgb(path)
    finally:
        path.chmod(0o600)


def test_formats_that_run_other_programs_are_refused(tmp_path):
    # PIL would hand an EPS file to Ghostscript; tf_binmap reads image formats only.
    path = tmp_path / "figure.jpg"
    path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(ImageReadError, match=r"figure\.jpg: not a readable image file"):
        read_image_rgb(path)


def test_a_zero_sized_header_is_refused(tmp_path):
    header = struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)  # a PNG 0 pixels wide
    (tmp_path / "flat.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"")) + _png_chunk(b"IEND", b""))
    with pytest.raises(ImageReadError, match=r"flat\.png: "):
        read_image_rgb(tmp_path / "flat.png")


def test_pil_warnings_never_escape_as_exceptions(tmp_path):
    # A TIFF cut inside its first directory: PIL warns "Corrupt EXIF data"; with
    # warnings as errors (python -W error) that is still an ImageReadError.
    buffer = io.BytesIO()
    Image.fromarray(_rgb(64, 80)).save(buffer, "TIFF")
    path = tmp_path / "cut.tif"
    path.write_bytes(buffer.getvalue()[:38])
    for action in ("error", "ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter(action)
            with pytest.raises(ImageReadError, match=r"cut\.tif"):
                read_image_rgb(path)


# ---------------------------------------------------------- in a batch, and the CLI
class _SmallModel:
    """A stand-in binary-map model (8 bits, stride 16, receptive field 31): random
    projections, so segment_files runs without a network."""

    name, bits, upscale, geometry, min_input_size = "small", 8, 1.0, (16, 15), 31

    def projections(self, images):
        images = np.asarray(images)
        height, width = images.shape[1:3]
        rng = np.random.default_rng(0)
        return rng.normal(size=(len(images), (height - 31) // 16 + 1,
                                (width - 31) // 16 + 1, 8))

    def encode(self, images):
        bits = (self.projections(images) >= 0).astype(np.int64)
        return (bits << np.arange(8)).sum(axis=-1)


def test_segment_files_reports_each_bad_file_and_honours_max_pixels(tmp_path):
    from tf_binmap.batch.folder import segment_files
    from tf_binmap.segmentation.segmenter import Segmenter

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(_rgb(64, 80)).save(folder / "good.png")        # 5120 pixels
    Image.fromarray(_rgb(64, 100, seed=1)).save(folder / "big.png")  # 6400 pixels
    Image.fromarray(_rgb(1, 1)).save(folder / "dot.png")
    (folder / "empty.jpg").write_bytes(b"")
    segmenter = Segmenter(_SmallModel(), n_segments=5)
    paths = list_images(folder)
    summary = segment_files(segmenter, paths, tmp_path / "out", progress=False,
                            max_pixels=6000)
    reasons = {Path(path).name: message for path, message in summary.failures}
    assert summary.done == 1 and sorted(reasons) == ["big.png", "dot.png", "empty.jpg"]
    assert "over the limit of 0.006 megapixels" in reasons["big.png"]
    assert "a 1x1 image is too small to segment" in reasons["dot.png"]
    assert "empty file (0 bytes)" in reasons["empty.jpg"]
    assert all(message.startswith(str(folder)) for message in reasons.values())
    summary = segment_files(segmenter, paths, tmp_path / "out", progress=False,
                            max_pixels=0)
    assert summary.done == 1 and summary.skipped == 1 and len(summary.failures) == 2
    with pytest.raises(ValueError, match="max_pixels=-1"):
        segment_files(segmenter, paths, tmp_path / "out", progress=False, max_pixels=-1)


def test_the_cli_help_states_the_real_default_limit():
    from tf_binmap.cli.main import build_parser

    parser = build_parser()
    actions = {action.dest: action for action in parser._subparsers._group_actions}
    segment = actions["command"].choices["segment"]
    help_text = " ".join(segment.format_help().split())
    assert f"default {MAX_IMAGE_PIXELS}" in help_text and MAX_PIXELS_VARIABLE in help_text
    export = actions["command"].choices["export"]
    from tf_binmap.export.metadata import DEFAULT_MAX_REQUEST_PIXELS

    assert f"default {DEFAULT_MAX_REQUEST_PIXELS}" in " ".join(export.format_help().split())
