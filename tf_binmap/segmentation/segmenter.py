"""``Segmenter``: binary-map model + superpixels + merging, one call per image.

Two configurations:

- ``merge="hierarchy"`` (the default, beyond the paper; docs/ABLATIONS.md): fine EGS
  leaves merged greedily in the order a small classifier fitted on BSDS500 train gives
  (colour, border strength, the soft CNN codes: the mean ITQ projections of conv5,
  preset ``binmap_conv5_x1``), cut at ``n_segments``.
- ``merge="codes"`` (the paper's method, `Segmenter.paper`): image -> code map
  (network) -> a code per pixel (receptive-field centres) -> superpixels -> the
  majority code per superpixel -> adjacent superpixels with equal (or near) codes
  merged -> dense int32 label image.

The model is anything with ``encode(images) -> (batch, h, w) codes``, ``bits``,
``upscale`` and ``geometry`` (stride, offset), plus ``projections(images) -> (batch, h,
w, bits)`` for the hierarchy: a Keras ``BinaryMapModel`` or an exported SavedModel /
TFLite runner.

Large photos are segmented at a working size: an image whose longer side exceeds
``max_side`` (default `DEFAULT_MAX_SIDE`, 512 pixels) is shrunk to it by area averaging,
segmented, and its label image brought back to the full size with the boundaries snapped
to the full image's edges (`snap_labels`), so a 10-megapixel photo costs about what a
BSDS500 image does and the learned merge order sees the image sizes it was fitted at
(docs/ABLATIONS.md, "Image size").
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Protocol

import numpy as np

from tf_binmap.io.images import as_image_batch
from tf_binmap.segmentation.hierarchy import (
    HIERARCHY_DEFAULTS,
    hierarchical_segmentation,
    hierarchy_settings,
)
from tf_binmap.segmentation.merge import merge_superpixels, superpixel_codes
from tf_binmap.segmentation.placement import (
    check_network_output,
    place_on_pixels,
    projections_on_pixels,
)
from tf_binmap.segmentation.scorer import MergeScorer
from tf_binmap.segmentation.superpixels import SUPERPIXEL_METHODS, superpixels
from tf_binmap.segmentation.tree import cut
from tf_binmap.segmentation.working_size import (
    DEFAULT_MAX_SIDE,
    MIN_MAX_SIDE,
    enlarge_labels,
    snap_labels,
    working_size,
)

__all__ = ["CodeMapModel", "SegmentationResult", "Segmenter", "default_preset"]


def default_preset(merge="hierarchy") -> str:
    """The binary-map preset a Segmenter builds when given no model: the cheap x1 conv5
    map for the hierarchy, the paper's x2 conv5 map for ``merge="codes"``."""
    from tf_binmap.presets import DEFAULT_BINARY_MAP_PRESET, DEFAULT_HIERARCHY_PRESET

    return DEFAULT_HIERARCHY_PRESET if merge == "hierarchy" else DEFAULT_BINARY_MAP_PRESET


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


class Segmenter:
    """Segment images with a binary-map model.

    Args:
        model: a ``BinaryMapModel`` (or exported runner); default: the preset
            ``binmap_conv5_x1`` for ``merge="hierarchy"`` and ``binmap_conv5`` for
            ``merge="codes"`` (`default_preset`).
        superpixel_method: ``"egs"`` (Felzenszwalb) or ``"slic"``; with
            ``merge="codes"`` only (the hierarchy has its own leaves, see
            ``hierarchy_params``).
        superpixel_params: keyword arguments of the superpixel method (defaults: the
            paper's baselines, EGS scale 100 sigma 1.0; SLIC 200 segments).
        threshold: merge adjacent superpixels whose codes differ in at most this many
            bits (0 = equal codes, the paper).
        alignment: ``"center"`` (each pixel takes the code of the cell whose receptive
            field centre is nearest) or ``"block"`` (the paper's plain block copy).
        absorb_single_neighbour: the authors' extra step (superpixels with a single
            neighbour are merged into it).
        merge: ``"hierarchy"`` (the default, beyond the paper, docs/ABLATIONS.md: fine
            EGS leaves merged greedily in a learned order of colour, border strength and
            soft CNN code statistics, cut at ``n_segments``; needs a model with
            ``projections``) or
            ``"codes"`` (the paper's method: equal-code neighbours of the superpixels
            merged).
        n_segments: segments per image for ``merge="hierarchy"`` (default 100).
        hierarchy_params: keyword arguments of ``hierarchical_segmentation`` over the
            defaults (`hierarchy_settings`: ``HIERARCHY_DEFAULTS``, the learned merge
            order ``scorer="bsds500_train"``; with ``{"scorer": None}`` the weighted
            distance and its small-region rule, ``DISTANCE_DEFAULTS``), e.g.
            ``{"scorer": "my_merge.npz"}`` (a file from `tf-binmap fit-merge`) or
            ``{"size_exponent": 0.2}``.
        max_side: an image whose longer side exceeds this is segmented at a copy shrunk
            to it (area averaging) and its labels brought back to the full size, snapped
            to the image's edges (`snap_labels`; the intermediates' per-pixel maps by
            nearest neighbour); default `DEFAULT_MAX_SIDE` (512);
            0 or None segments every image at its own size (slow and memory-hungry for
            photos: a 4000x2667 photo takes about a minute and 5 GB).
    """

    HIERARCHY_DEFAULTS = HIERARCHY_DEFAULTS

    def __init__(self, model: CodeMapModel | None = None, superpixel_method: str = "egs",
                 superpixel_params: dict | None = None, threshold: int = 0,
                 alignment: str = "center", absorb_single_neighbour: bool = False,
                 merge: str = "hierarchy", n_segments: int = 100,
                 hierarchy_params: dict | None = None, max_side: int | None = DEFAULT_MAX_SIDE):
        if superpixel_method not in SUPERPIXEL_METHODS:
            raise ValueError(f"unknown superpixel method {superpixel_method!r}; choose "
                             f"from {sorted(SUPERPIXEL_METHODS)}")
        if alignment not in ("center", "block"):
            raise ValueError(f"alignment must be 'center' or 'block', got {alignment!r}")
        if merge not in ("codes", "hierarchy"):
            raise ValueError(f"merge must be 'codes' or 'hierarchy', got {merge!r}")
        if merge == "hierarchy" and int(n_segments) < 1:
            raise ValueError(f"n_segments must be >= 1, got {n_segments}")
        max_side = 0 if max_side is None else max_side
        if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) or \
                max_side < 0 or 0 < max_side < MIN_MAX_SIDE:
            raise ValueError(f"max_side must be 0 (segment every image at its own size) or "
                             f"an integer >= {MIN_MAX_SIDE}, got {max_side!r}")
        if merge == "hierarchy":
            misfits = [name for name, given in (
                ("superpixel_method", superpixel_method != "egs"),
                ("superpixel_params", bool(superpixel_params)),
                ("threshold", threshold != 0),
                ("absorb_single_neighbour", bool(absorb_single_neighbour))) if given]
            if misfits:
                raise ValueError(f"{', '.join(misfits)}: setting(s) of merge='codes' (the "
                                 "paper's method); the hierarchy's leaves and weights go in "
                                 "hierarchy_params")
        if model is None:
            from tf_binmap.models.binary_map import BinaryMapModel

            model = BinaryMapModel.from_preset(default_preset(merge))
        self.model = model
        self.superpixel_method = superpixel_method
        self.superpixel_params = dict(superpixel_params or {})
        self.threshold = int(threshold)
        self.alignment = alignment
        self.absorb_single_neighbour = bool(absorb_single_neighbour)
        self.merge_mode = merge
        self.n_segments = int(n_segments)
        self.max_side = int(max_side)
        self.hierarchy_params = hierarchy_settings(**(hierarchy_params or {}))
        if hierarchy_params:
            import inspect

            valid = [name for name in inspect.signature(hierarchical_segmentation).parameters
                     if name not in ("image", "pixel_codes")]
            unknown = sorted(set(hierarchy_params) - set(valid))
            if unknown:
                raise ValueError(f"unknown hierarchy_params {unknown}; valid: {', '.join(valid)}")
        if merge == "hierarchy" and not hasattr(self.model, "projections"):
            raise ValueError("merge='hierarchy' (the default) needs the real-valued "
                             "projections (a Keras BinaryMapModel or an export runner); "
                             "this model gives codes only: pass merge='codes' (the paper's "
                             "method) to use it")
        self._scorer = None
        if merge == "hierarchy" and self.hierarchy_params["scorer"] is None and \
                self.hierarchy_params.get("size_exponent") is not None:
            raise ValueError("hierarchy_params size_exponent: a setting of the learned merge "
                             "order, unused with 'scorer': None")
        if merge == "hierarchy" and self.hierarchy_params["scorer"] is not None:
            given = hierarchy_params or {}
            weights = [key for key in ("w_colour", "w_code", "w_boundary", "size_power",
                                       "colour_spread")
                       if key in given and float(given[key]) != float(HIERARCHY_DEFAULTS.get(key, 0.0))]
            if weights:
                raise ValueError(f"hierarchy_params {weights}: setting(s) of the weighted "
                                 "distance, unused by the learned merge order; add "
                                 "'scorer': None to merge by the distance")
            scorer = MergeScorer.resolve(self.hierarchy_params["scorer"])
            if self.hierarchy_params.get("size_exponent") is not None:
                scorer = scorer.with_size_exponent(self.hierarchy_params["size_exponent"])
            bits = getattr(self.model, "bits", scorer.n_code)
            if scorer.n_code != bits:
                raise ValueError(f"the merge scorer {self.hierarchy_params['scorer']!r} was "
                                 f"fitted on {scorer.n_code}-bit codes; this model gives {bits} "
                                 "bits: use the preset it was fitted with (binmap_conv5_x1), "
                                 "fit one for this model with `tf-binmap fit-merge --preset`, "
                                 "or pass hierarchy_params={'scorer': None}")
            self._scorer = scorer

    @classmethod
    def from_preset(cls, preset: str | None = None, weights_path: str | os.PathLike | None = None,
                    itq_path: str | os.PathLike | None = None, **kwargs) -> "Segmenter":
        """A Segmenter on a binary-map preset (default `default_preset` of ``merge``);
        other keyword arguments as the constructor."""
        from tf_binmap.models.binary_map import BinaryMapModel

        preset = preset or default_preset(kwargs.get("merge", "hierarchy"))
        model = BinaryMapModel.from_preset(preset, weights_path=weights_path,
                                           itq_path=itq_path)
        return cls(model, **kwargs)

    @classmethod
    def paper(cls, preset: str | None = None, weights_path: str | os.PathLike | None = None,
              itq_path: str | os.PathLike | None = None, **kwargs) -> "Segmenter":
        """The paper's method as a named configuration: binary map ``binmap_conv5``
        (conv5, input x2, 8 bits), EGS k=100 superpixels, neighbours with equal codes
        merged (``merge="codes"``, threshold 0)."""
        kwargs.setdefault("merge", "codes")
        return cls.from_preset(preset, weights_path=weights_path, itq_path=itq_path,
                               **kwargs)

    @property
    def merge_scorer(self) -> MergeScorer | None:
        """The `MergeScorer` the hierarchy merges by (None: the weighted distance or
        ``merge="codes"``)."""
        return self._scorer

    @property
    def bits(self) -> int:
        """The code length of the model."""
        return self.model.bits

    def pixel_codes(self, code_map: np.ndarray, image_shape: tuple) -> np.ndarray:
        """(h, w) code map -> (H, W) code per image pixel."""
        return place_on_pixels(self.model, code_map, image_shape, self.alignment)

    def merge(self, image: np.ndarray, code_map: np.ndarray, timings: dict | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Superpixels of ``image`` merged by the codes of ``code_map``."""
        timings = {} if timings is None else timings
        start = time.perf_counter()
        base = superpixels(image, self.superpixel_method, **self.superpixel_params)
        timings["superpixels"] = time.perf_counter() - start
        start = time.perf_counter()
        pixel_codes = self.pixel_codes(code_map, image.shape)
        codes = superpixel_codes(base, pixel_codes, self.bits)
        labels = merge_superpixels(base, codes, self.bits, threshold=self.threshold,
                                   absorb_single_neighbour=self.absorb_single_neighbour)
        timings["merge"] = time.perf_counter() - start
        return labels, pixel_codes, base, codes

    def working_size(self, shape: tuple) -> tuple[int, int]:
        """(height, width) an image of ``shape`` is segmented at (`working_size`)."""
        return working_size(int(shape[0]), int(shape[1]), self.max_side)

    def shrinks(self, shape: tuple) -> bool:
        """Whether an image of ``shape`` is segmented shrunk (larger than ``max_side``)."""
        return self.working_size(shape) != tuple(shape[:2])

    def network_input(self, image: np.ndarray) -> np.ndarray:
        """The copy of one uint8 RGB image (H, W, 3) the network sees: the image, or if
        larger than ``max_side`` a copy shrunk to `working_size` (area averaging)."""
        image = _one_image(image)
        size = self.working_size(image.shape)
        if size == image.shape[:2]:
            return image
        import cv2

        return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)

    def network_output(self, network_inputs: np.ndarray) -> np.ndarray:
        """The network's output for same-sized `network_input` images (batch, h, w, 3):
        ITQ projections (batch, h', w', bits) (hierarchy) or code maps (batch, h', w')."""
        images = as_image_batch(network_inputs)
        if self.merge_mode == "hierarchy":
            return np.asarray(self.model.projections(images))
        return np.asarray(self.model.encode(images))

    def segment(self, image: np.ndarray, return_intermediates: bool = False
                ) -> np.ndarray | SegmentationResult:
        """uint8 RGB (H, W, 3) -> int32 (H, W) labels 0..n-1 (or a SegmentationResult).

        An image larger than ``max_side`` is segmented at its working size and the
        labels returned at (H, W)."""
        image, work, timings = self._working_copy(image)

        def network():
            start = time.perf_counter()
            output = self.network_output(work[None])[0]
            timings["network"] = time.perf_counter() - start
            return output

        return self._after_network(image, work, network, timings, return_intermediates)

    def segment_with_network_output(self, image: np.ndarray, network_output: np.ndarray,
                                    return_intermediates: bool = False
                                    ) -> np.ndarray | SegmentationResult:
        """``segment(image, return_intermediates)`` given `network_output` of the image's
        `network_input`, computed elsewhere (a batch, another process, a serving
        endpoint): the stages after the network, with the same result."""
        image, work, timings = self._working_copy(image)
        output = check_network_output(network_output, self.merge_mode, self.bits)
        return self._after_network(image, work, lambda: output, timings,
                                   return_intermediates)

    def _working_copy(self, image):
        """(the image, its `network_input`, timings with the resize time if shrunk)."""
        image, start = _one_image(image), time.perf_counter()
        work = self.network_input(image)
        work = image if work.shape == image.shape else work  # the same array, not a view
        timings = {} if work is image else {"resize": time.perf_counter() - start}
        return image, work, timings

    def _after_network(self, image, work, network, timings, intermediates):
        """``network()`` and the stages after it on ``work``; labels at ``image``'s size."""
        try:
            result = self._segment_working(work, network(), timings, intermediates)
        except ValueError as error:
            if work is image:
                raise
            raise ValueError(f"{error} (the {image.shape[1]}x{image.shape[0]} image was "
                             f"shrunk to {work.shape[1]}x{work.shape[0]} by "
                             f"max_side={self.max_side}; raise max_side or pass 0 to "
                             "segment it at its own size)") from None
        if work is not image:
            start = time.perf_counter()
            result.labels = snap_labels(result.labels, image, work)
            if intermediates:
                result.pixel_codes = enlarge_labels(result.pixel_codes, image.shape)
                result.superpixels = enlarge_labels(result.superpixels, image.shape)
            timings["resize"] += time.perf_counter() - start
        return result if intermediates else result.labels

    def _segment_working(self, image, network_output, timings, intermediates
                         ) -> SegmentationResult:
        """Segment at the image's own size given the network's output for it (without
        ``intermediates``, only ``labels`` and ``timings`` are filled)."""
        if self.merge_mode == "hierarchy":
            return self._segment_hierarchy(image, network_output, timings, intermediates)
        labels, pixel_codes, base, codes = self.merge(image, network_output, timings)
        return SegmentationResult(labels=labels, code_map=network_output, pixel_codes=pixel_codes,
                                  superpixels=base, superpixel_codes=codes, bits=self.bits,
                                  timings=timings)

    def _segment_hierarchy(self, image, projections, timings, intermediates
                           ) -> SegmentationResult:
        from tf_binmap.hashing.codes import pack_bits

        start = time.perf_counter()
        # Each pixel takes the projections of its nearest receptive-field centre.
        pixel_values, cell = projections_on_pixels(self.model, projections, image.shape,
                                                   self.alignment)
        params = dict(self.hierarchy_params)
        if self._scorer is not None:  # resolved once, in the constructor
            params.update(scorer=self._scorer, size_exponent=None)
        tree = hierarchical_segmentation(image, pixel_values, **params)
        labels = cut(tree, self.n_segments)
        timings["merge"] = time.perf_counter() - start
        if not intermediates:
            return SegmentationResult(labels=labels, code_map=None, pixel_codes=None,
                                      superpixels=None, superpixel_codes=None,
                                      bits=self.bits, timings=timings)
        code_map = pack_bits((projections >= 0).astype(np.uint8))
        base = tree.superpixels
        return SegmentationResult(
            labels=labels, code_map=code_map, pixel_codes=code_map.ravel()[cell],
            superpixels=base, superpixel_codes=superpixel_codes(
                base, code_map.ravel()[cell], self.bits),
            bits=self.bits, timings=timings)


def _one_image(image) -> np.ndarray:
    """One uint8 RGB image (H, W, 3), or a ValueError that says what was given."""
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"expected one uint8 RGB image (H, W, 3), got {image.shape}")
    return as_image_batch(image)[0]
