"""Fitting the learned merge order (what ``tf-binmap fit-merge`` runs).

A small Keras MLP (11 pair features -> 32 -> 32 -> 1) is fitted with binary
cross-entropy on the soft labels of `tf_binmap.training.merge_pairs`, in rounds: round 1
collects pairs from the trees of the weighted distance (`FIRST_ROUND_DISTANCE`); each
further round adds the pairs of the previous round's own trees (ISCRA's cascade, in
rounds), so the scorer also sees the regions it makes itself. The result is a
`tf_binmap.segmentation.scorer.MergeScorer` that runs in NumPy.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from tf_binmap.evaluation.metrics import contingency
from tf_binmap.segmentation.agglomerate import merge_hierarchy
from tf_binmap.segmentation.hierarchy import hierarchy_leaves
from tf_binmap.segmentation.pair_features import PAIR_FEATURES
from tf_binmap.segmentation.placement import pixel_projections
from tf_binmap.segmentation.scorer import DEFAULT_SIZE_EXPONENT, MergeScorer
from tf_binmap.training.merge_pairs import (
    DEFAULT_TRAIN_SCALES,
    SNAPSHOT_COUNTS,
    pairs_from_tables,
    parse_train_scales,
    rescale_sample,
)

__all__ = ["FIRST_ROUND_DISTANCE", "fit_merge_scorer", "fit_merge_scorer_on_images"]


def fit_merge_scorer(x, y, hidden=(32, 32), epochs=6, batch_size=4096, learning_rate=2e-3,
                     seed=0, n_code=8, size_exponent=DEFAULT_SIZE_EXPONENT, metadata=None,
                     verbose=0) -> MergeScorer:
    """Fit the MLP (Keras, binary cross-entropy on the soft labels) -> `MergeScorer`."""
    import keras

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(PAIR_FEATURES) or y.shape != (len(x),) or not len(x):
        raise ValueError(f"expected x (m, {len(PAIR_FEATURES)}) and y (m,), got {x.shape} and {y.shape}")
    keras.utils.set_random_seed(seed)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    inputs = keras.Input((x.shape[1],))
    h = inputs
    for units in hidden:
        h = keras.layers.Dense(units, activation="relu")(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(((x - mean) / std).astype(np.float32), y[:, None].astype(np.float32),
              batch_size=batch_size, epochs=epochs, verbose=verbose, shuffle=True)
    layers = [(keras.ops.convert_to_numpy(layer.kernel), keras.ops.convert_to_numpy(layer.bias))
              for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    return MergeScorer(mean, std, layers, n_code, size_exponent, metadata)


#: The weighted distance that orders the first round's training trees (the tuned
#: hand-weighted hierarchy, docs/ABLATIONS.md).
FIRST_ROUND_DISTANCE = {"w_colour": 1.0, "w_code": 4.0, "w_boundary": 3.0,
                        "small_region_factor": 0.4, "small_region_power": 2.0}


def fit_merge_scorer_on_images(model, samples, rounds=2, size_exponent=DEFAULT_SIZE_EXPONENT,
                               scales=DEFAULT_TRAIN_SCALES, counts=SNAPSHOT_COUNTS,
                               hidden=(32, 32), epochs=6, seed=0, progress=True, total=None,
                               metadata=None, log=print):
    """Fit a merge scorer on images with ground truth (what `tf-binmap fit-merge` runs).

    Round 1 collects training pairs from the trees of the weighted distance
    (`FIRST_ROUND_DISTANCE`); each further round adds the pairs of the previous round's
    own trees (their leaf level is already in), so the scorer also sees the regions it
    makes itself (ISCRA's cascade, in rounds), and refits on all pairs. Each image is used
    at every size of ``scales`` (`rescale_sample`): the scorer's features (region count,
    border lengths, textures) depend on the image size, and a scorer fitted at one size
    alone loses its margin on smaller images (docs/ABLATIONS.md, "Image size").

    Args:
        model: a binary-map model with ``projections`` (the codes; its bits are the
            scorer's code length).
        samples: iterable of (name, uint8 RGB image, [ground-truth label maps]).
        rounds: fitting rounds (>= 1).
        size_exponent, counts, hidden, epochs, seed: see `MergeScorer`, `training_pairs`
            and `fit_merge_scorer`.
        scales: factors of each image's size to fit at (`parse_train_scales`); the pairs
            are ordered by scale, then by image.
        progress: tqdm bars; ``total`` the number of samples for the bar.
        metadata: strings stored in the file (e.g. the dataset).
        log: where one-line reports go (bad images, round summaries).
    """
    if int(rounds) < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    scales = parse_train_scales(scales)
    # Per scale: [(name, leaves, features, tables)], and round 1's pairs.
    per_scale = {scale: ([], [], []) for scale in scales}
    used = set()
    for name, image, ground_truths in tqdm(samples, total=total, disable=not progress,
                                           desc="round 1: leaves and pairs", unit="image"):
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            log(f"skipping {name}: expected a uint8 RGB image (H, W, 3), got {image.dtype} "
                f"{image.shape}")
            continue
        if not len(ground_truths):
            log(f"skipping {name}: no ground-truth segmentation")
            continue
        for scale in scales:
            label = name if scale == 1 else f"{name} at x{scale:g}"
            try:
                sized, sized_truths = rescale_sample(image, ground_truths, scale)
                codes = pixel_projections(model, sized)[0]
                leaves, features = hierarchy_leaves(sized, codes)
                tree = merge_hierarchy(leaves, features, **FIRST_ROUND_DISTANCE)
                # Later rounds need the annotations only through these small tables.
                tables = [contingency(gt, leaves) for gt in sized_truths]
                x, y = pairs_from_tables(tree, features, tables, counts)
            except ValueError as error:
                log(f"skipping {label}: {error}")
                continue
            kept, xs_scale, ys_scale = per_scale[scale]
            kept.append((label, np.asarray(leaves, dtype=np.int32), features, tables))
            xs_scale.append(x)
            ys_scale.append(y)
            used.add(name)
    images = [item for scale in scales for item in per_scale[scale][0]]
    xs = [x for scale in scales for x in per_scale[scale][1]]
    ys = [y for scale in scales for y in per_scale[scale][2]]
    if not images:
        raise ValueError("no usable training images (each needs an RGB image and at least one "
                         "ground-truth segmentation)")
    n_code = images[0][2].code.shape[1]
    info = {**(metadata or {}), "images": len(used), "rounds": int(rounds),
            "scales": ",".join(f"{scale:g}" for scale in scales),
            "model": getattr(model, "name", type(model).__name__)}
    scorer = None
    for round_index in range(1, int(rounds) + 1):
        if scorer is not None:
            for name, leaves, features, tables in tqdm(
                    images, disable=not progress, desc=f"round {round_index}: own trees",
                    unit="image"):
                tree = merge_hierarchy(leaves, features, scorer=scorer)
                x, y = pairs_from_tables(tree, features, tables, counts, include_leaves=False)
                xs.append(x)
                ys.append(y)
        x, y = np.concatenate(xs), np.concatenate(ys)
        scorer = fit_merge_scorer(x, y, hidden=hidden, epochs=epochs, seed=seed, n_code=n_code,
                                  size_exponent=size_exponent, metadata=info)
        log(f"round {round_index}: fitted on {len(y)} pairs from {len(used)} images at "
            f"{len(scales)} size(s) (mean label {y.mean():.3f})")
    return scorer
