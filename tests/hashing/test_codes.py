import numpy as np
import pytest

import tf_binmap.hashing.codes as codes_mod
from tf_binmap.hashing.codes import (
    code_map_to_rgb,
    hamming_distance,
    pack_bits,
    unpack_bits,
)


@pytest.mark.parametrize("n", [1, 8, 16, 24, 31, 40, 62])
def test_pack_unpack_roundtrip(n):
    rng = np.random.default_rng(n)
    bits = rng.integers(0, 2, size=(5, 7, n), dtype=np.uint8)
    codes = pack_bits(bits)
    assert codes.shape == (5, 7)
    assert codes.dtype == (np.int32 if n <= 31 else np.int64)
    assert codes.min() >= 0 and int(codes.max()) < 2**n
    back = unpack_bits(codes, n)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, bits)
    np.testing.assert_array_equal(pack_bits(back), codes)


def test_msb_first_hand_examples():
    assert pack_bits([1, 0, 0, 0, 0, 0, 0, 1]) == 129
    assert pack_bits([1, 0, 0]) == 4
    assert pack_bits(np.array([[True, True], [False, True]])).tolist() == [3, 1]
    assert pack_bits([1] * 31) == 2**31 - 1
    np.testing.assert_array_equal(unpack_bits(129, 8), [1, 0, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(unpack_bits([1, 6], 3), [[0, 0, 1], [1, 1, 0]])
    # pack_bits of the ITQ bit order: first column = most significant bit
    assert pack_bits(np.array([1.0, 0.0])) == 2


def test_pack_errors():
    with pytest.raises(ValueError, match="0 or 1"):
        pack_bits([0, 2, 1])
    with pytest.raises(ValueError, match="0 or 1"):
        pack_bits([0.5, 1.0])
    with pytest.raises(ValueError, match="63"):
        pack_bits(np.zeros(63, dtype=np.uint8))
    with pytest.raises(ValueError, match="scalar"):
        pack_bits(1)
    with pytest.raises(ValueError, match="between 1 and 62"):
        unpack_bits([1], 0)
    with pytest.raises(ValueError, match="between 1 and 62"):
        unpack_bits([1], 63)
    with pytest.raises(ValueError, match=r"2\*\*8 = 256"):
        unpack_bits([256], 8)
    with pytest.raises(ValueError, match="non-negative"):
        unpack_bits([-1], 8)
    with pytest.raises(ValueError, match="integer"):
        unpack_bits([1.0], 8)


def test_hamming_hand_examples():
    assert hamming_distance(0b1010, 0b0101) == 4
    assert hamming_distance(7, 7) == 0
    assert hamming_distance(0, 2**62 - 1) == 62
    d = hamming_distance(np.array([[0, 1], [3, 255]]), np.array([[0, 0], [0, 0]]))
    assert d.dtype == np.int32
    np.testing.assert_array_equal(d, [[0, 1], [2, 8]])
    # broadcasting
    np.testing.assert_array_equal(hamming_distance(np.array([0, 1, 2, 3]), 1), [1, 0, 2, 1])
    with pytest.raises(ValueError, match=r"2\*\*4"):
        hamming_distance(16, 0, n_bits=4)
    with pytest.raises(ValueError, match="non-negative"):
        hamming_distance(-1, 0)


def test_hamming_matches_unpacked_and_fallback(monkeypatch):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**40, size=1000)
    b = rng.integers(0, 2**40, size=1000)
    expect = (unpack_bits(a, 40) != unpack_bits(b, 40)).sum(-1)
    np.testing.assert_array_equal(hamming_distance(a, b, 40), expect)
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    np.testing.assert_array_equal(hamming_distance(a, b, 40), expect)


def test_rgb_grey_and_truecolour():
    c8 = np.array([[0, 129], [255, 7]])
    img = code_map_to_rgb(c8, 8)
    assert img.shape == (2, 2, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img[..., 0], c8)
    np.testing.assert_array_equal(img[..., 1], c8)
    np.testing.assert_array_equal(img[..., 2], c8)

    c24 = pack_bits(np.array([[[1] + [0] * 7 + [0] * 7 + [1] + [1] * 8]]))  # R=128 G=1 B=255
    img = code_map_to_rgb(c24, 24)
    assert img.shape == (1, 1, 3)
    np.testing.assert_array_equal(img[0, 0], [128, 1, 255])
    np.testing.assert_array_equal(code_map_to_rgb(np.array([[0x123456]]), 24)[0, 0], [0x12, 0x34, 0x56])
    with pytest.raises(ValueError, match=r"2\*\*8"):
        code_map_to_rgb(np.array([[256]]), 8)


def _splitmix64(x):
    m = 2**64 - 1
    z = (x + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


@pytest.mark.parametrize("n", [4, 16, 32])
def test_rgb_palette_deterministic(n):
    rng = np.random.default_rng(n)
    c = rng.integers(0, 2**n, size=(30, 40))
    c[0, :5] = c[1, 7]  # repeated codes
    img = code_map_to_rgb(c, n)
    assert img.shape == (30, 40, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img, code_map_to_rgb(c.copy(), n))
    np.testing.assert_array_equal(img[0, :5], np.broadcast_to(img[1, 7], (5, 3)))
    # colours are a pure function of the code (independent Python reference)
    for code in [int(c[2, 3]), 0, 2**n - 1]:
        h = _splitmix64(code) & 0xFFFFFF
        expect = [(h >> 16) & 255, (h >> 8) & 255, h & 255]
        np.testing.assert_array_equal(code_map_to_rgb(np.array([[code]]), n)[0, 0], expect)
    # distinct codes get (mostly) distinct colours
    codes = np.arange(min(2**n, 4096))
    cols = code_map_to_rgb(codes, n)
    assert len({tuple(col) for col in cols}) > 0.95 * len(codes)


def test_code_dtype():
    assert codes_mod.code_dtype(31) == np.int32
    assert codes_mod.code_dtype(32) == np.int64
    with pytest.raises(ValueError):
        codes_mod.code_dtype(63)
