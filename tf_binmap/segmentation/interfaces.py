"""What a `Segmenter` needs of a model (`CodeMapModel`) and what it gives back
(`SegmentationResult`)."""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np

__all__ = ["CodeMapModel", "SegmentationResult"]


class CodeMapModel(Protocol):
    """What a `Segmenter` needs of its model: a Keras ``BinaryMapModel``, or a runner of
    an export (``tf_binmap.export.runners``). ``projections`` is needed by the hierarchy
    only."""

    bits: int
    upscale: float
    geometry: tuple[int, float]

    def encode(self, images: np.ndarray) -> np.ndarray:
        """uint8 RGB (batch, H, W, 3) -> int32 code maps (batch, h, w)."""

    def projections(self, images: np.ndarray) -> np.ndarray:
        """uint8 RGB (batch, H, W, 3) -> float ITQ projections (batch, h, w, bits)."""


@dataclasses.dataclass
class SegmentationResult:
    """The label image and what led to it (for pictures and analysis)."""

    labels: np.ndarray  # (H, W) int32, 0..n-1
    code_map: np.ndarray  # (h, w) packed codes from the network
    pixel_codes: np.ndarray  # (H, W) code of each pixel
    superpixels: np.ndarray  # (H, W) int32
    superpixel_codes: np.ndarray  # (n_superpixels,)
    bits: int
    timings: dict  # seconds per stage: network, superpixels, merge
