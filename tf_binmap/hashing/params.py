"""Fitted ITQ parameters on disk, and fitting them on a folder of images.

A parameter file is a ``.npz`` with ``mean`` (d,), ``projection`` (d, bits) and
metadata (feature layer, backbone preset, upscale, images used, quantization losses,
bit balance) so a file can be checked against the model it is loaded into.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from tf_binmap.io.files import atomic_output


class ITQParameterError(ValueError):
    """An ITQ parameter file that is missing, corrupt or does not fit the model."""


def save_itq_parameters(path, result, **metadata):
    """Write an ``ITQResult`` and ``metadata`` (JSON-able) atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = dict(metadata, count=int(result.count),
                losses=[float(v) for v in result.losses], pca_loss=float(result.pca_loss),
                bit_balance=[float(v) for v in result.bit_balance])
    with atomic_output(path) as tmp, open(tmp, "wb") as stream:
        np.savez(stream, mean=result.mean.astype(np.float32),
                 projection=result.projection.astype(np.float32),
                 metadata=np.array(json.dumps(info)))
    return path


def load_itq_parameters(path, bits=None, layer=None, dim=None, upscale=None,
                        backbone=None):
    """-> (mean (d,), projection (d, bits)) float32, checked against what the caller
    expects (bit count, feature layer, feature dimension, and, where the file records
    them, the input upscale and the backbone preset it was fitted with)."""
    path = Path(path)
    if not path.is_file():
        raise ITQParameterError(
            f"ITQ parameter file {path} does not exist; fit one with "
            "`tf-binmap fit-itq --images DIR --out PATH`"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            mean = data["mean"].astype(np.float32)
            projection = data["projection"].astype(np.float32)
            metadata = json.loads(str(data["metadata"])) if "metadata" in data else {}
    except Exception as error:  # noqa: BLE001 - zip, CRC, format and JSON errors of a bad file
        raise ITQParameterError(
            f"{path} is not an ITQ parameter file, or is truncated or corrupt "
            f"({type(error).__name__}: {str(error)[:200]}); it needs arrays 'mean' and "
            "'projection' (tf-binmap fit-itq writes them)"
        ) from error
    if projection.ndim != 2 or mean.shape != (projection.shape[0],):
        raise ITQParameterError(f"{path}: mean {mean.shape} and projection "
                                f"{projection.shape} do not fit together")
    if bits is not None and projection.shape[1] != bits:
        raise ITQParameterError(f"{path} has {projection.shape[1]} bits, the model "
                                f"needs {bits}")
    if dim is not None and projection.shape[0] != dim:
        raise ITQParameterError(f"{path} is for {projection.shape[0]}-d features, the "
                                f"model's feature layer has {dim} channels")
    if layer is not None and metadata.get("layer") not in (None, layer):
        raise ITQParameterError(f"{path} was fitted on {metadata['layer']} features, "
                                f"the model uses {layer}")
    if upscale is not None and metadata.get("upscale") not in (None, upscale):
        raise ITQParameterError(
            f"{path} was fitted on features of images upscaled x{metadata['upscale']:g}, "
            f"the model upscales x{upscale:g}; fit it again with --upscale {upscale:g}")
    if backbone is not None and metadata.get("backbone") not in (None, backbone):
        raise ITQParameterError(f"{path} was fitted on {metadata['backbone']} features, "
                                f"the model's backbone is {backbone}")
    return mean, projection


def read_itq_metadata(path):
    """The metadata dict stored in an ITQ parameter file."""
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data["metadata"])) if "metadata" in data else {}


def image_feature_sample(backbone, layer, image, name, upscale=1.0, vectors_per_image=1000,
                         seed=0):
    """The feature vectors (n, d) float32 of ``layer`` for one uint8 RGB image: all of
    them, or a random sample of ``vectors_per_image``.

    The sample is drawn by a generator seeded with ``seed`` and the image's ``name``
    (its file name), so it does not depend on the order of the images or on which other
    images are fitted: workers that each take a part of a folder draw the vectors one
    process draws."""
    import cv2

    if upscale != 1.0:
        h, w = image.shape[:2]
        image = cv2.resize(image, (int(round(w * upscale)), int(round(h * upscale))),
                           interpolation=cv2.INTER_LINEAR)
    features = backbone(backbone.preprocess(image[None]))[layer]
    features = np.asarray(features, np.float32).reshape(-1, features.shape[-1])
    if vectors_per_image and features.shape[0] > vectors_per_image:
        rng = np.random.default_rng([int(seed), zlib.crc32(str(name).encode("utf-8"))])
        keep = rng.choice(features.shape[0], vectors_per_image, replace=False)
        features = features[np.sort(keep)]
    return features


def extract_feature_sample(backbone, layer, images, upscale=1.0, vectors_per_image=1000,
                           seed=0, progress=True, total=None):
    """Yield `image_feature_sample` (n, d) of each image of ``images`` (an iterable of
    (name, uint8 RGB), read lazily; ``total`` sizes the progress bar)."""
    from tqdm.auto import tqdm

    if total is None and hasattr(images, "__len__"):
        total = len(images)
    for name, image in tqdm(images, desc=f"{layer} features", unit="image", total=total,
                            disable=not progress or None):
        yield image_feature_sample(backbone, layer, image, name, upscale=upscale,
                                   vectors_per_image=vectors_per_image, seed=seed)
