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
TFLite runner. Images the network cannot take (a side below its receptive field, or too
elongated for ``max_side``) are refused up front with a message that says what to do.

Large photos are segmented at a working size: an image whose longer side exceeds
``max_side`` (default `DEFAULT_MAX_SIDE`, 512 pixels) is shrunk to it by area averaging,
segmented, and its label image brought back to the full size with the boundaries snapped
to the full image's edges (`snap_labels`), so a 10-megapixel photo costs about what a
BSDS500 image does and the learned merge order sees the image sizes it was fitted at
(docs/ABLATIONS.md, "Image size").
"""

from __future__ import annotations

import os
import time

import numpy as np

from tf_binmap.io.images import as_image_batch
from tf_binmap.segmentation.hierarchy import (
    HIERARCHY_DEFAULTS,
    hierarchical_segmentation,
    hierarchy_settings,
)
from tf_binmap.segmentation.interfaces import CodeMapModel, SegmentationResult
from tf_binmap.segmentation.merge import merge_superpixels, superpixel_codes
from tf_binmap.segmentation.overlap import NetworkThread
from tf_binmap.segmentation.placement import (
    check_network_output, place_on_pixels, projections_on_pixels,
)
from tf_binmap.segmentation.scorer import MergeScorer
from tf_binmap.segmentation.superpixels import SUPERPIXEL_METHODS, superpixels
from tf_binmap.segmentation.tree import cut
from tf_binmap.segmentation.working_size import (
    DEFAULT_MAX_SIDE,
    MIN_MAX_SIDE,
    check_segmentable,
    enlarge_labels,
    min_image_side,
    snap_labels,
    working_size,
)

__all__ = ["CodeMapModel", "SegmentationResult", "Segmenter", "default_preset"]


def default_preset(merge="hierarchy") -> str:
    """The binary-map preset a Segmenter builds when given no model: the cheap x1 conv5
    map for the hierarchy, the paper's x2 conv5 map for ``merge="codes"``."""
    from tf_binmap.presets import DEFAULT_BINARY_MAP_PRESET, DEFAULT_HIERARCHY_PRESET

    return DEFAULT_HIERARCHY_PRESET if merge == "hierarchy" else DEFAULT_BINARY_MAP_PRESET


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
        self._network_thread = NetworkThread()  # the network beside the superpixels
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
                    itq_path: str | os.PathLike | None = None, precision: str = "float32",
                    **kwargs) -> "Segmenter":
        """A Segmenter on a binary-map preset (default `default_preset` of ``merge``) at
        the network ``precision`` (`BinaryMapModel.from_preset`); other keyword
        arguments as the constructor."""
        from tf_binmap.models.binary_map import BinaryMapModel

        preset = preset or default_preset(kwargs.get("merge", "hierarchy"))
        model = BinaryMapModel.from_preset(preset, weights_path=weights_path,
                                           itq_path=itq_path, precision=precision)
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

    def merge(self, image: np.ndarray, code_map: np.ndarray, timings: dict | None = None,
              base: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Superpixels of ``image`` (or the given ``base``) merged by the codes of
        ``code_map``."""
        timings = {} if timings is None else timings
        if base is None:
            base = self.superpixels(image, timings)
        start = time.perf_counter()
        pixel_codes = self.pixel_codes(code_map, image.shape)
        codes = superpixel_codes(base, pixel_codes, self.bits)
        labels = merge_superpixels(base, codes, self.bits, threshold=self.threshold,
                                   absorb_single_neighbour=self.absorb_single_neighbour)
        timings["merge"] = time.perf_counter() - start
        return labels, pixel_codes, base, codes

    def superpixels(self, image: np.ndarray, timings: dict | None = None) -> np.ndarray:
        """The superpixels the codes merge: the hierarchy's leaves (EGS at
        ``egs_scale``), or ``superpixel_method`` for ``merge="codes"``."""
        start = time.perf_counter()
        if self.merge_mode == "hierarchy":
            params = self.hierarchy_params
            base = superpixels(image, "egs", scale=params["egs_scale"],
                               sigma=params["egs_sigma"], min_size=params["egs_min_size"])
        else:
            base = superpixels(image, self.superpixel_method, **self.superpixel_params)
        if timings is not None:
            timings["superpixels"] = time.perf_counter() - start
        return base

    def working_size(self, shape: tuple) -> tuple[int, int]:
        """(height, width) an image of ``shape`` is segmented at (`working_size`)."""
        return working_size(int(shape[0]), int(shape[1]), self.max_side)

    def shrinks(self, shape: tuple) -> bool:
        """Whether an image of ``shape`` is segmented shrunk (larger than ``max_side``)."""
        return self.working_size(shape) != tuple(shape[:2])

    @property
    def min_side(self) -> int:
        """The smallest image side (at image scale) the model's network takes (1 for a
        model that does not say: a runner's ``min_input_size`` or a Keras model's
        backbone's)."""
        need = getattr(self.model, "min_input_size", None)
        if need is None:
            need = getattr(getattr(self.model, "backbone", None), "min_input_size", 1)
        return min_image_side(int(need), float(self.model.upscale))

    def check_size(self, shape: tuple) -> None:
        """Raise ValueError, saying why and what to do, if an image of ``shape`` (H, W,
        ...) cannot be segmented: a side below `min_side`, or too elongated for
        ``max_side`` (`check_segmentable`)."""
        check_segmentable(int(shape[0]), int(shape[1]), self.max_side, self.min_side)

    def segment(self, image: np.ndarray, return_intermediates: bool = False
                ) -> np.ndarray | SegmentationResult:
        """uint8 RGB (H, W, 3) -> int32 (H, W) labels 0..n-1 (or a SegmentationResult).

        An image larger than ``max_side`` is segmented at its working size and the
        labels returned at (H, W). An image the network cannot take (`check_size`) is a
        ValueError that says why. The network runs in a second thread while this one
        computes the superpixels. The same as `prepare`, `network_outputs` and `finish`
        in turn (what a pipeline over many images runs in separate stages)."""
        image, work, timings = self.prepare(image)
        try:
            output, base = self._network_thread.beside(
                lambda: self.network_outputs(work[None])[0],
                lambda: self.superpixels(work, timings), timings)
            return self.finish(image, work, output, timings, base=base,
                               return_intermediates=return_intermediates)
        except ValueError as error:
            raise self.explain(error, image, work) from None

    def explain(self, error: ValueError, image: np.ndarray, work: np.ndarray) -> ValueError:
        """``error`` of segmenting ``work``, saying so when ``image`` was shrunk to it by
        ``max_side`` (a panorama can become too thin for the network)."""
        if work is image:
            return error
        return ValueError(f"{error} (the {image.shape[1]}x{image.shape[0]} image was shrunk "
                          f"to {work.shape[1]}x{work.shape[0]} by max_side={self.max_side}; "
                          "raise max_side or pass 0 to segment it at its own size)")

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        """``(image, work, timings)``: the checked uint8 RGB image and the copy the
        network and the merge see (the image itself, or shrunk to the working size)."""
        image = np.asarray(image)
        if image.ndim != 3:
            raise ValueError(f"expected one uint8 RGB image (H, W, 3), got {image.shape}")
        image = as_image_batch(image)[0]
        self.check_size(image.shape)
        timings = {}
        size = self.working_size(image.shape)
        if size == image.shape[:2]:
            return image, image, timings
        import cv2

        start = time.perf_counter()
        work = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        timings["resize"] = time.perf_counter() - start
        return image, work, timings

    def network_outputs(self, works: np.ndarray) -> np.ndarray:
        """The network's part for a batch of same-size working images (batch, h, w, 3):
        the ITQ projections (batch, h', w', bits) for the hierarchy, the packed code maps
        (batch, h', w') for ``merge="codes"``. A batch gives each image exactly what it
        gets alone."""
        if self.merge_mode == "hierarchy":
            return np.asarray(self.model.projections(works))
        return np.asarray(self.model.encode(works))

    def finish(self, image: np.ndarray, work: np.ndarray, output: np.ndarray,
               timings: dict | None = None, base: np.ndarray | None = None,
               return_intermediates: bool = False) -> np.ndarray | SegmentationResult:
        """Everything after the network: superpixels (unless given as ``base``), the
        merge, and the labels brought back to the image's size when ``work`` was shrunk
        (`prepare`); ``output`` is this image's entry of `network_outputs` (computed here,
        in a batch, another process or a serving endpoint: checked for its shape)."""
        output = check_network_output(output, self.merge_mode, self.bits)
        timings = {} if timings is None else timings
        if base is None:
            base = self.superpixels(work, timings)
        if self.merge_mode == "hierarchy":
            result = self._merge_hierarchy(work, output, base, timings, return_intermediates)
        else:
            labels, pixel_codes, base, codes = self.merge(work, output, timings, base=base)
            result = SegmentationResult(labels=labels, code_map=output, pixel_codes=pixel_codes,
                                        superpixels=base, superpixel_codes=codes,
                                        bits=self.bits, timings=timings)
        if work is not image:
            start = time.perf_counter()
            result.labels = snap_labels(result.labels, image, work)
            if return_intermediates:
                result.pixel_codes = enlarge_labels(result.pixel_codes, image.shape)
                result.superpixels = enlarge_labels(result.superpixels, image.shape)
            timings["resize"] = timings.get("resize", 0.0) + time.perf_counter() - start
        return result if return_intermediates else result.labels

    def _merge_hierarchy(self, image, projections, leaves, timings, intermediates
                         ) -> SegmentationResult:
        from tf_binmap.hashing.codes import pack_bits

        start = time.perf_counter()
        # Each pixel takes the projections of its nearest receptive-field centre.
        pixel_values, cell = projections_on_pixels(self.model, projections, image.shape,
                                                   self.alignment)
        params = dict(self.hierarchy_params)
        if self._scorer is not None:  # resolved once, in the constructor
            params.update(scorer=self._scorer, size_exponent=None)
        tree = hierarchical_segmentation(image, pixel_values, leaves=leaves, **params)
        labels = cut(tree, self.n_segments)
        timings["merge"] = time.perf_counter() - start
        if not intermediates:
            return SegmentationResult(labels=labels, code_map=None, pixel_codes=None,
                                      superpixels=None, superpixel_codes=None,
                                      bits=self.bits, timings=timings)
        code_map = pack_bits((projections >= 0).astype(np.uint8))
        return SegmentationResult(
            labels=labels, code_map=code_map, pixel_codes=code_map.ravel()[cell],
            superpixels=leaves, superpixel_codes=superpixel_codes(
                leaves, code_map.ravel()[cell], self.bits),
            bits=self.bits, timings=timings)
