"""Large images are segmented at a working size (Segmenter max_side), labels at full size."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from tf_binmap.segmentation.segmenter import Segmenter
from tf_binmap.segmentation.working_size import (
    DEFAULT_MAX_SIDE,
    MIN_MAX_SIDE,
    check_segmentable,
    enlarge_labels,
    min_image_side,
    snap_labels,
    working_size,
)


class _SpyModel:
    """A stand-in binary-map model (8 bits, stride 16) that records its input shapes and
    refuses inputs below 64 pixels, as the real network refuses inputs below its
    receptive field."""

    name, bits, upscale, geometry = "spy", 8, 1.0, (16, 15)

    def __init__(self):
        self.shapes = []

    def _cells(self, images):
        images = np.asarray(images)
        self.shapes.append(images.shape)
        height, width = images.shape[1:3]
        if min(height, width) < 64:
            raise ValueError(f"input height {height} is smaller than the 64 pixels the spy "
                             "needs; upscale or pad the image")
        rng = np.random.default_rng(0)
        return rng.normal(size=(len(images), (height - 31) // 16 + 1, (width - 31) // 16 + 1, 8))

    def projections(self, images):
        return self._cells(images)

    def encode(self, images):
        bits = (self._cells(images) >= 0).astype(np.int64)
        return (bits << np.arange(8)).sum(axis=-1).astype(np.int64)


def test_working_size_shrinks_only_what_exceeds_max_side():
    assert working_size(2667, 4000, 512) == (341, 512)
    assert working_size(4000, 2667, 512) == (512, 341)
    assert working_size(321, 481, 512) == (321, 481)   # BSDS500 and MSRC stay as they are
    assert working_size(512, 512, 512) == (512, 512)
    assert working_size(2667, 4000, 0) == (2667, 4000)  # 0: never shrunk
    assert working_size(10000, 3, 512) == (512, 1)      # at least one pixel


def test_enlarge_labels_keeps_every_label_and_the_layout():
    small = np.arange(12, dtype=np.int32).reshape(3, 4)
    big = enlarge_labels(small, (7, 9))
    assert big.shape == (7, 9) and big.dtype == np.int32
    assert set(np.unique(big)) == set(range(12))
    assert big[0, 0] == 0 and big[-1, -1] == 11
    assert big[6, 0] == small[6 * 3 // 7, 0] and big[0, 8] == small[0, 8 * 4 // 9]
    assert enlarge_labels(small, (3, 4)) is small


def test_snap_labels_puts_the_boundary_on_the_full_size_edge():
    import cv2

    height, width = 300, 400
    yy, xx = np.mgrid[:height, :width]
    truth = (yy > 0.6 * xx + 20).astype(np.int32)  # a diagonal edge
    image = np.where(truth[..., None] == 1, [200, 40, 40], [30, 90, 200]).astype(np.uint8)
    small = cv2.resize(image, (50, 38), interpolation=cv2.INTER_AREA)
    small_labels = (small[..., 2] < 115).astype(np.int32)
    nearest = enlarge_labels(small_labels, (height, width))
    snapped = snap_labels(small_labels, image, small)
    assert snapped.shape == (height, width) and snapped.dtype == small_labels.dtype
    assert (nearest != truth).mean() > 0.005  # the 8-pixel staircase
    assert (snapped != truth).mean() < 0.2 * (nearest != truth).mean()
    # Every label survives, even one small pixel's; the same size is left as it is.
    small_labels[20, 25] = 2
    assert set(np.unique(snap_labels(small_labels, image, small))) == {0, 1, 2}
    np.testing.assert_array_equal(snap_labels(truth, image, image), truth)
    with pytest.raises(ValueError, match="snap_labels: expected the"):
        snap_labels(small_labels, image, small[:, :40])
    with pytest.raises(ValueError, match="snap_labels: expected .* integer labels"):
        snap_labels(small_labels.astype(float), image, small)


def test_a_large_photo_is_segmented_at_the_working_size_and_labelled_at_full_size():
    image = np.repeat(np.repeat(skimage.data.chelsea(), 3, axis=0), 3, axis=1)  # 900x1353
    spy = _SpyModel()
    segmenter = Segmenter(spy, n_segments=25)
    assert segmenter.max_side == DEFAULT_MAX_SIDE == 512
    result = segmenter.segment(image, return_intermediates=True)
    assert spy.shapes[-1][1:3] == (341, 512)  # the network saw the shrunk copy
    assert result.labels.shape == image.shape[:2]
    assert result.labels.max() + 1 == 25 and len(np.unique(result.labels)) == 25
    assert result.pixel_codes.shape == result.superpixels.shape == image.shape[:2]
    assert result.timings["resize"] > 0
    labels = segmenter.segment(image)  # the same labels without the intermediates
    np.testing.assert_array_equal(labels, result.labels)

    # The paper's method (merge="codes") works at the same working size.
    paper = Segmenter(spy, merge="codes")
    labels = paper.segment(image)
    assert spy.shapes[-1][1:3] == (341, 512) and labels.shape == image.shape[:2]

    # max_side=0 segments at the full size; a small image is never touched.
    small = skimage.data.chelsea()[:200, :300]
    Segmenter(spy, n_segments=10, max_side=0).segment(image[:600, :700])
    assert spy.shapes[-1][1:3] == (600, 700)
    result = segmenter.segment(small, return_intermediates=True)
    assert spy.shapes[-1][1:3] == (200, 300) and "resize" not in result.timings
    assert segmenter.shrinks(image.shape) and not segmenter.shrinks(small.shape)


def test_max_side_errors_name_the_setting():
    spy = _SpyModel()
    for bad in (-1, MIN_MAX_SIDE - 1, 600.5, True, "512"):
        with pytest.raises(ValueError, match="max_side must be 0"):
            Segmenter(spy, max_side=bad)
    assert Segmenter(spy, max_side=None).max_side == 0
    # A thin panorama shrunk below what the network takes: the error says why and what to do.
    with pytest.raises(ValueError, match=r"shrunk to 512x38 by max_side=512; raise max_side"):
        Segmenter(spy).segment(np.zeros((300, 4000, 3), np.uint8))


def test_min_image_side_is_the_receptive_field_at_image_scale():
    assert min_image_side(31, 1.0) == 31
    assert min_image_side(31, 2.0) == 16   # 16 x 2 = 32 >= 31, 15 x 2 = 30 < 31
    assert min_image_side(67, 2.0) == 34
    assert min_image_side(31, 0.5) == 62


@pytest.mark.parametrize("height, width, side", [(1, 1, "height is 1 pixel,"),
                                                 (10, 10000, "height is 10 pixels"),
                                                 (10000, 10, "width is 10 pixels")])
def test_an_image_below_the_receptive_field_is_refused_clearly(height, width, side):
    with pytest.raises(ValueError) as error:
        check_segmentable(height, width, 512, 31)
    message = str(error.value)
    assert f"a {width}x{height} image is too small to segment: its {side}" in message
    assert "needs at least 31 pixels a side" in message


def test_an_elongated_image_says_which_max_side_works():
    with pytest.raises(ValueError) as error:
        check_segmentable(40, 3000, 512, 31)
    message = str(error.value)
    assert "a 3000x40 image is too elongated for max_side=512" in message
    assert "it would be 512x7" in message and "--max-side 2288" in message
    assert min(working_size(40, 3000, 2288)) >= 31 > min(working_size(40, 3000, 2287))
    check_segmentable(40, 3000, 2288, 31)
    check_segmentable(40, 3000, 0, 31)
    check_segmentable(31, 31, 512, 31)


def test_the_segmenter_refuses_what_its_network_cannot_take_before_running_it():
    spy = _SpyModel()
    spy.min_input_size = 64
    segmenter = Segmenter(spy, n_segments=5)
    assert segmenter.min_side == 64
    for shape in ((1, 1, 3), (10, 10000, 3), (300, 4000, 3)):
        with pytest.raises(ValueError, match="too small to segment|too elongated"):
            segmenter.segment(np.zeros(shape, np.uint8))
    assert spy.shapes == []  # refused before the network ran


@pytest.mark.parametrize("merge", ["hierarchy", "codes"])
def test_the_stages_after_the_network_run_alone_with_the_same_result(merge):
    """`prepare`, `network_outputs` and `finish` apart (what a batch or distributed run
    does, the network elsewhere) give `segment`'s result, large photos shrunk as by
    `segment`."""
    spy = _SpyModel()
    segmenter = Segmenter(spy, merge=merge, **({"n_segments": 20} if merge == "hierarchy"
                                               else {}))
    large = np.repeat(np.repeat(skimage.data.chelsea(), 2, axis=0), 2, axis=1)  # 600x902
    for image in (skimage.data.chelsea()[:200, :300], large):
        image, work, _ = segmenter.prepare(image)
        assert work.shape[:2] == segmenter.working_size(image.shape)
        output = segmenter.network_outputs(work[None])[0]
        split = segmenter.finish(image, work, output, return_intermediates=True)
        whole = segmenter.segment(image, return_intermediates=True)
        for name in ("labels", "pixel_codes", "superpixels"):
            np.testing.assert_array_equal(getattr(split, name), getattr(whole, name))
        np.testing.assert_array_equal(segmenter.finish(image, work, output), whole.labels)
    expected = "ITQ projections" if merge == "hierarchy" else "code map"
    with pytest.raises(ValueError, match=f"expected the network's {expected}"):
        segmenter.finish(image, work, np.zeros((3, 4, 5, 6)))
