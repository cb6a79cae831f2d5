"""Pictures people look at: feature maps as colour images, panels side by side."""

from __future__ import annotations

import cv2
import numpy as np


def feature_map_to_rgb(features):
    """(h, w, c) real features -> uint8 (h, w, 3): the first three principal components
    of the channels, each stretched to 0..255 (robust 1st-99th percentile)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 3:
        raise ValueError(f"expected an (h, w, c) feature map, got shape {features.shape}")
    h, w, c = features.shape
    flat = features.reshape(-1, c)
    flat = flat - flat.mean(axis=0)
    if flat.shape[0] > 1 and c > 1:
        _, _, vt = np.linalg.svd(flat, full_matrices=False)
        components = flat @ vt[: min(3, vt.shape[0])].T
    else:
        components = flat[:, :1]
    if components.shape[1] < 3:
        components = np.pad(components, ((0, 0), (0, 3 - components.shape[1])))
    low, high = np.percentile(components, [1, 99], axis=0)
    scaled = (components - low) / np.maximum(high - low, 1e-12)
    return (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8).reshape(h, w, 3)


def resize_nearest(picture, height, width):
    """Block-copy a small map up to (height, width) for display."""
    return cv2.resize(picture, (width, height), interpolation=cv2.INTER_NEAREST)


def side_by_side(*pictures, gap=8):
    """uint8 (H, W, 3) panels, each resized (nearest) to the first one's height, joined
    left to right on a white background."""
    height = pictures[0].shape[0]
    panels = []
    for picture in pictures:
        if picture.ndim == 2:
            picture = np.repeat(picture[..., None], 3, axis=2)
        scale = height / picture.shape[0]
        width = max(1, int(round(picture.shape[1] * scale)))
        panels.append(resize_nearest(picture, height, width))
        panels.append(np.full((height, gap, 3), 255, np.uint8))
    return np.concatenate(panels[:-1], axis=1)


def boundary_overlay(image, labels, colour=(255, 255, 0)):
    """uint8 RGB photo with the boundaries of ``labels`` drawn in ``colour``."""
    from skimage.segmentation import find_boundaries

    picture = np.array(image, copy=True)
    picture[find_boundaries(labels, mode="inner")] = colour
    return picture


def mean_colour_picture(image, labels):
    """Each segment painted with its mean colour (a common way to show a segmentation)."""
    n = int(labels.max()) + 1
    flat = labels.ravel()
    counts = np.maximum(np.bincount(flat, minlength=n), 1)
    means = np.stack([np.bincount(flat, image[..., c].ravel(), minlength=n) / counts
                      for c in range(3)], axis=1)
    return means[labels].round().astype(np.uint8)


def segmentation_figure(image, result):
    """image | binary map | superpixels | merged segments, for a SegmentationResult."""
    from tf_binmap.hashing.codes import code_map_to_rgb

    return side_by_side(
        image,
        code_map_to_rgb(result.pixel_codes, result.bits),
        boundary_overlay(image, result.superpixels),
        boundary_overlay(mean_colour_picture(image, result.labels), result.labels,
                         colour=(0, 0, 0)),
    )
