"""Beyond the paper: hierarchical merging of fine superpixels (colour, border strength and
soft CNN codes), against EGS and SLIC swept over their own parameter (issue 7).

This script measures the weighted distance (`scorer=None`; "default" in its row names is
that distance, the default before the learned merge order); the learned order, now the
default, is measured by explore_learned_merge.py on the caches this script fills.

For every method the script prints a curve of (segments/image, Seg-IoU pooled, covering)
and, for the hierarchical methods, a paired bootstrap over images of the difference to
the EGS and SLIC curves at matched segment counts.

Matched-count procedure (documented in docs/ABLATIONS.md): a hierarchy is cut at a fixed
number of segments n per image (`cut(tree, n)`), so each operating point has a mean
segment count m (= n up to images with fewer leaves). Per image we store, for every
operating point of every method, the sum of the best IoUs of its ground-truth segments,
their count, the area-weighted sum, the area and the number of predicted segments. A
bootstrap resample (1000, seed 0) draws 100 (or 24) images with replacement, the same
images for all methods (paired); in the resample each method's point is recomputed
(pooled Seg-IoU = sum of best IoUs / number of GT segments; covering = weighted sum /
area; m = mean segments); the baseline curve (EGS or SLIC over its parameter) is
recomputed on the same images and linearly interpolated in log(m) at the method's m
(no extrapolation: points outside the baseline's range are reported as out of range).
The difference method - baseline is collected; we report the full-sample difference and
the 2.5 / 97.5 percentiles.

Scores use the project's metric code (`tf_binmap.evaluation.metrics`: `contingency` and
the best-IoU table of `SegmentationScores`); for a hierarchy the contingency table of
each ground truth with the leaf superpixels is computed once and its columns summed per
cut (exactly the table of the cut). `--check` re-scores a few points with
`SegmentationScores` to show the numbers are identical.

    export TF_BINMAP_CACHE=/tmp/tfbm_cache
    nice -n 15 python experiments/explore_beyond_paper.py --dataset bsds500 --grid
    nice -n 15 python experiments/explore_beyond_paper.py --dataset bsds500 --leaves
    nice -n 15 python experiments/explore_beyond_paper.py --dataset msrc
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

from tf_binmap.evaluation.datasets import BSDS500, MSRC
from tf_binmap.evaluation.metrics import SegmentationScores, best_ious_from_table, contingency
from tf_binmap.segmentation.tree import cut, leaf_assignment
from tf_binmap.segmentation.regions import lab_image, pixel_pair_strengths, region_features
from tf_binmap.segmentation.agglomerate import merge_hierarchy
from tf_binmap.segmentation.merge import code_map_to_pixels
from tf_binmap.segmentation.superpixels import felzenszwalb_labels, slic_labels

EGS_SCALES = (50, 100, 200, 300, 500, 800, 1200, 2000, 3500, 6000, 10000)
SLIC_SEGMENTS = (10, 25, 50, 100, 200, 400, 800, 1200)
CUTS = (10, 15, 20, 25, 30, 45, 60, 80, 100, 150, 200, 300, 400, 600, 800)
MATCH_COUNTS = (20, 30, 45, 60, 80, 100, 150, 200, 300, 400, 600)


# --- data and network features (cached in memory; optionally on disk) ------------------

def load_samples(dataset: str, data_root: Path, limit: int | None):
    data = BSDS500(data_root, split="val") if dataset == "bsds500" else MSRC(data_root)
    samples = list(data)[:limit] if limit else list(data)
    return [(s.name, s.image, s.ground_truths) for s in samples]


def network_maps(samples, cache: Path | None):
    """Per image: {"p8": (h, w, 8), "p16": (h, w, 16)} ITQ projections of conv5 (input
    x2), and the pixel -> cell index map (receptive-field centres)."""
    if cache is not None and cache.is_file():
        stored = np.load(cache, allow_pickle=True)
        maps = stored["maps"].tolist()
        if [m["name"] for m in maps] == [s[0] for s in samples]:
            return maps
    import keras

    from tf_binmap.models.binary_map import BinaryMapModel

    model8 = BinaryMapModel.from_preset("binmap_conv5")
    model16 = BinaryMapModel.from_preset("binmap_conv5_16bit")
    assert model8.upscale == model16.upscale and model8.feature_layer == model16.feature_layer
    maps = []
    for name, image, _ in samples:
        start = time.perf_counter()
        network_input = model8.resize_for_network(image)
        features = model8.backbone(model8.backbone.preprocess(network_input))[model8.feature_layer]
        p8 = keras.ops.convert_to_numpy(model8.hashing.project(features))[0]
        p16 = keras.ops.convert_to_numpy(model16.hashing.project(features))[0]
        maps.append({"name": name, "p8": p8, "p16": p16, "seconds": time.perf_counter() - start,
                     "scale": (network_input.shape[1] / image.shape[0],
                               network_input.shape[2] / image.shape[1])})
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, maps=np.array(maps, dtype=object))
    return maps


def network_maps_x1(samples, cache: Path | None):
    """Per image: {"x1p8": (h, w, 8)} ITQ projections of conv5 at the image's own size
    (preset binmap_conv5_x1, the default hierarchy's codes)."""
    if cache is not None and cache.is_file():
        stored = np.load(cache, allow_pickle=True)
        maps = stored["maps"].tolist()
        if [m["name"] for m in maps] == [s[0] for s in samples]:
            return maps
    from tf_binmap.models.binary_map import BinaryMapModel

    model = BinaryMapModel.from_preset("binmap_conv5_x1")
    maps = []
    for name, image, _ in samples:
        start = time.perf_counter()
        projections = np.asarray(model.projections(image[None]))[0]
        maps.append({"name": name, "x1p8": projections, "seconds": time.perf_counter() - start,
                     "scale": (1.0, 1.0)})
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, maps=np.array(maps, dtype=object))
    return maps


def pixel_values(cell_map: np.ndarray, image_shape, scale, geometry=(16, 15)) -> np.ndarray:
    """(h, w, c) cell map -> (H, W, c): each pixel takes the cell whose receptive-field
    centre is nearest (``geometry`` = (stride, offset): cell i at input pixel
    offset + stride i; conv5 of AlexNet: (16, 15))."""
    h, w, _ = cell_map.shape
    stride, offset = geometry
    index = code_map_to_pixels(np.arange(h * w).reshape(h, w), image_shape, stride=stride,
                               offset=offset, mode="center", scale=scale)
    return cell_map.reshape(h * w, -1)[index]


# --- scoring ---------------------------------------------------------------------------

def score_tables(tables):
    """Per-image numbers from the contingency tables of its annotations: (sum of best
    IoUs, number of GT segments, area-weighted sum, area)."""
    ious, areas = zip(*[best_ious_from_table(t) for t in tables])
    ious, areas = np.concatenate(ious), np.concatenate(areas)
    return float(ious.sum()), int(ious.size), float(np.sum(ious * areas)), int(areas.sum())


def score_labels(gts, labels):
    return (*score_tables([contingency(gt, labels) for gt in gts]), int(labels.max()) + 1)


class Curve:
    """Per-image records of one method at several operating points."""

    def __init__(self, name, parameters):
        self.name = name
        self.parameters = list(parameters)
        self.rows = []  # per image: (n_points, 5) [iou_sum, n_gt, cov_w, cov_area, n_seg]

    def add(self, records):
        self.rows.append(np.asarray(records, dtype=np.float64))

    @property
    def data(self):
        return np.stack(self.rows)  # (images, points, 5)

    def points(self, index=None):
        data = self.data if index is None else self.data[index]
        totals = data.sum(axis=0)
        return (data[:, :, 4].mean(axis=0), 100 * totals[:, 0] / totals[:, 1],
                100 * totals[:, 2] / totals[:, 3])

    def table(self):
        segs, iou, cov = self.points()
        return [(p, s, i, c) for p, s, i, c in zip(self.parameters, segs, iou, cov)]


def interpolate(x_base, y_base, x):
    """Baseline value at x, linear in log(x); NaN outside the baseline's range."""
    order = np.argsort(x_base)
    xb, yb = np.log(x_base[order]), y_base[order]
    lx = np.log(x)
    out = np.interp(lx, xb, yb)
    out[(lx < xb[0] - 1e-9) | (lx > xb[-1] + 1e-9)] = np.nan
    return out


def paired_bootstrap(method: Curve, baseline: Curve, n_resamples=1000, seed=0):
    """Difference method - baseline (pooled Seg-IoU, covering) at the method's segment
    counts: full-sample value and 95% percentile interval over image resamples."""
    rng = np.random.default_rng(seed)
    n_images = len(method.rows)
    m_data, b_data = method.data, baseline.data

    def diffs(index):
        ms, mi, mc = _points(m_data[index])
        bs, bi, bc = _points(b_data[index])
        return ms, mi - interpolate(bs, bi, ms), mc - interpolate(bs, bc, ms)

    segs, d_iou, d_cov = diffs(np.arange(n_images))
    samples = np.array([diffs(rng.integers(0, n_images, n_images))[1:] for _ in range(n_resamples)])
    low = np.nanpercentile(samples, 2.5, axis=0)
    high = np.nanpercentile(samples, 97.5, axis=0)
    return segs, d_iou, low[0], high[0], d_cov, low[1], high[1]


def _points(data):
    totals = data.sum(axis=0)
    return data[:, :, 4].mean(axis=0), 100 * totals[:, 0] / totals[:, 1], 100 * totals[:, 2] / totals[:, 3]


# --- methods ---------------------------------------------------------------------------

def baselines(samples, timings):
    egs, slic = Curve("EGS (scale)", EGS_SCALES), Curve("SLIC (n_segments)", SLIC_SEGMENTS)
    for name, image, gts in samples:
        rows = []
        for scale in EGS_SCALES:
            start = time.perf_counter()
            labels = felzenszwalb_labels(image, scale=scale, sigma=1.0, min_size=20)
            timings.setdefault(f"egs{scale}", []).append(time.perf_counter() - start)
            rows.append(score_labels(gts, labels))
        egs.add(rows)
        slic.add([score_labels(gts, slic_labels(image, n_segments=n)) for n in SLIC_SEGMENTS])
    return egs, slic


class Prepared:
    """Per-image leaves, their features and the GT x leaf contingency tables.

    ``maps``: per image a dict of (h, w, c) projection maps (by code name) and the
    network input "scale"; ``sign``: use the signs of the projections (the binary
    codes; their region mean is the fraction of 1-bits, rescaled to -1..1) instead.
    ``downscale``: compute the leaves on the image shrunk by this factor (nearest-
    neighbour labels back at full size, split into connected components).
    """

    def __init__(self, samples, maps, egs_scale, egs_sigma, min_size=20, edge_sigma=1.0,
                 sign=False, downscale=1):
        import cv2
        from skimage.measure import label as connected_components

        self.items = []
        for (name, image, gts), m in zip(samples, maps):
            start = time.perf_counter()
            if downscale > 1:
                small = cv2.resize(image, (image.shape[1] // downscale, image.shape[0] // downscale),
                                   interpolation=cv2.INTER_AREA)
                leaves = felzenszwalb_labels(small, scale=egs_scale, sigma=egs_sigma, min_size=min_size)
                leaves = cv2.resize(leaves.astype(np.int32), (image.shape[1], image.shape[0]),
                                    interpolation=cv2.INTER_NEAREST)
                leaves = connected_components(leaves + 1, connectivity=1, background=0) - 1
            else:
                leaves = felzenszwalb_labels(image, scale=egs_scale, sigma=egs_sigma, min_size=min_size)
            t_leaves = time.perf_counter() - start
            start = time.perf_counter()
            lab = lab_image(image)
            strengths = pixel_pair_strengths(lab_image(image, edge_sigma))
            names = [key for key in m if key not in ("name", "seconds", "scale") and ":" not in key]
            values = [pixel_values(m[key], image.shape, m.get(f"scale:{key}", m["scale"]),
                                   m.get(f"geometry:{key}", (16, 15)))
                      for key in names]
            if sign:
                values = [np.where(v >= 0, 1.0, -1.0) for v in values]
            slices, offset = {}, 0
            for key, value in zip(names, values):
                slices[key] = slice(offset, offset + value.shape[2])
                offset += value.shape[2]
            features = region_features(leaves, colour=lab, code=np.concatenate(values, axis=2),
                                       strengths=strengths)
            t_features = time.perf_counter() - start
            tables = [contingency(gt, leaves) for gt in gts]
            self.items.append(dict(name=name, leaves=leaves, features=features, tables=tables,
                                   t_leaves=t_leaves, t_features=t_features, gts=gts,
                                   t_network=m["seconds"], slices=slices))


def features_for(item, code: str):
    import dataclasses

    features = item["features"]
    selected = features.code[:, :0] if code == "none" else features.code[:, item["slices"][code]]
    return dataclasses.replace(features, code=selected)


def global_thresholds(trees, targets):
    """One global level per target mean segment count (bisection over the pooled merge
    levels): the 'level' cut, one threshold for all images as EGS's scale is."""
    pooled = np.unique(np.concatenate([t.levels for t in trees]))

    def mean_count(level):
        return np.mean([t.n_leaves - np.searchsorted(t.levels, level, side="right") for t in trees])

    thresholds = []
    for target in targets:
        lo, hi = 0, len(pooled) - 1  # mean_count decreases with the index
        while lo < hi:
            mid = (lo + hi) // 2
            if mean_count(pooled[mid]) > target:
                lo = mid + 1
            else:
                hi = mid
        thresholds.append(pooled[lo])
    return thresholds


def run_hierarchy(prepared: Prepared, name, code="p16", w_colour=1.0, w_code=0.0,
                  w_boundary=0.0, size_power=0.0, cuts=CUTS, check=False, cut_mode="count",
                  code_size_power=0.0, colour_spread=0.0, small_region_factor=0.0,
                  small_region_power=1.0):
    """cut_mode "count": every image cut at n segments; "level": every image cut at one
    global level per operating point, chosen so the mean count is about n."""
    curve = Curve(name + (" [level cut]" if cut_mode == "level" else ""), cuts)
    seconds, trees = [], []
    for item in prepared.items:
        start = time.perf_counter()
        trees.append(merge_hierarchy(item["leaves"], features_for(item, code), w_colour=w_colour,
                                     w_code=w_code, w_boundary=w_boundary, size_power=size_power,
                                     code_size_power=code_size_power, colour_spread=colour_spread,
                                     small_region_factor=small_region_factor,
                                     small_region_power=small_region_power))
        seconds.append(time.perf_counter() - start)
    thresholds = global_thresholds(trees, cuts) if cut_mode == "level" else None
    score_trees(curve, prepared, trees, thresholds, check)
    curve.merge_seconds = float(np.mean(seconds))
    return curve


def cut_tables(tree, leaf_tables, n):
    """The cut of ``tree`` at n segments (clipped to what the tree has) as contingency
    tables: the columns of each annotation's leaf table summed per segment (exactly the
    tables of the cut's label map). Returns (tables, number of segments)."""
    n_eff = int(np.clip(n, tree.min_segments, tree.n_leaves))
    assignment = leaf_assignment(tree, tree.n_leaves - n_eff)
    onehot = csr_matrix((np.ones(tree.n_leaves, dtype=np.int64),
                         (np.arange(tree.n_leaves), assignment)), shape=(tree.n_leaves, n_eff))
    return [np.asarray((onehot.T @ t.T).T) for t in leaf_tables], n_eff


def score_trees(curve: Curve, prepared: Prepared, trees, thresholds=None, check=False):
    """Add each image's tree, cut at the curve's parameters (segment counts; with
    ``thresholds``, at one global level per parameter), to ``curve``."""
    cuts = curve.parameters
    for item, tree in zip(prepared.items, trees):
        rows = []
        for k, n in enumerate(cuts):
            if thresholds is not None:
                n = tree.n_leaves - int(np.searchsorted(tree.levels, thresholds[k], side="right"))
            tables, n_eff = cut_tables(tree, item["tables"], n)
            rows.append((*score_tables(tables), n_eff))
        curve.add(rows)
        if check and len(curve.rows) <= 3:
            reference = SegmentationScores()
            for row in rows:
                record = reference.add(item["name"], item["gts"], cut(tree, int(row[4])))
                assert abs(record["best_ious"].sum() - row[0]) < 1e-9 and \
                    abs(record["covering_weighted"] - row[2]) < 1e-6, (n, record, row)
    return curve


# --- presentation ----------------------------------------------------------------------

def print_curve(curve: Curve):
    print(f"\n{curve.name}")
    print("| parameter | segments/image | Seg-IoU pooled | covering |")
    print("|---|---|---|---|")
    for p, s, i, c in curve.table():
        print(f"| {p} | {s:.1f} | {i:.2f} | {c:.1f} |")


def print_bootstrap(method: Curve, baseline: Curve, n_resamples, seed, only=None):
    segs, di, il, ih, dc, cl, ch = paired_bootstrap(method, baseline, n_resamples, seed)
    print(f"\n{method.name} minus {baseline.name} (paired bootstrap, {n_resamples} resamples, seed {seed})")
    print("| segments/image | d Seg-IoU [95% CI] | d covering [95% CI] |")
    print("|---|---|---|")
    for k, s in enumerate(segs):
        if only is not None and method.parameters[k] not in only:
            continue
        if np.isnan(di[k]):
            print(f"| {s:.1f} | out of range | out of range |")
        else:
            print(f"| {s:.1f} | {di[k]:+.2f} [{il[k]:+.2f}, {ih[k]:+.2f}] "
                  f"| {dc[k]:+.2f} [{cl[k]:+.2f}, {ch[k]:+.2f}] |")
    return segs, di, il, ih, dc, cl, ch


def area_between(method: Curve, baseline: Curve, lo=20, hi=600):
    """Mean difference (Seg-IoU, covering) over the method's points with lo <= m <= hi,
    and the minimum over them (for the grid search)."""
    ms, mi, mc = method.points()
    bs, bi, bc = baseline.points()
    keep = (ms >= lo) & (ms <= hi)
    di = mi[keep] - interpolate(bs, bi, ms[keep])
    dc = mc[keep] - interpolate(bs, bc, ms[keep])
    return np.nanmean(di), np.nanmin(di), np.nanmean(dc), np.nanmin(dc)


# Best weights found on BSDS500 val by --grid (see docs/ABLATIONS.md), then the codes
# moved to conv5 at the image's own size (x1p8, the shipped binmap_conv5_x1 preset):
# as good, 4x cheaper. The ablation rows below vary these (without the small-region rule,
# as they were measured); the default of Segmenter / tf-binmap adds the rule (--small).
BEST_WEIGHTS = dict(code="x1p8", w_colour=1.0, w_code=4.0, w_boundary=3.0, size_power=0.0)
BEST = dict(BEST_WEIGHTS, small_region_factor=0.4, small_region_power=2.0)
LEAVES = dict(egs_scale=50, egs_sigma=0.8)
NO_RULE = "H colour+boundary+code x1 p8 (weights of the default, no small-region rule)"

ABLATIONS = [
    ("H colour", dict(BEST_WEIGHTS, code="none", w_code=0.0, w_boundary=0.0)),
    ("H colour+boundary", dict(BEST_WEIGHTS, code="none", w_code=0.0)),
    ("H code x2 p16 only", dict(BEST_WEIGHTS, code="p16", w_colour=0.0, w_code=1.0, w_boundary=0.0)),
    ("H colour+code x2 p16", dict(BEST_WEIGHTS, code="p16", w_boundary=0.0)),
    ("H colour+boundary+code x2 p16", dict(BEST_WEIGHTS, code="p16")),
    ("H colour+boundary+code x2 p8", dict(BEST_WEIGHTS, code="p8")),
    ("H x1 p8, w_code 3, w_boundary 2 (the x2 p16 grid's best)", dict(BEST_WEIGHTS, w_code=3.0, w_boundary=2.0)),
    ("H x1 p8, w_code 2, w_boundary 2", dict(BEST_WEIGHTS, w_code=2.0, w_boundary=2.0)),
    ("H x1 p8, w_code 5, w_boundary 2", dict(BEST_WEIGHTS, w_code=5.0, w_boundary=2.0)),
    ("H x1 p8, w_code 3, w_boundary 3", dict(BEST_WEIGHTS, w_code=3.0)),
    ("H x1 p8, w_code 2, w_boundary 3", dict(BEST_WEIGHTS, w_code=2.0)),
    ("H x1 p8, w_code 3, w_boundary 4", dict(BEST_WEIGHTS, w_code=3.0, w_boundary=4.0)),
    ("H x1 p8, w_code 4, w_boundary 4", dict(BEST_WEIGHTS, w_boundary=4.0)),
    ("H default + size term 0.2", dict(BEST_WEIGHTS, size_power=0.2)),
    ("H default + code weight x (size ratio)^0.25", dict(BEST_WEIGHTS, code_size_power=0.25)),
    ("H default + code weight x (size ratio)^0.5", dict(BEST_WEIGHTS, code_size_power=0.5)),
    ("H default + colour distance / texture (colour_spread 10)", dict(BEST_WEIGHTS, colour_spread=10.0)),
    ("H default + colour distance / texture (colour_spread 20)", dict(BEST_WEIGHTS, colour_spread=20.0)),
    ("H default", dict(BEST_WEIGHTS, cut_mode="level")),
    (NO_RULE, dict(BEST_WEIGHTS)),
    ("H colour+boundary, small-region rule (no CNN)", dict(BEST, code="none", w_code=0.0)),
    ("H default: colour+boundary+code x1 p8, small-region rule", dict(BEST)),
]

# The small-region rule: (factor f, power p); regions below area / (f k^p) merge first.
SMALL_REGION_SWEEP = [(0.0, 1.0), (8, 1), (16, 1), (32, 1), (48, 1), (64, 1), (96, 1), (128, 1),
                      (8, 1.25), (2, 1.5), (3.5, 1.5), (6, 1.5), (1.5, 1.75), (2.5, 1.75),
                      (0.2, 2), (0.3, 2), (0.4, 2), (0.55, 2), (0.8, 2), (1.2, 2), (0.1, 2.5)]

# Other leaves / code encodings (each needs its own leaves and features).
LEAF_ABLATIONS = [
    ("leaves EGS k=100", dict(egs_scale=100, egs_sigma=0.8), dict(BEST_WEIGHTS)),
    ("leaves EGS k=50, sigma 1.0", dict(egs_scale=50, egs_sigma=1.0), dict(BEST_WEIGHTS)),
    ("leaves EGS k=50, min_size 50", dict(egs_scale=50, egs_sigma=0.8, min_size=50), dict(BEST_WEIGHTS)),
    ("leaves EGS k=50 sigma 0.5 min_size 10 at half size", dict(egs_scale=50, egs_sigma=0.5, min_size=10,
                                                               downscale=2), dict(BEST_WEIGHTS)),
    ("codes = mean of the bits (x2 p8, not projections)", dict(LEAVES, sign=True), dict(BEST_WEIGHTS, code="p8")),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["bsds500", "msrc"], default="bsds500")
    parser.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--cache", default="/tmp/tfbm_explore", help="disk cache of network maps ('' = none)")
    parser.add_argument("--grid", action="store_true", help="small grid over the distance weights (val only)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="cross-check scores with SegmentationScores")
    parser.add_argument("--leaves", action="store_true", help="also the leaf / code-encoding ablations")
    parser.add_argument("--small", action="store_true", help="also the sweep of the small-region rule")
    args = parser.parse_args(argv)
    if args.grid and args.dataset != "bsds500":
        parser.error("tune on BSDS500 val only")

    start_all = time.perf_counter()
    samples = load_samples(args.dataset, Path(args.data_root), args.limit)
    cache = Path(args.cache) / f"{args.dataset}_{len(samples)}.npz" if args.cache else None
    maps = network_maps(samples, cache)
    cache_x1 = Path(args.cache) / f"{args.dataset}_{len(samples)}_x1.npz" if args.cache else None
    for m, m1 in zip(maps, network_maps_x1(samples, cache_x1)):
        m["x1p8"], m["scale:x1p8"], m["seconds:x1p8"] = m1["x1p8"], m1["scale"], m1["seconds"]
    timings = {}
    base_cache = Path(args.cache) / f"{args.dataset}_{len(samples)}_baselines.npz" if args.cache else None
    if base_cache is not None and base_cache.is_file():
        stored = np.load(base_cache)
        egs, slic = Curve("EGS (scale)", EGS_SCALES), Curve("SLIC (n_segments)", SLIC_SEGMENTS)
        egs.rows, slic.rows = list(stored["egs"]), list(stored["slic"])
        timings["egs100"] = list(stored["egs100_seconds"])
    else:
        egs, slic = baselines(samples, timings)
        if base_cache is not None:
            np.savez(base_cache, egs=egs.data, slic=slic.data, egs100_seconds=np.array(timings["egs100"]))
    print(f"{args.dataset}: {len(samples)} images, "
          f"{int(egs.data[:, 0, 1].sum())} ground-truth segments")
    print_curve(egs)
    print_curve(slic)

    prepared = Prepared(samples, maps, **LEAVES)
    if args.grid:
        print("\nGrid (cut at fixed n per image), mean / min difference to EGS over 20..600 segments:")
        print("| code | w_colour | w_code | w_boundary | size_power | d Seg-IoU mean / min | d covering mean / min |")
        print("|---|---|---|---|---|---|---|")
        for code, wc, wk, wb, sp in itertools.product(["p16"], [1.0], [0.0, 3.0, 8.0],
                                                      [0.0, 2.0, 5.0], [0.0, 0.2]):
            curve = run_hierarchy(prepared, "grid", code=code, w_colour=wc, w_code=wk,
                                  w_boundary=wb, size_power=sp, cuts=MATCH_COUNTS)
            mi, ni, mc, nc = area_between(curve, egs)
            print(f"| {code} | {wc} | {wk} | {wb} | {sp} | {mi:+.2f} / {ni:+.2f} | {mc:+.2f} / {nc:+.2f} |",
                  flush=True)

    curves = []
    for name, params in ABLATIONS:
        curve = run_hierarchy(prepared, name, check=args.check, **params)
        curves.append(curve)
        print_curve(curve)
        mi, ni, mc, nc = area_between(curve, egs)
        mi2, ni2, mc2, nc2 = area_between(curve, slic)
        print(f"vs EGS over 20..600: Seg-IoU mean {mi:+.2f} min {ni:+.2f}; covering mean {mc:+.2f} min {nc:+.2f}")
        print(f"vs SLIC over 20..600: Seg-IoU mean {mi2:+.2f} min {ni2:+.2f}; covering mean {mc2:+.2f} min {nc2:+.2f}")
    best = curves[-1]
    print_bootstrap(best, egs, args.resamples, args.seed)
    print_bootstrap(best, slic, args.resamples, args.seed)
    # What the CNN codes add: the same hierarchy without them (identical cuts, so the
    # "interpolation" is exact), and x2 codes instead of x1.
    by_name = {curve.name: curve for curve in curves}
    print_bootstrap(best, by_name["H colour+boundary, small-region rule (no CNN)"], args.resamples, args.seed)
    print_bootstrap(by_name[NO_RULE],
                    by_name["H colour+boundary"], args.resamples, args.seed)
    print_bootstrap(by_name["H colour+boundary+code x2 p8"], by_name["H colour+boundary"], args.resamples, args.seed)
    print_bootstrap(by_name[NO_RULE],
                    by_name["H colour+boundary+code x2 p8"], args.resamples, args.seed)
    # What the small-region rule adds (same weights and codes).
    print_bootstrap(best, by_name[NO_RULE],
                    args.resamples, args.seed)

    if args.small:
        print("\nSmall-region rule (cut at fixed n per image), difference to EGS over 20..600:")
        print("| factor f | power p | Seg-IoU / covering at 20, 45, 100 | d Seg-IoU mean / min "
              "| d covering mean / min |")
        print("|---|---|---|---|---|")
        for factor, power in SMALL_REGION_SWEEP:
            curve = run_hierarchy(prepared, "small", cuts=MATCH_COUNTS,
                                  **dict(BEST, small_region_factor=factor, small_region_power=power))
            mi, ni, mc, nc = area_between(curve, egs)
            ms, si, sc = curve.points()
            cells = ", ".join(f"{a:.2f} / {b:.1f}" for m, a, b in zip(ms, si, sc) if round(m) in (20, 45, 100))
            print(f"| {factor} | {power} | {cells} | {mi:+.2f} / {ni:+.2f} | {mc:+.2f} / {nc:+.2f} |", flush=True)

    if args.leaves:
        print("\nLeaves and code encodings (cut at fixed n per image), difference to EGS over 20..600:")
        print("| variant | leaves/image | leaves s | merge s | d Seg-IoU mean / min | d covering mean / min |")
        print("|---|---|---|---|---|---|")
        for name, leaf_params, params in LEAF_ABLATIONS:
            other = Prepared(samples, maps, **leaf_params)
            curve = run_hierarchy(other, name, cuts=MATCH_COUNTS, **params)
            mi, ni, mc, nc = area_between(curve, egs)
            n_leaves = np.mean([item["leaves"].max() + 1 for item in other.items])
            t_leaf = np.mean([item["t_leaves"] for item in other.items])
            print(f"| {name} | {n_leaves:.0f} | {t_leaf:.3f} | {curve.merge_seconds:.3f} "
                  f"| {mi:+.2f} / {ni:+.2f} | {mc:+.2f} / {nc:+.2f} |", flush=True)

    # Timing of the best pipeline (per image, means over the run), vs EGS k=100 alone.
    items = prepared.items
    t_leaves = np.mean([i["t_leaves"] for i in items])
    t_features = np.mean([i["t_features"] for i in items])
    t_net = np.mean([m["seconds:x1p8"] for m in maps])
    t_egs = np.mean(timings["egs100"])
    merge = best.merge_seconds
    print(f"\nTiming (s/image, this run): EGS k=100 alone {t_egs:.3f}; default hierarchy: leaves (EGS k=50) "
          f"{t_leaves:.3f} + features {t_features:.3f} + merge {merge:.3f} = {t_leaves + t_features + merge:.3f} "
          f"(ratio {(t_leaves + t_features + merge) / t_egs:.2f}x EGS), + network conv5 x1 {t_net:.3f} "
          f"(computed in the run that filled the cache; `tf-binmap bench` times the whole pipeline)")
    print(f"wall {time.perf_counter() - start_all:.0f} s")


if __name__ == "__main__":
    os.environ.setdefault("TF_BINMAP_CACHE", "/tmp/tfbm_cache")
    main()
