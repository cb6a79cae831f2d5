"""Is the learned merge order robust to image size? (issue 7; docs/ABLATIONS.md, "Image
size: fitting at several sizes (the default)")

The merge scorer was fitted on BSDS500 train at 481x321. Its stage feature is the log of
the region count, its border-length feature is in pixels, and the leaves, the border
strengths and the colour spreads all change with the image size, so a smaller image puts
the scorer where it was never fitted. MSRC's images are 320x213 (a property of the data
known beforehand, not of its labels); this script asks the question on BSDS500 val
alone, with every val image and its annotations shrunk by each of ``--sizes`` (1, 2/3
and 1/2 of 481x321: images by area averaging, annotations by nearest neighbour,
`tf_binmap.training.merge_pairs.rescale_sample`), and scores the merge orders against
EGS as `explore_size_schedule.py` does (minimum / mean over 20-600 segments of the
difference to EGS; all annotators, each image's coarsest, its finest).

Rows: the weighted distance; the scorer fitted at full size only (bit for bit the file
shipped before this script, under 100:0.5/300:0.1); and per ``--augment F ...`` the scorer
fitted on BSDS500 train at full size and at each factor F (what `tf-binmap fit-merge
--scales 1,F,...` does: round 1 on the weighted-distance trees, round 2 adds round 1's
own trees, pairs ordered by size then image). Criterion, fixed before the run: the four
minima of `explore_size_schedule.criterion` at every val size, the smallest compared
first. The script says which row equals the shipped file.

    python experiments/explore_size_schedule.py bsds500   # fills the train-pair caches
    python experiments/explore_scale.py --augment 0.6666667 --augment 0.6666667 0.5   # ~6 min
    # the schedule re-checked on the chosen network, then the refit under the winner
    # (the shipped file: the script says "equals the shipped file"):
    python experiments/explore_scale.py --augment 0.6666667 0.5 --schedules \
        60:0.25/300:0.1 100:0.25/300:0.1 60:0.5/300:0.1 60:1/300:0.1 100:1/300:0.1 \
        100:0.5/200:0.1 100:0.5/400:0.1 0.1
    python experiments/explore_scale.py --augment 0.6666667 0.5 \
        --augment-schedule 60:0.5/300:0.1 --schedules 100:0.5/300:0.1
    # also measured: --hidden 64 64 --epochs 8; --rules 0.2,2 0.4,2 0.8,2 (and 2,1 5,1)
    # the third point at 30 regions (the shipped schedule), then its refit:
    python experiments/explore_scale.py --schedules 20:1/60:0.5/300:0.1 \
        30:1/60:0.5/300:0.1 30:0.75/60:0.5/300:0.1 30:1/100:0.5/300:0.1
    python experiments/explore_scale.py --augment 0.6666667 0.5 \
        --augment-schedule 30:1/60:0.5/300:0.1
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
import explore_size_schedule as ss  # noqa: E402

from tf_binmap.segmentation.agglomerate import merge_hierarchy
from tf_binmap.training.merge_fit import FIRST_ROUND_DISTANCE, fit_merge_scorer
from tf_binmap.segmentation.scorer import MergeScorer, format_size_exponent, parse_size_exponent
from tf_binmap.training.merge_pairs import rescale_sample


FULL_SIZE_SCHEDULE = ((100.0, 0.5), (300.0, 0.1))


def shrink(samples, factor):
    """Every sample at ``factor`` times its size (`rescale_sample`: images by area
    averaging, annotations by nearest neighbour)."""
    return [(name, *rescale_sample(image, gts, factor)) for name, image, gts in samples]


def prepare(samples, tag):
    maps = ex.network_maps_x1(samples, el.CACHE / f"{tag}_x1.npz")
    for m in maps:
        m["scale:x1p8"] = m["scale"]
    return ex.Prepared(samples, maps, **ex.LEAVES)


def val_at(factor):
    samples = shrink(ex.load_samples("bsds500", el.DATA, None), factor)
    tag = f"bsds500_{len(samples)}" + ("" if factor == 1 else f"_f{factor:.3f}")
    prepared = prepare(samples, tag)
    egs = ss.egs_records(samples, el.CACHE / f"{tag}_egs_per_annotator.pkl")
    return prepared, egs


def train_items_at(factor):
    from tf_binmap.evaluation.datasets import BSDS500

    samples = shrink([(s.name, s.image, s.ground_truths) for s in BSDS500(el.DATA, split="train")],
                     factor)
    tag = "bsds500_train" + ("" if factor == 1 else f"_f{factor:.3f}")
    maps = ex.network_maps_x1(samples, el.OUT / f"{tag}_x1.npz")
    for m in maps:
        m["scale:x1p8"] = m["scale"]
    return ex.Prepared(samples, maps, **ex.LEAVES).items


class ShrunkTrainPairs(el.TrainPairs):
    """`explore_learned_merge.TrainPairs` of the train images shrunk by ``factor``."""

    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def load_items(self):
        return train_items_at(self.factor)


def augmented_scorer(factors, schedule, hidden=(32, 32), epochs=6):
    """`fit_merge_scorer_on_images` with the train images at full size and at each of
    ``factors`` (its pair order: by size, then by image): round 1 on the weighted-distance
    trees, round 2 adds round 1's own trees."""
    first = lambda item, f: merge_hierarchy(item["leaves"], f, **FIRST_ROUND_DISTANCE)  # noqa: E731
    train = el.TrainPairs()
    parts = [train.get("round1_pairs", first)]
    small = {factor: ShrunkTrainPairs(factor) for factor in factors}
    for factor in factors:
        parts.append(small[factor].get(f"round1_pairs_f{factor:.3f}", first))
    x1, y1 = (np.concatenate(part) for part in zip(*parts))
    round1 = fit_merge_scorer(x1, y1, size_exponent=schedule, hidden=hidden, epochs=epochs)
    own = lambda item, f: merge_hierarchy(item["leaves"], f, scorer=round1)  # noqa: E731
    tag = "aug_" + "_".join(f"f{factor:.3f}" for factor in factors) + "_" + \
        format_size_exponent(schedule).replace("/", "_")
    if (tuple(hidden), epochs) != ((32, 32), 6):  # the network differs: so do its trees
        tag += f"_h{'x'.join(map(str, hidden))}_e{epochs}"
    parts = [(x1, y1), train.get(f"round2_pairs_{tag}", own, include_leaves=False)]
    for factor in factors:
        parts.append(small[factor].get(f"round2_pairs_{tag}_f{factor:.3f}", own,
                                       include_leaves=False))
    x, y = (np.concatenate(part) for part in zip(*parts))
    return fit_merge_scorer(x, y, size_exponent=schedule, hidden=hidden, epochs=epochs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--augment", type=float, nargs="*", action="append", default=[],
                        help="also fit a scorer on BSDS500 train at full size and these "
                        "factors (repeatable: one scorer per --augment)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 32],
                        help="hidden layers of the --augment scorers (default 32 32)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of the --augment scorers")
    parser.add_argument("--rules", nargs="*", default=[],
                        help="also score the shipped scorer with the small-region rule, one "
                        "row per FACTOR,POWER (e.g. 0.8,2 5,1)")
    parser.add_argument("--augment-schedule", default=None,
                        help="the gamma schedule the --augment scorers are fitted under "
                        "(default 100:0.5/300:0.1, the one chosen with full-size fits; the "
                        "shipped file: 30:1/60:0.5/300:0.1)")
    parser.add_argument("--schedules", nargs="*", default=[],
                        help="also score the shipped network under these gamma schedules "
                        "(e.g. 100:0.25/300:0.1), one row each")
    parser.add_argument("--sizes", type=float, nargs="+", default=[1.0, 2 / 3, 0.5],
                        help="val sizes to score at (factors of the full size)")
    args = parser.parse_args()
    start = time.perf_counter()
    # The schedule chosen with full-size fits (explore_size_schedule.py): the scorers of
    # the size question are fitted under it; the re-check of the schedule under the
    # three-size network (--schedules, --augment-schedule) picked 60:0.5/300:0.1, and a
    # later one added a third point, 30:1/60:0.5/300:0.1 (the shipped file).
    schedule = FULL_SIZE_SCHEDULE
    _, refit = ss.networks()
    rows = {"weighted distance": dict(FIRST_ROUND_DISTANCE),
            # Bit for bit the file shipped before the sizes (explore_size_schedule.py).
            "fitted at x1 only": dict(scorer=refit(schedule))}
    augment_schedule = parse_size_exponent(args.augment_schedule or schedule)
    for factors in args.augment:
        network = "" if (args.hidden, args.epochs) == ([32, 32], 6) else \
            f" ({'x'.join(map(str, args.hidden))}, {args.epochs} epochs)"
        if augment_schedule != schedule:
            network += f", gamma {format_size_exponent(augment_schedule)}"
        rows[f"fitted at x1, {', '.join(f'x{f:.3g}' for f in factors)}{network}"] = dict(
            scorer=augmented_scorer(factors, augment_schedule, tuple(args.hidden), args.epochs))
    for text in args.schedules:
        rows[f"shipped network, gamma {text}"] = dict(
            scorer=MergeScorer.from_preset().with_size_exponent(text))
    for rule in args.rules:
        factor, power = (float(v) for v in rule.split(","))
        rows[f"shipped + small-region rule {factor:g}, {power:g}"] = dict(
            scorer=MergeScorer.from_preset(), small_region_factor=factor, small_region_power=power)
    header = ("| merge order | size | all: Seg-IoU min / mean | all: covering min / mean | coarsest: "
              "Seg-IoU | coarsest: covering | finest: Seg-IoU | finest: covering | criterion |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    minima, curves = {name: [] for name in rows}, {}
    for factor in args.sizes:
        prepared, egs = val_at(factor)
        for name, params in rows.items():
            result = ss.differences(ss.tree_records(prepared, **params), egs)
            ss.report(f"{name} | x{factor:.3f}", result)
            minima[name].extend(ss.criterion(result))
        # Paired bootstrap over images: each scorer fitted at several sizes minus the one
        # fitted at full size only (same cuts of the same images).
        curves[factor] = {name: el.run(prepared, f"{name} (val at x{factor:.3f})", params["scorer"])
                          for name, params in rows.items() if name.startswith("fitted at")
                          and len(params) == 1}
    for factor, by_name in curves.items():
        for name in list(by_name)[1:]:
            ex.print_bootstrap(by_name[name], by_name["fitted at x1 only"], 1000, 0)
    shipped_now = MergeScorer.from_preset()  # after the choice, `tf-binmap fit-merge` wrote it
    for name, params in rows.items():
        scorer = params.get("scorer")
        if scorer is not None and len(params) == 1 and \
                scorer.size_exponent == shipped_now.size_exponent and all(
                np.array_equal(a, b) for la, lb in zip(scorer.layers, shipped_now.layers)
                for a, b in zip(la, lb)) and np.array_equal(scorer.mean, shipped_now.mean):
            print(f"{name}: equals the shipped file (fitted at sizes {shipped_now.metadata['scales']})")
    print("\ncriterion over all sizes (the smallest of the four minima at each size, sorted):")
    for name, values in sorted(minima.items(), key=lambda item: sorted(item[1]), reverse=True):
        print(f"  {name}: {', '.join(f'{v:+.2f}' for v in sorted(values)[:4])}, ...")
    print(f"wall {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
