"""Hierarchical merging of superpixels: one merge tree per image, cut at any segment count.

Start from fine superpixels (e.g. Felzenszwalb / EGS at a small scale) and greedily
merge the pair of adjacent regions with the smallest distance, updating the merged
region's features, until one region is left. The merge order is recorded once
(`MergeTree`); `cut(tree, n)` then gives the segmentation with exactly ``n`` segments
and `cut_at_level(tree, t)` the one at a distance threshold (an ultrametric contour map
in region form), so one tree gives a whole segments-vs-quality curve.

The distance between adjacent regions a and b (all terms computed from running sums, so
merged regions get area-weighted means and summed borders)::

    d(a, b) = size(a, b) * (  w_colour   * ||lab_a - lab_b||
                            + w_code     * ||code_a - code_b||
                            + w_boundary * boundary(a, b) )
    size(a, b) = (min(area_a, area_b) / mean superpixel area) ** size_power

- ``lab``: mean CIELAB colour of the region;
- ``code``: mean of per-pixel real-valued features, e.g. the ITQ projections of the CNN
  binary map before the threshold ("soft codes");
- ``boundary``: mean edge strength over the 4-neighbour pixel pairs of the shared
  border (`pixel_pair_strengths`: Lab difference across the border of the smoothed
  image, or any edge map);
- ``size``: with ``size_power > 0`` small regions are merged first, like Ward linkage.

The learned merge order (``scorer``, the default of `Segmenter` and `tf-binmap`;
`tf_binmap.segmentation.learned`) replaces the distance by a classifier's score: the
probability that annotators separate the two regions, fitted on BSDS500 train, weighted
by the smaller region's area to a power that follows the region count (0.1 from 300
regions up, 0.5 at 60, 1 from 30 down). It reads the same running sums (plus the colour squares)
and rescores all live pairs when the count has fallen by a fifth.

The small-region rule (``small_region_factor`` f > 0) changes the order, not the
distance: while k regions are left, a region smaller than ``total area / (f k^p)`` is
merged before any other pair, into its nearest neighbour. Without it, one-colour specks
(a highlight, a dark spot) are the last regions to merge, so a coarse cut at 20 segments
may hold a dozen specks and only a few real regions. With ``p = 2`` (the default) the
rule acts on coarse cuts only: at 20 segments it absorbs regions below 0.6% of the image
(f = 0.4), at 150 below 0.01% (fewer pixels than a leaf).

Pure NumPy / scikit-image: the initial distances are computed vectorized; each merge
recomputes the distances of the new region to its neighbours in one vectorized call and
pushes them on a heap (stale entries are skipped lazily). Ties are broken by the
region ids, so the merge order is deterministic.
"""

from __future__ import annotations

import dataclasses
import heapq

import numpy as np

from tf_binmap.segmentation.learned import assemble_pair_features

__all__ = [
    "DISTANCE_DEFAULTS",
    "HIERARCHY_DEFAULTS",
    "MergeTree",
    "RegionFeatures",
    "border_statistics",
    "cut",
    "cut_at_level",
    "hierarchical_segmentation",
    "hierarchy_leaves",
    "hierarchy_settings",
    "lab_image",
    "merge_hierarchy",
    "pixel_pair_strengths",
    "region_features",
]


#: The default (docs/ABLATIONS.md): fine EGS leaves merged in the learned order
#: (`tf_binmap.segmentation.learned`, the scorer fitted on BSDS500 train, its size exponent
#: schedule chosen on BSDS500 val). The weights and the small-region rule are those of the
#: weighted distance (`DISTANCE_DEFAULTS`), unused while a scorer is set.
HIERARCHY_DEFAULTS = {"egs_scale": 50, "egs_sigma": 0.8, "egs_min_size": 20,
                      "scorer": "bsds500_train", "size_exponent": None,
                      "w_colour": 1.0, "w_code": 4.0, "w_boundary": 3.0,
                      "small_region_factor": 0.0, "small_region_power": 2.0}
#: The hand-weighted distance tuned on BSDS500 val (the default before the learned order):
#: colour + 4 x soft CNN code (conv5 at x1, 8 bits) + 3 x border strength, regions below
#: total area / (0.4 k^2) first while k regions are left.
DISTANCE_DEFAULTS = {**HIERARCHY_DEFAULTS, "scorer": None, "small_region_factor": 0.4}


def hierarchy_settings(**overrides) -> dict:
    """The complete settings of the hierarchy: `HIERARCHY_DEFAULTS` (the learned order) or,
    with ``scorer=None``, `DISTANCE_DEFAULTS` (the weighted distance with its small-region
    rule), updated with ``overrides``."""
    base = DISTANCE_DEFAULTS if overrides.get("scorer", HIERARCHY_DEFAULTS["scorer"]) is None \
        else HIERARCHY_DEFAULTS
    return {**base, **overrides}


def _check_labels(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"expected a non-empty integer (H, W) label image, got dtype "
                         f"{labels.dtype} and shape {labels.shape}")
    if labels.min() < 0:
        raise ValueError("labels must be dense 0..n-1")
    return labels.astype(np.int64, copy=False)


@dataclasses.dataclass
class MergeTree:
    """The merge order of a region hierarchy (like a SciPy linkage matrix).

    Attributes:
        superpixels: (H, W) int32 leaf labels 0..n_leaves-1.
        merges: (n_merges, 2) int64; merge k joins clusters ``merges[k]`` into the new
            cluster ``n_leaves + k`` (leaves are clusters 0..n_leaves-1).
        distances: (n_merges,) float64 distance at which each merge happened (not
            necessarily monotone; with a learned merge order, its scores).
        levels: (n_merges,) float64 ``np.maximum.accumulate(distances)``: the
            ultrametric level of each merge (monotone), used by `cut_at_level`.
    """

    superpixels: np.ndarray
    merges: np.ndarray
    distances: np.ndarray
    levels: np.ndarray

    @property
    def n_leaves(self) -> int:
        return int(self.superpixels.max()) + 1

    @property
    def min_segments(self) -> int:
        """Segments left after all merges (1 for a connected image)."""
        return self.n_leaves - len(self.merges)


@dataclasses.dataclass
class RegionFeatures:
    """Per-superpixel statistics for `merge_hierarchy` (n = number of superpixels).

    Attributes:
        area: (n,) pixel counts.
        colour: (n, 3) mean colour (e.g. CIELAB), or (n, 0).
        code: (n, c) mean real-valued code / feature vector, or (n, 0).
        edges: (E, 2) int64 adjacent pairs (a < b).
        border_length: (E,) number of 4-neighbour pixel pairs on each shared border.
        border_strength: (E,) sum of the pixel-pair edge strengths on that border.
        colour_squares: (n, 3) mean of the squared colour (for the within-region
            colour variance), or None.
    """

    area: np.ndarray
    colour: np.ndarray
    code: np.ndarray
    edges: np.ndarray
    border_length: np.ndarray
    border_strength: np.ndarray
    colour_squares: np.ndarray | None = None


def lab_image(image: np.ndarray, sigma: float = 0.0) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float32 CIELAB (L in 0..100), optionally Gaussian-smoothed
    (``sigma`` in pixels, per channel) after the conversion."""
    import cv2

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    if sigma > 0:
        lab = cv2.GaussianBlur(lab, (0, 0), sigma)
    return lab


def pixel_pair_strengths(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge strength of every horizontal and vertical pixel pair: the L2 difference of
    ``values`` (H, W, c) or (H, W) across the pair.

    Returns:
        (horizontal (H, W-1), vertical (H-1, W)) float64.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2:
        values = values[:, :, None]

    def norm(difference):
        # Channel by channel (the order np.sum uses over a short axis), without the slow
        # reduction over a length-3 last axis.
        total = difference[..., 0] ** 2
        for k in range(1, difference.shape[-1]):
            total += difference[..., k] ** 2
        return np.sqrt(total, out=total)

    return norm(values[:, 1:] - values[:, :-1]), norm(values[1:] - values[:-1])


def border_statistics(labels: np.ndarray, strengths=None):
    """Adjacent superpixel pairs with the length and summed strength of their border.

    Args:
        labels: (H, W) dense labels 0..n-1.
        strengths: None (all strengths 0) or (horizontal (H, W-1), vertical (H-1, W))
            edge strengths of the pixel pairs (`pixel_pair_strengths`).

    Returns:
        edges (E, 2) int64 with a < b sorted lexicographically, lengths (E,) float64
        (4-neighbour pixel pairs), strength sums (E,) float64.
    """
    labels = _check_labels(labels)
    n = int(labels.max()) + 1
    first = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    second = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    if strengths is None:
        weights = np.zeros(first.size)
    else:
        horizontal, vertical = strengths
        if horizontal.shape != (labels.shape[0], labels.shape[1] - 1) or \
                vertical.shape != (labels.shape[0] - 1, labels.shape[1]):
            raise ValueError("strengths must have shapes (H, W-1) and (H-1, W)")
        weights = np.concatenate([np.ravel(horizontal), np.ravel(vertical)]).astype(np.float64)
    different = first != second
    low = np.minimum(first[different], second[different])
    high = np.maximum(first[different], second[different])
    keys, inverse = np.unique(low * n + high, return_inverse=True)
    lengths = np.bincount(inverse, minlength=keys.size).astype(np.float64)
    sums = np.bincount(inverse, weights=weights[different], minlength=keys.size)
    edges = np.stack([keys // n, keys % n], axis=1)
    return edges, lengths, sums


def _region_means(flat_labels: np.ndarray, n: int, values: np.ndarray, area: np.ndarray) -> np.ndarray:
    values = values.reshape(flat_labels.size, -1).astype(np.float64)
    sums = np.stack([np.bincount(flat_labels, weights=values[:, k], minlength=n)
                     for k in range(values.shape[1])], axis=1) if values.shape[1] else \
        np.zeros((n, 0))
    return sums / area[:, None]


def region_features(labels: np.ndarray, colour=None, code=None, strengths=None) -> RegionFeatures:
    """Statistics of each superpixel for `merge_hierarchy`.

    Args:
        labels: (H, W) dense superpixel labels 0..n-1.
        colour: None or (H, W, 3) per-pixel colour (e.g. `lab_image`).
        code: None or (H, W, c) per-pixel real-valued codes (e.g. ITQ projections placed
            on the image pixels).
        strengths: None or the (horizontal, vertical) pixel-pair edge strengths.
    """
    labels = _check_labels(labels)
    n = int(labels.max()) + 1
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n).astype(np.float64)
    if np.any(area == 0):
        raise ValueError("labels must be dense 0..n-1 (some labels have no pixels)")
    for name, value in (("colour", colour), ("code", code)):
        if value is not None and np.shape(value)[:2] != labels.shape:
            raise ValueError(f"{name} must have shape {labels.shape} + (c,), got {np.shape(value)}")
    colour_means = np.zeros((n, 0)) if colour is None else _region_means(flat, n, np.asarray(colour), area)
    squares = None if colour is None else _region_means(
        flat, n, np.square(np.asarray(colour, dtype=np.float64)), area)
    code_means = np.zeros((n, 0)) if code is None else _region_means(flat, n, np.asarray(code), area)
    edges, lengths, sums = border_statistics(labels, strengths)
    return RegionFeatures(area, colour_means, code_means, edges, lengths, sums, squares)


def merge_hierarchy(superpixels: np.ndarray, features: RegionFeatures, w_colour: float = 1.0,
                    w_code: float = 0.0, w_boundary: float = 0.0,
                    size_power: float = 0.0, code_size_power: float = 0.0,
                    colour_spread: float = 0.0, small_region_factor: float = 0.0,
                    small_region_power: float = 1.0, scorer=None,
                    rescore_ratio: float = 0.8) -> MergeTree:
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
            `tf_binmap.segmentation.learned.MergeScorer` (or any callable mapping the
            (m, n) `pair_features` of m pairs to m scores; the lowest merges first).
            The weights, ``size_power``, ``code_size_power`` and ``colour_spread`` are
            then unused; the features need CIELAB colour (and its squares) and codes.
        rescore_ratio: with a scorer, all live pairs are rescored each time the region
            count falls below this fraction of the count at the last rescoring (the
            score depends on the count).

    Returns:
        the `MergeTree` (n - 1 merges for a connected image).
    """
    superpixels = _check_labels(superpixels)
    n = int(superpixels.max()) + 1
    if features.area.shape != (n,):
        raise ValueError(f"features are for {features.area.shape[0]} superpixels, labels have {n}")
    total = 2 * n - 1
    area = np.zeros(total)
    area[:n] = features.area
    # One matrix of stacked, pre-weighted mean vectors: the weighted distance of colour and
    # code is then two norms of slices of the difference.
    n_colour, n_code = features.colour.shape[1], features.code.shape[1]
    if scorer is not None:
        _check_scorer_inputs(scorer, features, size_power, code_size_power, colour_spread,
                             rescore_ratio)
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


def _leaf_assignment(tree: MergeTree, n_merges: int) -> np.ndarray:
    """Cluster of each leaf after the first ``n_merges`` merges, dense 0..m-1 in order of
    each cluster's smallest leaf."""
    n = tree.n_leaves
    parent = np.arange(n + n_merges)
    merges = tree.merges[:n_merges]
    # A cluster's parent is the merge that consumed it; the root of a leaf is found by
    # following parents, processed from the last merge backwards (vectorized by levels).
    if n_merges:
        parent[merges[:, 0]] = np.arange(n, n + n_merges)
        parent[merges[:, 1]] = np.arange(n, n + n_merges)
        # Pointer jumping: O(log depth) vectorized passes.
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    roots = parent[:n]
    _, first_leaf = np.unique(roots, return_index=True)
    order = np.argsort(first_leaf)          # clusters ranked by their smallest leaf
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    _, inverse = np.unique(roots, return_inverse=True)
    return rank[inverse]


def cut(tree: MergeTree, n_segments: int) -> np.ndarray:
    """The segmentation with ``n_segments`` regions: the first ``n_leaves - n_segments``
    merges applied. ``n_segments`` is clipped to ``[tree.min_segments, n_leaves]``.

    Returns:
        (H, W) int32 dense labels 0..n_segments-1 (numbered in order of each segment's
        smallest superpixel label).
    """
    n_segments = int(np.clip(n_segments, tree.min_segments, tree.n_leaves))
    return _leaf_assignment(tree, tree.n_leaves - n_segments)[tree.superpixels]


def cut_at_level(tree: MergeTree, level: float) -> np.ndarray:
    """The segmentation after every merge whose ultrametric level is <= ``level``.

    Returns:
        (H, W) int32 dense labels.
    """
    n_merges = int(np.searchsorted(tree.levels, level, side="right"))
    return _leaf_assignment(tree, n_merges)[tree.superpixels]


def hierarchy_leaves(image: np.ndarray, pixel_codes=None, *, leaves=None,
                     egs_scale: float = 50, egs_sigma: float = 0.8, egs_min_size: int = 20,
                     edge_sigma: float = 1.0, strengths: bool = True):
    """Image -> (leaf superpixels, their `RegionFeatures`): the first half of
    `hierarchical_segmentation` (CIELAB colour, the codes, border strengths of the Lab
    image smoothed by ``edge_sigma``)."""
    from tf_binmap.segmentation.superpixels import felzenszwalb_labels

    if leaves is None:
        leaves = felzenszwalb_labels(image, scale=egs_scale, sigma=egs_sigma, min_size=egs_min_size)
    elif np.shape(leaves) != np.shape(image)[:2]:
        raise ValueError(f"leaves must have the image's shape {np.shape(image)[:2]}, got "
                         f"{np.shape(leaves)}")
    lab = lab_image(image)
    edge_strengths = pixel_pair_strengths(lab_image(image, edge_sigma) if edge_sigma else lab) \
        if strengths else None
    return leaves, region_features(leaves, colour=lab, code=pixel_codes, strengths=edge_strengths)


def hierarchical_segmentation(image: np.ndarray, pixel_codes=None, *, leaves=None,
                              egs_scale: float = 50, egs_sigma: float = 0.8,
                              egs_min_size: int = 20, edge_sigma: float = 1.0,
                              scorer=None, size_exponent: float | None = None,
                              w_colour: float = 1.0, w_code: float = 0.0,
                              w_boundary: float = 0.0, size_power: float = 0.0,
                              colour_spread: float = 0.0, small_region_factor: float = 0.0,
                              small_region_power: float = 1.0) -> MergeTree:
    """Image -> merge tree, the whole pipeline with fine EGS superpixels as the leaves.

    Args:
        image: uint8 RGB (H, W, 3).
        pixel_codes: None or (H, W, c) real-valued per-pixel codes (e.g. the ITQ
            projections of the binary map, placed on the image pixels).
        leaves: ready (H, W) leaf superpixels (dense labels); by default
            ``felzenszwalb_labels(image, egs_scale, egs_sigma, egs_min_size)``.
        egs_scale, egs_sigma, egs_min_size: the leaf superpixels when ``leaves`` is None.
        edge_sigma: Gaussian smoothing (pixels) of the Lab image for the border strength.
        scorer: None (the weighted distance) or the learned merge order: a `MergeScorer`,
            the name of a shipped one (``"bsds500_train"``) or the path of a file from
            `tf-binmap fit-merge` (needs ``pixel_codes`` of the scorer's length).
        size_exponent: with a scorer, overrides its exponent of the smaller area (a
            number or a schedule, `parse_size_exponent`).
        w_colour, w_code, w_boundary, size_power, colour_spread, small_region_factor,
        small_region_power: see `merge_hierarchy`.
    """
    if scorer is None and size_exponent is not None:
        raise ValueError("size_exponent is a setting of the learned merge order (scorer); "
                         "the weighted distance does not use it")
    if scorer is not None:
        from tf_binmap.segmentation.learned import MergeScorer

        scorer = MergeScorer.resolve(scorer)
        if size_exponent is not None:
            scorer = scorer.with_size_exponent(size_exponent)
        if pixel_codes is None:
            raise ValueError("the learned merge order (scorer) needs the CNN codes "
                             "(pixel_codes); without them use scorer=None, the weighted "
                             "colour and border distance")
    leaves, features = hierarchy_leaves(image, pixel_codes, leaves=leaves, egs_scale=egs_scale,
                                        egs_sigma=egs_sigma, egs_min_size=egs_min_size,
                                        edge_sigma=edge_sigma,
                                        strengths=bool(w_boundary) or scorer is not None)
    return merge_hierarchy(leaves, features, w_colour=w_colour, w_code=w_code,
                           w_boundary=w_boundary, size_power=size_power,
                           colour_spread=colour_spread, small_region_factor=small_region_factor,
                           small_region_power=small_region_power, scorer=scorer)
