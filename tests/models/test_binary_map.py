"""BinaryMapModel: image -> code map, from presets, on real photos; ITQ parameter files."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from tf_binmap import AlexNetFCN, BinaryMapModel, HashingLayer
from tf_binmap.hashing.codes import pack_bits
from tf_binmap.hashing.itq import encode, fit_itq
from tf_binmap.hashing.params import (
    ITQParameterError,
    load_itq_parameters,
    read_itq_metadata,
    save_itq_parameters,
)
from tf_binmap.presets import BINARY_MAP_PRESETS, DEFAULT_BINARY_MAP_PRESET


def _random_model(bits=8, upscale=1.0):
    backbone = AlexNetFCN("torchvision", feature_layers=("conv5",))
    rng = np.random.default_rng(0)
    projection, _ = np.linalg.qr(rng.normal(size=(256, bits)))
    hashing = HashingLayer(bits, mean=np.zeros(256, np.float32), projection=projection,
                           output_mode="codes")
    return BinaryMapModel(backbone, hashing, upscale=upscale)


def test_code_map_follows_the_input_size_and_equals_the_parts():
    model = _random_model(bits=8, upscale=1.5)
    rng = np.random.default_rng(1)
    for height, width in [(240, 260), (321, 481)]:
        images = rng.integers(0, 256, (2, height, width, 3), dtype=np.uint8)
        codes = model.encode(images)
        assert codes.shape == (2, *model.code_map_size(height, width))
        assert codes.dtype == np.int32 and codes.min() >= 0 and codes.max() < 256
        # Equal to backbone features hashed by the NumPy reference.
        resized = model.resize_for_network(images)
        features = np.asarray(model.backbone(model.backbone.preprocess(resized))["conv5"])
        expected = pack_bits(encode(features, np.asarray(model.hashing.mean),
                                    np.asarray(model.hashing.projection)))
        np.testing.assert_array_equal(codes, expected)


def test_keras_file_round_trip(tmp_path):
    model = _random_model(bits=12, upscale=2.0)
    path = tmp_path / "binmap.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, BinaryMapModel) and loaded.upscale == 2.0 and loaded.bits == 12
    image = np.random.default_rng(2).integers(0, 256, (1, 150, 170, 3), dtype=np.uint8)
    np.testing.assert_array_equal(loaded.encode(image), model.encode(image))


def test_wrong_parts_are_refused():
    backbone = AlexNetFCN("torchvision", feature_layers=("conv4", "conv5"))
    with pytest.raises(ValueError, match="exactly one feature layer"):
        BinaryMapModel(backbone, HashingLayer(8, output_mode="codes"))
    with pytest.raises(ValueError, match="output_mode='codes'"):
        BinaryMapModel(AlexNetFCN("torchvision"), HashingLayer(8))


def test_itq_parameter_files_check_what_they_are_for(tmp_path):
    rng = np.random.default_rng(3)
    result = fit_itq(rng.normal(size=(500, 32)).astype(np.float32), 8)
    path = save_itq_parameters(tmp_path / "itq.npz", result, layer="conv5", bits=8)
    mean, projection = load_itq_parameters(path, bits=8, layer="conv5", dim=32)
    np.testing.assert_array_equal(projection, result.projection)
    assert read_itq_metadata(path)["layer"] == "conv5"
    with pytest.raises(ITQParameterError, match="has 8 bits, the model needs 16"):
        load_itq_parameters(path, bits=16)
    with pytest.raises(ITQParameterError, match="32-d features, the model's feature "
                                                "layer has 256"):
        load_itq_parameters(path, dim=256)
    with pytest.raises(ITQParameterError, match="fitted on conv5 features, the model "
                                                "uses conv7"):
        load_itq_parameters(path, layer="conv7")
    fitted_x1 = save_itq_parameters(tmp_path / "x1.npz", result, layer="conv5", bits=8,
                                    upscale=1.0, backbone="alexnet_torchvision_lpips")
    with pytest.raises(ITQParameterError, match=r"upscaled x1, the model upscales x2"):
        load_itq_parameters(fitted_x1, upscale=2.0)
    with pytest.raises(ITQParameterError, match="the model's backbone is alexnet_caffe"):
        load_itq_parameters(fitted_x1, backbone="alexnet_caffe_bvlc")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"garbage")
    with pytest.raises(ITQParameterError, match="junk.npz is not an ITQ parameter file"):
        load_itq_parameters(junk)
    with pytest.raises(ITQParameterError, match="does not exist; fit one"):
        load_itq_parameters(tmp_path / "missing.npz")


def test_shipped_itq_parameters_fit_their_presets():
    for preset in BINARY_MAP_PRESETS.values():
        if not preset.itq_file:
            with pytest.raises(ValueError, match="ships no fitted ITQ parameters"):
                preset.itq_path()
            continue
        path = preset.itq_path()
        mean, projection = load_itq_parameters(path, bits=preset.bits, layer=preset.layer,
                                               dim=256)
        np.testing.assert_allclose(projection.T @ projection, np.eye(preset.bits),
                                   atol=1e-4)
        meta = read_itq_metadata(path)
        assert meta["upscale"] == preset.upscale and meta["backbone"] == preset.backbone
        assert meta["losses"][-1] < meta["pca_loss"]  # ITQ beat PCA-then-sign
        assert meta["images"] == 200  # fitted on BSDS500 train
        assert json.dumps(meta)


@pytest.mark.network
def test_default_preset_on_a_real_photo_gives_regions_not_noise(weights_cache, photo):
    model = BinaryMapModel.from_preset(DEFAULT_BINARY_MAP_PRESET)
    codes = model.encode(photo[:321, :481])
    assert codes.shape == (1, *model.code_map_size(321, 481))
    from skimage.measure import label

    cells = codes[0].size
    regions = label(codes[0] + 1, background=0, connectivity=1).max()
    distinct = len(np.unique(codes))
    # A code map of noise would make nearly every cell its own region; a map of
    # regions has far fewer connected regions than cells, and uses many codes.
    assert regions < 0.5 * cells, (regions, cells)
    assert distinct > 10


@pytest.mark.network
def test_bfloat16_network_agrees_with_float32_and_is_recorded(weights_cache, photo, tmp_path):
    from tf_binmap.batch.outputs import segmenter_settings
    from tf_binmap.segmentation.segmenter import Segmenter

    reference = BinaryMapModel.from_preset("binmap_conv5_x1")
    fast = BinaryMapModel.from_preset("binmap_conv5_x1", precision="bfloat16")
    assert (reference.precision, fast.precision) == ("float32", "bfloat16")
    assert "bfloat16" in fast.backbone.get_layer("conv3").dtype_policy.name
    image = photo[None, :321, :481]
    expected, actual = reference.projections(image), fast.projections(image)
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    agreement = np.mean((actual >= 0) == (expected >= 0))
    assert 0.99 < agreement < 1.0  # close, and really computed in bfloat16
    np.testing.assert_array_equal(fast.encode(image), fast.encode(image))  # deterministic
    with pytest.raises(ValueError, match="precision must be one of"):
        BinaryMapModel.from_preset("binmap_conv5_x1", precision="float16")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    segmenter = Segmenter.from_preset(n_segments=20, precision="bfloat16")
    assert segmenter.segment(photo).max() == 19
    assert segmenter_settings(segmenter)["precision"] == "bfloat16"
    assert "precision" not in segmenter_settings(Segmenter(reference))
