import logging
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from tf_binmap.io import (
    ImageReadError,
    ImageWriteError,
    decode_image_rgb,
    read_image_rgb,
    write_png_atomic,
)


def _rgb(height=5, width=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def test_rgb_png_round_trip(tmp_path):
    image = _rgb()
    Image.fromarray(image).save(tmp_path / "a.png")
    result = read_image_rgb(tmp_path / "a.png")
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, image)


def test_grayscale_becomes_rgb(tmp_path, caplog):
    gray = _rgb()[:, :, 0]
    Image.fromarray(gray).save(tmp_path / "gray.png")
    with caplog.at_level(logging.INFO, logger="tf_binmap.io"):
        result = read_image_rgb(tmp_path / "gray.png")
    assert result.shape == (5, 7, 3)
    for channel in range(3):
        np.testing.assert_array_equal(result[:, :, channel], gray)
    assert "grayscale" in caplog.text and "gray.png" in caplog.text


def test_rgba_drops_alpha(tmp_path, caplog):
    rgba = np.concatenate([_rgb(), np.full((5, 7, 1), 17, np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    with caplog.at_level(logging.INFO, logger="tf_binmap.io"):
        result = read_image_rgb(tmp_path / "rgba.png")
    np.testing.assert_array_equal(result, rgba[:, :, :3])
    assert "alpha" in caplog.text


def test_palette_image(tmp_path):
    image = Image.fromarray(_rgb()).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    image.save(tmp_path / "palette.png")
    np.testing.assert_array_equal(read_image_rgb(tmp_path / "palette.png"), np.asarray(image.convert("RGB")))


def test_sixteen_bit_grayscale(tmp_path, caplog):
    values = np.array([[0, 257, 65535], [32768, 1000, 65280]], dtype=np.uint16)
    assert cv2.imwrite(str(tmp_path / "g16.png"), values)
    with caplog.at_level(logging.INFO, logger="tf_binmap.io"):
        result = read_image_rgb(tmp_path / "g16.png")
    expected = np.rint(values.astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(result[:, :, 0], expected)
    np.testing.assert_array_equal(result[:, :, 2], expected)
    assert "16-bit" in caplog.text


def test_sixteen_bit_rgb_keeps_full_precision(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 65536, size=(4, 6, 3)).astype(np.uint16)
    rgb[0, 0] = (128, 129, 383)  # the low byte matters for these after rounding
    assert cv2.imwrite(str(tmp_path / "rgb16.png"), rgb[:, :, ::-1])
    result = read_image_rgb(tmp_path / "rgb16.png")
    np.testing.assert_array_equal(result, np.rint(rgb.astype(np.float64) * 255 / 65535).astype(np.uint8))


def test_truncated_jpeg_names_the_file(tmp_path):
    Image.fromarray(_rgb(64, 64)).save(tmp_path / "full.jpg", quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=r"cut\.jpg.*truncated or corrupt"):
        read_image_rgb(tmp_path / "cut.jpg")


def test_text_file_named_png(tmp_path):
    (tmp_path / "notes.png").write_text("this is not an image\n")
    with pytest.raises(ImageReadError, match=r"notes\.png: not a readable image"):
        read_image_rgb(tmp_path / "notes.png")


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match=r"nothing\.png: no such file"):
        read_image_rgb(tmp_path / "nothing.png")


def test_float_image_is_refused(tmp_path):
    Image.fromarray(np.zeros((3, 3), np.float32)).save(tmp_path / "float.tiff")
    with pytest.raises(ImageReadError, match=r"float\.tiff"):
        read_image_rgb(tmp_path / "float.tiff")


def test_decoding_bytes_equals_reading_the_file(tmp_path):
    """decode_image_rgb (bytes from any storage, e.g. gs:// through Beam) gives what
    read_image_rgb gives for the file, in every mode, and names the file it is told."""
    rgb = _rgb(6, 9)
    Image.fromarray(rgb).save(tmp_path / "rgb.jpg", quality=90)
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([rgb, rgb[:, :, :1]]), "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=8).save(
        tmp_path / "palette.png")
    cv2.imwrite(str(tmp_path / "g16.png"), rgb[:, :, 0].astype(np.uint16) * 250)
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb.astype(np.uint16) * 257 + 100)
    Image.fromarray(rgb).save(tmp_path / "rgb.bmp")
    for path in sorted(tmp_path.iterdir()):
        np.testing.assert_array_equal(decode_image_rgb(path.read_bytes(), "x"),
                                      read_image_rgb(path), err_msg=path.name)
    data = (tmp_path / "rgb.jpg").read_bytes()
    with pytest.raises(ImageReadError, match=r"gs://bucket/cut\.jpg: the image is truncated"):
        decode_image_rgb(data[: len(data) // 2], "gs://bucket/cut.jpg")
    with pytest.raises(ImageReadError, match=r"^notes\.png: not a readable image"):
        decode_image_rgb(b"this is not an image", "notes.png")
    with pytest.raises(ImageReadError, match=r"^notes\.png: empty file \(0 bytes\)"):
        decode_image_rgb(b"", "notes.png")


@pytest.mark.parametrize(
    "array",
    [
        np.arange(35, dtype=np.uint8).reshape(5, 7),
        np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8),
        (np.arange(35, dtype=np.uint16) * 1800).reshape(5, 7),
    ],
)
def test_write_png_atomic_round_trip(tmp_path, array):
    path = write_png_atomic(tmp_path / "out.png", array)
    assert path == tmp_path / "out.png"
    assert os.listdir(tmp_path) == ["out.png"]  # no temp file left behind
    if array.ndim == 3:
        np.testing.assert_array_equal(np.asarray(Image.open(path)), array)
    else:
        decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert decoded.dtype == array.dtype
        np.testing.assert_array_equal(decoded, array)
    write_png_atomic(path, np.zeros((2, 2), np.uint8))  # replaces an existing file
    assert os.listdir(tmp_path) == ["out.png"]


def test_write_png_atomic_refuses_bad_arrays(tmp_path):
    for bad in (np.zeros((3, 3), np.float32), np.zeros((3, 3, 3), np.uint16), np.zeros((3, 3, 4), np.uint8)):
        with pytest.raises(ImageWriteError, match=r"out\.png: cannot write an array"):
            write_png_atomic(tmp_path / "out.png", bad)
    assert os.listdir(tmp_path) == []


def test_write_png_atomic_missing_directory(tmp_path):
    with pytest.raises(ImageWriteError, match=r"does not exist"):
        write_png_atomic(tmp_path / "no" / "out.png", np.zeros((2, 2), np.uint8))


def test_write_png_atomic_unwritable_directory(tmp_path, monkeypatch):
    real_open = os.open

    def refusing_open(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path)):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)  # root ignores directory permissions
    with pytest.raises(ImageWriteError, match=r"out\.png: directory .* is not writable"):
        write_png_atomic(tmp_path / "out.png", np.zeros((2, 2), np.uint8))
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_write_png_atomic_read_only_directory(tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ImageWriteError, match="not writable"):
            write_png_atomic(folder / "out.png", np.zeros((2, 2), np.uint8))
    finally:
        folder.chmod(0o700)
