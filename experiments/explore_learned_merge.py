"""The learned merge order (issue 7; docs/ABLATIONS.md, "Learned merge order"), measured
with the harness of explore_beyond_paper.py on BSDS500 val (or the MSRC sample).

A small MLP fitted on BSDS500 **train** (`tf_binmap.segmentation.scorer`, fitted by `tf_binmap.training`) predicts, for
two adjacent regions, the probability p that the annotators put them in different
segments; the hierarchy merges the pair with the lowest (2p - 1) * (smaller area / image
area) ** gamma first. The script fits round 1 on the pairs of the weighted-distance
trees, sweeps a constant gamma, fits round 2 on round 1's own trees (at gamma 0.1: the
shipped file before the count-dependent exponent) as well, and scores the shipped scorer
(`tf-binmap fit-merge`: the same two rounds under its exponent schedule, see
explore_size_schedule.py, at three image sizes, see explore_scale.py) with and without
the small-region rule, the learned order without the CNN codes, and paired bootstraps
(the shipped scorer minus EGS, SLIC, the weighted distance and the gamma-0.1 file).

    python experiments/explore_beyond_paper.py --dataset bsds500   # fills the caches first
    python experiments/explore_learned_merge.py [bsds500|msrc]     # ~15 min on BSDS500

Train maps and pairs are cached in /tmp/tfbm_explore/learned.
"""
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_BINMAP_CACHE", "/tmp/tfbm_cache")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import explore_beyond_paper as ex  # noqa: E402

from tf_binmap.evaluation.datasets import BSDS500  # noqa: E402
from tf_binmap.segmentation.agglomerate import merge_hierarchy
from tf_binmap.training.merge_fit import FIRST_ROUND_DISTANCE, fit_merge_scorer
from tf_binmap.segmentation.pair_features import PAIR_FEATURES
from tf_binmap.segmentation.scorer import MergeScorer, format_size_exponent
from tf_binmap.training.merge_pairs import training_pairs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CACHE = Path("/tmp/tfbm_explore")
OUT = CACHE / "learned"
GAMMAS = (0.0, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.5, 1.0)
ROUND2_GAMMAS = (0.075, 0.1, 0.125)
CODE = PAIR_FEATURES.index("code")


def train_items():
    """BSDS500 train: leaves, features and GT tables per image (like the val harness)."""
    samples = [(s.name, s.image, s.ground_truths) for s in BSDS500(DATA, split="train")]
    maps = ex.network_maps_x1(samples, OUT / "bsds500_train_x1.npz")
    for m in maps:
        m["scale:x1p8"] = m["scale"]
    return ex.Prepared(samples, maps, **ex.LEAVES).items


def pairs(items, tree_of, include_leaves=True):
    xs, ys = [], []
    for item in items:
        features = ex.features_for(item, "x1p8")
        x, y = training_pairs(tree_of(item, features), features, item["gts"],
                              include_leaves=include_leaves)
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


class TrainPairs:
    """Training pairs of the BSDS500 train trees, cached by name in OUT; the train items
    (leaves, features, tables) are built once, only when a cache is missing."""

    def __init__(self):
        self.items = None

    def load_items(self):
        return train_items()

    def get(self, name, tree_of, include_leaves=True):
        cache = OUT / f"{name}.npz"
        if cache.is_file():
            with np.load(cache) as stored:
                return stored["x"], stored["y"]
        if self.items is None:
            self.items = self.load_items()
        x, y = pairs(self.items, tree_of, include_leaves=include_leaves)
        np.savez(cache, x=x, y=y)
        return x, y


def run(prepared, name, scorer=None, code="x1p8", **params):
    start = time.perf_counter()
    trees = [merge_hierarchy(item["leaves"], ex.features_for(item, code), scorer=scorer, **params)
             for item in prepared.items]
    curve = ex.score_trees(ex.Curve(name, ex.MATCH_COUNTS), prepared, trees)
    curve.merge_seconds = (time.perf_counter() - start) / len(trees)
    return curve


def report(curve, egs):
    ms, si, sc = curve.points()
    cells = ", ".join(f"{a:.2f} / {b:.1f}" for m, a, b in zip(ms, si, sc) if round(m) in (20, 100, 299, 581))
    mi, ni, mc, nc = ex.area_between(curve, egs)
    print(f"| {curve.name} | {cells} | {mi:+.2f} / {ni:+.2f} | {mc:+.2f} / {nc:+.2f} |", flush=True)


def main():
    dataset = sys.argv[1] if len(sys.argv) > 1 else "bsds500"
    OUT.mkdir(parents=True, exist_ok=True)
    start_all = time.perf_counter()
    samples = ex.load_samples(dataset, DATA, None)
    maps = ex.network_maps_x1(samples, CACHE / f"{dataset}_{len(samples)}_x1.npz")
    for m in maps:
        m["scale:x1p8"] = m["scale"]
    base = CACHE / f"{dataset}_{len(samples)}_baselines.npz"
    if not base.is_file():
        sys.exit(f"{base} is missing: run explore_beyond_paper.py --dataset {dataset} first")
    stored = np.load(base)
    egs, slic = ex.Curve("EGS", ex.EGS_SCALES), ex.Curve("SLIC", ex.SLIC_SEGMENTS)
    egs.rows, slic.rows = list(stored["egs"]), list(stored["slic"])
    prepared = ex.Prepared(samples, maps, **ex.LEAVES)

    print(f"{dataset}: {len(samples)} images")
    print("| method | Seg-IoU / covering at 20, 100, 300, 581 | vs EGS Seg-IoU mean / min "
          "| vs EGS covering mean / min |")
    print("|---|---|---|---|")
    distance = run(prepared, "weighted distance + small-region rule (the previous default)",
                   **FIRST_ROUND_DISTANCE)
    report(distance, egs)
    shipped = MergeScorer.from_preset()
    default = run(prepared, "shipped scorer (fit-merge, 2 rounds), gamma "
                  f"{format_size_exponent(shipped.size_exponent)}", scorer=shipped)
    report(default, egs)
    with_rule = run(prepared, "shipped scorer + small-region rule (0.4, 2)", scorer=shipped,
                    small_region_factor=0.4, small_region_power=2.0)
    report(with_rule, egs)
    for gamma in (0.5, 1.0):  # the size exponent as a user would set it (hierarchy:gamma=)
        report(run(prepared, f"shipped scorer, gamma {gamma}",
                   scorer=shipped.with_size_exponent(gamma)), egs)

    # Round 1 and the gamma sweep (fitted here, on the pairs of the distance's trees).
    train = TrainPairs()
    x1, y1 = train.get("round1_pairs",
                       lambda item, f: merge_hierarchy(item["leaves"], f, **FIRST_ROUND_DISTANCE))
    print(f"\nround 1: {len(y1)} train pairs, mean label {y1.mean():.3f}")
    round1 = fit_merge_scorer(x1, y1, size_exponent=0.1)
    for gamma in GAMMAS:
        report(run(prepared, f"round 1, gamma {gamma}", scorer=round1.with_size_exponent(gamma)), egs)
    # Without the CNN codes: the code feature zeroed in training and in use.
    x0 = x1.copy()
    x0[:, CODE] = 0.0
    no_cnn = run(prepared, "round 1 without the CNN codes, gamma 0.1",
                 scorer=fit_merge_scorer(x0, y1, n_code=0, size_exponent=0.1), code="none")
    report(no_cnn, egs)
    round1_cnn = run(prepared, "round 1, gamma 0.1 (again, for the bootstrap)", scorer=round1)

    # Round 2: round 1's own trees added.
    x2, y2 = train.get("round2_pairs",
                       lambda item, f: merge_hierarchy(item["leaves"], f, scorer=round1),
                       include_leaves=False)
    round2 = fit_merge_scorer(np.concatenate([x1, x2]), np.concatenate([y1, y2]),
                              size_exponent=0.1)
    print(f"\nround 2: {len(y1) + len(y2)} train pairs")
    for gamma in ROUND2_GAMMAS:
        report(run(prepared, f"round 2, gamma {gamma}", scorer=round2.with_size_exponent(gamma)), egs)

    print(f"\nmerge seconds per image: distance {distance.merge_seconds:.3f}, learned "
          f"{default.merge_seconds:.3f}")
    ex.print_bootstrap(default, egs, 1000, 0)
    ex.print_bootstrap(default, slic, 1000, 0)
    ex.print_bootstrap(default, distance, 1000, 0)
    previous = run(prepared, "round 2, gamma 0.1 (the shipped file before the schedule)",
                   scorer=round2.with_size_exponent(0.1))
    ex.print_bootstrap(default, previous, 1000, 0)
    ex.print_bootstrap(round1_cnn, no_cnn, 1000, 0)
    print(f"wall {time.perf_counter() - start_all:.0f} s")


if __name__ == "__main__":
    main()
