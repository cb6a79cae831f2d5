"""A learned merge order for the hierarchy (`merge_hierarchy(..., scorer=...)`).

Instead of a hand-weighted distance, a small network fitted on BSDS500 **train** predicts,
for two adjacent regions, the probability ``p`` that an annotator puts them in different
segments (the soft label: the fraction of the image's annotators whose majority segments
of the two regions differ). The hierarchy merges the pair with the lowest

    score = (2 p - 1) * (smaller area / image area) ** size_exponent

first. ``size_exponent`` 0 orders by ``p`` alone (what Seg-IoU, a mean over ground-truth
segments, rewards); 1 is the greedy expected change of covering (merging two different
regions costs about the smaller one's area, merging two parts of one segment gains about
as much): large sure-same pairs first, large sure-different pairs last. The exponent may
depend on the region count: a schedule of (count, exponent) points, linear in log count
between them and constant beyond (`parse_size_exponent`; text ``"30:1/60:0.5/300:0.1"``).
The shipped scorer's, ``DEFAULT_SIZE_EXPONENT`` (1 at 30 regions and fewer, 0.5 at 60, 0.1
at 300 and more), was chosen on BSDS500 val against both all annotators and each image's
coarsest one, at three image sizes (docs/ABLATIONS.md, "A size exponent that follows the
count" and "Image size").

The idea is Ren & Shakhnarovich's cascaded region agglomeration (ISCRA, CVPR 2013) in one
stage, the stage (log of the region count) being a feature: the score depends on the
count, so `merge_hierarchy` rescores all live pairs each time the count has fallen by a
fifth.

Features of a pair (`PAIR_FEATURES`, all from running sums, so merged regions update
exactly): colour (CIELAB mean) distance, code (mean ITQ projection) distance, mean border
strength, L difference, the smaller and larger within-region colour spread, both areas
relative to the mean region area at this count, the log border length, the border length
over the square root of the smaller area, and log count.

The network is a Keras MLP while fitting (`fit_merge_scorer`); the merge loop runs its
weights in NumPy (`MergeScorer`), some tens of microseconds per merge. `tf-binmap fit-merge`
fits one on any dataset with ground truth in the BSDS500 layout; the package ships the
one fitted on BSDS500 train (``MergeScorer.from_preset()``), each image used at its own
size, 2/3 and 1/2 of it (``DEFAULT_TRAIN_SCALES``, `rescale_sample`): several features
(the count, border lengths, leaves, textures) change with the image size, and a scorer
fitted at one size lost its margin over EGS on smaller images (docs/ABLATIONS.md,
"Image size").
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_MERGE_SCORER",
    "DEFAULT_SIZE_EXPONENT",
    "DEFAULT_TRAIN_SCALES",
    "assemble_pair_features",
    "colour_spread",
    "MergeScorer",
    "PAIR_FEATURES",
    "SNAPSHOT_COUNTS",
    "fit_merge_scorer",
    "fit_merge_scorer_on_images",
    "format_size_exponent",
    "pair_features",
    "pairs_from_tables",
    "parse_size_exponent",
    "parse_train_scales",
    "region_pairs",
    "rescale_sample",
    "training_pairs",
]

PAIR_FEATURES = ("colour", "code", "border", "lightness", "spread_min", "spread_max",
                 "relative_area_min", "relative_area_max", "log_border_length", "contact",
                 "log_count")
#: The scorer shipped in the package (fitted on BSDS500 train by `tf-binmap fit-merge`).
DEFAULT_MERGE_SCORER = "bsds500_train"
#: Region counts at which a training tree is cut to collect pairs (besides its leaves).
SNAPSHOT_COUNTS = (700, 500, 350, 250, 180, 130, 90, 65, 45, 30, 20, 14, 10)
#: The size exponent of the shipped scorer: 1 at 30 regions and fewer, 0.5 at 60, 0.1 at
#: 300 and more, linear in log count between (chosen on BSDS500 val, at three image sizes).
DEFAULT_SIZE_EXPONENT = ((30.0, 1.0), (60.0, 0.5), (300.0, 0.1))
#: The sizes (factors of each image's own size) the shipped scorer's training images are
#: used at: the full size, two thirds and half of it (docs/ABLATIONS.md, "Image size").
DEFAULT_TRAIN_SCALES = (1.0, 2.0 / 3.0, 0.5)
_FORMAT = "tf_binmap.merge_scorer/1"
_SHIPPED = Path(__file__).resolve().parent.parent / "merge_params"


def pair_features(vectors_a, vectors_b, area_a, area_b, length, strength, count, total_area,
                  n_code):
    """(m, len(PAIR_FEATURES)) features of m adjacent region pairs.

    Args:
        vectors_a, vectors_b: (m, 3 + n_code + 3) rows of [mean CIELAB colour | mean code
            | mean of the squared CIELAB colour] of the two regions.
        area_a, area_b: (m,) pixel counts.
        length, strength: (m,) border length (4-neighbour pixel pairs) and summed border
            strength.
        count: the number of regions left (the stage of the merging).
        total_area: pixels in the image.
        n_code: length of the code vectors.
    """
    vectors_a = np.asarray(vectors_a, dtype=np.float64)
    vectors_b = np.asarray(vectors_b, dtype=np.float64)
    return assemble_pair_features(vectors_a[:, :3 + n_code] - vectors_b[:, :3 + n_code],
                                  colour_spread(vectors_a, n_code), colour_spread(vectors_b, n_code),
                                  np.log(area_a), np.log(area_b), length, strength, count,
                                  total_area)


def colour_spread(vectors, n_code):
    """Within-region colour spread of rows [colour (3) | code | colour squares (3)]:
    sqrt of the mean over channels of E[c^2] - E[c]^2."""
    means, squares = vectors[:, :3], vectors[:, 3 + n_code:]
    return np.sqrt(np.maximum(np.mean(squares - means * means, axis=1), 0.0))


def assemble_pair_features(difference, spread_a, spread_b, log_area_a, log_area_b, length,
                           strength, count, total_area):
    """`pair_features` from its parts (the merge loop keeps the spreads and log areas per
    region): ``difference`` (m, 3 + n_code) of the colour and code means."""
    m = len(difference)
    out = np.empty((m, len(PAIR_FEATURES)))
    colour = difference[:, :3]
    np.sqrt(np.einsum("ij,ij->i", colour, colour), out=out[:, 0])
    code = difference[:, 3:]
    np.sqrt(np.einsum("ij,ij->i", code, code), out=out[:, 1])
    length = np.maximum(length, 1.0)
    np.divide(strength, length, out=out[:, 2])
    np.abs(difference[:, 0], out=out[:, 3])
    np.minimum(spread_a, spread_b, out=out[:, 4])
    np.maximum(spread_a, spread_b, out=out[:, 5])
    log_mean_area = np.log(total_area / count)
    np.subtract(np.minimum(log_area_a, log_area_b), log_mean_area, out=out[:, 6])
    np.subtract(np.maximum(log_area_a, log_area_b), log_mean_area, out=out[:, 7])
    np.log(length, out=out[:, 8])
    np.divide(length, np.exp(0.5 * (out[:, 6] + log_mean_area)), out=out[:, 9])
    out[:, 10] = np.log(count)
    return out


def parse_size_exponent(value):
    """A size exponent, checked: a number >= 0, or a schedule of (region count, exponent)
    points -> a float, or a tuple of (count, exponent) float pairs sorted by count.

    Accepts a number, a sequence of pairs, a (k, 2) array, or text: ``"0.1"`` or
    ``"30:1/300:0.1"`` (``count:exponent`` points joined by ``/``). Between points the
    exponent is linear in log count; beyond the first and last it is constant. Raises
    ValueError naming the value and the expected form.
    """
    form = ("a number >= 0 or count:exponent points joined by '/', e.g. '0.1' or "
            "'30:1/300:0.1'")
    original = value
    if isinstance(value, str):
        text = value.strip()
        try:
            if ":" not in text:
                value = float(text)
            else:
                value = [tuple(float(part) for part in point.split(":"))
                         for point in text.split("/")]
        except ValueError:
            raise ValueError(f"size exponent {value!r}: expected {form}") from None
    try:
        points = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):  # ragged or non-numeric
        raise ValueError(f"size exponent {original!r}: expected {form}") from None
    if points.ndim == 0:
        number = float(points)
        if not (np.isfinite(number) and number >= 0):
            raise ValueError(f"size exponent {original!r}: expected {form}")
        return number
    if points.ndim != 2 or points.shape[1] != 2 or not len(points) or \
            not np.all(np.isfinite(points)):
        raise ValueError(f"size exponent {original!r}: expected {form}")
    counts, exponents = points[:, 0], points[:, 1]
    if not (np.all(counts >= 1) and np.all(np.diff(counts) > 0) and np.all(exponents >= 0)):
        raise ValueError(f"size exponent {original!r}: the counts must be >= 1 and increasing, "
                         f"the exponents >= 0 (expected {form})")
    if len(points) == 1:
        return float(exponents[0])
    return tuple((float(c), float(e)) for c, e in points)


def parse_train_scales(value) -> tuple:
    """Training sizes, checked: factors > 0 (at most 4) of each image's own size, no
    repeats; a sequence of numbers or text ``"1,0.667"`` (the order is the fitting order)."""
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
        try:
            value = [float(part) for part in parts]
        except ValueError:
            raise ValueError(f"bad training scales {value!r}: expected factors of the image "
                             "size separated by commas, e.g. '1,0.667'") from None
    try:
        scales = tuple(float(v) for v in np.atleast_1d(value))
    except (TypeError, ValueError):
        raise ValueError(f"bad training scales {value!r}: expected factors of the image size, "
                         "e.g. (1.0, 0.667)") from None
    if not scales:
        raise ValueError("no training scales given: expected at least one factor, e.g. 1")
    for scale in scales:
        if not (0.0 < scale <= 4.0):  # also refuses nan
            raise ValueError(f"bad training scale {scale}: a factor of the image size must be "
                             "above 0 and at most 4")
    if len(set(scales)) != len(scales):
        raise ValueError(f"training scales {scales} repeat a factor; give each size once")
    return scales


def rescale_sample(image, ground_truths, factor):
    """An image and its annotations at ``factor`` times their size (rounded to whole
    pixels): the image by area averaging (or linear interpolation when enlarging), the
    label maps by nearest neighbour, so void (< 0) and segment ids survive. Factor 1 returns
    the inputs unchanged."""
    import cv2

    factor = float(factor)
    if factor == 1.0:
        return image, list(ground_truths)
    height, width = np.shape(image)[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return (cv2.resize(np.asarray(image), size, interpolation=interpolation),
            [cv2.resize(np.asarray(g, dtype=np.int32), size, interpolation=cv2.INTER_NEAREST)
             for g in ground_truths])


def format_size_exponent(value) -> str:
    """The text form `parse_size_exponent` reads: ``"0.1"`` or ``"30:1/300:0.1"``."""
    value = parse_size_exponent(value)
    if isinstance(value, float):
        return f"{value:g}"
    return "/".join(f"{count:g}:{exponent:g}" for count, exponent in value)


class MergeScorer:
    """Pair features -> merge score (lowest merges first); see the module docstring.

    Args:
        mean, std: (n_features,) standardisation of the features.
        layers: [(kernel, bias), ...] of the MLP (ReLU between, one logit out).
        n_code: code length the scorer was fitted with (the preset's bits).
        size_exponent: the exponent of the smaller region's area in the score: a number,
            or a schedule of (region count, exponent) points (`parse_size_exponent`).
        metadata: free-form strings (what it was fitted on).
    """

    def __init__(self, mean, std, layers, n_code, size_exponent=DEFAULT_SIZE_EXPONENT,
                 metadata=None):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        self.layers = [(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
                       for w, b in layers]
        self.n_code = int(n_code)
        self.size_exponent = parse_size_exponent(size_exponent)
        self.metadata = dict(metadata or {})
        if self.mean.shape != (len(PAIR_FEATURES),) or self.std.shape != self.mean.shape:
            raise ValueError(f"a merge scorer needs {len(PAIR_FEATURES)} feature means and "
                             f"scales, got {self.mean.shape} and {self.std.shape}")
        if not self.layers or self.layers[0][0].shape[0] != len(PAIR_FEATURES) or \
                self.layers[-1][0].shape[1] != 1:
            raise ValueError("a merge scorer's layers must map the pair features to one logit")
        # The standardisation folded into the first layer: one matrix product less per call.
        first_w, first_b = self.layers[0]
        self._first = (first_w / self.std[:, None], first_b - (self.mean / self.std) @ first_w)
        self._relative_min = PAIR_FEATURES.index("relative_area_min")
        self._log_count = PAIR_FEATURES.index("log_count")
        if isinstance(self.size_exponent, tuple):  # np.interp's points, in log count
            self._schedule = tuple(np.array(part) for part in zip(*(
                (np.log(count), exponent) for count, exponent in self.size_exponent)))

    def with_size_exponent(self, size_exponent) -> "MergeScorer":
        return MergeScorer(self.mean, self.std, self.layers, self.n_code, size_exponent,
                           self.metadata)

    def fingerprint(self) -> str:
        """SHA-256 of the parameters and the size exponent (what decides the order)."""
        import hashlib

        digest = hashlib.sha256()
        for array in (self.mean, self.std, *(part for layer in self.layers for part in layer)):
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        digest.update(repr((self.n_code, self.size_exponent)).encode())
        return digest.hexdigest()

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Logit of P(different) for each row of ``features`` (m, n_features)."""
        h = features @ self._first[0] + self._first[1]
        for w, b in self.layers[1:]:
            np.maximum(h, 0.0, out=h)
            h = h @ w + b
        return h[:, 0]

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(features)))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Merge scores (2p - 1) * (smaller area / image area) ** size_exponent (the
        exponent at each pair's region count, for a schedule)."""
        score = 2.0 / (1.0 + np.exp(-self.logits(features))) - 1.0
        exponent = self.size_exponent
        if isinstance(exponent, tuple):
            exponent = np.interp(features[:, self._log_count], *self._schedule)
        elif not exponent:
            return score
        score *= np.exp(exponent * (features[:, self._relative_min] - features[:, self._log_count]))
        return score

    def save(self, path) -> Path:
        """Write the scorer to an ``.npz`` file (atomically)."""
        from tf_binmap.io import atomic_output

        path = Path(path)
        with atomic_output(path) as temporary:
            self.write(temporary)
        return path

    def write(self, path) -> None:
        """Write the ``.npz`` file in place (`save` wraps it in an atomic replace)."""
        arrays = {"format": np.array(_FORMAT), "features": np.array(PAIR_FEATURES),
                  "mean": self.mean, "std": self.std, "n_code": np.array(self.n_code),
                  "size_exponent": np.array(self.size_exponent),
                  "n_layers": np.array(len(self.layers))}
        for i, (w, b) in enumerate(self.layers):
            arrays[f"kernel_{i}"], arrays[f"bias_{i}"] = w, b
        for key, value in self.metadata.items():
            arrays[f"meta_{key}"] = np.array(str(value))
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path) -> "MergeScorer":
        """Read a scorer written by `save` (clear errors for other files)."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"merge scorer file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                stored = {key: data[key] for key in data.files}
        except Exception as error:  # zip / pickle / format errors of numpy
            raise ValueError(f"{path}: not a merge scorer .npz file ({error}); write one with "
                             "`tf-binmap fit-merge`") from None
        if str(stored.get("format", "")) != _FORMAT:
            raise ValueError(f"{path}: not a merge scorer file (no '{_FORMAT}' format tag); "
                             "write one with `tf-binmap fit-merge`")
        if tuple(str(name) for name in stored["features"]) != PAIR_FEATURES:
            raise ValueError(f"{path}: fitted on other pair features "
                             f"({', '.join(map(str, stored['features']))}); refit it with "
                             "`tf-binmap fit-merge`")
        layers = [(stored[f"kernel_{i}"], stored[f"bias_{i}"]) for i in range(int(stored["n_layers"]))]
        metadata = {key[5:]: str(value) for key, value in stored.items() if key.startswith("meta_")}
        return cls(stored["mean"], stored["std"], layers, int(stored["n_code"]),
                   stored["size_exponent"], metadata)

    @classmethod
    def from_preset(cls, name: str = DEFAULT_MERGE_SCORER) -> "MergeScorer":
        """A scorer shipped with the package (``bsds500_train``)."""
        path = _SHIPPED / f"{name}.npz"
        if not path.is_file():
            available = sorted(p.stem for p in path.parent.glob("*.npz"))
            raise ValueError(f"unknown merge scorer {name!r}; shipped: {', '.join(available)} "
                             "(or pass the path of a file from `tf-binmap fit-merge`)")
        return cls.load(path)

    @classmethod
    def resolve(cls, scorer) -> "MergeScorer":
        """A MergeScorer, a shipped name or a path to a saved file -> MergeScorer."""
        if isinstance(scorer, MergeScorer):
            return scorer
        text = os.fspath(scorer)
        if text.endswith(".npz") or os.sep in text or Path(text).expanduser().is_file():
            path = Path(text).expanduser()
        else:
            path = _SHIPPED / f"{text}.npz"
            if not path.is_file():
                return cls.from_preset(text)  # raises, listing the shipped scorers
        path = path.resolve() if path.exists() else path
        stamp = path.stat().st_mtime_ns if path.is_file() else None
        return _load_cached(str(path), stamp)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, stamp) -> MergeScorer:
    """A scorer file read once per (path, modification time): `resolve` is called per
    image by the hierarchy."""
    return MergeScorer.load(path)


def training_pairs(tree, features, ground_truths, counts=SNAPSHOT_COUNTS, include_leaves=True):
    """Features and soft labels of the adjacent pairs of a tree's cuts.

    Args:
        tree: a `MergeTree` of the image.
        features: the leaves' `RegionFeatures` (with colour, ``colour_squares``, code).
        ground_truths: the image's annotations, (H, W) integer maps (< 0 = void).
        counts: the cuts (region counts) besides the leaves themselves.
        include_leaves: also the pairs of the leaves (the tree's finest level).

    Returns:
        x (m, n_features), y (m,) the fraction of annotators whose majority segments of
        the two regions differ.
    """
    from tf_binmap.evaluation.metrics import contingency

    tables = [contingency(gt, tree.superpixels) for gt in ground_truths]
    return pairs_from_tables(tree, features, tables, counts, include_leaves)


def region_pairs(tree, features, leaf_vectors, counts=SNAPSHOT_COUNTS, include_leaves=True):
    """The adjacent region pairs of a tree's cuts (at ``counts`` and, with
    ``include_leaves``, at its leaves), from the finest cut down.

    Yields, per cut: ``(k, assignment, area, vectors, a, b, length, strength)``: the
    region count, each leaf's region, the regions' pixel counts and area-weighted means
    of the rows of ``leaf_vectors`` (n_leaves, d), the two region ids of each adjacent
    pair (a < b, sorted), and the pair's border length and summed border strength.
    """
    from tf_binmap.segmentation.hierarchy import _leaf_assignment

    weighted = leaf_vectors * features.area[:, None]
    levels = sorted({tree.n_leaves, *counts} if include_leaves else set(counts), reverse=True)
    for k in levels:
        if k > tree.n_leaves or k < tree.min_segments:
            continue
        assignment = _leaf_assignment(tree, tree.n_leaves - k)
        area = np.bincount(assignment, weights=features.area, minlength=k)
        vectors = np.stack([np.bincount(assignment, weights=weighted[:, j], minlength=k)
                            for j in range(weighted.shape[1])], axis=1) / area[:, None]
        first, second = assignment[features.edges[:, 0]], assignment[features.edges[:, 1]]
        keep = first != second
        low, high = np.minimum(first, second)[keep], np.maximum(first, second)[keep]
        keys, inverse = np.unique(low * k + high, return_inverse=True)
        length = np.bincount(inverse, weights=features.border_length[keep], minlength=len(keys))
        strength = np.bincount(inverse, weights=features.border_strength[keep], minlength=len(keys))
        yield k, assignment, area, vectors, keys // k, keys % k, length, strength


def pairs_from_tables(tree, features, tables, counts=SNAPSHOT_COUNTS, include_leaves=True):
    """`training_pairs` from the (GT segments, leaves) contingency tables of the
    annotations (`tf_binmap.evaluation.metrics.contingency` of each with the leaves):
    what a multi-round fit keeps instead of the full-size annotations."""
    if features.colour.shape[1] != 3 or features.colour_squares is None:
        raise ValueError("training pairs need colour means and squares (region_features "
                         "with a CIELAB colour image)")
    leaf_vectors = np.concatenate([features.colour, features.code, features.colour_squares], axis=1)
    n_code = features.code.shape[1]
    total = float(features.area.sum())
    xs, ys = [], []
    for k, assignment, area, vectors, a, b, length, strength in region_pairs(
            tree, features, leaf_vectors, counts, include_leaves):
        xs.append(pair_features(vectors[a], vectors[b], area[a], area[b], length, strength,
                                k, total, n_code))
        different = np.zeros(len(a))
        onehot = np.zeros((tree.n_leaves, k))
        onehot[np.arange(tree.n_leaves), assignment] = 1.0
        for table in tables:
            majority = np.argmax(table @ onehot, axis=0)  # (GT segments, regions) -> per region
            different += majority[a] != majority[b]
        ys.append(different / max(len(tables), 1))
    if not xs:  # a tree with fewer regions than every count asked
        return np.zeros((0, len(PAIR_FEATURES))), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys)


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
    from tqdm.auto import tqdm

    from tf_binmap.evaluation.metrics import contingency
    from tf_binmap.segmentation.hierarchy import hierarchy_leaves, merge_hierarchy
    from tf_binmap.segmentation.segmenter import pixel_projections

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
