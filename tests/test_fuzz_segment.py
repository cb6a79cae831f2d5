"""A seeded mutation fuzz test of ``tf-binmap segment``: small valid JPEG, PNG, BMP, TIFF,
GIF and WebP files (RGB, grey, palette, RGBA, 16-bit, CMYK, EXIF-rotated, animated,
multi-page) made here, a few hundred mutants of them (byte flips, truncations, header
edits), and the edge cases (a 1x1 and a 10x10000 image, an empty file, a decompression
bomb, text), all in one folder, segmented by ONE run of the command line.

The run must never show a traceback, must report every file it cannot segment by name,
write the three outputs of every file it can (judged here by `read_image_rgb` and the
network's smallest input), leave no temporary file, and exit 1."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tf_binmap.io import ImageReadError, read_image_rgb
from tf_binmap.models.architecture import min_input_size
from tf_binmap.presets import DEFAULT_HIERARCHY_PRESET, get_binary_map_preset, get_preset
from tf_binmap.segmentation.working_size import (
    DEFAULT_MAX_SIDE,
    check_segmentable,
    min_image_side,
)

pytestmark = pytest.mark.slow

SEED = 19
MUTANTS = 300


def _encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def valid_files(height=64, width=80) -> dict[str, bytes]:
    """Small valid images of every format and mode the reader converts, by file name
    (the stems differ: each input has its own outputs)."""
    rng = np.random.default_rng(SEED)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.dstack([(x * 3) % 256, (y * 4) % 256, ((x + y) * 2) % 256]).astype(np.uint8)
    rgb ^= rng.integers(0, 32, rgb.shape, dtype=np.uint8)  # texture for the superpixels
    image = Image.fromarray(rgb)
    inverse = Image.fromarray(255 - rgb)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    return {
        "rgb_jpg.jpg": _encode(image, "JPEG", quality=90),
        "exif6_jpg.jpg": _encode(image, "JPEG", quality=90, exif=exif.tobytes()),
        "cmyk_jpg.jpg": _encode(image.convert("CMYK"), "JPEG"),
        "rgb_png.png": _encode(image, "PNG"),
        "palette_png.png": _encode(image.convert("P", palette=Image.Palette.ADAPTIVE,
                                             colors=16), "PNG"),
        "rgba_png.png": _encode(image.convert("RGBA"), "PNG"),
        "deep_png.png": cv2.imencode(".png", rgb.astype(np.uint16) * 257)[1].tobytes(),
        "gray_bmp.bmp": _encode(image.convert("L"), "BMP"),
        "rgb_bmp.bmp": _encode(image, "BMP"),
        "rgb_tif.tif": _encode(image, "TIFF"),
        "lzw_tiff.tiff": _encode(image, "TIFF", compression="tiff_lzw"),
        "pages_tif.tif": _encode(image, "TIFF", save_all=True, append_images=[inverse]),
        "cmyk_tif.tif": _encode(image.convert("CMYK"), "TIFF"),
        "still_gif.gif": _encode(image, "GIF"),
        "animated_gif.gif": _encode(image, "GIF", save_all=True, append_images=[inverse],
                                duration=100, loop=0),
        "rgb_webp.webp": _encode(image, "WEBP", quality=80),
    }


def mutate(data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """One seeded mutation of ``data``: (what was done, the mutant)."""
    data = bytearray(data)
    kind = int(rng.integers(0, 4))
    if kind == 0:  # flip 1-8 bits anywhere
        for _ in range(int(rng.integers(1, 9))):
            data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
        return "flip", bytes(data)
    if kind == 1:  # cut anywhere
        return "cut", bytes(data[:int(rng.integers(0, len(data)))])
    if kind == 2:  # random bytes in the header
        for _ in range(int(rng.integers(1, 4))):
            data[int(rng.integers(0, min(64, len(data))))] = int(rng.integers(0, 256))
        return "header", bytes(data)
    # a header field (sizes, offsets, counts) pushed to an extreme
    at = int(rng.integers(0, min(40, len(data) - 2)))
    data[at:at + 2] = b"\xff\xff" if rng.integers(0, 2) else b"\x00\x00"
    return "extreme", bytes(data)


def bomb_png(width=12000, height=10000) -> bytes:
    """A ~120 kB greyscale PNG of zeros that decodes to 120 megapixels."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))

    compressor = zlib.compressobj(9)
    rows = b"".join(compressor.compress(bytes(width + 1)) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", rows + compressor.flush()) + chunk(b"IEND", b""))


def build_corpus(folder: Path) -> list[Path]:
    """Write the originals, the mutants and the edge cases to ``folder``."""
    rng = np.random.default_rng(SEED)
    originals = valid_files()
    files = {f"valid_{name}": data for name, data in originals.items()}
    names = sorted(originals)
    for index in range(MUTANTS):
        name = names[index % len(names)]
        how, data = mutate(originals[name], rng)
        files[f"m{index:03d}_{how}_{name}"] = data
    files["edge_one_pixel.png"] = _encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG")
    files["edge_strip.png"] = _encode(Image.new("RGB", (10000, 10), (9, 9, 9)), "PNG")
    files["edge_empty.jpg"] = b""
    files["edge_bomb.png"] = bomb_png()
    files["edge_text.png"] = b"this is not a picture\n"
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in files]


def _segmentable(path: Path, min_side: int) -> tuple[bool, tuple]:
    """(whether ``segment`` should segment it, its shape as read)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = read_image_rgb(path)
        check_segmentable(image.shape[0], image.shape[1], DEFAULT_MAX_SIDE, min_side)
    except (ImageReadError, ValueError):
        return False, ()
    return True, image.shape[:2]


@pytest.mark.network
def test_segment_survives_a_folder_of_mutated_images(tmp_path, weights_cache):
    folder = tmp_path / "fuzz"
    folder.mkdir()
    paths = build_corpus(folder)
    spec = get_binary_map_preset(DEFAULT_HIERARCHY_PRESET)
    min_side = min_image_side(min_input_size(get_preset(spec.backbone).variant, spec.layer),
                              spec.upscale)
    verdicts = {path: _segmentable(path, min_side) for path in paths}
    good = [path for path, (ok, _) in verdicts.items() if ok]
    bad = [path for path, (ok, _) in verdicts.items() if not ok]
    # The corpus exercises both sides, and every original is good.
    assert len(good) > 50 and len(bad) > 100, (len(good), len(bad))
    assert all(verdicts[folder / f"valid_{name}"][0] for name in valid_files())

    out = tmp_path / "out"
    env = dict(os.environ, TF_BINMAP_CACHE=str(weights_cache), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-m", "tf_binmap.cli", "segment", str(folder),
                             "--out", str(out)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=900)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-4000:]
    assert result.returncode == 1, output[-4000:]
    assert f"{len(good)} segmented, 0 already done, {len(bad)} failed (" in result.stdout
    # One "ERROR: <path>: <why>" per failed file (libtiff's own warnings may share its
    # line: C code writes to the same stderr).
    reported = re.findall(r"ERROR: (\S+?): (.*)", result.stderr)
    failed = dict(reported)
    assert len(reported) == len(failed) == len(bad), result.stderr[-4000:]
    assert sorted(failed) == sorted(map(str, bad)), result.stderr[-4000:]
    for path in bad:
        assert not list(out.glob(f"{path.stem}*.png")), path
    for path in good:
        shape = verdicts[path][1]
        labels = cv2.imread(str(out / f"{path.stem}.png"), cv2.IMREAD_UNCHANGED)
        assert labels is not None and labels.dtype == np.uint16, path
        assert labels.shape == shape, (path, labels.shape, shape)  # EXIF-rotated too
        for kind in ("_overlay", "_binary_map"):
            picture = cv2.imread(str(out / f"{path.stem}{kind}.png"))
            assert picture is not None and picture.shape == (*shape, 3), (path, kind)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") or ".tmp" in p.name]
    assert "too small to segment" in failed[str(folder / "edge_one_pixel.png")]
    assert "too small to segment" in failed[str(folder / "edge_strip.png")]
    assert "empty file (0 bytes)" in failed[str(folder / "edge_empty.jpg")]
    assert "over the limit of 64 megapixels" in failed[str(folder / "edge_bomb.png")]
    assert "not a readable image file" in failed[str(folder / "edge_text.png")]
    assert verdicts[folder / "valid_exif6_jpg.jpg"][1] == (80, 64)  # shown upright
