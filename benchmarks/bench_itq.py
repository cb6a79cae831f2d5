"""Benchmark streaming ITQ fitting on synthetic features that never fit in memory at once.

Features are generated chunk by chunk from a seeded source (low-rank signal plus noise,
so PCA has structure to find); the n x dim matrix is never materialized. Prints the
wall time of each phase and the peak RSS as JSON.

    python benchmarks/bench_itq.py --n 200000
    python benchmarks/bench_itq.py            # n=1e6, dim=4096, bits=8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

import numpy as np

from tf_binmap.hashing.itq import (
    FeatureStatistics,
    itq_rotation,
    pca_projection,
    project_features,
    quantization_loss,
)


class SyntheticFeatures:
    """Callable chunk source: ``x = (z * scales) @ basis + sigma * noise + offset``.

    Chunk ``k`` is drawn from ``default_rng([seed, k])``, so every pass yields the same
    data. The yielded array is one reused buffer (``chunk x dim`` float32, the only large
    allocation): consume it before asking for the next chunk.
    """

    def __init__(self, n: int, dim: int, chunk: int, rank: int = 64, noise: float = 0.5, seed: int = 0):
        self.n, self.dim, self.chunk, self.rank, self.noise, self.seed = n, dim, chunk, rank, noise, seed
        rng = np.random.default_rng([seed, 2**32 - 1])
        basis, _ = np.linalg.qr(rng.standard_normal((dim, rank)))
        scales = 4.0 * 0.93 ** np.arange(rank)
        self.mixing = (basis.T * scales[:, None]).astype(np.float32)  # (rank, dim)
        self.offset = rng.uniform(0.0, 2.0, dim).astype(np.float32)
        self.gen_seconds = 0.0

    def __call__(self):
        buf = np.empty((self.chunk, self.dim), dtype=np.float32)
        step = 4096  # rows per generation block: bounds the z @ mixing temporary
        for k, start in enumerate(range(0, self.n, self.chunk)):
            t = time.perf_counter()
            m = min(self.chunk, self.n - start)
            rng = np.random.default_rng([self.seed, k])
            x = buf[:m]
            for i in range(0, m, step):
                block = x[i : i + step]
                rng.standard_normal(dtype=np.float32, out=block)
                block *= self.noise
                block += rng.standard_normal((block.shape[0], self.rank), dtype=np.float32) @ self.mixing
                block += self.offset
            self.gen_seconds += time.perf_counter() - t
            yield x


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=4096)
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    src = SyntheticFeatures(args.n, args.dim, args.chunk, seed=args.seed)
    out: dict = {"args": vars(args), "numpy": np.__version__, "machine": platform.machine()}
    out["peak_rss_mb_after_imports"] = _peak_rss_mb()
    total = time.perf_counter()

    t = time.perf_counter()
    stats = FeatureStatistics(args.dim)
    for x in src():
        stats.update(x)
    del x
    out["stats_pass_s"] = time.perf_counter() - t
    out["peak_rss_mb_after_stats_pass"] = _peak_rss_mb()
    out["stats_pass_generation_s"] = src.gen_seconds

    t = time.perf_counter()
    mean = stats.mean
    w = pca_projection(stats, args.bits)
    out["eigh_s"] = time.perf_counter() - t
    out["peak_rss_mb_after_eigh"] = _peak_rss_mb()

    src.gen_seconds = 0.0
    t = time.perf_counter()
    v = project_features(src, mean, w)  # (n, bits) float64, like fit_itq
    out["projection_pass_s"] = time.perf_counter() - t
    out["projection_pass_generation_s"] = src.gen_seconds

    t = time.perf_counter()
    r, losses = itq_rotation(v, iterations=args.iterations, seed=args.seed)
    out["rotation_s"] = time.perf_counter() - t

    out["total_s"] = time.perf_counter() - total
    out["count"] = stats.count
    out["loss_initial"], out["loss_final"] = losses[0], losses[-1]
    out["pca_loss"] = quantization_loss(v, np.eye(args.bits))
    out["bit_balance"] = np.round((v @ r >= 0).mean(axis=0), 4).tolist()
    out["peak_rss_mb"] = _peak_rss_mb()
    out["loadavg_1_5_15"] = os.getloadavg()  # the machine may be shared
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
