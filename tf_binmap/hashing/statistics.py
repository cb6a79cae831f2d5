"""Streaming feature statistics for ITQ: count, sum and sum of outer products in
float64, accumulated chunk by chunk so fitting scales past memory; partial statistics
from several workers can be saved and merged (`FeatureStatistics.merge`), which is what
a distributed fit combines."""

from __future__ import annotations

import os
from typing import Any, Union

import numpy as np
from scipy.linalg import blas as _blas

__all__ = ["BLOCK_BYTES", "MAX_BLOCK_ROWS", "FeatureStatistics", "as_rows", "block_rows",
           "check_finite"]


#: Largest number of rows converted to float64 and multiplied at once in
#: :meth:`FeatureStatistics.update`.
MAX_BLOCK_ROWS = 65536


#: Byte budget for one float64 block in :meth:`FeatureStatistics.update` (the block has
#: ``min(MAX_BLOCK_ROWS, BLOCK_BYTES // (8 d))`` rows, at least one).
BLOCK_BYTES = 32 * 2**20


_STATS_FORMAT = 1


def block_rows(dim: int) -> int:
    """Rows of one float64 block of ``dim`` columns within `BLOCK_BYTES` (at most
    `MAX_BLOCK_ROWS`)."""
    return max(1, min(MAX_BLOCK_ROWS, BLOCK_BYTES // (8 * max(1, dim))))


def as_rows(x: Any) -> np.ndarray:
    """View ``x`` of shape ``(..., d)`` as ``(n, d)`` (a 1-D ``x`` is one vector)."""
    arr = np.asarray(x)
    if arr.ndim == 0:
        raise ValueError("features must have at least one dimension (..., d); got a scalar")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"features must be real numbers; got dtype {arr.dtype}")
    return arr.reshape(-1, arr.shape[-1])


def count_bad_rows(x2: np.ndarray) -> int:
    """Number of rows of ``x2`` with a NaN or Inf entry (integers have none)."""
    if x2.dtype.kind != "f":
        return 0
    step = block_rows(x2.shape[1])
    return int(
        sum(
            np.count_nonzero(~np.isfinite(x2[i : i + step]).all(axis=1))
            for i in range(0, x2.shape[0], step)
        )
    )


def check_finite(x2: np.ndarray) -> None:
    """Raise ValueError naming how many rows of ``x2`` hold NaN or infinity."""
    bad = count_bad_rows(x2)
    if bad:
        raise ValueError(
            f"features contain NaN or Inf values ({bad} of {x2.shape[0]} rows); "
            "drop or repair those rows before fitting, "
            "e.g. x = x[np.isfinite(x).all(axis=1)]"
        )


class FeatureStatistics:
    """Streaming mean and covariance of feature vectors, accumulated in float64.

    Keeps ``count``, the sum of the vectors (``d``) and the sum of their outer products
    (``d x d``); :attr:`mean` and :attr:`covariance` are derived from those. Updates are
    processed in blocks of at most ``min(65536, 32 MiB / (8 d))`` rows, so the extra
    memory of an update is bounded whatever the size of ``x``.

    The covariance is the **biased (population) covariance**, normalised by ``count``
    (not ``count - 1``): ``sum_outer / n - mean mean^T``. ITQ only uses its
    eigenvectors, which the normalisation does not change. The formula loses about
    ``log10((|mean| / std)^2)`` of float64's ~16 digits to cancellation, which only
    matters for features whose mean exceeds their spread by ~1e5 or more.

    Statistics of disjoint parts of a data set can be combined with :meth:`merge`
    (exactly equal, up to rounding, to one-shot statistics of the whole), and stored
    with :meth:`save` / :meth:`load` so several workers can contribute.
    """

    def __init__(self, dim: int | None = None):
        if dim is not None:
            dim = int(dim)
            if dim < 1:
                raise ValueError(f"dim must be a positive integer; got {dim}")
        self._dim = dim
        self._count = 0
        self._sum: np.ndarray | None = None
        # Upper triangle (incl. diagonal) of sum x x^T, Fortran order for BLAS syrk;
        # the strict lower triangle is not maintained.
        self._sxx: np.ndarray | None = None
        if dim is not None:
            self._allocate(dim)

    def _allocate(self, dim: int) -> None:
        self._dim = dim
        self._sum = np.zeros(dim, dtype=np.float64)
        self._sxx = np.zeros((dim, dim), dtype=np.float64, order="F")

    # ------------------------------------------------------------------ accumulate
    def update(self, x: Any) -> "FeatureStatistics":
        """Add the vectors ``x`` of shape ``(n, d)`` or ``(..., d)``; returns ``self``.

        Raises ``ValueError`` for empty input, NaN/Inf values or a feature dimension
        different from earlier updates; the statistics are unchanged after an error.
        """
        x2 = as_rows(x)
        n, d = x2.shape
        if n == 0 or d == 0:
            raise ValueError(f"empty input: got features of shape {np.shape(x)}; need n >= 1 vectors of d >= 1")
        if self._dim is not None and d != self._dim:
            raise ValueError(
                f"feature dimension mismatch: these statistics have dim {self._dim}, "
                f"the new features have dim {d}"
            )
        check_finite(x2)
        if self._sum is None:
            self._allocate(d)
        step = block_rows(d)
        for i in range(0, n, step):
            block = np.ascontiguousarray(x2[i : i + step], dtype=np.float64)
            self._sum += block.sum(axis=0)
            # block.T is Fortran-ordered (d, m): syrk computes block.T @ block with no copy
            # and adds it to the upper triangle of the accumulator in place.
            self._sxx = _blas.dsyrk(
                1.0, block.T, beta=1.0, c=self._sxx, trans=0, lower=0, overwrite_c=1
            )
        self._count += n
        return self

    def merge(self, other: "FeatureStatistics") -> "FeatureStatistics":
        """New statistics of the union of the data behind ``self`` and ``other``."""
        if not isinstance(other, FeatureStatistics):
            raise TypeError(f"can only merge FeatureStatistics; got {type(other).__name__}")
        if self._dim is not None and other._dim is not None and self._dim != other._dim:
            raise ValueError(
                f"feature dimension mismatch: cannot merge statistics of dim {self._dim} "
                f"with statistics of dim {other._dim}"
            )
        out = FeatureStatistics(self._dim if self._dim is not None else other._dim)
        for part in (self, other):
            if part._count:
                out._count += part._count
                out._sum += part._sum
                out._sxx += part._sxx
        return out

    # ------------------------------------------------------------------ results
    @property
    def count(self) -> int:
        """Number of vectors accumulated."""
        return self._count

    @property
    def dim(self) -> int | None:
        """Feature dimension ``d`` (``None`` before the first update)."""
        return self._dim

    def _require_data(self) -> None:
        if self._count == 0:
            raise ValueError("no feature vectors have been accumulated yet (count is 0)")

    @property
    def sum(self) -> np.ndarray:
        """Sum of the vectors, float64 ``(d,)`` (a copy)."""
        self._require_data()
        return self._sum.copy()

    @property
    def sum_outer(self) -> np.ndarray:
        """Sum of the outer products ``x x^T``, symmetric float64 ``(d, d)`` (a copy)."""
        self._require_data()
        upper = np.triu(self._sxx)
        return np.ascontiguousarray(upper + np.triu(upper, 1).T)

    @property
    def mean(self) -> np.ndarray:
        """Mean vector, float64 ``(d,)``."""
        self._require_data()
        return self._sum / self._count

    @property
    def covariance(self) -> np.ndarray:
        """Biased (population) covariance ``E[x x^T] - mean mean^T``, float64 ``(d, d)``."""
        mean = self.mean
        cov = self.sum_outer / self._count
        cov -= np.outer(mean, mean)
        return cov

    # ------------------------------------------------------------------ storage
    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write the statistics to ``path`` with ``np.savez`` (which adds ``.npz`` if missing)."""
        if self._dim is None:
            raise ValueError("cannot save statistics without a feature dimension (no update yet)")
        sxx = np.triu(self._sxx)
        sxx = sxx + np.triu(sxx, 1).T
        np.savez(
            path,
            format_version=np.int64(_STATS_FORMAT),
            count=np.int64(self._count),
            dim=np.int64(self._dim),
            sum=self._sum,
            sum_outer=sxx,
        )

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "FeatureStatistics":
        """Read statistics written by :meth:`save` (``path`` with or without ``.npz``)."""
        path = os.fspath(path)
        if not os.path.exists(path) and os.path.exists(path + ".npz"):
            path = path + ".npz"
        with np.load(path, allow_pickle=False) as f:
            version = int(f["format_version"])
            if version != _STATS_FORMAT:
                raise ValueError(f"{path}: unsupported FeatureStatistics format {version}")
            dim = int(f["dim"])
            out = cls(dim)
            out._count = int(f["count"])
            out._sum = np.array(f["sum"], dtype=np.float64)
            out._sxx = np.asfortranarray(f["sum_outer"], dtype=np.float64)
        if out._sum.shape != (dim,) or out._sxx.shape != (dim, dim):
            raise ValueError(f"{path}: arrays do not match dim {dim}")
        return out

    def __repr__(self) -> str:
        return f"FeatureStatistics(dim={self._dim}, count={self._count})"
