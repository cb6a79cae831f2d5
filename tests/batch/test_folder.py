"""The streaming folder pipeline writes the labels each image gets alone from
`Segmenter.segment`, in both merge modes, whatever the batch size and the number of
merge threads; bad files are reported and the run goes on."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from tf_binmap.batch.folder import segment_files

pytestmark = pytest.mark.network  # the default preset's weights


def _folder(tmp_path) -> tuple[Path, dict]:
    """Photos of two sizes in an order that breaks batches, a large one (shrunk to the
    working size), a file that is not an image and one too small for the network."""
    folder = tmp_path / "photos"
    folder.mkdir()
    photos = {}
    sources = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(),
               skimage.data.rocket()]
    for index in range(7):
        image = sources[index % 4]
        image = cv2.resize(image, (160, 120) if index in (2, 3, 5) else (200, 150),
                           interpolation=cv2.INTER_AREA)
        photos[f"photo{index}"] = image
    photos["large"] = cv2.resize(skimage.data.chelsea(), (900, 600), interpolation=cv2.INTER_AREA)
    for name, image in photos.items():
        cv2.imwrite(str(folder / f"{name}.png"), image[..., ::-1])
    (folder / "notes.jpg").write_bytes(b"not an image")
    cv2.imwrite(str(folder / "tiny.png"), np.zeros((8, 8, 3), np.uint8))
    return folder, photos


@pytest.fixture(scope="module")
def segmenters():
    from tf_binmap.segmentation.segmenter import Segmenter

    return {"hierarchy": Segmenter.from_preset(n_segments=30, max_side=512),
            "codes": Segmenter.paper(max_side=512)}


@pytest.mark.parametrize("merge", ["hierarchy", "codes"])
def test_streamed_labels_equal_each_images_own(tmp_path, weights_cache, segmenters, merge):
    segmenter = segmenters[merge]
    folder, photos = _folder(tmp_path)
    paths = sorted(folder.iterdir())
    runs = {}
    for workers, batch in ((2, 3), (0, 1)):
        out = tmp_path / f"out_{workers}_{batch}"
        summary = segment_files(segmenter, paths, out, batch_size=batch, workers=workers,
                                progress=False)
        assert summary.done == len(photos) and summary.skipped == 0
        failed = sorted(Path(path).name for path, _ in summary.failures)
        assert failed == ["notes.jpg", "tiny.png"]
        runs[workers] = out
    for name, image in photos.items():
        expected = segmenter.segment(image)
        for out in runs.values():
            labels = cv2.imread(str(out / f"{name}.png"), cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(labels, expected, err_msg=f"{name} in {out.name}")
    assert not [p for p in runs[2].iterdir() if ".tmp" in p.name]
    again = segment_files(segmenter, paths, runs[2], progress=False)
    assert again.done == 0 and again.skipped == len(photos)


def test_bad_pipeline_settings_are_refused(tmp_path, segmenters):
    with pytest.raises(ValueError, match="workers"):
        segment_files(segmenters["codes"], [], tmp_path, workers=-1)
