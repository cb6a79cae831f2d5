"""ITQ on Apache Beam: the statistics CombineFn across worker processes, and the fit
equal to `tf-binmap fit-itq`'s."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

pytest.importorskip("apache_beam", reason="needs the optional extra tf-binmap[beam]")

import apache_beam as beam  # noqa: E402
from apache_beam.testing.util import assert_that  # noqa: E402

from tf_binmap.beam.itq import FeatureStatisticsCombineFn, fit_itq_with_beam  # noqa: E402
from tf_binmap.beam.runners import pipeline_options  # noqa: E402
from tf_binmap.hashing.statistics import FeatureStatistics  # noqa: E402


def _chunks():
    rng = np.random.default_rng(3)
    scales = 10.0 ** rng.uniform(-1, 3, 16)
    chunks = [(rng.normal(size=(int(rng.integers(1, 400)), 16)) * scales + 50.0)
              .astype(np.float32) for _ in range(24)]
    return chunks + [np.zeros((0, 16), np.float32)]  # an image that gave no vectors


def _same_statistics(expected):
    """A matcher (a local function: workers unpickle it by value) that the combined
    statistics equal one process's."""
    count, total, outer = expected.count, expected.sum, expected.sum_outer
    covariance = expected.covariance

    def check(results):
        (stats,) = results
        assert stats.count == count
        np.testing.assert_allclose(stats.sum, total, rtol=1e-12)
        np.testing.assert_allclose(stats.sum_outer, outer, rtol=1e-12)
        np.testing.assert_allclose(stats.covariance, covariance, rtol=1e-9,
                                   atol=1e-9 * np.abs(covariance).max())

    return check


@pytest.mark.slow
def test_the_statistics_combine_fn_in_two_worker_processes_equals_one_pass():
    chunks = _chunks()
    expected = FeatureStatistics().update(np.concatenate(chunks))
    combine = FeatureStatisticsCombineFn()
    accumulator = combine.create_accumulator()
    for chunk in chunks:
        accumulator = combine.add_input(accumulator, chunk)
    _same_statistics(expected)([combine.extract_output(accumulator)])
    with beam.Pipeline(options=pipeline_options(workers=2, processes=True)) as pipeline:
        statistics = (pipeline | beam.Create(chunks) | beam.Reshuffle()
                      | beam.CombineGlobally(FeatureStatisticsCombineFn()))
        assert_that(statistics, _same_statistics(expected))


@pytest.mark.slow
@pytest.mark.network
def test_beam_fit_gives_the_parameters_of_fit_itq(tmp_path, weights_cache):
    from tf_binmap.cli import main
    from tf_binmap.hashing.params import read_itq_metadata

    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        cv2.imwrite(str(folder / f"{name}.png"), getattr(skimage.data, name)()[::-1])
    (folder / "notes.png").write_text("not a picture")  # skipped by both
    settings = ["--bits", "4", "--upscale", "1", "--vectors-per-image", "300"]
    assert main(["-q", "fit-itq", "--images", str(folder), *settings,
                 "--out", str(tmp_path / "one.npz")]) == 0
    info = fit_itq_with_beam([folder], tmp_path / "beam.npz", bits=4, upscale=1,
                             vectors_per_image=300)
    assert info["skipped"] == 1 and info["images"] == 3 and info["count"] == 900
    one, beam_fit = np.load(tmp_path / "one.npz"), np.load(tmp_path / "beam.npz")
    np.testing.assert_allclose(beam_fit["mean"], one["mean"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(beam_fit["projection"], one["projection"], atol=1e-5)
    expected = read_itq_metadata(tmp_path / "one.npz")
    got = read_itq_metadata(tmp_path / "beam.npz")
    assert got["losses"] == pytest.approx(expected["losses"], rel=1e-9)
    assert {k: v for k, v in got.items() if k != "losses"} == \
        pytest.approx({k: v for k, v in expected.items() if k != "losses"})

    # No readable image: a clear error, no file.
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "notes.png").write_text("not a picture")
    with pytest.raises(ValueError, match="0 readable images gave 0 conv5 vectors"):
        fit_itq_with_beam([tmp_path / "bad"], tmp_path / "none.npz", bits=4)
    assert not (tmp_path / "none.npz").exists()
