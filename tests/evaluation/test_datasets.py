import logging
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from tf_binmap.evaluation.datasets import (
    BSDS500,
    DATA_ROOT_ENV,
    MSRC,
    DatasetError,
    default_data_root,
)

# --- synthetic layouts ---------------------------------------------------------------


def _write_bsds_sample(data_dir: Path, split: str, name: str, annotations):
    (data_dir / "images" / split).mkdir(parents=True, exist_ok=True)
    (data_dir / "groundTruth" / split).mkdir(parents=True, exist_ok=True)
    height, width = annotations[0].shape
    Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(data_dir / "images" / split / f"{name}.jpg")
    cells = np.empty((1, len(annotations)), dtype=object)
    for k, labels in enumerate(annotations):
        cells[0, k] = {"Segmentation": labels.astype(np.uint16), "Boundaries": np.zeros_like(labels, np.uint8)}
    scipy.io.savemat(data_dir / "groundTruth" / split / f"{name}.mat", {"groundTruth": cells})


@pytest.fixture
def bsds_root(tmp_path):
    data_dir = tmp_path / "BSDS500" / "data"
    first = np.array([[1, 1, 2], [3, 3, 2]])
    second = np.array([[5, 5, 5], [7, 7, 7]])
    _write_bsds_sample(data_dir, "val", "100", [first, second])
    _write_bsds_sample(data_dir, "val", "200", [np.ones((2, 3), int)])
    _write_bsds_sample(data_dir, "train", "300", [np.ones((2, 3), int)])
    return tmp_path


def test_bsds_reads_synthetic_layout(bsds_root):
    dataset = BSDS500(bsds_root, split="val")
    assert len(dataset) == 2
    assert dataset.names == ["100", "200"]
    sample = dataset[0]
    assert sample.name == "100"
    assert sample.image.dtype == np.uint8 and sample.image.shape == (2, 3, 3)
    ground_truths = sample.ground_truths
    assert len(ground_truths) == 2
    np.testing.assert_array_equal(ground_truths[0], [[0, 0, 1], [2, 2, 1]])
    np.testing.assert_array_equal(ground_truths[1], [[0, 0, 0], [1, 1, 1]])
    assert all(gt.dtype == np.int32 for gt in ground_truths)
    assert [s.name for s in dataset] == ["100", "200"]
    assert dataset["200"].name == "200"
    assert [s.name for s in dataset[-1:]] == ["200"]
    assert len(BSDS500(bsds_root, split="train")) == 1


@pytest.mark.parametrize("relative", ["", "BSDS500", "BSDS500/data"])
def test_bsds_root_variants(bsds_root, relative):
    assert len(BSDS500(bsds_root / relative if relative else bsds_root)) == 2


def test_bsds_missing_split(bsds_root):
    with pytest.raises(DatasetError, match=r"test.*missing.*splits found: \['train', 'val'\]"):
        BSDS500(bsds_root, split="test")


def test_bsds_no_dataset_here(tmp_path):
    with pytest.raises(DatasetError, match="no BSDS500 data found"):
        BSDS500(tmp_path)


def test_bsds_image_without_ground_truth(bsds_root):
    (bsds_root / "BSDS500/data/groundTruth/val/200.mat").unlink()
    with pytest.raises(DatasetError, match=r"200\.jpg.*200\.mat is missing"):
        BSDS500(bsds_root)


def test_bsds_malformed_ground_truth(bsds_root):
    path = bsds_root / "BSDS500/data/groundTruth/val/200.mat"
    scipy.io.savemat(path, {"something": np.zeros(3)})
    sample = BSDS500(bsds_root)[1]
    with pytest.raises(DatasetError, match=r"200\.mat: not a BSDS500 ground-truth file"):
        sample.ground_truths
    path.write_text("not a mat file")
    with pytest.raises(DatasetError, match=r"200\.mat"):
        BSDS500(bsds_root)[1].ground_truths


def test_bsds_ground_truth_of_wrong_size(bsds_root):
    _write_bsds_sample(bsds_root / "BSDS500/data", "val", "200", [np.ones((2, 3), int)])
    scipy.io.savemat(
        bsds_root / "BSDS500/data/groundTruth/val/200.mat",
        {"groundTruth": np.array([[{"Segmentation": np.ones((3, 3), np.uint16)}]], dtype=object)},
    )
    with pytest.raises(DatasetError, match=r"shape \(3, 3\), expected the image size \(2, 3\)"):
        BSDS500(bsds_root)[1].ground_truths


def _write_msrc(root: Path):
    data = root / "MSRC_ObjCategImageDatabase_v2"
    for folder in ("Images", "GroundTruth", "newsegmentations_mats"):
        (data / folder).mkdir(parents=True)
    grass, sky, void = (0, 128, 0), (128, 128, 128), (0, 0, 0)
    colours = np.array(
        [
            [grass, sky, grass, grass],
            [grass, sky, void, void],
            [sky, sky, grass, grass],
        ],
        dtype=np.uint8,
    )
    for name in ("1_1_s", "1_2_s", "2_1_s"):
        Image.fromarray(np.zeros((3, 4, 3), np.uint8)).save(data / "Images" / f"{name}.bmp")
    Image.fromarray(colours).save(data / "GroundTruth" / "1_1_s_GT.bmp")
    Image.fromarray(colours).save(data / "GroundTruth" / "2_1_s_GT.bmp")
    newseg = np.array([[1, 1, 2, 2], [1, 3, 3, 2], [4, 4, 3, 3]], np.uint8)  # K = 3, 4 = unlabelled
    scipy.io.savemat(data / "newsegmentations_mats" / "1_2_s_GT.mat", {"newseg": newseg, "newlabels": np.array([[2, 7, 2]], np.uint8)})
    return root


def test_msrc_gt_bmp_connected_components(tmp_path, caplog):
    root = _write_msrc(tmp_path)
    with caplog.at_level(logging.INFO, logger="tf_binmap.evaluation.datasets"):
        dataset = MSRC(root, flavour="gt_bmp")
    assert dataset.names == ["1_1_s", "2_1_s"]
    assert dataset.skipped == ["1_2_s"]
    assert "skipped 1 of 3" in caplog.text
    (gt,) = dataset[0].ground_truths
    # grass forms 3 4-connected regions (top-left, top-right, bottom-right), sky one.
    expected = np.array([[0, 1, 2, 2], [0, 1, -1, -1], [1, 1, 3, 3]])
    np.testing.assert_array_equal(gt, expected)
    assert gt.dtype == np.int32


def test_msrc_newseg(tmp_path):
    root = _write_msrc(tmp_path)
    dataset = MSRC(root / "MSRC_ObjCategImageDatabase_v2", flavour="newseg")
    assert dataset.names == ["1_2_s"] and len(dataset.skipped) == 2
    (gt,) = dataset[0].ground_truths
    np.testing.assert_array_equal(gt, [[0, 0, 1, 1], [0, 2, 2, 1], [-1, -1, 2, 2]])


def test_msrc_unknown_colour_and_flavour(tmp_path):
    root = _write_msrc(tmp_path)
    bad = np.full((3, 4, 3), 7, np.uint8)
    Image.fromarray(bad).save(root / "MSRC_ObjCategImageDatabase_v2/GroundTruth/1_1_s_GT.bmp")
    with pytest.raises(DatasetError, match=r"1_1_s_GT\.bmp: colours \[\(7, 7, 7\)\]"):
        MSRC(root)[0].ground_truths
    with pytest.raises(ValueError, match="flavour"):
        MSRC(root, flavour="pascal")


def test_default_data_root_env(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "missing"))
    assert default_data_root() is None


# --- the real datasets ------------------------------------------------------------------


@pytest.fixture
def data_root():
    root = default_data_root()
    if root is None:
        pytest.skip(f"no dataset folder: set ${DATA_ROOT_ENV} or put the data at ../shared/data")
    return root


@pytest.mark.data
def test_real_bsds500_val(data_root):
    if not (data_root / "BSDS500").is_dir():
        pytest.skip(f"{data_root}/BSDS500 is absent")
    dataset = BSDS500(data_root, split="val")
    assert len(dataset) == 100
    sample = dataset[0]
    assert sample.image.shape in ((321, 481, 3), (481, 321, 3))
    ground_truths = sample.ground_truths
    assert 4 <= len(ground_truths) <= 9
    for gt in ground_truths:
        assert gt.shape == sample.image.shape[:2] and gt.dtype == np.int32
        assert gt.min() == 0 and set(np.unique(gt)) == set(range(gt.max() + 1))


@pytest.mark.data
def test_real_msrc(data_root):
    if not (data_root / "MSRC_ObjCategImageDatabase_v2").is_dir():
        pytest.skip(f"{data_root}/MSRC_ObjCategImageDatabase_v2 is absent")
    for flavour in ("gt_bmp", "newseg"):
        dataset = MSRC(data_root, flavour=flavour)
        assert len(dataset) + len(dataset.skipped) == len(list((dataset.data_dir / "Images").glob("*.bmp")))
        sample = dataset["3_1_s"] if "3_1_s" in dataset.names else dataset[0]
        (gt,) = sample.ground_truths
        assert gt.shape == sample.image.shape[:2] and gt.dtype == np.int32
        assert gt.min() >= -1 and gt.max() >= 1
