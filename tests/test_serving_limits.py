"""The SavedModel refuses requests over its pixel limit with a clear error, and
``serving_bytes`` reads the sizes from the files' headers before decoding, so a
decompression bomb never allocates; the limit is in the export metadata."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tf_binmap import AlexNetFCN, BinaryMapModel, HashingLayer
from tf_binmap.export.command import export_command
from tf_binmap.export.headers import MAX_GIF_BLOCKS, encoded_cost
from tf_binmap.export.metadata import DEFAULT_MAX_REQUEST_PIXELS, read_metadata
from tf_binmap.export.runners import SavedModelCodeMapper
from tf_binmap.export.saved_model import export_saved_model

REPO = Path(__file__).resolve().parents[1]


def _encode(image, format, **options):
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def _png_chunk(kind, body):
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width, height):
    """A 60-byte PNG whose IHDR claims width x height (its data is one empty block)."""
    import zlib

    return (b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(b"")) + _png_chunk(b"IEND", b""))


def _gif_frame(width, height):
    """(flags byte, global colour table, one image block) of a black width x height GIF
    made by PIL."""
    data = _encode(Image.new("L", (width, height)), "GIF")
    flags = data[10]
    position = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    table = data[13:position]
    while data[position] == 0x21:  # extensions: label, then sub-blocks
        position += 2
        while data[position]:
            position += data[position] + 1
        position += 1
    start = position
    position += 11  # image descriptor (no local table) and the LZW code size
    while data[position]:
        position += data[position] + 1
    return flags, table, data[start:position + 1]


def gif_with_frames(*sizes, screen=(1, 1)):
    """A GIF with one black frame of each (width, height); TensorFlow decodes every
    frame onto a canvas of the largest width x the largest height, whatever the
    logical screen says."""
    flags, table, _ = _gif_frame(1, 1)
    blocks = b"".join(_gif_frame(*size)[2] for size in sizes)
    return (b"GIF89a" + struct.pack("<HHBBB", *screen, flags, 0, 0) + table + blocks
            + b"\x3b")


_encoded_cost = tf.function(encoded_cost)


def _cost(data):
    known, pixels = _encoded_cost(tf.constant(data))
    return bool(known), int(pixels)


# ------------------------------------------------------------- header sizes alone
def test_header_sizes_of_every_accepted_format():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 70, 3), np.uint8))
    for format in ("JPEG", "PNG", "BMP", "GIF"):
        assert _cost(_encode(image, format)) == (True, 48 * 70), format
    top_down = bytearray(_encode(image, "BMP"))
    top_down[22:26] = struct.pack("<i", -48)  # a negative height: rows stored top-down
    assert _cost(bytes(top_down)) == (True, 48 * 70)
    frames = [image.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
              image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)]
    animated = _encode(image, "GIF", save_all=True, append_images=frames, duration=50)
    assert _cost(animated) == (True, 3 * 48 * 70)  # TensorFlow decodes every frame
    assert _cost(png_claiming(12000, 10000)) == (True, 120_000_000)


def test_a_gif_costs_its_frames_times_its_largest_frame():
    # 1x1 screen and first frame, then a 20000x1 and a 1x20000 frame: TensorFlow would
    # allocate a 20000x20000 canvas (1.2 GB) for this 500-byte file.
    sneaky = gif_with_frames((1, 1), (20000, 1), (1, 20000))
    assert len(sneaky) < 1000
    assert _cost(sneaky) == (True, 3 * 20000 * 20000)
    # The logical screen alone is no size: TensorFlow ignores it.
    assert _cost(gif_with_frames((3, 2), screen=(60000, 60000))) == (True, 6)


def test_a_gif_of_too_many_blocks_counts_as_over_any_limit():
    flags, table, _ = _gif_frame(1, 1)
    comment = b"\x21\xfe\x01x\x00"  # a comment extension: one 1-byte sub-block
    data = (b"GIF89a" + struct.pack("<HHBBB", 1, 1, flags, 0, 0) + table
            + comment * (MAX_GIF_BLOCKS // 2 + 10) + _gif_frame(1, 1)[2] + b"\x3b")
    known, pixels = _cost(data)
    assert known and pixels > 10 ** 15


@pytest.mark.parametrize("data", [b"", b"\x89PNG", b"RIFF\0\0\0\0WEBPVP8 ", b"plain text"])
def test_other_strings_are_not_accepted_formats(data):
    assert _cost(data) == (False, 0)


# ------------------------------------------------------------------ the SavedModel
def _tiny_model():
    keras.utils.set_random_seed(0)
    backbone = AlexNetFCN("torchvision", feature_layers=("conv5",))
    projection, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(256, 8)))
    hashing = HashingLayer(8, mean=np.zeros(256, np.float32),
                           projection=projection.astype(np.float32), output_mode="codes",
                           name="hashing")
    return BinaryMapModel(backbone, hashing, upscale=2.0, name="tiny_limits")


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """A SavedModel that takes at most 100x100 pixels per request."""
    base = tmp_path_factory.mktemp("limits")
    return export_saved_model(_tiny_model(), base_dir=base, max_pixels=10_000)


@pytest.mark.slow
def test_the_limit_is_in_the_metadata_and_refused_by_both_signatures(limited):
    assert read_metadata(limited)["max_request_pixels"] == 10_000
    loaded = tf.saved_model.load(str(limited))
    serve, decode = loaded.signatures["serving_default"], loaded.signatures["serving_bytes"]
    assert serve(image=tf.zeros((1, 100, 100, 3), tf.uint8))["codes"].shape == (1, 11, 11)
    for shape in ((1, 101, 100, 3), (2, 80, 80, 3)):  # one large image, or a batch
        with pytest.raises(tf.errors.InvalidArgumentError) as error:
            serve(image=tf.zeros(shape, tf.uint8))
        assert "over the limit of 10000 pixels" in str(error.value)
        assert "max_request_pixels" in str(error.value)
    png = _encode(Image.new("RGB", (100, 100)), "PNG")
    assert decode(image_bytes=tf.constant([png]))["codes"].shape == (1, 11, 11)
    for files in ([png_claiming(12000, 10000)], [png, png],
                  [gif_with_frames((1, 1), (20000, 1), (1, 20000))]):
        with pytest.raises(tf.errors.InvalidArgumentError, match="over the limit of 10000"):
            decode(image_bytes=tf.constant(files))
    webp = _encode(Image.new("RGB", (40, 40)), "WEBP")
    with pytest.raises(tf.errors.InvalidArgumentError, match="takes JPEG, PNG, GIF and BMP"):
        decode(image_bytes=tf.constant([webp]))


@pytest.mark.slow
def test_the_runner_refuses_over_the_limit_in_python(limited):
    runner = SavedModelCodeMapper(limited)
    assert runner.encode(np.zeros((100, 100, 3), np.uint8)).shape == (1, 11, 11)
    with pytest.raises(ValueError, match=r"1 image\(s\) of 120x100 hold 12000 pixels, over "
                                         r"the 10000 this export takes"):
        runner.encode(np.zeros((100, 120, 3), np.uint8))


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in kB is Linux's")
@pytest.mark.slow
def test_a_bomb_sent_to_serving_bytes_allocates_nothing(tmp_path):
    """In a fresh process at the default limit: a 120 kB PNG that decodes to 120
    megapixels and a 500-byte GIF that TensorFlow would decode onto a 1.2 GB canvas are
    refused without the peak memory growing."""
    path = export_saved_model(_tiny_model(), base_dir=tmp_path)
    assert read_metadata(path)["max_request_pixels"] == DEFAULT_MAX_REQUEST_PIXELS
    import zlib

    compressor = zlib.compressobj(9)
    rows = b"".join(compressor.compress(bytes(12001)) for _ in range(10000))
    bomb = (b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 12000, 10000, 8, 0, 0, 0, 0))
            + _png_chunk(b"IDAT", rows + compressor.flush()) + _png_chunk(b"IEND", b""))
    (tmp_path / "bomb.png").write_bytes(bomb)
    (tmp_path / "bomb.gif").write_bytes(gif_with_frames((1, 1), (20000, 1), (1, 20000)))
    script = (
        "import resource, sys\n"
        "import tensorflow as tf\n"
        "decode = tf.saved_model.load(sys.argv[1]).signatures['serving_bytes']\n"
        "png = tf.io.encode_png(tf.zeros((40, 40, 3), tf.uint8))\n"
        "decode(image_bytes=tf.stack([png]))  # warm up: trace and run once\n"
        "for name in sys.argv[2:]:\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "    try:\n"
        "        decode(image_bytes=tf.constant([open(name, 'rb').read()]))\n"
        "        print('served', name)\n"
        "    except tf.errors.InvalidArgumentError as error:\n"
        "        print('refused', 'over the limit' in str(error))\n"
        "    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "    print(grown / 1024)\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=os.pathsep.join(
        [str(REPO), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", script, str(path),
                             str(tmp_path / "bomb.png"), str(tmp_path / "bomb.gif")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()[-4:]
    assert lines[0] == "refused True" and lines[2] == "refused True", result.stdout
    assert float(lines[1]) < 64 and float(lines[3]) < 64, result.stdout  # MB


def test_the_export_command_takes_the_limit_for_saved_models_only(tmp_path):
    with pytest.raises(ValueError, match="--max-pixels applies to --format saved_model"):
        export_command(None, "tflite", "none", tmp_path, False, max_pixels=1000)
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="max_pixels must be a positive"):
            export_saved_model(_tiny_model(), base_dir=tmp_path, max_pixels=bad)
