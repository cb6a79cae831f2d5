import warnings

import numpy as np
import pytest

from tf_binmap.hashing.itq import (
    ITQResult,
    encode,
    fit_itq,
    itq_from_projections,
    itq_rotation,
    pca_projection,
    project_features,
    quantization_loss,
)
from tf_binmap.hashing.statistics import FeatureStatistics


def anisotropic(n=5000, d=64, seed=1):
    """Gaussian data with a decaying spectrum, a random basis and a non-zero mean."""
    rng = np.random.default_rng(seed)
    scales = 3.0 * 0.9 ** np.arange(d)
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    x = (rng.standard_normal((n, d)) * scales) @ basis.T + rng.uniform(-2, 2, d)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def data():
    return anisotropic()


def rel_err(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


# ---------------------------------------------------------------- FeatureStatistics
def test_stats_match_numpy(data):
    s = FeatureStatistics().update(data)
    x = data.astype(np.float64)
    assert s.count == 5000 and s.dim == 64
    assert rel_err(s.mean, x.mean(0)) < 1e-12
    # biased (population) covariance
    assert rel_err(s.covariance, np.cov(x, rowvar=False, bias=True)) < 1e-10
    np.testing.assert_allclose(s.sum_outer, s.sum_outer.T)


def test_streaming_and_merge_equal_one_shot(data):
    whole = FeatureStatistics().update(data)
    streamed = FeatureStatistics(64)
    for i in range(0, len(data), 777):
        streamed.update(data[i : i + 777])
    assert streamed.count == whole.count
    assert rel_err(streamed.mean, whole.mean) < 1e-10
    assert rel_err(streamed.covariance, whole.covariance) < 1e-10

    a = FeatureStatistics().update(data[:1234])
    b = FeatureStatistics().update(data[1234:])
    merged = a.merge(b)
    assert merged.count == 5000 and a.count == 1234 and b.count == 3766  # inputs unchanged
    assert rel_err(merged.mean, whole.mean) < 1e-10
    assert rel_err(merged.covariance, whole.covariance) < 1e-10
    # merging with empty statistics is the identity
    assert rel_err(FeatureStatistics().merge(whole).covariance, whole.covariance) < 1e-15


def test_update_flattens_leading_axes(data):
    s1 = FeatureStatistics().update(data[:1000].reshape(10, 100, 64))
    s2 = FeatureStatistics().update(data[:1000])
    assert s1.count == 1000
    np.testing.assert_array_equal(s1.covariance, s2.covariance)


def test_small_blocks(data, monkeypatch):
    import tf_binmap.hashing.statistics as statistics

    whole = FeatureStatistics().update(data)
    monkeypatch.setattr(statistics, "MAX_BLOCK_ROWS", 100)
    blocked = FeatureStatistics().update(data)
    assert rel_err(blocked.covariance, whole.covariance) < 1e-10


def test_save_load_roundtrip(tmp_path, data):
    s = FeatureStatistics().update(data[:3000])
    s.save(tmp_path / "part")
    t = FeatureStatistics.load(tmp_path / "part")  # .npz added by np.savez
    assert t.count == s.count and t.dim == s.dim
    np.testing.assert_array_equal(t.mean, s.mean)
    np.testing.assert_array_equal(t.covariance, s.covariance)
    # a loaded part keeps accumulating / merging like the original
    rest = FeatureStatistics().update(data[3000:])
    whole = FeatureStatistics().update(data)
    assert rel_err(t.merge(rest).covariance, whole.covariance) < 1e-10
    assert rel_err(t.update(data[3000:]).covariance, whole.covariance) < 1e-10


def test_stats_errors(data):
    x = data[:100].copy()
    x[3, 5] = np.nan
    x[7, 0] = np.inf
    x[7, 1] = -np.inf
    s = FeatureStatistics()
    with pytest.raises(ValueError, match=r"NaN or Inf values \(2 of 100 rows\)"):
        s.update(x)
    assert s.count == 0  # nothing accumulated
    s.update(data[:10])
    with pytest.raises(ValueError, match=r"64.*32"):
        s.update(data[:10, :32])
    with pytest.raises(ValueError, match=r"64.*32"):
        s.merge(FeatureStatistics().update(data[:10, :32]))
    with pytest.raises(ValueError, match="empty"):
        s.update(np.zeros((0, 64)))
    with pytest.raises(ValueError, match="count is 0"):
        FeatureStatistics().mean
    with pytest.raises(ValueError):
        FeatureStatistics(64).update(data[:5, :10])


# ---------------------------------------------------------------- PCA
def test_pca_projection(data):
    s = FeatureStatistics().update(data)
    w = pca_projection(s, 8)
    assert w.shape == (64, 8) and w.dtype == np.float64
    np.testing.assert_allclose(w.T @ w, np.eye(8), atol=1e-12)
    evals, evecs = np.linalg.eigh(s.covariance)
    variances = np.diag(w.T @ s.covariance @ w)
    np.testing.assert_allclose(variances, evals[::-1][:8], rtol=1e-10)
    assert np.all(np.diff(variances) < 0)
    # sign convention: largest-magnitude entry of each column positive
    assert np.all(w[np.argmax(np.abs(w), axis=0), np.arange(8)] > 0)
    # same subspace as numpy's top eigenvectors
    top = evecs[:, ::-1][:, :8]
    np.testing.assert_allclose(np.abs(np.sum(top * w, axis=0)), 1.0, atol=1e-10)


def test_pca_errors_and_warning(data):
    s = FeatureStatistics().update(data[:5])
    with pytest.raises(ValueError, match=r"too few vectors \(5\) to fit 8 bits; need at least 9"):
        pca_projection(s, 8)
    big = FeatureStatistics().update(data)
    with pytest.raises(ValueError, match=r"between 1 and .*64.*got 65"):
        pca_projection(big, 65)
    with pytest.raises(ValueError, match="got 0"):
        pca_projection(big, 0)
    with pytest.warns(UserWarning, match=r"only 100 vectors for 64-dimensional"):
        pca_projection(FeatureStatistics().update(data[:100]), 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pca_projection(big, 8)  # 5000 >= 5 * 64: no warning


def test_project_features(data):
    s = FeatureStatistics().update(data)
    w = pca_projection(s, 8)
    direct = (data.astype(np.float64) - s.mean) @ w
    for src in (data, [data[:1500], data[1500:]], lambda: iter([data[:10], data[10:]])):
        np.testing.assert_allclose(project_features(src, s.mean, w), direct, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"64.*32"):
        project_features(data[:, :32], s.mean, w)


# ---------------------------------------------------------------- rotation
def test_itq_rotation_properties(data):
    s = FeatureStatistics().update(data)
    v = (data - s.mean) @ pca_projection(s, 16)
    r, losses = itq_rotation(v, iterations=30, seed=3)
    assert r.shape == (16, 16)
    np.testing.assert_allclose(r.T @ r, np.eye(16), atol=1e-12)
    assert len(losses) == 31
    assert all(b <= a * (1 + 1e-12) for a, b in zip(losses, losses[1:]))
    assert losses[-1] < losses[0]
    assert losses[-1] == pytest.approx(quantization_loss(v, r), rel=1e-12)
    r0, l0 = itq_rotation(v, iterations=0, seed=3)
    assert len(l0) == 1 and l0[0] == losses[0]
    np.testing.assert_allclose(r0.T @ r0, np.eye(16), atol=1e-12)


def test_sign_zero_maps_to_plus_one():
    from tf_binmap.hashing.itq import signs

    np.testing.assert_array_equal(signs(np.array([0.0, -0.0, 1e-300, -1e-300, -2.0])), [1, 1, 1, -1, -1])
    v = np.array([[0.0, 1.0], [-1.0, 0.5]])
    # B = [[1, 1], [-1, 1]] -> residual [[1, 0], [0, 0.5]] -> 1.25 / 2 rows
    assert quantization_loss(v, np.eye(2)) == 0.625


# ---------------------------------------------------------------- fit_itq
@pytest.mark.parametrize("bits", [8, 16])
def test_fit_itq_beats_pca(data, bits):
    res = fit_itq(data, bits, seed=0)
    assert isinstance(res, ITQResult)
    assert res.mean.dtype == np.float32 and res.mean.shape == (64,)
    assert res.projection.dtype == np.float32 and res.projection.shape == (64, bits)
    assert res.count == 5000 and res.bits == bits and res.dim == 64
    assert len(res.losses) == 51
    assert all(b <= a * (1 + 1e-12) for a, b in zip(res.losses, res.losses[1:]))
    assert res.losses[-1] < res.pca_loss
    assert res.losses[-1] < 0.98 * res.pca_loss  # ~5% lower here
    p = res.projection.astype(np.float64)
    np.testing.assert_allclose(p.T @ p, np.eye(bits), atol=1e-5)
    assert res.bit_balance.shape == (bits,)
    assert np.all(np.abs(res.bit_balance - 0.5) < 0.1)
    np.testing.assert_allclose(res.bit_balance, encode(data, res.mean, res.projection).mean(0), atol=2e-3)


def test_fit_itq_deterministic(data):
    a = fit_itq(data, 8, seed=0)
    b = fit_itq(data, 8, seed=0)
    c = fit_itq(data, 8, seed=1)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.projection, b.projection)
    assert a.losses == b.losses
    assert not np.array_equal(a.projection, c.projection)
    np.testing.assert_array_equal(a.mean, c.mean)


def test_fit_itq_sources_agree(data):
    ref = fit_itq(data, 8)
    chunks = [data[i : i + 1000] for i in range(0, 5000, 1000)]

    calls = []

    def source():
        calls.append(1)
        return iter(chunks)

    for src in (source, chunks, (c for c in chunks), data.reshape(50, 100, 64)):
        res = fit_itq(src, 8)
        np.testing.assert_allclose(res.mean, ref.mean, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(res.projection, ref.projection, atol=1e-5)
        assert res.count == 5000
    assert len(calls) == 2  # two passes over the callable

    # precomputed (merged) statistics + a one-shot generator: read once, no copy
    stats = FeatureStatistics().update(data[:2500]).merge(FeatureStatistics().update(data[2500:]))
    res = fit_itq((c for c in chunks), 8, stats=stats)
    np.testing.assert_allclose(res.projection, ref.projection, atol=1e-5)


def test_the_rotation_from_parts_projected_apart_equals_fit_itq(data):
    """A distributed fit: statistics merged from parts, each part projected on its own,
    the rotation once on the rows in another order: fit_itq's result to rounding."""
    ref = fit_itq(data, 8)
    parts = [data[i : i + 700] for i in range(0, 5000, 700)]
    stats = FeatureStatistics()
    for part in parts[::-1]:
        stats = stats.merge(FeatureStatistics().update(part))
    w = pca_projection(stats, 8)
    v = np.concatenate([project_features(part, stats.mean, w) for part in parts[::-1]])
    res = itq_from_projections(v, stats.mean, w)
    np.testing.assert_allclose(res.mean, ref.mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.projection, ref.projection, atol=1e-6)
    np.testing.assert_allclose(res.losses, ref.losses, rtol=1e-9)
    np.testing.assert_array_equal(res.bit_balance, ref.bit_balance)
    assert res.count == ref.count == 5000 and res.pca_loss == pytest.approx(ref.pca_loss)


def test_fit_itq_rotation_subset(data):
    res = fit_itq(data, 8, max_rotation_samples=1000)
    again = fit_itq(data, 8, max_rotation_samples=1000)
    np.testing.assert_array_equal(res.projection, again.projection)
    assert res.count == 5000
    assert res.losses[-1] < res.pca_loss
    full = fit_itq(data, 8)
    assert not np.array_equal(res.projection, full.projection)


def test_fit_itq_errors(data):
    with pytest.raises(ValueError, match=r"too few vectors \(3\) to fit 8 bits"):
        fit_itq(data[:3], 8)
    with pytest.raises(ValueError, match=r"64.*got 100"):
        fit_itq(data, 100)
    bad = data.copy()
    bad[10] = np.nan
    with pytest.raises(ValueError, match=r"NaN or Inf values \(1 of"):
        fit_itq(bad, 8)
    with pytest.raises(ValueError, match=r"64.*32"):
        fit_itq([data[:100], data[:100, :32]], 8)
    with pytest.raises(ValueError, match="no feature vectors"):
        fit_itq([np.zeros((0, 64))], 8)


# ---------------------------------------------------------------- encode
def test_encode_reference(data):
    res = fit_itq(data, 8)
    x = data[:300].reshape(3, 100, 64)
    codes = encode(x, res.mean, res.projection)
    assert codes.shape == (3, 100, 8) and codes.dtype == np.uint8
    direct = np.einsum("abd,dk->abk", x - res.mean, res.projection) >= 0
    # float32 summation order may differ; compare away from the threshold
    z = (x - res.mean) @ res.projection
    safe = np.abs(z) > 1e-4
    np.testing.assert_array_equal(codes[safe], direct[safe])
    np.testing.assert_array_equal(res.encode(x), codes)


def test_encode_zero_is_one():
    mean = np.array([1.0, 2.0], dtype=np.float32)
    proj = np.array([[1.0, 0.0, 0.6], [0.0, 1.0, -0.8]], dtype=np.float32)
    x = np.array([[1.0, 2.0], [2.0, 1.0], [0.0, 3.0]], dtype=np.float32)
    np.testing.assert_array_equal(
        encode(x, mean, proj), [[1, 1, 1], [1, 0, 1], [0, 1, 0]]
    )
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        encode(np.zeros((4, 3)), mean, proj)
