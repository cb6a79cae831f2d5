"""Readers for the evaluation datasets in their official layouts: BSDS500 and MSRC v2.

A dataset is a sequence of `Sample`s. A sample has a `name`, an `image` (uint8 RGB,
read when first accessed) and `ground_truths`: a list of int32 (H, W) label maps, one
per human annotation, with dense labels 0..n-1 and -1 for void pixels (which the
metrics in `tf_binmap.evaluation.metrics` ignore).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image
from skimage.measure import label as connected_label

from tf_binmap.io import ImageReadError, read_image_rgb

__all__ = [
    "BSDS500",
    "DATA_ROOT_ENV",
    "MSRC",
    "MSRC_CLASS_COLOURS",
    "DatasetError",
    "Sample",
    "default_data_root",
]

logger = logging.getLogger(__name__)

#: Environment variable that points at the folder holding the datasets.
DATA_ROOT_ENV = "TF_BINMAP_DATA"

#: MSRC v2 ground-truth colour map (class name -> RGB); (0, 0, 0) is void.
MSRC_CLASS_COLOURS: dict[str, tuple[int, int, int]] = {
    "void": (0, 0, 0),
    "building": (128, 0, 0),
    "grass": (0, 128, 0),
    "tree": (128, 128, 0),
    "cow": (0, 0, 128),
    "horse": (128, 0, 128),
    "sheep": (0, 128, 128),
    "sky": (128, 128, 128),
    "mountain": (64, 0, 0),
    "aeroplane": (192, 0, 0),
    "water": (64, 128, 0),
    "face": (192, 128, 0),
    "car": (64, 0, 128),
    "bicycle": (192, 0, 128),
    "flower": (64, 128, 128),
    "sign": (192, 128, 128),
    "bird": (0, 64, 0),
    "book": (128, 64, 0),
    "chair": (0, 192, 0),
    "road": (128, 64, 128),
    "cat": (0, 192, 128),
    "dog": (128, 192, 128),
    "body": (64, 64, 0),
    "boat": (192, 64, 0),
}


class DatasetError(ValueError):
    """A dataset folder or file is missing or not in the expected format."""


def _find_repo_root() -> Path | None:
    for folder in Path(__file__).resolve().parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    return None


def default_data_root() -> Path | None:
    """Folder holding the datasets, or None when there is none.

    ``$TF_BINMAP_DATA`` if set (None, with a warning, if it is not a directory);
    otherwise ``<repo root>/../shared/data`` if it exists, the repo root being the
    folder with pyproject.toml above this file (only in a source checkout).
    """
    from_env = os.environ.get(DATA_ROOT_ENV)
    if from_env:
        path = Path(from_env).expanduser()
        if path.is_dir():
            return path
        logger.warning("$%s=%s is not a directory; no data root", DATA_ROOT_ENV, from_env)
        return None
    repo_root = _find_repo_root()
    if repo_root is not None:
        candidate = (repo_root.parent / "shared" / "data").resolve()
        if candidate.is_dir():
            return candidate
    return None


class Sample:
    """One image with its ground truths; both are read from disk on first access."""

    def __init__(
        self,
        name: str,
        image_path: Path,
        ground_truth_path: Path,
        read_ground_truths: Callable[[Path, tuple[int, int]], list[np.ndarray]],
    ):
        self.name = name
        self.image_path = image_path
        self.ground_truth_path = ground_truth_path
        self._read_ground_truths = read_ground_truths

    def __repr__(self) -> str:
        return f"Sample(name={self.name!r}, image_path={str(self.image_path)!r})"

    @functools.cached_property
    def image(self) -> np.ndarray:
        """uint8 RGB (H, W, 3) image."""
        return read_image_rgb(self.image_path)

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) from the image header, without decoding the pixels."""
        if "image" in self.__dict__:
            return self.image.shape[:2]
        try:
            with Image.open(self.image_path) as image:
                width, height = image.size
        except OSError as error:
            raise ImageReadError(f"{self.image_path}: not a readable image ({error})") from error
        return height, width

    @functools.cached_property
    def ground_truths(self) -> list[np.ndarray]:
        """List of int32 (H, W) label maps (dense 0..n-1, -1 = void), one per annotation."""
        return self._read_ground_truths(self.ground_truth_path, self.image_size)


def _dense_with_void(labels: np.ndarray, void: np.ndarray) -> np.ndarray:
    """Renumber labels of non-void pixels to 0..n-1 (in order); void pixels get -1."""
    out = np.full(labels.shape, -1, dtype=np.int32)
    valid = ~void
    if valid.any():
        _, inverse = np.unique(labels[valid], return_inverse=True)
        out[valid] = inverse.ravel().astype(np.int32)
    return out


def _check_shape(path: Path, labels: np.ndarray, image_size: tuple[int, int], what: str) -> None:
    if labels.ndim != 2 or tuple(labels.shape) != tuple(image_size):
        raise DatasetError(
            f"{path}: {what} has shape {labels.shape}, expected the image size {tuple(image_size)}"
        )


class _SampleSequence(Sequence):
    """Shared sequence behaviour: len, int / name / slice indexing, iteration, names.

    Samples are made afresh on every access, so a dataset never holds decoded images:
    memory stays flat while iterating.
    """

    _entries: list[tuple[str, Path, Path]]
    _reader: Callable[[Path, tuple[int, int]], list[np.ndarray]]

    def __len__(self) -> int:
        return len(self._entries)

    def _sample(self, entry: tuple[str, Path, Path]) -> Sample:
        return Sample(*entry, self._reader)

    def __getitem__(self, index):
        if isinstance(index, str):
            for entry in self._entries:
                if entry[0] == index:
                    return self._sample(entry)
            raise KeyError(f"no image named {index!r} in {self!r}")
        if isinstance(index, slice):
            return [self._sample(entry) for entry in self._entries[index]]
        return self._sample(self._entries[index])

    def __iter__(self) -> Iterator[Sample]:
        return (self._sample(entry) for entry in self._entries)

    @property
    def names(self) -> list[str]:
        return [entry[0] for entry in self._entries]


def _find_folder(root: Path, candidates: Sequence[str], required: Sequence[str], what: str) -> Path:
    for candidate in candidates:
        folder = root / candidate if candidate else root
        if all((folder / child).is_dir() for child in required):
            return folder
    tried = ", ".join(str(root / c) if c else str(root) for c in candidates)
    raise DatasetError(
        f"{root}: no {what} found; expected a folder with {', '.join(required)} "
        f"sub-folders at one of: {tried}"
    )


class BSDS500(_SampleSequence):
    """Berkeley Segmentation Dataset 500, official BSR layout.

    ``<data>/images/<split>/*.jpg`` with ``<data>/groundTruth/<split>/<name>.mat``; each
    .mat holds one label map per human annotator (4..9 of them).

    Args:
        root: the folder containing ``BSDS500/``, ``BSDS500/`` itself, its ``data/``
            folder, or the ``BSR/`` folder of the official archive.
        split: "train", "val" or "test" (whatever split folders exist).
    """

    def __init__(self, root: str | os.PathLike, split: str = "val"):
        root = Path(root)
        self.root = root
        self.split = split
        self.data_dir = _find_folder(
            root,
            ["", "data", "BSDS500/data", "BSR/BSDS500/data", "BSDS500", "BSR/BSDS500"],
            ["images", "groundTruth"],
            "BSDS500 data",
        )
        image_dir = self.data_dir / "images" / split
        truth_dir = self.data_dir / "groundTruth" / split
        for folder in (image_dir, truth_dir):
            if not folder.is_dir():
                available = sorted(p.name for p in (self.data_dir / "images").iterdir() if p.is_dir())
                raise DatasetError(
                    f"{folder}: split folder {split!r} is missing; splits found: {available}"
                )
        self._reader = _read_bsds_ground_truths
        self._entries = []
        for image_path in sorted(image_dir.glob("*.jpg")):
            truth_path = truth_dir / f"{image_path.stem}.mat"
            if not truth_path.is_file():
                raise DatasetError(
                    f"{image_path}: its ground truth {truth_path} is missing; every image "
                    "needs a <name>.mat under groundTruth/<split>/"
                )
            self._entries.append((image_path.stem, image_path, truth_path))
        if not self._entries:
            raise DatasetError(f"{image_dir}: no .jpg images found")

    def __repr__(self) -> str:
        return f"BSDS500(root={str(self.root)!r}, split={self.split!r}, n={len(self)})"


def _read_bsds_ground_truths(path: Path, image_size: tuple[int, int]) -> list[np.ndarray]:
    try:
        cells = scipy.io.loadmat(str(path))["groundTruth"]
        maps = [np.asarray(cells[0, k]["Segmentation"][0, 0]) for k in range(cells.shape[1])]
    except Exception as error:  # noqa: BLE001 - any failure here means a malformed file
        raise DatasetError(
            f"{path}: not a BSDS500 ground-truth file ({type(error).__name__}: {error}); "
            "expected a MATLAB file with a 1 x K cell array 'groundTruth' whose entries "
            "hold a 'Segmentation' label map"
        ) from error
    if not maps:
        raise DatasetError(f"{path}: 'groundTruth' holds no annotation")
    ground_truths = []
    for k, labels in enumerate(maps):
        _check_shape(path, labels, image_size, f"annotation {k}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise DatasetError(f"{path}: annotation {k} is {labels.dtype}, expected integer labels")
        # BSDS labels start at 1; a 0 (never seen in the release) would be unlabelled.
        ground_truths.append(_dense_with_void(labels, labels <= 0))
    return ground_truths


class MSRC(_SampleSequence):
    """MSRC v2 (Microsoft Research Cambridge object-class images), official layout.

    Args:
        root: the folder containing ``MSRC_ObjCategImageDatabase_v2/`` or that folder.
        flavour: which ground truth defines the segments:
            "gt_bmp": ``GroundTruth/<name>_GT.bmp`` colour-coded classes; each
            4-connected region of one class colour is a segment; void (0, 0, 0) -> -1.
            "newseg": ``newsegmentations_mats/<name>_GT.mat`` (Malisiewicz & Efros),
            ``newseg`` ids 1..K with K = number of ``newlabels``; K+1 (unlabelled) -> -1.

    Each sample has one ground truth. Void pixels (-1) are ignored by the metrics.
    Images without ground truth of the chosen flavour are skipped (listed in
    `skipped`, and logged).
    """

    FLAVOURS = ("gt_bmp", "newseg")

    def __init__(self, root: str | os.PathLike, flavour: str = "gt_bmp"):
        if flavour not in self.FLAVOURS:
            raise ValueError(f"unknown MSRC flavour {flavour!r}; valid: {list(self.FLAVOURS)}")
        root = Path(root)
        self.root = root
        self.flavour = flavour
        self.data_dir = _find_folder(root, ["", "MSRC_ObjCategImageDatabase_v2"], ["Images"], "MSRC v2 data")
        if flavour == "gt_bmp":
            truth_dir, suffix, reader = self.data_dir / "GroundTruth", "_GT.bmp", _read_msrc_bmp
        else:
            truth_dir, suffix, reader = self.data_dir / "newsegmentations_mats", "_GT.mat", _read_msrc_newseg
        if not truth_dir.is_dir():
            raise DatasetError(f"{truth_dir}: ground-truth folder for flavour {flavour!r} is missing")
        self._reader = reader
        self._entries = []
        self.skipped: list[str] = []
        for image_path in sorted((self.data_dir / "Images").glob("*.bmp"), key=_msrc_sort_key):
            truth_path = truth_dir / f"{image_path.stem}{suffix}"
            if truth_path.is_file():
                self._entries.append((image_path.stem, image_path, truth_path))
            else:
                self.skipped.append(image_path.stem)
        if self.skipped:
            logger.info(
                "MSRC %s: skipped %d of %d images without %s ground truth",
                flavour, len(self.skipped), len(self.skipped) + len(self._entries), flavour,
            )
        if not self._entries:
            raise DatasetError(f"{self.data_dir}: no image with {flavour!r} ground truth found")

    def __repr__(self) -> str:
        return f"MSRC(root={str(self.root)!r}, flavour={self.flavour!r}, n={len(self)}, skipped={len(self.skipped)})"


def _msrc_sort_key(path: Path) -> tuple:
    """Natural order of MSRC names "<group>_<index>_s": 1_1_s, 1_2_s, ..., 2_1_s, ..."""
    parts = path.stem.split("_")
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


_COLOUR_KEYS = {r * 65536 + g * 256 + b: index for index, (r, g, b) in enumerate(MSRC_CLASS_COLOURS.values())}


def _read_msrc_bmp(path: Path, image_size: tuple[int, int]) -> list[np.ndarray]:
    try:
        colours = read_image_rgb(path).astype(np.int64)
    except ImageReadError as error:
        raise DatasetError(f"{path}: unreadable MSRC ground-truth image ({error})") from error
    _check_shape(path, colours[:, :, 0], image_size, "ground truth")
    keys = colours[:, :, 0] * 65536 + colours[:, :, 1] * 256 + colours[:, :, 2]
    unique_keys, inverse = np.unique(keys, return_inverse=True)
    unknown = [k for k in unique_keys if int(k) not in _COLOUR_KEYS]
    if unknown:
        shown = [(int(k) >> 16, (int(k) >> 8) & 255, int(k) & 255) for k in unknown[:5]]
        raise DatasetError(
            f"{path}: colours {shown} are not in the MSRC v2 colour map "
            "(MSRC_CLASS_COLOURS); expected the official class colours"
        )
    classes = np.array([_COLOUR_KEYS[int(k)] for k in unique_keys])[inverse.reshape(keys.shape)]
    # Void is class 0: use it as skimage's background so void pixels get label 0.
    regions = connected_label(classes, background=0, connectivity=1)
    return [(regions - 1).astype(np.int32)]


def _read_msrc_newseg(path: Path, image_size: tuple[int, int]) -> list[np.ndarray]:
    try:
        contents = scipy.io.loadmat(str(path))
        segments = np.asarray(contents["newseg"])
        n_objects = int(np.asarray(contents["newlabels"]).size)
    except Exception as error:  # noqa: BLE001 - any failure here means a malformed file
        raise DatasetError(
            f"{path}: not an MSRC 'newsegmentations' file ({type(error).__name__}: {error}); "
            "expected a MATLAB file with 'newseg' (H x W ids) and 'newlabels' (1 x K)"
        ) from error
    _check_shape(path, segments, image_size, "'newseg'")
    if not np.issubdtype(segments.dtype, np.integer):
        raise DatasetError(f"{path}: 'newseg' is {segments.dtype}, expected integer ids")
    void = (segments < 1) | (segments > n_objects)
    return [_dense_with_void(segments, void)]
