"""An independent NumPy (float64) forward pass of Caffe's BVLC AlexNet, for the tests.

Written from Caffe's layer definitions (not from tf_binmap's Keras code), on
Caffe-layout blobs: convolution weights (out, in / group, kh, kw), inner-product
weights (out, in); activations are NCHW.

* Convolution: out = floor((H + 2 pad - k) / stride) + 1; with ``group`` g the input
  channels and the filters are split into g consecutive blocks, block i of the filters
  seeing block i of the inputs.
* ReLU: max(x, 0).
* LRN (ACROSS_CHANNELS): ``x / (k + alpha / n * sum_{c' = c - (n-1)/2}^{c + (n-1)/2}
  x_{c'}^2) ** beta``, out-of-range channels counting as 0; n=5, alpha=1e-4,
  beta=0.75, k=1.
* Max pooling: out = ceil((H + 2 pad - k) / stride) + 1 (minus one if the last window
  would start in the padding); each window is clipped to the input.
* fc6 on a pool5 larger than 6x6: the inner product applied to every 6x6 window of
  pool5 flattened in (C, H, W) order (what a "fully convolutional" AlexNet computes);
  fc7: the inner product at every position.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MEAN_BGR = (104.0, 117.0, 123.0)

# BVLC AlexNet (deploy.prototxt): name -> (out, in/group, k, stride, pad, group)
CONV_SPECS = {
    "conv1": (96, 3, 11, 4, 0, 1),
    "conv2": (256, 48, 5, 1, 2, 2),
    "conv3": (384, 256, 3, 1, 1, 1),
    "conv4": (384, 192, 3, 1, 1, 2),
    "conv5": (256, 192, 3, 1, 1, 2),
}
FC_SPECS = {"fc6": (4096, 256 * 6 * 6), "fc7": (4096, 4096), "fc8": (1000, 4096)}


def caffe_input(rgb_uint8):
    """(N, H, W, 3) uint8 RGB -> (N, 3, H, W) float64 BGR minus the mean pixel."""
    x = np.asarray(rgb_uint8, dtype=np.float64)[..., ::-1] - np.asarray(MEAN_BGR)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def convolution(x, weight, bias, stride=1, pad=0, group=1):
    n, channels, height, width = x.shape
    out, per_group_in, kh, kw = weight.shape
    assert channels == per_group_in * group and out % group == 0, (x.shape, weight.shape)
    out_h = (height + 2 * pad - kh) // stride + 1
    out_w = (width + 2 * pad - kw) // stride + 1
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    # (n, channels, out_h, out_w, kh, kw): the input patch of every output position
    patches = sliding_window_view(padded, (kh, kw), axis=(2, 3))
    patches = patches[:, :, ::stride, ::stride][:, :, :out_h, :out_w]
    per_group_out = out // group
    blocks = []
    for g in range(group):
        w = weight[g * per_group_out:(g + 1) * per_group_out]
        p = patches[:, g * per_group_in:(g + 1) * per_group_in]
        blocks.append(np.tensordot(p, w, axes=([1, 4, 5], [1, 2, 3])))  # (n, oh, ow, o)
    y = np.concatenate(blocks, axis=-1) + bias
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2))


def relu(x):
    return np.maximum(x, 0.0)


def lrn_across_channels(x, local_size=5, alpha=1e-4, beta=0.75, k=1.0):
    channels = x.shape[1]
    half = (local_size - 1) // 2
    c = np.arange(channels)
    # band[c, d] = 1 when channel d lies in the window centred on channel c
    band = (np.abs(c[:, None] - c[None, :]) <= half).astype(np.float64)
    window_sum = np.einsum("cd,ndhw->nchw", band, x * x)
    return x / (k + alpha / local_size * window_sum) ** beta


def max_pool_ceil(x, kernel=3, stride=2, pad=0):
    n, channels, height, width = x.shape

    def out_size(size):
        out = -(-(size + 2 * pad - kernel) // stride) + 1  # ceil
        if pad and (out - 1) * stride >= size + pad:
            out -= 1
        return out

    out_h, out_w = out_size(height), out_size(width)
    # Windows running past the input are clipped: fill the outside with -inf.
    full_h = max((out_h - 1) * stride + kernel, height + pad)
    full_w = max((out_w - 1) * stride + kernel, width + pad)
    padded = np.full((n, channels, full_h, full_w), -np.inf, dtype=x.dtype)
    padded[:, :, pad:pad + height, pad:pad + width] = x
    windows = sliding_window_view(padded, (kernel, kernel), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride][:, :, :out_h, :out_w]
    return windows.max(axis=(4, 5))


def inner_product_sliding(x, weight, bias, size):
    """The inner product (out, C*size*size) over every size x size window of x."""
    n, channels, height, width = x.shape
    out_h, out_w = height - size + 1, width - size + 1
    windows = sliding_window_view(x, (size, size), axis=(2, 3))  # (n, C, oh, ow, s, s)
    columns = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n, out_h, out_w, -1)  # C,H,W
    y = columns @ weight.T + bias
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2))


def alexnet_forward(blobs, x, upto="conv7"):
    """Caffe AlexNet on ``x`` (N, 3, H, W) BGR mean-subtracted, float64.

    ``blobs``: ``{caffe layer: [weight, bias]}`` in Caffe layout (fc6/fc7 needed only
    for conv6/conv7). Returns ``{name: NCHW array}`` for conv1, pool1, conv2, pool2,
    conv3, conv4, conv5, pool5 and, when ``upto`` is "conv6"/"conv7", conv6 (= fc6
    slid over pool5, after ReLU) and conv7 (= fc7 at every position, after ReLU).
    Every conv feature is taken after its ReLU.
    """
    def params(name):
        w, b = blobs[name]
        return np.asarray(w, np.float64), np.asarray(b, np.float64).reshape(-1)

    def conv(name, inp):
        out, per_group_in, k, stride, pad, group = CONV_SPECS[name]
        w, b = params(name)
        assert w.shape == (out, per_group_in, k, k), (name, w.shape)
        return relu(convolution(inp, w, b, stride=stride, pad=pad, group=group))

    x = np.asarray(x, np.float64)
    maps = {}
    maps["conv1"] = conv("conv1", x)
    maps["pool1"] = max_pool_ceil(lrn_across_channels(maps["conv1"]))
    maps["conv2"] = conv("conv2", maps["pool1"])
    maps["pool2"] = max_pool_ceil(lrn_across_channels(maps["conv2"]))
    maps["conv3"] = conv("conv3", maps["pool2"])
    maps["conv4"] = conv("conv4", maps["conv3"])
    maps["conv5"] = conv("conv5", maps["conv4"])
    maps["pool5"] = max_pool_ceil(maps["conv5"])
    if upto in ("conv6", "conv7"):
        w, b = params("fc6")
        maps["conv6"] = relu(inner_product_sliding(maps["pool5"], w.reshape(w.shape[0], -1), b, 6))
    if upto == "conv7":
        w, b = params("fc7")
        w = w.reshape(w.shape[0], -1)
        maps["conv7"] = relu(inner_product_sliding(maps["conv6"], w, b, 1))
    return maps


@functools.lru_cache(maxsize=2)
def random_alexnet_blobs(seed=0, include_fc8=False):
    """Random BVLC AlexNet blobs in Caffe layout, float32 (read-only, cached).

    He-normal weights (std sqrt(2 / fan_in)) so activations neither vanish nor blow
    up through the ReLUs, and small random biases. The result is cached (the full
    model is 61 M values); copy the dict before changing it.
    """
    rng = np.random.default_rng(seed)
    blobs = {}
    for name, (out, per_group_in, k, _, _, _) in CONV_SPECS.items():
        fan_in = per_group_in * k * k
        w = rng.standard_normal((out, per_group_in, k, k), dtype=np.float32)
        w *= np.float32(np.sqrt(2.0 / fan_in))
        b = rng.standard_normal(out, dtype=np.float32) * np.float32(0.5)
        blobs[name] = [w, b]
    for name, (out, fan_in) in FC_SPECS.items():
        if name == "fc8" and not include_fc8:
            continue
        w = rng.standard_normal((out, fan_in), dtype=np.float32)
        w *= np.float32(np.sqrt(2.0 / fan_in))
        b = rng.standard_normal(out, dtype=np.float32) * np.float32(0.5)
        blobs[name] = [w, b]
    for arrays in blobs.values():
        for array in arrays:
            array.setflags(write=False)
    return blobs
