"""Greedy agglomerative merging of adjacent regions, recorded as a `MergeTree`.

From fine superpixels, merge the pair of adjacent regions with the smallest distance (or
learned score), update the merged region's statistics, until one region is left. The
distance between adjacent regions a and b (all terms from running sums, so merged regions
get area-weighted means and summed borders)::

    d(a, b) = size(a, b) * (  w_colour   * ||lab_a - lab_b||
                            + w_code     * ||code_a - code_b||
                            + w_boundary * boundary(a, b) )
    size(a, b) = (min(area_a, area_b) / mean superpixel area) ** size_power

- ``lab``: mean CIELAB colour of the region; ``code``: mean of per-pixel real-valued
  features (the ITQ projections of the CNN binary map before the threshold, "soft
  codes"); ``boundary``: mean edge strength over the shared border
  (`tf_binmap.segmentation.regions.pixel_pair_strengths`); ``size``: with
  ``size_power > 0`` small regions merge first, like Ward linkage.

The learned merge order (``scorer``, the default; `tf_binmap.segmentation.scorer`)
replaces the distance by a classifier's score over the pair features
(`tf_binmap.segmentation.pair_features`) and rescores all live pairs when the count has
fallen by a fifth.

The small-region rule (``small_region_factor`` f > 0) changes the order, not the
distance: while k regions are left, a region smaller than ``total area / (f k^p)`` is
merged before any other pair, into its nearest neighbour. Without it, one-colour specks
(a highlight, a dark spot) are the last regions to merge, so a coarse cut at 20 segments
may hold a dozen specks and only a few real regions. With ``p = 2`` the rule acts on
coarse cuts only: at 20 segments it absorbs regions below 0.6% of the image (f = 0.4), at
150 below 0.01% (fewer pixels than a leaf).

The loop here is NumPy: the initial distances are computed vectorized; each merge
recomputes the distances of the new region to its neighbours in one vectorized call and
pushes them on a heap (stale entries are skipped lazily). Ties are broken by the region
ids, so the merge order is deterministic. The default (the learned order without the
small-region rule) runs the same loop compiled (`agglomerate_compiled`).
"""

from __future__ import annotations

import heapq

import numpy as np

from tf_binmap.segmentation.agglomerate_compiled import learned_merge_loop
from tf_binmap.segmentation.pair_features import assemble_pair_features
from tf_binmap.segmentation.regions import RegionFeatures, check_labels
from tf_binmap.segmentation.tree import MergeTree

__all__ = ["merge_hierarchy"]


def merge_hierarchy(superpixels: np.ndarray, features: RegionFeatures, w_colour: float = 1.0,
                    w_code: float = 0.0, w_boundary: float = 0.0,
                    size_power: float = 0.0, code_size_power: float = 0.0,
                    colour_spread: float = 0.0, small_region_factor: float = 0.0,
                    small_region_power: float = 1.0, scorer=None,
                    rescore_ratio: float = 0.8, engine: str = "auto") -> MergeTree:
    """Greedy agglomerative merging of adjacent regions (see the module docstring).

    Args:
        superpixels: (H, W) dense labels 0..n-1 (the leaves).
        features: their `RegionFeatures` (`region_features`).
        w_colour, w_code, w_boundary: weights of the colour distance, the code distance
            and the mean border strength.
        size_power: exponent of the size factor (0 = no size factor).
        code_size_power: the code term grows with the smaller region's size,
            ``w_code * (min area / mean superpixel area) ** code_size_power`` (0: fixed).
        colour_spread: with ``s > 0`` the colour distance is divided by
            ``sqrt(1 + (var_a + var_b) / s**2)``, var = the region's colour variance (mean
            over channels): textured regions count as closer, like EGS's internal
            difference (needs ``features.colour_squares``; 0: plain distance).
        small_region_factor: with ``f > 0``, while k regions are left, a region smaller
            than ``total area / (f * k ** small_region_power)`` is merged before any
            other pair, into its neighbour at the smallest distance (the smallest such
            region first), so specks of distinct colour are absorbed as the count
            falls instead of using up the segment count of coarse cuts. 0: off (pure
            distance order). The recorded distances stay the merges' own distances
            (``levels`` is their running maximum).
        small_region_power: the exponent p of k in that threshold (>= 0; the distance's
            tuned settings use 2, so the rule acts on coarse cuts only).
        scorer: None (the weighted distance above) or a learned merge order: a
            `tf_binmap.segmentation.scorer.MergeScorer` (or any callable mapping the
            (m, n) `pair_features` of m pairs to m scores; the lowest merges first).
            The weights, ``size_power``, ``code_size_power`` and ``colour_spread`` are
            then unused; the features need CIELAB colour (and its squares) and codes.
        rescore_ratio: with a scorer, all live pairs are rescored each time the region
            count falls below this fraction of the count at the last rescoring (the
            score depends on the count).
        engine: ``"auto"`` (default): the learned order without the small-region rule
            runs compiled (`tf_binmap.segmentation.agglomerate_compiled`), everything
            else in Python; ``"python"``: always the Python loop (the reference).

    Returns:
        the `MergeTree` (n - 1 merges for a connected image).
    """
    superpixels = check_labels(superpixels)
    n = int(superpixels.max()) + 1
    if features.area.shape != (n,):
        raise ValueError(f"features are for {features.area.shape[0]} superpixels, labels have {n}")
    total = 2 * n - 1
    area = np.zeros(total)
    area[:n] = features.area
    # One matrix of stacked, pre-weighted mean vectors: the weighted distance of colour and
    # code is then two norms of slices of the difference.
    n_colour, n_code = features.colour.shape[1], features.code.shape[1]
    if engine not in ("auto", "python"):
        raise ValueError(f"engine must be 'auto' or 'python', got {engine!r}")
    if scorer is not None:
        _check_scorer_inputs(scorer, features, size_power, code_size_power, colour_spread,
                             rescore_ratio)
        parameters = getattr(scorer, "compiled_parameters", lambda: None)()
        if engine == "auto" and parameters is not None and not float(small_region_factor):
            merges, scores = learned_merge_loop(features, parameters, rescore_ratio)
            levels = np.maximum.accumulate(scores) if len(scores) else scores
            return MergeTree(superpixels.astype(np.int32), merges, scores, levels)
    spread = bool(colour_spread and n_colour and w_colour) or scorer is not None
    if spread and features.colour_squares is None:
        raise ValueError("colour_spread needs features.colour_squares (region_features "
                         "computes them from the colour)")
    # Columns: colour means | code means | (colour_spread) colour mean squares; every
    # column is an area-weighted mean, so merged regions average them the same way.
    code_end = n_colour + n_code
    vectors = np.zeros((total, code_end + (n_colour if spread else 0)))
    vectors[:n, :n_colour] = features.colour
    vectors[:n, n_colour:code_end] = features.code
    if spread:
        vectors[:n, code_end:] = features.colour_squares
    spread_squared = float(colour_spread) ** 2
    mean_area = float(features.area.mean())

    def variance(rows):
        """Within-region colour variance (mean over channels) of ``vectors[rows]``."""
        means = rows[..., :n_colour]
        return np.maximum(np.mean(rows[..., code_end:] - means * means, axis=-1), 0.0)

    n_alive = n
    total_area = float(area[:n].sum())
    if scorer is not None:  # per-region parts of the pair features, kept as regions merge
        spreads, log_areas = np.zeros(total), np.zeros(total)
        spreads[:n] = np.sqrt(variance(vectors[:n]))
        log_areas[:n] = np.log(area[:n])

    def distances(a: np.ndarray, b: np.ndarray, length: np.ndarray, strength: np.ndarray) -> np.ndarray:
        if scorer is not None:
            x = assemble_pair_features(vectors[a, :code_end] - vectors[b, :code_end], spreads[a],
                                       spreads[b], log_areas[a], log_areas[b], length, strength,
                                       n_alive, total_area)
            return np.asarray(scorer(x), dtype=np.float64)
        difference = vectors[a] - vectors[b]
        d = np.zeros(len(a))
        if n_colour and w_colour:
            colour = w_colour * np.sqrt(np.sum(difference[:, :n_colour] ** 2, axis=1))
            if spread:
                colour = colour / np.sqrt(1.0 + (variance(vectors[a]) + variance(vectors[b]))
                                          / spread_squared)
            d += colour
        if n_code and w_code:
            code = w_code * np.sqrt(np.sum(difference[:, n_colour:code_end] ** 2, axis=1))
            if code_size_power:
                code = code * (np.minimum(area[a], area[b]) / mean_area) ** code_size_power
            d += code
        if w_boundary:
            d += w_boundary * strength / np.maximum(length, 1.0)
        if size_power:
            d *= (np.minimum(area[a], area[b]) / mean_area) ** size_power
        return d

    # Adjacency: per region, a dict neighbour -> [border length, strength sum].
    neighbours: list[dict[int, list[float]] | None] = [dict() for _ in range(n)] + [None] * (n - 1)
    edges = features.edges
    for (a, b), length, strength in zip(edges.tolist(), features.border_length.tolist(),
                                        features.border_strength.tolist()):
        neighbours[a][b] = [length, strength]
        neighbours[b][a] = [length, strength]
    alive = np.zeros(total, dtype=bool)
    alive[:n] = True
    initial = distances(edges[:, 0], edges[:, 1], features.border_length, features.border_strength) \
        if len(edges) else np.zeros(0)
    heap = list(zip(initial.tolist(), edges[:, 0].tolist(), edges[:, 1].tolist()))
    heapq.heapify(heap)
    # Small-region rule: a heap of (area, id) of the regions, checked before each merge.
    small_factor, small_power = float(small_region_factor), float(small_region_power)
    if not small_factor >= 0 or not small_power >= 0:
        raise ValueError("small_region_factor and small_region_power must be >= 0, got "
                         f"{small_region_factor} and {small_region_power}")
    area_heap = list(zip(area[:n].tolist(), range(n))) if small_factor else []
    heapq.heapify(area_heap)

    # The merge loop runs once per leaf: its per-merge distances avoid the generic
    # function's allocations (same operations in the same order, so the same values).
    use_colour, use_code = bool(n_colour and w_colour), bool(n_code and w_code)
    add_reduce, sqrt, heappush, heappop = np.add.reduce, np.sqrt, heapq.heappush, heapq.heappop

    def new_distances(region: int, others: list, stats: list) -> list:
        if scorer is not None:
            stats = np.array(stats)
            values = distances(others, np.full(len(others), region), stats[:, 0], stats[:, 1])
            return values.tolist()
        difference = vectors[others] - vectors[region]
        d = 0.0
        if use_colour:
            part = difference[:, :n_colour]
            colour = w_colour * sqrt(add_reduce(part * part, axis=1))
            if spread:
                colour = colour / np.sqrt(1.0 + (variance(vectors[others])
                                                 + variance(vectors[region])) / spread_squared)
            d = d + colour
        if use_code:
            part = difference[:, n_colour:code_end]
            code = w_code * sqrt(add_reduce(part * part, axis=1))
            if code_size_power:
                code = code * (np.minimum(area[others], area[region]) / mean_area) ** code_size_power
            d = d + code
        if w_boundary or size_power:
            stats = np.array(stats)
            if w_boundary:
                d = d + w_boundary * stats[:, 1] / np.maximum(stats[:, 0], 1.0)
            if size_power:
                d = d * (np.minimum(area[others], area[region]) / mean_area) ** size_power
        if np.ndim(d) == 0:
            return [float(d)] * len(others)
        return d.tolist()

    def rescored_heap() -> list:
        live = [(a, b, entry) for a in np.flatnonzero(alive).tolist()
                for b, entry in neighbours[a].items() if a < b]
        if not live:
            return []
        a, b, stats = zip(*live)
        stats = np.array(stats, dtype=np.float64)
        values = distances(np.array(a), np.array(b), stats[:, 0], stats[:, 1])
        fresh = list(zip(values.tolist(), a, b))
        heapq.heapify(fresh)
        return fresh

    merges, merge_distances = [], []
    new = n
    last_rescore = n
    while heap:
        if scorer is not None and n_alive < rescore_ratio * last_rescore:
            heap, last_rescore = rescored_heap(), n_alive
            if not heap:
                break
        forced = False
        if area_heap:
            while area_heap and not alive[area_heap[0][1]]:
                heappop(area_heap)
            if area_heap and area_heap[0][0] * small_factor * n_alive ** small_power < total_area:
                small = area_heap[0][1]
                if neighbours[small]:
                    others = list(neighbours[small])
                    values = new_distances(small, others, list(neighbours[small].values()))
                    best = min(range(len(others)), key=lambda i: (values[i], others[i]))
                    d, other = values[best], others[best]
                    a, b = min(small, other), max(small, other)
                    forced = True
                else:  # an isolated region (a separate component) cannot grow
                    heappop(area_heap)
        if not forced:
            d, a, b = heappop(heap)
            if not (alive[a] and alive[b]):
                continue
        alive[a] = alive[b] = False
        alive[new] = True
        area[new] = area[a] + area[b]
        vectors[new] = (area[a] * vectors[a] + area[b] * vectors[b]) / area[new]
        if scorer is not None:
            # `variance` of one row, in plain floats (they beat tiny arrays here).
            row = vectors[new].tolist()
            spreads[new] = max(sum(row[code_end + c] - row[c] * row[c] for c in range(3)) / 3.0,
                               0.0) ** 0.5
            log_areas[new] = np.log(area[new])
        joined: dict[int, list[float]] = {}
        for old in (a, b):
            for other, entry in neighbours[old].items():
                if other == a or other == b:
                    continue
                merged = joined.get(other)
                if merged is None:
                    joined[other] = [entry[0], entry[1]]
                else:
                    merged[0] += entry[0]
                    merged[1] += entry[1]
                del neighbours[other][old]
            neighbours[old] = None
        for other, entry in joined.items():
            neighbours[other][new] = entry
        neighbours[new] = joined
        merges.append((a, b))
        merge_distances.append(d)
        n_alive -= 1
        if small_factor:
            heappush(area_heap, (area[new], new))
        if joined:
            others = list(joined)
            # (distance, smaller id, larger id): the new id is the largest so far.
            for value, other in zip(new_distances(new, others, list(joined.values())), others):
                heappush(heap, (value, other, new))
        new += 1
    merge_array = np.array(merges, dtype=np.int64).reshape(-1, 2)
    distance_array = np.array(merge_distances, dtype=np.float64)
    levels = np.maximum.accumulate(distance_array) if len(distance_array) else distance_array
    return MergeTree(superpixels.astype(np.int32), merge_array, distance_array, levels)


def _check_scorer_inputs(scorer, features, size_power, code_size_power, colour_spread,
                         rescore_ratio):
    misfits = [name for name, value in (("size_power", size_power),
                                        ("code_size_power", code_size_power),
                                        ("colour_spread", colour_spread)) if value]
    if misfits:
        raise ValueError(f"{', '.join(misfits)}: setting(s) of the weighted distance; a "
                         "learned merge order (scorer) does not use them")
    if features.colour.shape[1] != 3 or features.colour_squares is None:
        raise ValueError("a learned merge order needs the regions' CIELAB colour (region_features "
                         "with colour=lab_image(image))")
    expected = getattr(scorer, "n_code", None)
    if expected is not None and features.code.shape[1] != expected:
        raise ValueError(f"the merge scorer was fitted on {expected}-dimensional codes; these "
                         f"regions have {features.code.shape[1]} (use the codes of the preset "
                         "it was fitted with, or fit one with `tf-binmap fit-merge`)")
    if not 0 < rescore_ratio < 1:
        raise ValueError(f"rescore_ratio must be in (0, 1), got {rescore_ratio}")
