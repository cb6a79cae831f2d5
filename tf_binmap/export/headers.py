"""What decoding an encoded image would cost, read from its header with TensorFlow string
ops, so the serving graph refuses an oversized request before it decodes anything: a
small file that claims billions of pixels (a decompression bomb) never allocates them.

The cost is the pixels the decoder allocates: height x width for JPEG
(``tf.image.extract_jpeg_shape``), PNG (the IHDR chunk) and BMP (the info header); for a
GIF, TensorFlow decodes every frame onto a canvas of the largest frame's width x the
largest frame's height whatever its logical screen says, so the cost is frames x that
canvas, found by walking the GIF's blocks (at most `MAX_GIF_BLOCKS`). Other formats
(TensorFlow also decodes WebP) are not accepted.
"""

from __future__ import annotations

__all__ = ["MAX_GIF_BLOCKS", "PNG_SIGNATURE", "check_encoded_sizes", "check_image_sizes",
           "encoded_cost"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: A GIF with more blocks (extensions, frames, 255-byte data sub-blocks: about 12 MB of
#: image data) counts as over any limit; walking it would cost too much itself.
MAX_GIF_BLOCKS = 50_000
#: The cost given to a GIF over `MAX_GIF_BLOCKS` (over any limit).
_UNBOUNDED = 2 ** 62
_PAD = 16  # zero bytes appended, so a header read past a short file's end reads zeros


def _unsigned(padded, position, size, little_endian):
    """The unsigned integer of ``size`` bytes at ``position`` of ``padded``, int64."""
    import tensorflow as tf

    raw = tf.io.decode_raw(tf.strings.substr(padded, position, size), tf.uint8)
    raw = tf.cast(tf.reshape(raw, [size]), tf.int64)
    weights = [256 ** i for i in range(size)]
    if not little_endian:
        weights = weights[::-1]
    return tf.reduce_sum(raw * tf.constant(weights, tf.int64))


def _colour_table_bytes(flags):
    """Bytes of the colour table a GIF flags byte announces (0 without one)."""
    import tensorflow as tf

    size = 3 * tf.bitwise.left_shift(tf.constant(2, tf.int64), flags % 8)
    return tf.where(flags >= 128, size, tf.constant(0, tf.int64))


def _gif_cost(padded, length):
    """Frames x the largest frame's width x height of a GIF (see the module docstring):
    a walk over its blocks, one block per loop step."""
    import tensorflow as tf

    position = 13 + _colour_table_bytes(_unsigned(padded, 10, 1, True))

    def step(position, in_data, width, height, frames, steps, done):
        at = tf.minimum(position, length)
        byte = _unsigned(padded, at, 1, True)
        # In a run of data sub-blocks: skip one (a zero size byte ends the run).
        sub_block = position + 1 + byte
        # A record: an extension (0x21 label, then sub-blocks), an image descriptor
        # (0x2C, its size, an optional colour table, the LZW code size, then sub-blocks)
        # or the trailer (0x3B; anything else ends the walk too: the decoder fails there).
        is_extension = tf.equal(byte, 0x21)
        is_image = tf.equal(byte, 0x2C)
        left_width = _unsigned(padded, at + 1, 2, True) + _unsigned(padded, at + 5, 2, True)
        top_height = _unsigned(padded, at + 3, 2, True) + _unsigned(padded, at + 7, 2, True)
        image_end = position + 11 + _colour_table_bytes(_unsigned(padded, at + 9, 1, True))
        record_end = tf.where(is_extension, position + 2, image_end)
        record = tf.logical_or(is_extension, is_image)
        counted = tf.logical_and(tf.logical_not(in_data), is_image)
        return (tf.where(in_data, sub_block, record_end),
                tf.where(in_data, byte > 0, record),
                tf.where(counted, tf.maximum(width, left_width), width),
                tf.where(counted, tf.maximum(height, top_height), height),
                frames + tf.cast(counted, tf.int64),
                steps + 1,
                tf.logical_and(tf.logical_not(in_data), tf.logical_not(record)))

    def going(position, in_data, width, height, frames, steps, done):
        return tf.logical_and(tf.logical_not(done),
                              tf.logical_and(position < length, steps <= MAX_GIF_BLOCKS))

    zero = tf.constant(0, tf.int64)
    _, _, width, height, frames, steps, _ = tf.while_loop(
        going, step, (position, tf.constant(False), zero, zero, zero, zero,
                      tf.constant(False)))
    return tf.where(steps > MAX_GIF_BLOCKS, tf.constant(_UNBOUNDED, tf.int64),
                    frames * width * height)


def encoded_cost(data):
    """One encoded image (a scalar string) -> (whether it is a JPEG, PNG, GIF or BMP
    file, the pixels decoding it costs, int64); nothing is decoded. A corrupt JPEG
    header fails here as it would in the decoder."""
    import tensorflow as tf

    length = tf.cast(tf.strings.length(data), tf.int64)
    padded = tf.strings.join([data, tf.constant(b"\0" * _PAD)])
    head = tf.strings.substr(padded, 0, 8)
    is_jpeg = tf.equal(tf.strings.substr(head, 0, 3), b"\xff\xd8\xff")
    is_png = tf.equal(head, PNG_SIGNATURE)
    is_gif = tf.equal(tf.strings.substr(head, 0, 4), b"GIF8")
    is_bmp = tf.equal(tf.strings.substr(head, 0, 2), b"BM")

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
        return shape[0] * shape[1]

    def png():
        return _unsigned(padded, 16, 4, False) * _unsigned(padded, 20, 4, False)

    def bmp():  # signed 32-bit width and height (a negative height: stored top-down)
        def signed(value):
            return tf.abs(tf.where(value >= 2 ** 31, value - 2 ** 32, value))

        return signed(_unsigned(padded, 18, 4, True)) * signed(_unsigned(padded, 22, 4, True))

    cost = tf.case([(is_jpeg, jpeg), (is_png, png), (is_gif, lambda: _gif_cost(padded, length)),
                    (is_bmp, bmp)], default=lambda: tf.constant(0, tf.int64), exclusive=True)
    known = tf.reduce_any(tf.stack([is_jpeg, is_png, is_gif, is_bmp]))
    return known, cost


def _limit_message(max_pixels, what):
    return (f"{what} over the limit of {max_pixels} pixels ({max_pixels / 1e6:g} "
            "megapixels) this export takes per request (metadata max_request_pixels); send "
            "fewer or smaller images, or export with a larger max_pixels")


def check_encoded_sizes(image_bytes, max_pixels):
    """Assert ops: every string of the batch ``image_bytes`` is a JPEG, PNG, GIF or BMP
    file, and decoding them all costs at most ``max_pixels`` pixels (headers only)."""
    import tensorflow as tf

    known, costs = tf.map_fn(encoded_cost, image_bytes,
                             fn_output_signature=(tf.bool, tf.int64))
    return [
        tf.debugging.assert_equal(
            known, tf.ones_like(known), message="serving_bytes takes JPEG, PNG, GIF and "
            "BMP files; a string of the request (False below) is none of them"),
        tf.debugging.assert_less_equal(
            tf.reduce_sum(costs), tf.constant(max_pixels, tf.int64),
            message=_limit_message(max_pixels, "the request's images (by their headers; a "
                                   "GIF counts frames x its largest frame) are")),
    ]


def check_image_sizes(images, max_pixels):
    """Assert op: the uint8 batch ``images`` (batch, H, W, 3) holds at most
    ``max_pixels`` pixels in all."""
    import tensorflow as tf

    shape = tf.cast(tf.shape(images), tf.int64)
    return tf.debugging.assert_less_equal(
        shape[0] * shape[1] * shape[2], tf.constant(max_pixels, tf.int64),
        message=_limit_message(max_pixels, "the request's images (batch x height x width) "
                               "are"))
