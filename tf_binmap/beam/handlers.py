"""Model handlers that run the binary-map network in Beam's ``RunInference``: one for the
Keras model (a preset or a ``.keras`` file), one for an exported SavedModel.

A handler's model is a `Segmenter` (built once per worker process, shared by its
threads and with the stage after the network, `segmenter_of`), and ``run_inference``
runs only its network: each image is brought to its working size (`Segmenter.prepare`,
as ``segment`` does for large photos), images of the same working size go through the network together
(a batch may mix sizes), and each result is a `NetworkResult` that holds the output
(`Segmenter.network_outputs`) or, for an image the network refuses (e.g. smaller than its
receptive field), the error, so one bad image never fails a batch or the pipeline.

Beam's own ``TFModelHandlerNumpy`` is not used: it needs ``tensorflow_hub``, which
pulls the full ``tensorflow`` wheel over ``tensorflow-cpu``, cannot load a Keras 3
SavedModel export, and stacks a batch that mixes image sizes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

__all__ = ["BinaryMapModelHandler", "KerasModelHandler", "NetworkResult", "SavedModelHandler",
           "segmenter_of"]

_SEGMENTERS: dict = {}
_LOCK = threading.Lock()


@dataclasses.dataclass
class NetworkResult:
    """The network's output for one image (`Segmenter.network_outputs` of its working-size
    copy), the seconds it took (the image's share of its batch), or the error that
    stopped it."""

    output: np.ndarray | None
    seconds: float
    error: str | None = None


class BinaryMapModelHandler(ModelHandler):
    """The common part of the handlers: the Segmenter's settings, its per-process cache
    and ``run_inference``. Subclasses say how to load the network (`load_network`).

    Args:
        segmenter_kwargs: keyword arguments of `Segmenter` besides the model
            (``merge``, ``n_segments``, ``hierarchy_params``, ``max_side``, ...).
        max_batch_size: most images per ``run_inference`` call (Beam's batching);
            images of different working sizes in a batch go through the network apart.
    """

    def __init__(self, segmenter_kwargs: dict | None = None, max_batch_size: int = 4):
        if int(max_batch_size) < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        super().__init__(min_batch_size=1, max_batch_size=int(max_batch_size))
        self.segmenter_kwargs = dict(segmenter_kwargs or {})
        try:  # sent to every worker and compared there: plain values only
            json.dumps(self.segmenter_kwargs, sort_keys=True)
        except TypeError as error:
            raise TypeError(f"Segmenter settings of a model handler must be plain values "
                            f"(strings, numbers, lists, dicts; a scorer by name or file), "
                            f"not objects: {error}") from None

    def describe(self) -> dict:
        """What the handler loads, as JSON-able settings (also its cache key)."""
        raise NotImplementedError

    def load_network(self) -> Any:
        """The binary-map model (``encode``, ``projections``, ``bits``, ``upscale``,
        ``geometry``) the Segmenter runs on."""
        raise NotImplementedError

    def load_model(self) -> Any:
        """The Segmenter on `load_network`, built once per process (`segmenter_of`)."""
        return segmenter_of(self)

    def run_inference(self, batch: Sequence[np.ndarray], model: Any,
                      inference_args: dict | None = None) -> Iterable[PredictionResult]:
        """uint8 RGB images (H, W, 3), any sizes -> one ``PredictionResult(image,
        NetworkResult)`` each, in order."""
        segmenter = model
        results: list = [None] * len(batch)
        groups: dict = {}
        for index, image in enumerate(batch):
            try:
                _, work, _ = segmenter.prepare(image)
            except ValueError as error:
                results[index] = NetworkResult(None, 0.0, str(error))
                continue
            groups.setdefault(work.shape, []).append((index, work))
        for members in groups.values():
            start = time.perf_counter()
            try:  # a size the network refuses (below its receptive field) fails them all
                outputs = segmenter.network_outputs(np.stack([work for _, work in members]))
            except ValueError as error:
                for index, _ in members:
                    results[index] = NetworkResult(None, 0.0, str(error))
                continue
            seconds = (time.perf_counter() - start) / len(members)
            for (index, _), output in zip(members, outputs):
                results[index] = NetworkResult(output, seconds)
        return [PredictionResult(image, result, self.model_id())
                for image, result in zip(batch, results)]

    def model_id(self) -> str:
        """A short name of the network, for the predictions' ``model_id``."""
        return json.dumps(self.describe(), sort_keys=True)

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        """Bytes of the images of ``batch`` (Beam's metrics)."""
        return int(sum(np.asarray(image).nbytes for image in batch))

    def get_metrics_namespace(self) -> str:
        """The namespace of RunInference's metrics."""
        return "tf_binmap"

    def settings(self) -> dict:
        """What determines the outputs (`tf_binmap.batch.outputs.segmenter_settings`)."""
        from tf_binmap.batch.outputs import segmenter_settings

        return segmenter_settings(self.load_model())


def segmenter_of(handler: BinaryMapModelHandler) -> Any:
    """The `Segmenter` of ``handler``, built once per process and shared by every stage
    and thread that asks for the same network and settings (the network's weights are
    loaded once per worker)."""
    key = (type(handler).__name__,
           json.dumps([handler.describe(), handler.segmenter_kwargs], sort_keys=True))
    with _LOCK:
        if key not in _SEGMENTERS:
            from tf_binmap.segmentation.segmenter import Segmenter

            _SEGMENTERS[key] = Segmenter(handler.load_network(), **handler.segmenter_kwargs)
        return _SEGMENTERS[key]


class KerasModelHandler(BinaryMapModelHandler):
    """The Keras ``BinaryMapModel``: a preset (default `Segmenter`'s for the merge) with
    optional weights and ITQ files, or a ``.keras`` file (``model_file``).

    Example::

        handler = KerasModelHandler(n_segments=50)          # the default segmentation
        paper = KerasModelHandler("binmap_conv5", merge="codes")
    """

    def __init__(self, preset: str | None = None, weights_path: str | os.PathLike | None = None,
                 itq_path: str | os.PathLike | None = None,
                 model_file: str | os.PathLike | None = None, max_batch_size: int = 4,
                 precision: str = "float32", **segmenter_kwargs):
        if model_file is not None and (preset or weights_path or itq_path):
            raise ValueError("give either model_file (a .keras file) or a preset with its "
                             "weights_path / itq_path, not both")
        super().__init__(segmenter_kwargs, max_batch_size)
        self.preset = preset
        self.precision = precision
        self.weights_path = None if weights_path is None else os.fspath(weights_path)
        self.itq_path = None if itq_path is None else os.fspath(itq_path)
        self.model_file = None if model_file is None else os.fspath(model_file)

    def describe(self) -> dict:
        """The preset and files the model is built from."""
        if self.model_file is not None:
            return {"model_file": self.model_file}
        from tf_binmap.segmentation.segmenter import default_preset

        return {"preset": self.preset or default_preset(self.segmenter_kwargs.get(
            "merge", "hierarchy")), "weights_path": self.weights_path,
            "itq_path": self.itq_path, "precision": self.precision}

    def load_network(self) -> Any:
        """``BinaryMapModel.from_preset``, or the ``.keras`` file."""
        if self.model_file is not None:
            import keras

            import tf_binmap.models.binary_map  # noqa: F401 - registers the classes

            return keras.saving.load_model(self.model_file, compile=False)
        from tf_binmap.models.binary_map import BinaryMapModel

        described = self.describe()
        return BinaryMapModel.from_preset(described["preset"], weights_path=self.weights_path,
                                          itq_path=self.itq_path, precision=self.precision)


class SavedModelHandler(BinaryMapModelHandler):
    """An ``export_saved_model`` directory (``tf-binmap export --format saved_model``; a
    version directory or the model directory, then its newest version), run with
    ``tf.saved_model.load`` (`tf_binmap.export.runners.SavedModelCodeMapper`)."""

    def __init__(self, path: str | os.PathLike, max_batch_size: int = 4, **segmenter_kwargs):
        super().__init__(segmenter_kwargs, max_batch_size)
        self.path = os.fspath(path)

    def describe(self) -> dict:
        """The export's path."""
        return {"saved_model": self.path}

    def load_network(self) -> Any:
        """The SavedModel runner."""
        from tf_binmap.export.runners import SavedModelCodeMapper

        return SavedModelCodeMapper(self.path)
