"""Fitting ITQ on images: each image's feature sample."""

from __future__ import annotations

import numpy as np

from tf_binmap.hashing.params import extract_feature_sample, image_feature_sample


class _Backbone:
    """A stand-in backbone: the image's pixels (plus their position) as 5-d features."""

    def preprocess(self, images):
        return images.astype(np.float32)

    def __call__(self, images):
        n, h, w, _ = images.shape
        rows, cols = np.mgrid[:h, :w].astype(np.float32)
        position = np.broadcast_to(np.stack([rows, cols], -1), (n, h, w, 2))
        return {"conv5": np.concatenate([images, position], axis=-1)}


def test_an_images_sample_depends_on_the_seed_and_its_name_only():
    """So workers that take parts of a folder in any order draw what one process draws."""
    rng = np.random.default_rng(0)
    images = [(f"{i}.jpg", rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)) for i in range(4)]
    backbone = _Backbone()
    forward = list(extract_feature_sample(backbone, "conv5", images, vectors_per_image=50,
                                          progress=False))
    backward = list(extract_feature_sample(backbone, "conv5", images[::-1],
                                           vectors_per_image=50, progress=False))[::-1]
    alone = [image_feature_sample(backbone, "conv5", image, name, vectors_per_image=50)
             for name, image in images[2:]]
    for a, b in zip(forward, backward):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(forward[2:], alone):
        np.testing.assert_array_equal(a, b)
    assert all(a.shape == (50, 5) for a in forward)
    assert not np.array_equal(forward[0][:, 3:], forward[1][:, 3:])  # names differ: samples too
    other_seed = image_feature_sample(backbone, "conv5", images[0][1], "0.jpg",
                                      vectors_per_image=50, seed=1)
    assert not np.array_equal(other_seed, forward[0])
    every = image_feature_sample(backbone, "conv5", images[0][1], "0.jpg", vectors_per_image=0)
    assert every.shape == (600, 5)
