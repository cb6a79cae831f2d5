"""The learned merge order's scorer (`MergeScorer`): pair features -> merge score.

A small network fitted on BSDS500 **train** (`tf_binmap.training`) predicts, for two
adjacent regions, the probability ``p`` that an annotator puts them in different
segments. The hierarchy merges the pair with the lowest

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
stage, the stage (log of the region count) being a feature
(`tf_binmap.segmentation.pair_features`): the score depends on the count, so the merge
loop rescores all live pairs each time the count has fallen by a fifth. The network runs
in NumPy here, some tens of microseconds per merge; the package ships the one fitted on
BSDS500 train (``MergeScorer.from_preset()``, ``tf_binmap/merge_params/``).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np

from tf_binmap.io.files import atomic_output
from tf_binmap.segmentation.pair_features import PAIR_FEATURES

__all__ = ["DEFAULT_MERGE_SCORER", "DEFAULT_SIZE_EXPONENT", "MergeScorer",
           "format_size_exponent", "parse_size_exponent"]


#: The scorer shipped in the package (fitted on BSDS500 train by `tf-binmap fit-merge`).
DEFAULT_MERGE_SCORER = "bsds500_train"


#: The size exponent of the shipped scorer: 1 at 30 regions and fewer, 0.5 at 60, 0.1 at
#: 300 and more, linear in log count between (chosen on BSDS500 val, at three image sizes).
DEFAULT_SIZE_EXPONENT = ((30.0, 1.0), (60.0, 0.5), (300.0, 0.1))


_FORMAT = "tf_binmap.merge_scorer/1"


_SHIPPED = Path(__file__).resolve().parent.parent / "merge_params"


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

    def compiled_parameters(self) -> tuple | None:
        """What the compiled merge loop (`tf_binmap.segmentation.agglomerate_compiled`)
        needs: ``(w0, b0, w1, b1, w2, b2, schedule_x, schedule_y, constant_exponent)``
        as contiguous float64 arrays (the first layer with the standardisation folded in;
        the schedule in log count, empty for a constant exponent), or None for a network
        of another depth than two hidden layers (the loop then runs in Python)."""
        if len(self.layers) != 3:
            return None
        (w0, b0), (w1, b1), (w2, b2) = self._first, self.layers[1], self.layers[2]
        if isinstance(self.size_exponent, tuple):
            schedule_x, schedule_y = self._schedule
            constant = 0.0
        else:
            schedule_x = schedule_y = np.zeros(0)
            constant = float(self.size_exponent)
        arrays = [np.ascontiguousarray(a, dtype=np.float64)
                  for a in (w0, b0, w1, b1, w2, b2, schedule_x, schedule_y)]
        return (*arrays, constant)

    def with_size_exponent(self, size_exponent) -> "MergeScorer":
        """The same scorer with another size exponent (a number or a schedule)."""
        return MergeScorer(self.mean, self.std, self.layers, self.n_code, size_exponent,
                           self.metadata)

    def fingerprint(self) -> str:
        """SHA-256 of the parameters and the size exponent (what decides the order)."""
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
        """P(different segments) for each row of ``features``."""
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
        if tuple(str(name) for name in stored.get("features", ())) != PAIR_FEATURES:
            raise ValueError(f"{path}: fitted on other pair features "
                             f"({', '.join(map(str, stored['features']))}); refit it with "
                             "`tf-binmap fit-merge`")
        try:
            layers = [(stored[f"kernel_{i}"], stored[f"bias_{i}"])
                      for i in range(int(stored["n_layers"]))]
            metadata = {key[5:]: str(value) for key, value in stored.items()
                        if key.startswith("meta_")}
            return cls(stored["mean"], stored["std"], layers, int(stored["n_code"]),
                       stored["size_exponent"], metadata)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise ValueError(f"{path}: an incomplete or inconsistent merge scorer file "
                             f"({type(error).__name__}: {error}); write it again with "
                             "`tf-binmap fit-merge`") from None

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
