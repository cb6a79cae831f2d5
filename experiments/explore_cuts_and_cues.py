"""More directions for issue 7, on BSDS500 val only (docs/ABLATIONS.md, "Level cuts,
more pair cues, a canonical size"): none beat the default shipped then (the three-size
scorer under 60:0.5/300:0.1); the script scores the shipped file.

    level     every image cut at one global level per operating point (the merge scores'
              running maximum; segment counts vary per image, as EGS's do at one k)
              against n segments per image; the shipped scorer at the three val sizes
              (1, 2/3, 1/2), the criterion of explore_scale.py
    upsample  the shrunk val images (2/3, 1/2) enlarged back to a long side of 481 before
              the pipeline (a canonical working size), labels brought back to the shrunk
              grid by nearest neighbour and scored against EGS there
    cues      held-out log-loss of the merge scorer with more pair cues: |difference| of
              each of the 8 code dimensions and of a*, b*; chi-squared distances of
              16-bin L*, a*, b* histograms; fitted on BSDS500 train pairs at sizes 1 and
              1/2 (the weighted-distance and the shipped scorer's trees), scored on val
              pairs of the same trees
    codes     the per-dimension code cues end to end: the scorer refitted with them by
              `tf-binmap fit-merge` (a patch of the pair features, in this process only)
              and scored as in ``level`` (~5 min)

    python experiments/explore_cuts_and_cues.py level      # ~1 min with the caches
    python experiments/explore_cuts_and_cues.py upsample   # ~2 min
    python experiments/explore_cuts_and_cues.py cues       # ~4 min
    python experiments/explore_cuts_and_cues.py codes      # ~5 min
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_BINMAP_CACHE", "/tmp/tfbm_cache")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import explore_beyond_paper as ex  # noqa: E402
import explore_learned_merge as el  # noqa: E402
import explore_scale as sc  # noqa: E402
import explore_size_schedule as ss  # noqa: E402

import tf_binmap.segmentation.agglomerate as agglomerate  # noqa: E402
import tf_binmap.segmentation.pair_features as pair_features  # noqa: E402
import tf_binmap.segmentation.scorer as scorer_module  # noqa: E402
import tf_binmap.training.merge_fit as merge_fit  # noqa: E402
import tf_binmap.training.merge_pairs as merge_pairs  # noqa: E402
from tf_binmap.segmentation.agglomerate import merge_hierarchy  # noqa: E402
from tf_binmap.segmentation.regions import lab_image  # noqa: E402
from tf_binmap.segmentation.scorer import MergeScorer  # noqa: E402
from tf_binmap.training.merge_fit import FIRST_ROUND_DISTANCE  # noqa: E402
from tf_binmap.training.merge_pairs import pairs_from_tables, region_pairs  # noqa: E402

# The modules that read the pair-feature names (a patch must reach every one).
FEATURE_MODULES = (pair_features, scorer_module, merge_fit, merge_pairs)


def set_pair_feature_names(names):
    for module in FEATURE_MODULES:
        module.PAIR_FEATURES = names

SIZES = (1.0, 2 / 3, 0.5)


def score_cuts(scorer, label, sizes=SIZES):
    minima = {"count": [], "level": []}
    for factor in sizes:
        prepared, egs = sc.val_at(factor)
        trees = [merge_hierarchy(item["leaves"], ex.features_for(item, "x1p8"), scorer=scorer)
                 for item in prepared.items]
        for mode in minima:
            result = ss.differences(ss.cut_records(prepared, trees, mode), egs)
            ss.report(f"{label}, {mode} cut | x{factor:.3f}", result)
            minima[mode].extend(ss.criterion(result))
    return minima


def print_criterion(minima):
    print("\ncriterion over all sizes (the smallest of the four minima at each size, sorted):")
    for name, values in minima.items():
        print(f"  {name}: {', '.join(f'{v:+.2f}' for v in sorted(values)[:4])}, ...")


def header():
    line = ("| merge order | size | all: Seg-IoU min / mean | all: covering min / mean | coarsest: "
            "Seg-IoU | coarsest: covering | finest: Seg-IoU | finest: covering | criterion |")
    print(line)
    print("|---" * (line.count("|") - 1) + "|")


def run_level():
    header()
    minima = score_cuts(MergeScorer.from_preset(), "shipped")
    print_criterion({f"shipped, {mode} cut": values for mode, values in minima.items()})


def run_upsample(long_side=481):
    import cv2

    from tf_binmap.evaluation.metrics import contingency

    scorer = MergeScorer.from_preset()
    header()
    minima = []
    for factor in SIZES:
        small = sc.shrink(ex.load_samples("bsds500", el.DATA, None), factor)
        tag = f"bsds500_{len(small)}" + ("" if factor == 1 else f"_f{factor:.3f}")
        egs = ss.egs_records(small, el.CACHE / f"{tag}_egs_per_annotator.pkl")
        enlarged = []
        for name, image, gts in small:
            h, w = image.shape[:2]
            s = long_side / max(h, w)
            size = (int(round(w * s)), int(round(h * s)))
            enlarged.append((name, image if s == 1 else cv2.resize(image, size, interpolation=cv2.INTER_LINEAR),
                             [cv2.resize(g.astype(np.int32), size, interpolation=cv2.INTER_NEAREST)
                              for g in gts]))
        maps = ex.network_maps_x1(enlarged, el.CACHE / f"{tag}_up{long_side}_x1.npz")
        for m in maps:
            m["scale:x1p8"] = m["scale"]
        prepared = ex.Prepared(enlarged, maps, **ex.LEAVES)
        for item, (_, image, gts) in zip(prepared.items, small):  # score on the shrunk grid
            h, w = image.shape[:2]
            leaves = cv2.resize(item["leaves"].astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)
            n = int(item["leaves"].max()) + 1
            item["tables"] = [np.pad(t, ((0, 0), (0, n - t.shape[1])))
                              for t in (contingency(g, leaves) for g in gts)]
        trees = [merge_hierarchy(it["leaves"], ex.features_for(it, "x1p8"), scorer=scorer)
                 for it in prepared.items]
        result = ss.differences(ss.cut_records(prepared, trees), egs)
        ss.report(f"shipped, enlarged to {long_side} | x{factor:.3f}", result)
        minima.extend(ss.criterion(result))
    print_criterion({f"shipped, enlarged to {long_side}": minima})


# --- more pair cues ------------------------------------------------------------------

BINS = 16
LAB_RANGES = ((0, 100), (-80, 80), (-80, 80))
CUES = {"base": (), "code dims": ("code_dims",), "histograms": ("histograms",),
        "both": ("code_dims", "histograms")}


def leaf_histograms(leaves, image):
    lab = lab_image(image)
    n = int(leaves.max()) + 1
    parts = []
    for channel, (lo, hi) in enumerate(LAB_RANGES):
        bins = np.clip(((lab[..., channel] - lo) / (hi - lo) * BINS).astype(int), 0, BINS - 1)
        parts.append(np.bincount((leaves * BINS + bins).ravel(), minlength=n * BINS).reshape(n, BINS))
    return np.concatenate(parts, axis=1).astype(np.float64)


def extra_cues(tree, features, histograms):
    """Per pair of `pairs_from_tables` (same order, `region_pairs`): |code difference| per
    dimension, |a*|, |b*| differences, and L*, a*, b* histogram chi-squared distances."""
    n_code = features.code.shape[1]
    leaf_vectors = np.concatenate([features.colour, features.code,
                                   histograms / features.area[:, None]], axis=1)
    out = []
    for _, _, _, region, a_ids, b_ids, _, _ in region_pairs(tree, features, leaf_vectors):
        a, b = region[a_ids], region[b_ids]
        code_dims = np.abs(a[:, 1:3 + n_code] - b[:, 1:3 + n_code])  # a*, b*, code
        ha, hb = a[:, 3 + n_code:], b[:, 3 + n_code:]
        chi = 0.5 * (ha - hb) ** 2 / np.maximum(ha + hb, 1e-12)
        histograms_chi = np.stack([chi[:, c * BINS:(c + 1) * BINS].sum(1) for c in range(3)], axis=1)
        out.append(np.concatenate([code_dims, histograms_chi], axis=1))
    return np.concatenate(out)


def collect(items, images, shipped):
    xs, extras, ys = [], [], []
    for item, image in zip(items, images):
        features = ex.features_for(item, "x1p8")
        histograms = leaf_histograms(item["leaves"], image)
        for tree in (merge_hierarchy(item["leaves"], features, **FIRST_ROUND_DISTANCE),
                     merge_hierarchy(item["leaves"], features, scorer=shipped)):
            x, y = pairs_from_tables(tree, features, item["tables"])
            extra = extra_cues(tree, features, histograms)
            assert len(extra) == len(x)
            xs.append(x), extras.append(extra), ys.append(y)
    return np.concatenate(xs), np.concatenate(extras), np.concatenate(ys)


def select(x, extra, cues, n_code=8):
    parts = [x]
    if "code_dims" in cues:
        parts.append(extra[:, :2 + n_code])
    if "histograms" in cues:
        parts.append(extra[:, 2 + n_code:])
    return np.concatenate(parts, axis=1)


def run_cues():
    from tf_binmap.evaluation.datasets import BSDS500

    start = time.perf_counter()
    shipped = MergeScorer.from_preset()
    train = [(s.name, s.image, s.ground_truths) for s in BSDS500(el.DATA, split="train")]
    val = ex.load_samples("bsds500", el.DATA, None)
    data = {}
    for factor in (1.0, 0.5):
        items = el.train_items() if factor == 1 else sc.train_items_at(factor)
        data["train", factor] = collect(items, [im for _, im, _ in sc.shrink(train, factor)], shipped)
        prepared, _ = sc.val_at(factor)
        data["val", factor] = collect(prepared.items, [im for _, im, _ in sc.shrink(val, factor)], shipped)
    x, extra, y = (np.concatenate([data["train", f][i] for f in (1.0, 0.5)]) for i in range(3))
    print(f"{len(y)} train pairs, collected in {time.perf_counter() - start:.0f} s\n")
    print("| pair cues | val log-loss x1 | val log-loss x1/2 |\n|---|---|---|")
    base_names = pair_features.PAIR_FEATURES
    try:
        for name, cues in CUES.items():
            columns = select(x[:1], extra[:1], cues).shape[1]
            set_pair_feature_names(base_names + tuple(f"extra_{i}" for i in
                                                      range(columns - len(base_names))))
            scorer = merge_fit.fit_merge_scorer(select(x, extra, cues), y)
            losses = []
            for factor in (1.0, 0.5):
                vx, vextra, vy = data["val", factor]
                p = np.clip(scorer.probabilities(select(vx, vextra, cues)), 1e-7, 1 - 1e-7)
                losses.append(-np.mean(vy * np.log(p) + (1 - vy) * np.log(1 - p)))
            print(f"| {name} | {losses[0]:.4f} | {losses[1]:.4f} |", flush=True)
    finally:
        set_pair_feature_names(base_names)


def enable_code_dims():
    """Patch the pair features (this process only): the shipped 11, then |difference| of
    a*, b* and of each code dimension (the merge loop and the training pairs alike)."""
    base_names, original = pair_features.PAIR_FEATURES, pair_features.assemble_pair_features

    def assemble(difference, *args):
        base = original(difference, *args)[:, :len(base_names)]
        return np.concatenate([base, np.abs(difference[:, 1:])], axis=1)

    set_pair_feature_names(base_names + ("a_difference", "b_difference")
                           + tuple(f"code_{i}" for i in range(8)))
    pair_features.assemble_pair_features = assemble
    agglomerate.assemble_pair_features = assemble


def run_codes():
    from tf_binmap.cli import main as cli

    path = el.OUT / "scorer_code_dims.npz"
    enable_code_dims()
    if not path.is_file():
        if cli(["fit-merge", "--quiet", "--out", str(path)]) != 0:
            raise SystemExit("fit-merge failed")
    header()
    minima = score_cuts(MergeScorer.load(path), "refitted with the code dimensions")
    print_criterion({f"code dimensions, {mode} cut": values for mode, values in minima.items()})
    print("(the shipped file: the count-cut criterion of `level`)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["level", "upsample", "cues", "codes"])
    args = parser.parse_args()
    start = time.perf_counter()
    {"level": run_level, "upsample": run_upsample, "cues": run_cues, "codes": run_codes}[args.what]()
    print(f"wall {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
