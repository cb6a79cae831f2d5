"""Packed binary codes: packing, Hamming distance and pictures of code maps.

Convention: the bits ``b_0 .. b_{n-1}`` of a code (``b_0`` from the first projection
column) are packed most-significant-bit first::

    code = sum_i b_i << (n - 1 - i)

so ``[1, 0, 0, 0, 0, 0, 0, 1]`` is 129. Codes of ``n <= 31`` bits are int32, of
``32 <= n <= 62`` bits int64; more than 62 bits is an error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "MAX_BITS",
    "code_dtype",
    "pack_bits",
    "unpack_bits",
    "hamming_distance",
    "code_map_to_rgb",
]

#: Largest number of bits a packed code may have.
MAX_BITS = 62


def _check_n_bits(n_bits: Any) -> int:
    try:
        n = int(n_bits)
    except (TypeError, ValueError):
        raise ValueError(f"n_bits must be an integer between 1 and {MAX_BITS}; got {n_bits!r}") from None
    if n != n_bits or not 1 <= n <= MAX_BITS:
        raise ValueError(f"n_bits must be an integer between 1 and {MAX_BITS}; got {n_bits!r}")
    return n


def code_dtype(n_bits: int) -> np.dtype:
    """int32 for ``n_bits <= 31``, int64 for ``n_bits <= 62``."""
    n = _check_n_bits(n_bits)
    return np.dtype(np.int32) if n <= 31 else np.dtype(np.int64)


def _as_codes(codes: Any, n_bits: int | None, name: str = "codes") -> np.ndarray:
    """Validated int64 copy of ``codes``: integers in ``[0, 2**n_bits)``."""
    arr = np.asarray(codes)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array; got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} contain values >= 2**63 (max {arr.max()})")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative; found {arr.min()}")
    if n_bits is not None and arr.size and arr.max() >= (1 << n_bits):
        raise ValueError(
            f"{name} contain values >= 2**{n_bits} = {1 << n_bits} (max {arr.max()}); "
            f"they do not fit in {n_bits} bits"
        )
    return arr


def pack_bits(bits: Any) -> np.ndarray:
    """Pack ``(..., n)`` bits in {0, 1} into integer codes ``(...)``, MSB first.

    The dtype is :func:`code_dtype` of ``n`` (int32 up to 31 bits, int64 up to 62).
    Accepts bool or any numeric array whose values are exactly 0 or 1.
    """
    b = np.asarray(bits)
    if b.ndim == 0:
        raise ValueError("bits must have a last axis of n bits; got a scalar")
    n = b.shape[-1]
    if not 1 <= n <= MAX_BITS:
        raise ValueError(f"the number of bits (last axis) must be between 1 and {MAX_BITS}; got {n}")
    if b.dtype.kind not in "biuf":
        raise ValueError(f"bits must be bool or numeric; got dtype {b.dtype}")
    if b.dtype.kind != "b" and b.size and not np.all((b == 0) | (b == 1)):
        bad = b[(b != 0) & (b != 1)]
        raise ValueError(f"bits must be 0 or 1; found {bad.size} other value(s), e.g. {bad.flat[0]!r}")
    shifts = np.arange(n - 1, -1, -1, dtype=np.int64)
    codes = (b.astype(np.int64) << shifts).sum(axis=-1, dtype=np.int64)
    return codes.astype(code_dtype(n))


def unpack_bits(codes: Any, n_bits: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: codes ``(...)`` -> uint8 bits ``(..., n_bits)``, MSB first."""
    n = _check_n_bits(n_bits)
    c = _as_codes(codes, n)
    shifts = np.arange(n - 1, -1, -1, dtype=np.int64)
    return ((c[..., None] >> shifts) & 1).astype(np.uint8)


# Number of set bits of every byte value (fallback when np.bitwise_count is missing).
_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of every element of a non-negative int64 array, as int32."""
    if hasattr(np, "bitwise_count"):  # NumPy >= 2.0
        return np.bitwise_count(x).astype(np.int32)
    as_bytes = np.ascontiguousarray(x, dtype=np.int64).view(np.uint8).reshape(x.shape + (8,))
    return _POPCOUNT8[as_bytes].sum(axis=-1, dtype=np.int32)


def hamming_distance(a: Any, b: Any, n_bits: int | None = None) -> np.ndarray:
    """Elementwise Hamming distance (popcount of ``a ^ b``) of packed codes, int32.

    ``a`` and ``b`` are non-negative integer arrays (broadcast together). With
    ``n_bits`` both are also checked to fit in ``n_bits`` bits.
    """
    n = None if n_bits is None else _check_n_bits(n_bits)
    ca = _as_codes(a, n, "a")
    cb = _as_codes(b, n, "b")
    return _popcount(np.bitwise_xor(ca, cb))


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer of ``x + golden gamma`` (uint64, wrapping arithmetic)."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def code_map_to_rgb(codes: Any, n_bits: int) -> np.ndarray:
    """Picture of a code map ``(h, w)`` (or any ``(...)``) as uint8 ``(..., 3)``.

    * ``n_bits == 8``: grey; the code itself is the intensity of all three channels.
    * ``n_bits == 24``: true colour; bits 0-7 (the most significant byte) are red,
      bits 8-15 green, bits 16-23 blue.
    * any other ``n_bits``: a fixed pseudo-random colour per code: the SplitMix64
      hash of the code, whose lowest three bytes are (blue, green, red) = bits
      0-7, 8-15, 16-23 of the hash. It is a pure function of the code (no RNG
      state, stable across NumPy versions and platforms), so equal codes always get
      equal colours and pictures are reproducible; different codes may rarely share
      a colour.
    """
    n = _check_n_bits(n_bits)
    c = _as_codes(codes, n)
    if n == 8:
        grey = c.astype(np.uint8)
        return np.stack([grey, grey, grey], axis=-1)
    if n == 24:
        value = c
    else:
        with np.errstate(over="ignore"):
            value = (_mix64(c) & np.uint64(0xFFFFFF)).astype(np.int64)
    return np.stack(
        [(value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF], axis=-1
    ).astype(np.uint8)
