"""Caffe .caffemodel reading/writing, conversion to Keras layout, and the converted
AlexNetFCN("caffe") against an independent NumPy float64 Caffe forward pass."""

from __future__ import annotations

import numpy as np
import pytest

from weights_conversion import caffe_proto
from weights_conversion.caffe import (
    CAFFE_ALEXNET_SHAPES,
    caffe_blobs_to_keras,
    convert_caffemodel,
    read_caffemodel,
    write_caffemodel,
)
from weights_conversion.common import ConversionError

try:
    from tests.weights_conversion import caffe_reference as ref
except ImportError:  # tests/ is not importable as a package
    import caffe_reference as ref


# ----------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def modern_file(blobs, tmp_path_factory):
    # The full model is exercised through the legacy file; the current format shares
    # the blob code, so conv1-conv5 + fc8 keep this one small.
    subset = {k: v for k, v in blobs.items() if k.startswith("conv") or k == "fc8"}
    return write_caffemodel(tmp_path_factory.mktemp("caffe") / "modern.caffemodel", subset)


@pytest.fixture(scope="module")
def legacy_file(blobs, tmp_path_factory):
    return write_caffemodel(tmp_path_factory.mktemp("caffe") / "bvlc_alexnet.caffemodel",
                            blobs, legacy_v1=True)


@pytest.fixture(scope="module")
def keras_weights(blobs):
    return caffe_blobs_to_keras(blobs)


def small_blobs():
    rng = np.random.default_rng(3)
    return {
        "conv_a": [rng.standard_normal((4, 3, 2, 2)).astype(np.float32),
                   rng.standard_normal(4).astype(np.float32)],
        "fc_b": [rng.standard_normal((5, 7)).astype(np.float32),
                 rng.standard_normal(5).astype(np.float32)],
    }


def _varint(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _record(field, payload):
    """A length-delimited protobuf record (wire type 2)."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


# ------------------------------------------------------------------ reading/writing
def test_modern_file_round_trip(blobs, modern_file):
    read = read_caffemodel(modern_file)
    assert list(read) == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc8"]
    for name, arrays in read.items():
        assert len(arrays) == 2
        for got, want in zip(arrays, blobs[name]):
            assert got.dtype == np.float32 and got.shape == want.shape
            assert np.array_equal(got, want), name
            assert got.flags.writeable


def test_legacy_v1_file_round_trip(blobs, legacy_file, keras_weights):
    read = read_caffemodel(legacy_file)
    assert list(read) == list(blobs)
    # Legacy blobs keep their declared 4-d num/channels/height/width shapes.
    assert read["conv1"][0].shape == (96, 3, 11, 11)
    assert read["conv1"][1].shape == (1, 1, 1, 96)
    assert read["fc6"][0].shape == (1, 1, 4096, 9216)
    for name, arrays in blobs.items():
        for got, want in zip(read[name], arrays):
            assert got.dtype == np.float32 and np.array_equal(got.reshape(want.shape), want)
    converted = caffe_blobs_to_keras(read, source=str(legacy_file))
    assert list(converted) == list(keras_weights)
    for name, (kernel, bias) in keras_weights.items():
        assert converted[name][0].shape == kernel.shape
        assert np.array_equal(converted[name][0], kernel), name
        assert np.array_equal(converted[name][1], bias), name


def test_written_file_parses_with_the_exact_schema(tmp_path):
    """The fast writer's bytes are a valid packed-float NetParameter, in both formats."""
    small = small_blobs()
    for legacy in (False, True):
        path = write_caffemodel(tmp_path / f"small{legacy}.caffemodel", small, legacy_v1=legacy)
        net = caffe_proto.NetParameter()
        net.ParseFromString(path.read_bytes())
        layers = net.layers if legacy else net.layer
        assert [layer.name for layer in layers] == list(small)
        if legacy:
            assert layers[0].type == caffe_proto.V1LayerParameter.CONVOLUTION
            assert layers[1].type == caffe_proto.V1LayerParameter.INNER_PRODUCT
            blob = layers[1].blobs[0]
            assert (blob.num, blob.channels, blob.height, blob.width) == (1, 1, 5, 7)
        else:
            assert [layer.type for layer in layers] == ["Convolution", "InnerProduct"]
            assert list(layers[0].blobs[0].shape.dim) == [4, 3, 2, 2]
        for layer, arrays in zip(layers, small.values()):
            for blob, array in zip(layer.blobs, arrays):
                np.testing.assert_array_equal(np.array(blob.data, np.float32), array.ravel())


def test_exact_schema_file_reads_back(tmp_path):
    """A file written through the repeated-float schema (as Caffe writes it)."""
    net = caffe_proto.NetParameter(name="x")
    layer = net.layer.add(name="fc", type="InnerProduct")
    blob = layer.blobs.add()
    blob.shape.dim.extend([2, 3])
    blob.data.extend([0.5, -1.0, 2.0, 3.0, 4.0, 5.25])
    bias = layer.blobs.add()
    bias.shape.dim.append(2)
    bias.double_data.extend([1.5, -2.5])  # a double-precision blob
    path = tmp_path / "exact.caffemodel"
    path.write_bytes(net.SerializeToString())
    read = read_caffemodel(path)
    np.testing.assert_array_equal(read["fc"][0], [[0.5, -1.0, 2.0], [3.0, 4.0, 5.25]])
    np.testing.assert_array_equal(read["fc"][1], [1.5, -2.5])
    assert read["fc"][1].dtype == np.float32


def test_unpacked_float_encoding_falls_back_to_exact_schema(tmp_path):
    """Non-packed repeated floats are legal protobuf; the reader must still get them."""
    values = np.array([1.5, -2.25, 3.0], np.float32)
    shape = _record(1, _varint(3))  # BlobShape {dim: [3]} (packed int64)
    unpacked = b"".join(_varint(5 << 3 | 5) + v.tobytes() for v in values)
    blob = _record(7, shape) + unpacked
    layer = _record(1, b"ip") + _record(7, blob)
    path = tmp_path / "unpacked.caffemodel"
    path.write_bytes(_record(100, layer))
    read = read_caffemodel(path)
    np.testing.assert_array_equal(read["ip"][0], values)


def test_v0_layer_nested_in_v1(tmp_path):
    net = caffe_proto.NetParameter()
    v1 = net.layers.add()
    v1.layer.name = "conv1"
    v1.layer.type = "conv"
    for shape in ((2, 1, 1, 3), (1, 1, 1, 2)):
        blob = v1.layer.blobs.add()
        blob.num, blob.channels, blob.height, blob.width = shape
        blob.data.extend(np.arange(np.prod(shape), dtype=np.float32))
    path = tmp_path / "v0.caffemodel"
    path.write_bytes(net.SerializeToString())
    read = read_caffemodel(path)
    assert list(read) == ["conv1"]
    np.testing.assert_array_equal(read["conv1"][0], np.arange(6).reshape(2, 1, 1, 3))


# ---------------------------------------------------------------------- conversion
def test_conversion_layout(blobs, keras_weights):
    assert list(keras_weights) == ["conv1", "conv2", "conv3", "conv4", "conv5",
                                   "conv6", "conv7"]
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5"):
        w, b = blobs[name]
        kernel, bias = keras_weights[name]
        out, cin, kh, kw = w.shape
        assert kernel.shape == (kh, kw, cin, out) and kernel.dtype == np.float32
        # kernel[i, j, c, o] == w[o, c, i, j]
        np.testing.assert_array_equal(np.einsum("ocij->ijco", w), kernel)
        np.testing.assert_array_equal(bias, b)
    fc6, fc7 = blobs["fc6"][0], blobs["fc7"][0]
    conv6, conv7 = keras_weights["conv6"][0], keras_weights["conv7"][0]
    assert conv6.shape == (6, 6, 256, 4096) and conv7.shape == (1, 1, 4096, 4096)
    # fc6 input index = c * 36 + h * 6 + w (pool5 flattened in C, H, W order)
    rng = np.random.default_rng(5)
    for o, c, h, w in zip(*(rng.integers(0, n, 50) for n in (4096, 256, 6, 6))):
        assert conv6[h, w, c, o] == fc6[o, c * 36 + h * 6 + w]
    assert np.array_equal(conv6.transpose(3, 2, 0, 1).reshape(4096, 9216), fc6)
    assert np.array_equal(conv7[0, 0], fc7.T)
    assert "fc8" not in keras_weights and "conv8" not in keras_weights


def test_conversion_without_fc(modern_file, keras_weights):
    read = read_caffemodel(modern_file)  # conv1-conv5 + fc8
    weights = caffe_blobs_to_keras(read, include_fc=False)
    assert list(weights) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    for name, (kernel, bias) in weights.items():
        assert np.array_equal(kernel, keras_weights[name][0])
        assert np.array_equal(bias, keras_weights[name][1])
    with pytest.raises(ConversionError, match=r"missing layer\(s\) fc6, fc7 .*'fc8'\]"):
        caffe_blobs_to_keras(read, source=str(modern_file))


# -------------------------------------------------------------------------- errors
def test_truncated_file(blobs, tmp_path):
    conv_only = {k: v for k, v in blobs.items() if k.startswith("conv")}
    data = write_caffemodel(tmp_path / "full.caffemodel", conv_only).read_bytes()
    for cut in (len(data) // 2, len(data) - 3, 40):
        path = tmp_path / f"cut{cut}.caffemodel"
        path.write_bytes(data[:cut])
        with pytest.raises(ConversionError) as info:
            read_caffemodel(path)
        message = str(info.value)
        assert str(path) in message
        assert "not a Caffe .caffemodel (protobuf NetParameter) file" in message
        assert "bvlc_alexnet.caffemodel" in message


def test_text_files_are_rejected(tmp_path):
    prototxt = tmp_path / "deploy.prototxt"
    prototxt.write_text('name: "AlexNet"\nlayer {\n  name: "data"\n  type: "Input"\n}\n')
    with pytest.raises(ConversionError, match="prototxt") as info:
        read_caffemodel(prototxt)
    assert str(prototxt) in str(info.value)
    notes = tmp_path / "notes.caffemodel"
    notes.write_text("hello, this is not a model\n" * 20)
    with pytest.raises(ConversionError, match="not a Caffe .caffemodel") as info:
        read_caffemodel(notes)
    assert str(notes) in str(info.value)


@pytest.mark.parametrize("content", [b"", bytes(range(256)) * 8, b"\x89HDF\r\n\x1a\n" + b"\0" * 64])
def test_garbage_is_rejected(tmp_path, content):
    path = tmp_path / "garbage.caffemodel"
    path.write_bytes(content)
    with pytest.raises(ConversionError, match="not a Caffe .caffemodel") as info:
        read_caffemodel(path)
    assert str(path) in str(info.value)


def test_declared_shape_mismatch(tmp_path):
    net = caffe_proto.RawNetParameter()
    layer = net.layer.add(name="conv1")
    blob = layer.blobs.add()
    blob.shape.dim.extend([96, 3, 11, 11])
    blob.data = np.zeros(100, "<f4").tobytes()
    path = tmp_path / "short.caffemodel"
    path.write_bytes(net.SerializeToString())
    with pytest.raises(ConversionError, match=r"layer 'conv1' blob 0 declares shape") as info:
        read_caffemodel(path)
    assert str(path) in str(info.value)


def test_wrong_shaped_fc6(blobs, tmp_path):
    bad = {k: v for k, v in blobs.items() if k.startswith("conv")}
    bad["fc6"] = [np.zeros((10, 9216), np.float32), np.zeros(10, np.float32)]
    bad["fc7"] = [np.zeros((2, 2), np.float32), np.zeros(2, np.float32)]
    path = write_caffemodel(tmp_path / "bad_fc6.caffemodel", bad)
    with pytest.raises(ConversionError) as info:
        caffe_blobs_to_keras(read_caffemodel(path), source=str(path))
    message = str(info.value)
    assert str(path) in message and "fc6" in message
    assert "(10, 9216)" in message and "(4096, 9216)" in message


def test_wrong_blob_count(blobs):
    bad = dict(blobs)
    bad["conv3"] = [blobs["conv3"][0]]
    with pytest.raises(ConversionError, match=r"x\.caffemodel: layer conv3 has 1 blob"):
        caffe_blobs_to_keras(bad, source="x.caffemodel")


def test_missing_layer(blobs, tmp_path):
    partial = {k: blobs[k] for k in ("conv1", "conv2", "conv3", "conv4")}
    path = write_caffemodel(tmp_path / "partial.caffemodel", partial, legacy_v1=True)
    with pytest.raises(ConversionError) as info:
        caffe_blobs_to_keras(read_caffemodel(path), source=str(path))
    message = str(info.value)
    assert str(path) in message
    assert "missing layer(s) conv5, fc6, fc7" in message
    assert "['conv1', 'conv2', 'conv3', 'conv4']" in message


def test_expected_shapes_table_matches_reference():
    for name, (out, per_group_in, k, _, _, _) in ref.CONV_SPECS.items():
        assert CAFFE_ALEXNET_SHAPES[name] == ((out, per_group_in, k, k), (out,))
    for name in ("fc6", "fc7"):
        assert CAFFE_ALEXNET_SHAPES[name] == (ref.FC_SPECS[name], (ref.FC_SPECS[name][0],))


# ------------------------------------------------- the Keras model vs. the reference
def _keras_model(weights=None, path=None):
    models = pytest.importorskip("tf_binmap.models")
    layers = ("conv5", "pool5", "conv6", "conv7")
    if path is not None:
        return models.AlexNetFCN("caffe", feature_layers=layers, weights=path)
    model = models.AlexNetFCN("caffe", feature_layers=layers)
    for name, (kernel, bias) in weights.items():
        model.get_layer(name).set_weights([kernel, bias])
    return model


def _compare(model, blobs, height, width, seed):
    import keras

    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(1, height, width, 3), dtype=np.uint8)
    got = model(model.preprocess(image))
    want = ref.alexnet_forward(blobs, ref.caffe_input(image), upto="conv7")
    for name in ("conv5", "pool5", "conv6", "conv7"):
        g = keras.ops.convert_to_numpy(got[name])
        w = want[name].transpose(0, 2, 3, 1)  # NCHW -> NHWC
        assert g.shape == w.shape, (name, g.shape, w.shape)
        scale = np.abs(w).max()
        assert scale > 1.0 and 0.2 < (w > 0).mean() < 0.9, (name, scale)  # not dead
        error = np.abs(g - w).max() / scale
        assert error < 1e-4, f"{name}: max error {error:.2e} of max |ref| {scale:.3g}"


@pytest.mark.slow
def test_converted_model_matches_caffe_reference(blobs, legacy_file, keras_weights,
                                                 tmp_path):
    """bvlc_alexnet.caffemodel (legacy format) -> named-layer file -> AlexNetFCN, whose
    conv5/pool5/conv6/conv7 match the float64 Caffe reference at non-227 sizes and
    at 227x227 (float32 vs float64: max error below 1e-4 of the max activation)."""
    out = convert_caffemodel(legacy_file, tmp_path / "alexnet_caffe.h5")
    model = _keras_model(path=out)
    assert model.weight_layer_names == tuple(keras_weights)
    for name, (kernel, bias) in keras_weights.items():  # loading == set_weights
        loaded_kernel, loaded_bias = model.get_layer(name).get_weights()
        assert np.array_equal(loaded_kernel, kernel) and np.array_equal(loaded_bias, bias)
    _compare(model, blobs, 321, 481, seed=1)
    _compare(model, blobs, 227, 227, seed=2)
    # Even-sized pooling inputs (Caffe's ceil rounding adds a clipped last window):
    # 263 -> conv1 64 -> pool1 32 -> pool2 16 -> pool5 8 -> conv6 3.
    _compare(model, blobs, 263, 263, seed=3)


