"""Test helpers shared across test folders (imported as ``helpers``; pytest puts this
folder on sys.path because conftest.py lives here)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest


def run_cli(args, cwd, env_cache, timeout=600):
    """``python -m tf_binmap.cli ARGS`` as a user runs it, with the test weights cache."""
    env = dict(os.environ, TF_BINMAP_CACHE=str(env_cache), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "tf_binmap.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def write_mixed_folder(folder):
    """``folder`` with valid photos in four flavours (RGB JPEG, grey PNG, RGBA PNG,
    16-bit PNG) plus a truncated JPEG and text named .png. Returns the astronaut photo
    (256 x 256 RGB) they were made from."""
    import cv2
    import skimage.data

    folder.mkdir(parents=True, exist_ok=True)
    photo = skimage.data.astronaut()[::2, ::2]
    cv2.imwrite(str(folder / "rgb.jpg"), photo[..., ::-1])
    cv2.imwrite(str(folder / "gray.png"), skimage.data.camera()[::2, ::2])
    rgba = np.dstack([photo, np.full(photo.shape[:2], 200, np.uint8)])
    cv2.imwrite(str(folder / "rgba.png"), rgba[..., [2, 1, 0, 3]])
    cv2.imwrite(str(folder / "deep.png"), (photo[..., ::-1].astype(np.uint16) * 257))
    jpeg = (folder / "rgb.jpg").read_bytes()
    (folder / "corrupt.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (folder / "notes.png").write_text("this is not a picture")
    return photo


def torch_alexnet(width=(64, 192, 384, 256, 256), fc=4096, seed=0):
    """torchvision's AlexNet layout (state-dict keys features.N / classifier.N) with
    seeded He-normal weights, written out here because torchvision is not installable
    beside this machine's torch."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(seed)
    features = nn.Sequential(
        nn.Conv2d(3, width[0], 11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(width[0], width[1], 5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(width[1], width[2], 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(width[2], width[3], 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(width[3], width[4], 3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
    )
    classifier = nn.Sequential(
        nn.Dropout(), nn.Linear(width[4] * 36, fc), nn.ReLU(inplace=True),
        nn.Dropout(), nn.Linear(fc, fc), nn.ReLU(inplace=True), nn.Linear(fc, 1000),
    )
    model = nn.Module()
    model.features = features
    model.avgpool = nn.AdaptiveAvgPool2d((6, 6))
    model.classifier = classifier
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.uniform_(module.bias, -0.1, 0.1)
    return model.eval()


def assert_close(actual, expected, rtol=1e-4, what=""):
    """Max abs difference within rtol of the reference's max magnitude."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    scale = max(np.abs(expected).max(), 1e-6)
    error = np.abs(actual - expected).max() / scale
    assert error < rtol, f"{what}: max relative error {error:.2e} >= {rtol}"
