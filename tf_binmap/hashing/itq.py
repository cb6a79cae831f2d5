"""Iterative Quantization (ITQ) fitting in pure NumPy.

ITQ (Gong & Lazebnik, CVPR 2011) turns a d-dimensional feature vector ``x`` into
``bits`` binary digits::

    code = ((x - mean) @ P >= 0)        P = W_pca @ R   (d x bits, orthonormal columns)

``W_pca`` holds the top ``bits`` principal directions of the training features and
``R`` is a ``bits x bits`` rotation that minimizes the quantization loss
``||B - V R||_F^2`` with ``V = (X - mean) @ W_pca`` and ``B = sign(V R)`` (``0 -> +1``).

Fitting is split so that it scales past memory:

1. :class:`FeatureStatistics` (`tf_binmap.hashing.statistics`) accumulates count, sum and sum of outer products in
   float64, chunk by chunk; partial statistics from several workers can be saved and
   merged.
2. :func:`pca_projection` takes the top eigenvectors of the covariance (``eigh``).
3. The centred features are projected onto ``W_pca``; ``V`` is only ``n x bits``.
4. :func:`itq_rotation` runs the alternating minimization on ``V``.

:func:`fit_itq` does all of it, and :func:`encode` is the NumPy reference of the
binary encoding. Nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
import dataclasses
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from tf_binmap.hashing.statistics import (
    FeatureStatistics,
    as_rows,
    block_rows,
    check_finite,
)

__all__ = [
    "ITQResult",
    "pca_projection",
    "itq_rotation",
    "quantization_loss",
    "project_features",
    "fit_itq",
    "itq_from_projections",
    "encode",
]

# ---------------------------------------------------------------------- PCA
def pca_projection(stats: FeatureStatistics, bits: int) -> np.ndarray:
    """Top ``bits`` principal directions of ``stats``: float64 ``(d, bits)``.

    Eigenvectors of the covariance from ``numpy.linalg.eigh``, sorted by descending
    eigenvalue. Sign convention: in every column the entry of largest absolute value
    (the first one on ties) is positive, so the result does not depend on LAPACK's
    arbitrary signs.

    Needs ``stats.count >= bits + 1``: the covariance of ``n`` vectors has rank at most
    ``n - 1``, so fewer vectors cannot span ``bits`` directions. Warns when
    ``count < 5 d``, below which the covariance estimate of d-dimensional features is
    poor (5-10 x d samples are recommended).
    """
    if not isinstance(stats, FeatureStatistics):
        raise TypeError(f"stats must be a FeatureStatistics; got {type(stats).__name__}")
    bits = int(bits)
    d = stats.dim
    if d is None or stats.count == 0:
        raise ValueError("too few vectors (0) to fit a PCA: the statistics are empty")
    if bits < 1 or bits > d:
        raise ValueError(f"bits must be between 1 and the feature dimension {d}; got {bits}")
    n = stats.count
    if n < bits + 1:
        raise ValueError(
            f"too few vectors ({n}) to fit {bits} bits; need at least {bits + 1} "
            f"(bits + 1: the covariance of n vectors has rank at most n - 1), "
            f"and preferably 5-10 x the feature dimension ({5 * d}+)"
        )
    if n < 5 * d:
        warnings.warn(
            f"only {n} vectors for {d}-dimensional features; PCA wants 5-10 x d "
            f"(at least {5 * d}) vectors for a stable covariance estimate",
            stacklevel=2,
        )
    evals, evecs = np.linalg.eigh(stats.covariance)
    order = np.argsort(evals, kind="stable")[::-1][:bits]
    w = evecs[:, order]
    pivot = w[np.argmax(np.abs(w), axis=0), np.arange(bits)]
    w = w * np.where(pivot < 0, -1.0, 1.0)
    return np.ascontiguousarray(w)


# ---------------------------------------------------------------------- rotation
def signs(z: np.ndarray) -> np.ndarray:
    """ITQ's sign: +1 where ``z >= 0`` (zero included), -1 elsewhere."""
    return np.where(z >= 0, 1.0, -1.0)


def quantization_loss(v: np.ndarray, r: np.ndarray) -> float:
    """``||B - V R||_F^2 / n`` with ``B = sign(V R)`` (0 -> +1)."""
    z = np.asarray(v, dtype=np.float64) @ r
    return float(np.sum((signs(z) - z) ** 2) / z.shape[0])


def _random_rotation(c: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((c, c)))
    # QR is unique once diag(r) > 0: makes R0 a deterministic (Haar) rotation.
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def itq_rotation(v: Any, iterations: int = 50, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """ITQ rotation of PCA-projected, centred data ``v`` of shape ``(n, c)``.

    Starts from a random orthogonal ``R0`` (QR of a ``default_rng(seed)`` standard
    normal matrix, signs fixed so that the triangular factor has a positive diagonal),
    then alternates ``B = sign(V R)`` (0 -> +1) and the orthogonal Procrustes step
    ``U S W^T = svd(V^T B)``, ``R = U W^T``, ``iterations`` times.

    Returns ``(R, losses)``: ``R`` float64 ``(c, c)`` orthogonal, and the quantization
    loss ``||sign(V R) - V R||_F^2 / n`` of ``R0`` followed by the loss after each
    iteration (``iterations + 1`` values; the last one is the loss of the returned
    ``R``). The losses are non-increasing (each half-step of the alternation minimizes
    the same objective).
    """
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] == 0 or v.shape[1] == 0:
        raise ValueError(f"v must be a non-empty (n, c) matrix; got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("v contains NaN or Inf values")
    iterations = int(iterations)
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0; got {iterations}")
    n, c = v.shape
    r = _random_rotation(c, seed)
    z = v @ r
    b = signs(z)
    losses = [float(np.sum((b - z) ** 2) / n)]
    for _ in range(iterations):
        u, _s, wt = np.linalg.svd(v.T @ b)
        r = u @ wt
        z = v @ r
        b = signs(z)
        losses.append(float(np.sum((b - z) ** 2) / n))
    return r, losses


# ---------------------------------------------------------------------- fitting
@dataclass(frozen=True, eq=False)
class ITQResult:
    """A fitted ITQ encoder: ``bits = ((x - mean) @ projection >= 0)``.

    Attributes:
        mean: float32 ``(d,)`` mean of the fitting features.
        projection: float32 ``(d, bits)``, ``W_pca @ R``, orthonormal columns.
        losses: quantization loss ``||B - V R||_F^2 / n`` of the initial random
            rotation and after every ITQ iteration (last = final rotation).
        pca_loss: the same loss for ``R = I`` (plain PCA then sign), on the same rows.
        bit_balance: float64 ``(bits,)`` fraction of ones per bit on all fitting vectors.
        count: number of fitting vectors.
    """

    mean: np.ndarray
    projection: np.ndarray
    losses: list
    pca_loss: float
    bit_balance: np.ndarray
    count: int

    @property
    def bits(self) -> int:
        """Number of bits (columns of the projection)."""
        return int(self.projection.shape[1])

    @property
    def dim(self) -> int:
        """Feature dimension (rows of the projection)."""
        return int(self.projection.shape[0])

    def encode(self, x: Any) -> np.ndarray:
        """:func:`encode` with this result's mean and projection."""
        return encode(x, self.mean, self.projection)


ChunkSource = Union[np.ndarray, Callable[[], Iterable[Any]], Iterable[Any]]


def _chunks(source: Callable[[], Iterable[Any]]) -> Iterator[np.ndarray]:
    """Non-empty ``(m, d)`` chunks of one pass over ``source()``."""
    for chunk in source():
        c2 = as_rows(chunk)
        if c2.shape[0]:
            yield c2


def _make_source(data: Any, need_two_passes: bool) -> Callable[[], Iterable[Any]]:
    """Turn ``data`` into a callable that returns a fresh iterable of chunks."""
    if isinstance(data, FeatureStatistics):
        raise TypeError("pass FeatureStatistics as stats=..., and the features as data")
    if isinstance(data, np.ndarray):
        x2 = as_rows(data)
        step = block_rows(x2.shape[1])
        return lambda: (x2[i : i + step] for i in range(0, x2.shape[0], step))
    if callable(data):
        return data
    if isinstance(data, (list, tuple)):
        return lambda: data
    if isinstance(data, Iterable):
        if not need_two_passes:
            it = iter(data)
            used = []

            def once() -> Iterable[Any]:
                if used:
                    raise RuntimeError("a one-shot iterable can only be read once")
                used.append(True)
                return it

            return once
        # One-shot iterable (e.g. a generator) but two passes are needed: keep a
        # float32 copy of all chunks (n x d x 4 bytes).
        kept = [np.array(as_rows(c), dtype=np.float32) for c in data]
        return lambda: kept
    raise TypeError(
        "data must be a numpy array, a list/tuple or iterable of chunks, or a callable "
        f"returning a fresh iterator of chunks; got {type(data).__name__}"
    )


def project_features(data: ChunkSource, mean: Any, w: Any) -> np.ndarray:
    """``(x - mean) @ w`` in float64 for every vector of one pass over ``data``.

    ``data`` is anything :func:`fit_itq` accepts (read once). Returns ``(n, c)``; this
    is ITQ's ``V`` when ``w`` is the PCA matrix. Memory: the result plus one float64
    block of at most ``min(65536, 32 MiB / (8 d))`` rows.
    """
    source = _make_source(data, need_two_passes=False)
    mean = np.asarray(mean, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    d = w.shape[0]
    step = block_rows(d)
    parts = []
    for c2 in _chunks(source):
        if c2.shape[1] != d:
            raise ValueError(
                f"feature dimension mismatch: the projection has dim {d}, a chunk has dim {c2.shape[1]}"
            )
        check_finite(c2)
        for i in range(0, c2.shape[0], step):
            block = np.asarray(c2[i : i + step], dtype=np.float64)
            parts.append((block - mean) @ w)
    if not parts:
        raise ValueError("no feature vectors in the data (all chunks empty)")
    return np.concatenate(parts, axis=0)


def fit_itq(
    data: ChunkSource,
    bits: int,
    iterations: int = 50,
    seed: int = 0,
    max_rotation_samples: int | None = None,
    stats: FeatureStatistics | None = None,
) -> ITQResult:
    """Fit ITQ with ``bits`` bits on feature vectors.

    ``data`` may be:

    * a numpy array ``(n, d)`` or ``(..., d)`` (leading axes are flattened);
    * a callable returning a *fresh* iterator of chunks (each ``(m, d)`` or
      ``(..., d)``) on every call: two streaming passes are made (statistics, then
      projection), so memory is ``O(d^2 + n * bits)`` whatever ``n``;
    * a list/tuple of chunks (iterated twice, no copy);
    * any other iterable of chunks, e.g. a generator, which can be read only once:
      its chunks are kept as one float32 copy (``4 n d`` bytes) for the second pass.
      Pass a callable instead to avoid that.

    With ``stats`` (a :class:`FeatureStatistics`, e.g. merged from several workers)
    the statistics pass is skipped and ``data`` is read once (a generator is then not
    copied); ``data`` should be the vectors the statistics were computed on.

    ``max_rotation_samples``: if set and smaller than ``n``, the rotation (and
    ``losses``/``pca_loss``) use a random subset of that many projected vectors, drawn
    with ``default_rng(seed)``; ``bit_balance`` always uses all vectors.

    Deterministic for a given ``seed`` and data (same chunking). Returns an
    :class:`ITQResult`.
    """
    bits = int(bits)
    if stats is not None and not isinstance(stats, FeatureStatistics):
        raise TypeError(f"stats must be a FeatureStatistics; got {type(stats).__name__}")
    source = _make_source(data, need_two_passes=stats is None)
    if stats is None:
        stats = FeatureStatistics()
        for c2 in _chunks(source):
            stats.update(c2)
        if stats.count == 0:
            raise ValueError("no feature vectors in the data (all chunks empty)")
    mean = stats.mean
    w = pca_projection(stats, bits)
    v = project_features(source, mean, w)
    if v.shape[0] != stats.count:
        warnings.warn(
            f"the data has {v.shape[0]} vectors but the statistics count {stats.count}",
            stacklevel=2,
        )
    result = itq_from_projections(v, mean, w, iterations=iterations, seed=seed,
                                  max_rotation_samples=max_rotation_samples)
    return dataclasses.replace(result, count=int(stats.count))


def itq_from_projections(
    v: Any,
    mean: Any,
    w: Any,
    iterations: int = 50,
    seed: int = 0,
    max_rotation_samples: int | None = None,
) -> ITQResult:
    """The end of :func:`fit_itq` given ``v = (x - mean) @ w`` (:func:`project_features`)
    of every fitting vector, ``w`` the PCA matrix of their statistics
    (:func:`pca_projection`): the rotation, its losses and the bit balance.

    A distributed fit computes the statistics and the projections of its parts in
    parallel and runs this once; ``v`` is only ``n x bits``. The order of the rows of
    ``v`` changes the result by float rounding only (unless ``max_rotation_samples``
    subsamples them, which picks rows by position).
    """
    v = np.asarray(v, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    bits = w.shape[1]
    v_rot = v
    if max_rotation_samples is not None:
        m = int(max_rotation_samples)
        if m < 1:
            raise ValueError(f"max_rotation_samples must be >= 1; got {m}")
        if m < v.shape[0]:
            rows = np.sort(np.random.default_rng(seed).choice(v.shape[0], size=m, replace=False))
            v_rot = v[rows]
    r, losses = itq_rotation(v_rot, iterations=iterations, seed=seed)
    pca_loss = quantization_loss(v_rot, np.eye(bits))
    bit_balance = (v @ r >= 0).mean(axis=0)
    return ITQResult(
        mean=np.asarray(mean).astype(np.float32),
        projection=np.ascontiguousarray((w @ r).astype(np.float32)),
        losses=losses,
        pca_loss=pca_loss,
        bit_balance=bit_balance,
        count=int(v.shape[0]),
    )


# ---------------------------------------------------------------------- encoding
def encode(x: Any, mean: Any, projection: Any) -> np.ndarray:
    """Binary codes ``((x - mean) @ projection >= 0)`` as uint8 ``(..., bits)`` in {0, 1}.

    ``x`` is ``(..., d)``, ``mean`` ``(d,)``, ``projection`` ``(d, bits)``. Arithmetic
    follows NumPy's type promotion (float32 inputs give float32 arithmetic, like the
    Keras layer). An exactly zero projection gives bit 1.
    """
    x = np.asarray(x)
    mean = np.asarray(mean)
    projection = np.asarray(projection)
    if projection.ndim != 2:
        raise ValueError(f"projection must be (d, bits); got shape {projection.shape}")
    d = projection.shape[0]
    if mean.shape != (d,):
        raise ValueError(f"mean must have shape ({d},) to match the projection; got {mean.shape}")
    if x.ndim == 0 or x.shape[-1] != d:
        raise ValueError(f"features must have shape (..., {d}); got {x.shape}")
    return ((x - mean) @ projection >= 0).astype(np.uint8)
