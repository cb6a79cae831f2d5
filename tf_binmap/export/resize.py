"""OpenCV's bilinear resize of 8-bit images (``cv2.INTER_LINEAR``), bit for bit, in
TensorFlow ops that TFLite has as builtins (int32 arithmetic, gathers, right shifts;
no float64, no left shift).

Why not ``tf.image.resize``: TF's bilinear resize (half-pixel centres, rounded) differs
from OpenCV's by one grey level in ~9% of the pixels at x2, which flips some bits of the
binary map; ``BinaryMapModel.encode`` resizes with OpenCV, so the exports must too.

OpenCV resizes 8-bit images in fixed point. Per output column (and row) ``d`` of a
``source -> target`` resize it takes ``fx = (float)((d + 0.5) * source / target - 0.5)``
(computed in double, then rounded to float32), the index ``floor(fx)`` and 11-bit weights
``round((1 - frac) * 2048)``; columns clamp the weight at the borders, rows only the
indices. Then a horizontal pass into int32 and a vertical pass
``((b0 * (D0 >> 4)) >> 16) + ((b1 * (D1 >> 4)) >> 16) + 2 >> 2``.

Two ways to the same coefficients:

- `integer_upscale` (upscale by 2, 4, 8, ...: the presets): positions are
  ``(2d + 1 - k) / (2k)``, dyadic with at most a few fraction bits, so every float32 step
  of OpenCV is exact and the coefficients are plain int32 arithmetic. The passes run in
  int32 (no float tensor at all, so TFLite's full-integer (int8) quantizer leaves the
  resize alone) or, 10x faster in TFLite, in float32 with the same integers (exact).
- `opencv_linear_resize` (any size): ``fx`` is the float32 rounding of the rational
  ``((2d + 1) * source - target) / (2 * target)``, computed without float64
  (`float32_quotient`): by IEEE division when the numerator fits float32 exactly, else by
  integer long division that keeps the 24 significant bits float32 keeps. It has float32
  tensors, which int8 quantization would coarsen, so int8 exports need a power-of-two
  upscale. Sides up to 16384 pixels (int32 products).
"""

from __future__ import annotations

__all__ = ["MAX_SIDE", "float32_quotient", "integer_upscale", "integer_upscale_factor",
           "network_size", "opencv_linear_resize"]

#: OpenCV's fixed-point bilinear resize of 8-bit images: 11-bit weights.
RESIZE_BITS = 11
#: The largest input or output side the integer arithmetic is exact for.
MAX_SIDE = 16384
_POWERS_OF_TWO = tuple(1 << k for k in range(31))


def _power_of_two(exponent):
    import tensorflow as tf

    return tf.gather(tf.constant(_POWERS_OF_TWO, tf.int32), exponent)


def float32_quotient(numerator, denominator):
    """(floor, fraction) of ``numerator / denominator`` rounded to float32 (round half to
    even), for int32 tensors with ``0 < denominator <= 2**15``, ``|numerator| < 2**30``
    and a quotient below 2**24 (a resize's source positions are below 16384): what
    ``float(n / d)`` in float64 then rounded to float32 gives. The fraction is a float32
    tensor in [0, 1)."""
    import tensorflow as tf

    # A numerator below 2^24 is exact in float32, and IEEE division rounds correctly.
    small = tf.abs(numerator) < (1 << 24)
    quotient = tf.cast(numerator, tf.float32) / tf.cast(denominator, tf.float32)
    small_floor = tf.floor(quotient)
    small_fraction = quotient - small_floor
    # Larger (positive) numerators: integer part q >= 2^9; float32 keeps 24 - bits(q)
    # bits of the fraction, found by long division and rounded half to even.
    whole = tf.math.floordiv(numerator, denominator)
    remainder = numerator - whole * denominator
    powers = tf.constant(_POWERS_OF_TWO, tf.int32)
    bit_length = tf.reduce_sum(tf.cast(tf.maximum(whole, 1)[:, None] >= powers[None, :],
                                       tf.int32), axis=1)
    kept = tf.clip_by_value(24 - bit_length, 0, 24)
    scaled = remainder * _power_of_two(kept)
    fraction = tf.math.floordiv(scaled, denominator)
    rest = scaled - fraction * denominator
    round_up = (2 * rest > denominator) | ((2 * rest == denominator)
                                           & (tf.math.floormod(fraction, 2) == 1))
    fraction = fraction + tf.cast(round_up, tf.int32)
    carry = fraction >= _power_of_two(kept)
    whole = whole + tf.cast(carry, tf.int32)
    fraction = tf.where(carry, tf.zeros_like(fraction), fraction)
    large_fraction = tf.cast(fraction, tf.float32) / tf.cast(_power_of_two(kept), tf.float32)
    return (tf.where(small, tf.cast(small_floor, tf.int32), whole),
            tf.where(small, small_fraction, large_fraction))


def _coefficients(source, target, clamp_weights):
    """Source indices and 11-bit weights per output index, as OpenCV computes them."""
    import tensorflow as tf

    position = tf.range(target, dtype=tf.int32)
    index, fraction = float32_quotient((2 * position + 1) * source - target, 2 * target)
    if clamp_weights:
        below = index < 0
        above = index >= source - 1
        fraction = tf.where(below | above, tf.zeros_like(fraction), fraction)
        index = tf.where(below, tf.zeros_like(index),
                         tf.where(above, tf.fill(tf.shape(index), source - 1), index))
    weight = tf.cast(tf.round((1.0 - fraction) * float(1 << RESIZE_BITS)), tf.int32)
    first = tf.clip_by_value(index, 0, source - 1)
    second = tf.clip_by_value(index + 1, 0, source - 1)
    return first, second, weight, (1 << RESIZE_BITS) - weight


def _resample(images, rows, cols):
    """OpenCV's two fixed-point passes, given each axis' (first, second, w0, w1)."""
    import tensorflow as tf

    pixels = tf.cast(images, tf.int32)
    horizontal = (tf.gather(pixels, cols[0], axis=2) * cols[2][:, None]
                  + tf.gather(pixels, cols[1], axis=2) * cols[3][:, None])
    top = tf.bitwise.right_shift(tf.gather(horizontal, rows[0], axis=1), 4)
    bottom = tf.bitwise.right_shift(tf.gather(horizontal, rows[1], axis=1), 4)
    out = (tf.bitwise.right_shift(rows[2][:, None, None] * top, 16)
           + tf.bitwise.right_shift(rows[3][:, None, None] * bottom, 16) + 2)
    return tf.cast(tf.clip_by_value(tf.bitwise.right_shift(out, 2), 0, 255), tf.uint8)


def integer_upscale_factor(upscale: float) -> int | None:
    """``upscale`` as an integer power of two >= 2 (2, 4, 8, ...), else None."""
    factor = float(upscale)
    if factor >= 2 and factor.is_integer() and int(factor) & (int(factor) - 1) == 0 \
            and factor <= 1024:
        return int(factor)
    return None


def _integer_coefficients(source, factor, clamp_weights):
    """OpenCV's indices and weights for an exact upscale by ``factor`` (a power of two):
    position ``(2d + 1 - k) / (2k)``, fraction ``r / (2k)``, weight ``2048 - r * 1024 / k``,
    all in int32."""
    import tensorflow as tf

    numerator = 2 * tf.range(source * factor, dtype=tf.int32) + 1 - factor
    index = tf.math.floordiv(numerator, 2 * factor)
    remainder = numerator - index * (2 * factor)
    weight = (1 << RESIZE_BITS) - remainder * ((1 << (RESIZE_BITS - 1)) // factor)
    if clamp_weights:
        outside = (index < 0) | (index >= source - 1)
        weight = tf.where(outside, tf.fill(tf.shape(weight), 1 << RESIZE_BITS), weight)
        index = tf.clip_by_value(index, 0, source - 1)
    first = tf.clip_by_value(index, 0, source - 1)
    second = tf.clip_by_value(index + 1, 0, source - 1)
    return first, second, weight, (1 << RESIZE_BITS) - weight


def integer_upscale(images, factor: int, arithmetic: str = "int32"):
    """uint8 (batch, H, W, C) -> (batch, factor * H, factor * W, C), equal bit for bit
    to ``cv2.resize(..., interpolation=cv2.INTER_LINEAR)``, for ``factor`` a power of
    two (`integer_upscale_factor`).

    ``arithmetic="int32"``: int32 tensors only, which TFLite's full-integer (int8)
    quantizer leaves alone, but which TFLite runs on single-threaded reference kernels
    (about 85 ms for a 321x481 photo at x2). ``"float32"``: the same integers in float32
    tensors, which XNNPACK runs about 10x faster (`_float_resample`: every value is an
    integer below 2**24 and every division is by a power of two, so float32 is exact)."""
    import tensorflow as tf

    if integer_upscale_factor(factor) is None:
        raise ValueError(f"integer_upscale needs a power of two >= 2, got {factor}")
    if arithmetic not in ("int32", "float32"):
        raise ValueError(f"arithmetic must be 'int32' or 'float32', got {arithmetic!r}")
    shape = tf.shape(images)
    rows = _integer_coefficients(shape[1], int(factor), clamp_weights=False)
    cols = _integer_coefficients(shape[2], int(factor), clamp_weights=True)
    if arithmetic == "float32":
        return _float_resample(images, rows, cols, int(factor))
    return _resample(images, rows, cols)


def _float_resample(images, rows, cols, factor):
    """`_resample` for an upscale by ``factor`` (a power of two), in float32, exact.

    The weights are multiples of ``unit = 1024 / factor`` (`_integer_coefficients`), so
    with ``m = b / unit``: ``(b * (D >> 4)) >> 16 == floor(m * floor(D / 16) / (65536 /
    unit))``. Every value stays an integer below 2**24 (D <= 255 * 2048, m * floor(D / 16)
    <= 2 * factor * 32640 for factor <= 256), products and sums of such integers are
    exact in float32, and multiplying by a power of two then flooring is exact too."""
    import tensorflow as tf

    unit = (1 << (RESIZE_BITS - 1)) // factor
    pixels = tf.cast(images, tf.float32)
    horizontal = (tf.gather(pixels, cols[0], axis=2) * tf.cast(cols[2], tf.float32)[:, None]
                  + tf.gather(pixels, cols[1], axis=2) * tf.cast(cols[3], tf.float32)[:, None])
    top = tf.floor(tf.gather(horizontal, rows[0], axis=1) * (1.0 / 16))
    bottom = tf.floor(tf.gather(horizontal, rows[1], axis=1) * (1.0 / 16))
    first = tf.cast(tf.math.floordiv(rows[2], unit), tf.float32)[:, None, None]
    second = tf.cast(tf.math.floordiv(rows[3], unit), tf.float32)[:, None, None]
    scale = float(unit) / 65536
    out = tf.floor(first * top * scale) + tf.floor(second * bottom * scale) + 2
    return tf.cast(tf.clip_by_value(tf.floor(out * 0.25), 0, 255), tf.uint8)


def opencv_linear_resize(images, height, width):
    """uint8 (batch, H, W, C) -> uint8 (batch, height, width, C), equal bit for bit to
    ``cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)`` (sides up to
    `MAX_SIDE`)."""
    import tensorflow as tf

    shape = tf.shape(images)
    rows = _coefficients(shape[1], height, clamp_weights=False)
    cols = _coefficients(shape[2], width, clamp_weights=True)
    return _resample(images, rows, cols)


def network_size(size, upscale):
    """``max(1, round(size * upscale))`` with round-half-even, as
    ``tf_binmap.io.images.scaled_size`` (float32 arithmetic: exact for the presets'
    factors 1, 2 and 4)."""
    import tensorflow as tf

    scaled = tf.round(tf.cast(size, tf.float32) * float(upscale))
    return tf.maximum(tf.cast(scaled, tf.int32), 1)
