"""The serving graph of a `BinaryMapModel`: uint8 images at image scale -> resize by the
model's upscale (`tf_binmap.export.resize`, bit-exact OpenCV) -> the Keras model's own
layers -> ``codes``, ``bits`` and ``projections`` from one pass; ``serving_bytes``
decodes encoded files first. The same graph goes to TF Serving and to TFLite.

The TF Serving graph refuses a request whose images hold more than ``max_pixels`` pixels
in all (`DEFAULT_MAX_REQUEST_PIXELS`), with a clear error instead of exhausting the
server's memory; ``serving_bytes`` checks the files' headers before decoding any
(`tf_binmap.export.headers`). The TFLite graph has no such check (no assert ops)."""

from __future__ import annotations

from tf_binmap.export.headers import check_encoded_sizes, check_image_sizes
from tf_binmap.export.metadata import (
    BYTES_SIGNATURE,
    DEFAULT_MAX_REQUEST_PIXELS,
    SERVING_SIGNATURE,
)
from tf_binmap.export.resize import (
    integer_upscale,
    integer_upscale_factor,
    network_size,
    opencv_linear_resize,
)
from tf_binmap.models.layers import ImagePreprocessing

__all__ = ["codes_and_bits", "decode_images", "export_archive", "image_scale_outputs",
           "preprocess_uint8"]


def preprocess_uint8(model, images):
    """The model's ``ImagePreprocessing``, with Caffe's RGB -> BGR flip done on the
    uint8 image, before the cast (the same values). The TFLite int8 quantizer mis-scales
    a REVERSE_V2 between the input QUANTIZE and a SUB (conv1 came out with a relative
    error of 170%); on the raw uint8 input the flip is outside quantization."""
    import tensorflow as tf

    layer = model.get_layer("preprocessing")
    if not layer.bgr:
        return layer(images)
    in_network_order = ImagePreprocessing(layer.mean, layer.std, layer.scale, bgr=False,
                                          name="preprocessing_bgr_input")
    return in_network_order(tf.reverse(images, axis=[-1]))


def codes_and_bits(model, images):
    """Network-scale uint8 images -> {"codes": int32 (b, h, w), "bits": uint8
    (b, h, w, n), "projections": float32 (b, h, w, n)}, all from one pass (the Keras
    model's own layers and weights). The projections (before the threshold) are the
    soft codes the hierarchical segmentation averages over regions."""
    import tensorflow as tf

    features = model.backbone(preprocess_uint8(model, images))[model.feature_layer]
    projections = model.hashing.project(features)
    hard = projections >= 0.0
    weights = tf.constant([1 << (model.bits - 1 - i) for i in range(model.bits)], tf.int32)
    codes = tf.reduce_sum(tf.cast(hard, tf.int32) * weights, axis=-1)
    return {"codes": codes, "bits": tf.cast(hard, tf.uint8),
            "projections": tf.cast(projections, tf.float32)}


def image_scale_outputs(model, images, check_sizes=True,
                        max_pixels=DEFAULT_MAX_REQUEST_PIXELS, integer_resize=False):
    """Image-scale uint8 images -> outputs, resizing by ``upscale`` in the graph.

    ``integer_resize``: a power-of-two upscale in int32 tensors (for int8 TFLite, whose
    quantizer would coarsen float ones); else in float32 (exact too, and faster).

    ``check_sizes``: assert that the batch holds at most ``max_pixels`` pixels (before
    the upscale) and that the network input reaches the receptive field (clear errors
    for TF Serving; TFLite has no assert op, its runner checks before)."""
    import tensorflow as tf

    if check_sizes:
        with tf.control_dependencies([check_image_sizes(images, max_pixels)]):
            images = tf.identity(images)
    factor = integer_upscale_factor(model.upscale)
    if factor is not None:  # the presets' x2 and x4: integer arithmetic
        images = integer_upscale(images, factor,
                                 arithmetic="int32" if integer_resize else "float32")
    elif model.upscale != 1.0:
        shape = tf.shape(images)
        height, width = network_size(shape[1], model.upscale), network_size(
            shape[2], model.upscale)
        images = opencv_linear_resize(images, height, width)
    if check_sizes:
        shape = tf.shape(images)
        need = model.backbone.min_input_size
        checks = [tf.debugging.assert_greater_equal(
            shape[axis], need, message=f"image {side} after upscale x{model.upscale:g} is "
            f"below the {need} pixels AlexNet ({model.backbone.variant}) needs for "
            f"{model.feature_layer}") for axis, side in ((1, "height"), (2, "width"))]
        with tf.control_dependencies(checks):
            images = tf.identity(images)
    return codes_and_bits(model, images)


def decode_images(image_bytes, max_pixels=DEFAULT_MAX_REQUEST_PIXELS):
    """A string batch of encoded images (JPEG, PNG, BMP, GIF's first frame; all of one
    size) -> uint8 (batch, H, W, 3), after asserting from their headers that decoding
    them costs at most ``max_pixels`` pixels (`check_encoded_sizes`)."""
    import tensorflow as tf

    with tf.control_dependencies(check_encoded_sizes(image_bytes, max_pixels)):
        image_bytes = tf.identity(image_bytes)

    def decode(data):
        image = tf.io.decode_image(data, channels=3, dtype=tf.uint8,
                                   expand_animations=False)
        image.set_shape([None, None, 3])
        return image

    return tf.map_fn(decode, image_bytes,
                     fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))


def export_archive(model, for_tflite=False, max_pixels=DEFAULT_MAX_REQUEST_PIXELS,
                   integer_resize=False):
    """A ``keras.export.ExportArchive`` with the serving signatures, both taking images
    at image scale and resizing by the model's upscale inside the graph.

    ``for_tflite=False``: the TF Serving graph (``serving_default`` with size checks, and
    ``serving_bytes``; a request over ``max_pixels`` pixels is refused); ``True``:
    ``serving_default`` only, without assert ops, for the TFLite converter.
    ``integer_resize``: see `image_scale_outputs` (the int8 TFLite export)."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    image_spec = tf.TensorSpec([None, None, None, 3], tf.uint8, name="image")
    archive.add_endpoint(SERVING_SIGNATURE,
                         lambda image: image_scale_outputs(model, image,
                                                           check_sizes=not for_tflite,
                                                           max_pixels=max_pixels,
                                                           integer_resize=integer_resize),
                         input_signature=[image_spec])
    if not for_tflite:
        archive.add_endpoint(
            BYTES_SIGNATURE,
            lambda image_bytes: image_scale_outputs(
                model, decode_images(image_bytes, max_pixels), max_pixels=max_pixels),
            input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    return archive
