"""The learned-order merge loop of `tf_binmap.segmentation.agglomerate.merge_hierarchy`,
compiled with numba (the default's hot loop: about 5x faster, and it releases the GIL).

The same algorithm as the Python loop with a `MergeScorer`: a heap of (score, a, b)
ordered lexicographically (ties broken by the region ids), stale pairs skipped lazily,
every live pair rescored when the region count falls below ``rescore_ratio`` x the count
at the last rescoring, the same running sums (area-weighted means of colour, code and
colour squares; summed border lengths and strengths). The adjacency is a pool of edges
with per-region linked lists instead of Python dicts; the pair features and the scorer's
MLP are computed in compiled code per batch of pairs (the MLP's products through BLAS, as
NumPy's). The floating-point operations are the same but not always in the same order
(a dot product summed in another order, libm's ``exp`` for NumPy's), so scores can differ
in the last bits; the merge order is the same wherever no two candidate scores lie that
close (tests/segmentation/test_compiled.py checks identical trees on real photos).

Only the learned order without the small-region rule takes this path (the default);
`merge_hierarchy` runs everything else in Python.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tf_binmap.segmentation.compile_notice import install_compile_notice

install_compile_notice()

__all__ = ["learned_merge_loop"]

_N_FEATURES = 11


@njit(cache=True, nogil=True, inline="always")
def _before(d1, a1, b1, d2, a2, b2):
    """(d1, a1, b1) < (d2, a2, b2) lexicographically, as Python compares the tuples."""
    if d1 != d2:
        return d1 < d2
    if a1 != a2:
        return a1 < a2
    return b1 < b2


@njit(cache=True, nogil=True)
def _sift_down(hd, ha, hb, size, i):
    while True:
        left = 2 * i + 1
        if left >= size:
            return
        best = left
        right = left + 1
        if right < size and _before(hd[right], ha[right], hb[right], hd[left], ha[left],
                                    hb[left]):
            best = right
        if not _before(hd[best], ha[best], hb[best], hd[i], ha[i], hb[i]):
            return
        hd[i], hd[best] = hd[best], hd[i]
        ha[i], ha[best] = ha[best], ha[i]
        hb[i], hb[best] = hb[best], hb[i]
        i = best


@njit(cache=True, nogil=True)
def _sift_up(hd, ha, hb, i):
    while i > 0:
        parent = (i - 1) // 2
        if not _before(hd[i], ha[i], hb[i], hd[parent], ha[parent], hb[parent]):
            return
        hd[i], hd[parent] = hd[parent], hd[i]
        ha[i], ha[parent] = ha[parent], ha[i]
        hb[i], hb[parent] = hb[parent], hb[i]
        i = parent


@njit(cache=True, nogil=True)
def _heapify(hd, ha, hb, size):
    for i in range(size // 2 - 1, -1, -1):
        _sift_down(hd, ha, hb, size, i)


@njit(cache=True, nogil=True, inline="always")
def _interp(x, xp, fp):
    """``np.interp`` of one value (NumPy's formula: slope * (x - xp[j]) + fp[j])."""
    m = xp.shape[0]
    if x < xp[0]:
        return fp[0]
    if x >= xp[m - 1]:
        return fp[m - 1]
    j = 0
    while xp[j + 1] <= x:
        j += 1
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    return slope * (x - xp[j]) + fp[j]


@njit(cache=True, nogil=True)
def _pair_features(vectors, spreads, log_areas, a, b, length, strength, count, total_area,
                   n_code, out):
    """One row of `tf_binmap.segmentation.pair_features.assemble_pair_features`."""
    total = 0.0
    for c in range(3):
        d = vectors[a, c] - vectors[b, c]
        total += d * d
    out[0] = math.sqrt(total)
    total = 0.0
    for c in range(3, 3 + n_code):
        d = vectors[a, c] - vectors[b, c]
        total += d * d
    out[1] = math.sqrt(total)
    length = max(length, 1.0)
    out[2] = strength / length
    out[3] = abs(vectors[a, 0] - vectors[b, 0])
    out[4] = min(spreads[a], spreads[b])
    out[5] = max(spreads[a], spreads[b])
    log_mean_area = math.log(total_area / count)
    out[6] = min(log_areas[a], log_areas[b]) - log_mean_area
    out[7] = max(log_areas[a], log_areas[b]) - log_mean_area
    out[8] = math.log(length)
    out[9] = length / math.exp(0.5 * (out[6] + log_mean_area))
    out[10] = math.log(count)


@njit(cache=True, nogil=True)
def _scores(x, m, out, weights):
    """`MergeScorer.__call__` on the first m rows of x."""
    w0, b0, w1, b1, w2, b2, schedule_x, schedule_y, constant = weights
    h = np.dot(x[:m], w0) + b0
    h = np.dot(np.maximum(h, 0.0), w1) + b1
    logits = np.dot(np.maximum(h, 0.0), w2)
    for i in range(m):
        score = 2.0 / (1.0 + math.exp(-(logits[i, 0] + b2[0]))) - 1.0
        exponent = _interp(x[i, 10], schedule_x, schedule_y) if schedule_x.shape[0] \
            else constant
        if exponent != 0.0 or schedule_x.shape[0]:
            score = score * math.exp(exponent * (x[i, 6] - x[i, 10]))
        out[i] = score


@njit(cache=True, nogil=True)
def _grow(array, used, rows):
    bigger = np.empty((max(2 * array.shape[0], rows),) + array.shape[1:], array.dtype)
    bigger[:used] = array[:used]
    return bigger


@njit(cache=True, nogil=True)
def _loop(n, vectors, spreads, log_areas, area, edges, lengths, strengths, n_code, weights,
          rescore_ratio):
    total = 2 * n - 1
    dim = vectors.shape[1]
    code_end = 3 + n_code
    total_area = 0.0
    for i in range(n):
        total_area += area[i]
    # Edge pool: ends (u, v), border length and strength; slot 2e is the edge in u's list,
    # 2e + 1 in v's; edges to merged regions are skipped when met.
    n_start = edges.shape[0]
    capacity = 2 * n_start + 16
    eu = np.empty(capacity, np.int64)
    ev = np.empty(capacity, np.int64)
    el = np.empty(capacity)
    es = np.empty(capacity)
    following = np.empty(2 * capacity, np.int64)
    head = np.full(total, -1, np.int64)
    n_e = 0
    for e in range(n_start):
        u, v = edges[e, 0], edges[e, 1]
        eu[n_e], ev[n_e], el[n_e], es[n_e] = u, v, lengths[e], strengths[e]
        following[2 * n_e] = head[u]
        head[u] = 2 * n_e
        following[2 * n_e + 1] = head[v]
        head[v] = 2 * n_e + 1
        n_e += 1
    alive = np.zeros(total, np.bool_)
    alive[:n] = True
    n_alive = n
    x = np.empty((n_start + 16, _N_FEATURES))
    scores = np.empty(n_start + 16)
    pa = np.empty(n_start + 16, np.int64)
    pb = np.empty(n_start + 16, np.int64)
    hd = np.empty(n_start + 16)
    ha = np.empty(n_start + 16, np.int64)
    hb = np.empty(n_start + 16, np.int64)
    for e in range(n_start):
        _pair_features(vectors, spreads, log_areas, eu[e], ev[e], el[e], es[e], float(n_alive),
                       total_area, n_code, x[e])
    _scores(x, n_start, scores, weights)
    size = n_start
    for e in range(n_start):
        hd[e], ha[e], hb[e] = scores[e], eu[e], ev[e]
    _heapify(hd, ha, hb, size)
    merges = np.empty((max(n - 1, 0), 2), np.int64)
    distances = np.empty(max(n - 1, 0))
    n_merges = 0
    mark = np.full(total, -1, np.int64)  # neighbour -> its slot in `joined`
    joined = np.empty(total, np.int64)
    joined_length = np.empty(total)
    joined_strength = np.empty(total)
    new = n
    last_rescore = n
    while size > 0:
        if n_alive < rescore_ratio * last_rescore:
            m = 0  # every live pair once, from its end u
            for r in range(new):
                if not alive[r]:
                    continue
                slot = head[r]
                while slot >= 0:
                    e = slot >> 1
                    if (slot & 1) == 0 and alive[ev[e]]:
                        if m >= x.shape[0]:
                            x = _grow(x, m, m + 1)
                            pa = _grow(pa, m, m + 1)
                            pb = _grow(pb, m, m + 1)
                            scores = np.empty(x.shape[0])
                        _pair_features(vectors, spreads, log_areas, r, ev[e], el[e], es[e],
                                       float(n_alive), total_area, n_code, x[m])
                        pa[m], pb[m] = r, ev[e]
                        m += 1
                    slot = following[slot]
            _scores(x, m, scores, weights)
            if m > hd.shape[0]:
                hd, ha, hb = np.empty(m), np.empty(m, np.int64), np.empty(m, np.int64)
            for i in range(m):
                hd[i], ha[i], hb[i] = scores[i], pa[i], pb[i]
            size = m
            _heapify(hd, ha, hb, size)
            last_rescore = n_alive
            if size == 0:
                break
        d, a, b = hd[0], ha[0], hb[0]
        size -= 1
        if size > 0:
            hd[0], ha[0], hb[0] = hd[size], ha[size], hb[size]
            _sift_down(hd, ha, hb, size, 0)
        if not (alive[a] and alive[b]):
            continue
        alive[a] = alive[b] = False
        alive[new] = True
        area[new] = area[a] + area[b]
        for c in range(dim):
            vectors[new, c] = (area[a] * vectors[a, c] + area[b] * vectors[b, c]) / area[new]
        spread = 0.0
        for c in range(3):
            spread = spread + (vectors[new, code_end + c] - vectors[new, c] * vectors[new, c])
        spreads[new] = max(spread / 3.0, 0.0) ** 0.5
        log_areas[new] = math.log(area[new])
        n_joined = 0
        for old in (a, b):  # the new region's borders: the union of a's and b's
            slot = head[old]
            while slot >= 0:
                e = slot >> 1
                other = ev[e] if (slot & 1) == 0 else eu[e]
                if alive[other]:
                    k = mark[other]
                    if k < 0:
                        mark[other] = n_joined
                        joined[n_joined] = other
                        joined_length[n_joined] = el[e]
                        joined_strength[n_joined] = es[e]
                        n_joined += 1
                    else:
                        joined_length[k] += el[e]
                        joined_strength[k] += es[e]
                slot = following[slot]
        for k in range(n_joined):
            mark[joined[k]] = -1
        merges[n_merges, 0], merges[n_merges, 1] = a, b
        distances[n_merges] = d
        n_merges += 1
        n_alive -= 1
        if n_e + n_joined > eu.shape[0]:
            rows = n_e + n_joined
            eu, ev = _grow(eu, n_e, rows), _grow(ev, n_e, rows)
            el, es = _grow(el, n_e, rows), _grow(es, n_e, rows)
            following = _grow(following, 2 * n_e, 2 * eu.shape[0])
        if n_joined > x.shape[0]:
            x = np.empty((n_joined, _N_FEATURES))
            scores = np.empty(n_joined)
        for k in range(n_joined):
            other = joined[k]
            eu[n_e], ev[n_e], el[n_e], es[n_e] = other, new, joined_length[k], joined_strength[k]
            following[2 * n_e] = head[other]
            head[other] = 2 * n_e
            following[2 * n_e + 1] = head[new]
            head[new] = 2 * n_e + 1
            n_e += 1
            _pair_features(vectors, spreads, log_areas, other, new, joined_length[k],
                           joined_strength[k], float(n_alive), total_area, n_code, x[k])
        if n_joined:
            _scores(x, n_joined, scores, weights)
        if size + n_joined > hd.shape[0]:
            rows = size + n_joined
            hd, ha, hb = _grow(hd, size, rows), _grow(ha, size, rows), _grow(hb, size, rows)
        for k in range(n_joined):  # (score, smaller id, larger id): the new id is the largest
            hd[size], ha[size], hb[size] = scores[k], joined[k], new
            _sift_up(hd, ha, hb, size)
            size += 1
        new += 1
    return merges[:n_merges], distances[:n_merges]


def learned_merge_loop(features, parameters: tuple, rescore_ratio: float = 0.8
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The merges and scores of the learned order on ``features`` (`RegionFeatures` with
    CIELAB colour, its squares and codes) under a scorer's `compiled_parameters`.

    Returns ``(merges (m, 2) int64, scores (m,) float64)``, as `merge_hierarchy` records
    them."""
    n = len(features.area)
    total = 2 * n - 1
    n_code = features.code.shape[1]
    code_end = 3 + n_code
    area = np.zeros(total)
    area[:n] = features.area
    vectors = np.zeros((total, code_end + 3))
    vectors[:n, :3] = features.colour
    vectors[:n, 3:code_end] = features.code
    vectors[:n, code_end:] = features.colour_squares
    means = vectors[:n, :3]
    spreads = np.zeros(total)
    spreads[:n] = np.sqrt(np.maximum(np.mean(vectors[:n, code_end:] - means * means, axis=-1),
                                     0.0))
    log_areas = np.zeros(total)
    log_areas[:n] = np.log(area[:n])
    return _loop(n, vectors, spreads, log_areas, area,
                 np.ascontiguousarray(features.edges, dtype=np.int64),
                 np.ascontiguousarray(features.border_length, dtype=np.float64),
                 np.ascontiguousarray(features.border_strength, dtype=np.float64),
                 n_code, parameters, float(rescore_ratio))
