"""Fixtures shared by the converter tests."""

import pytest

try:
    from tests.weights_conversion import caffe_reference as ref
except ImportError:  # tests/ is not importable as a package
    import caffe_reference as ref


@pytest.fixture(scope="module")
def blobs():
    """Seeded random BVLC AlexNet blobs in Caffe layout (with fc8)."""
    return ref.random_alexnet_blobs(seed=0, include_fc8=True)
