"""From a model's output cells to image pixels: each pixel takes the value of the cell
whose receptive-field centre is nearest (or the paper's block copy), from the model's
upscale and geometry (stride, offset)."""

from __future__ import annotations

import numpy as np

from tf_binmap.io.images import scaled_size
from tf_binmap.segmentation.merge import code_map_to_pixels

__all__ = ["check_network_output", "pixel_projections", "place_on_pixels",
           "projections_on_pixels"]


def place_on_pixels(model, cell_map, image_shape, alignment="center"):
    """(h, w) map of ``model``'s output cells -> (H, W): each image pixel takes the value
    of its cell (``alignment`` "center": the nearest receptive-field centre; "block": the
    paper's block copy), from the model's upscale and geometry (stride, offset)."""
    height, width = image_shape[:2]
    h_net, w_net = scaled_size(height, width, model.upscale)
    stride, offset = model.geometry
    return code_map_to_pixels(cell_map, (height, width), stride=stride, offset=offset,
                              mode=alignment, scale=(h_net / height, w_net / width))


def projections_on_pixels(model, projections, image_shape, alignment="center"):
    """(h, w, bits) projections of one image -> ((H, W, bits) per pixel, (H, W) cell
    index), each pixel taking those of its cell (`place_on_pixels`)."""
    h, w, bits = projections.shape
    cell = place_on_pixels(model, np.arange(h * w).reshape(h, w), image_shape, alignment)
    return projections.reshape(-1, bits)[cell], cell


def pixel_projections(model, image, alignment="center"):
    """The real-valued ITQ projections of ``model`` for one uint8 RGB image, placed on its
    pixels. Returns ((H, W, bits) float, (H, W) cell index, (h, w, bits) projections)."""
    projections = np.asarray(model.projections(image[None]))[0]  # (h, w, bits)
    return (*projections_on_pixels(model, projections, image.shape, alignment), projections)


def check_network_output(output, merge, bits) -> np.ndarray:
    """One image's network output as ``Segmenter.network_outputs`` gives it for ``merge``
    ("hierarchy": float ITQ projections (h, w, bits); "codes": an integer code map (h,
    w)) as an array, or a ValueError that says what was expected."""
    output = np.asarray(output)
    if merge == "hierarchy":
        if output.ndim != 3 or output.shape[-1] != bits or output.dtype.kind != "f":
            raise ValueError(f"expected the network's ITQ projections (h, w, {bits}) of one "
                             f"image (floats), got {output.dtype} {output.shape}")
    elif output.ndim != 2 or output.dtype.kind not in "iu":
        raise ValueError("expected the network's code map (h, w) of one image (integers), "
                         f"got {output.dtype} {output.shape}")
    return output
