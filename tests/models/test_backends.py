"""The same weights give the same feature maps under the TensorFlow, JAX and PyTorch
Keras backends (each backend runs in its own process: Keras picks it at import)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import assert_close

from tf_binmap import AlexNetFCN
from tf_binmap.weights.named import save_named_weights

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import keras
    from tf_binmap import AlexNetFCN
    weights, images, out, variant = sys.argv[1:5]
    assert keras.backend.backend() == sys.argv[5], keras.backend.backend()
    model = AlexNetFCN(variant, feature_layers=("conv5", "pool5", "conv7"), weights=weights)
    result = model(model.preprocess(np.load(images)))
    np.savez(out, **{k: keras.ops.convert_to_numpy(v) for k, v in result.items()})
""")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
@pytest.mark.parametrize("variant", ["caffe", "torchvision"])
def test_backends_agree(backend, variant, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (pip install 'tf-binmap[{backend}]')")
    model = AlexNetFCN(variant, feature_layers=("conv5", "pool5", "conv7"))
    weights = {name: tuple(model.get_layer(name).get_weights())
               for name in model.weight_layer_names}
    weights_path = save_named_weights(weights, variant, tmp_path / "w.h5")
    images = np.random.default_rng(7).integers(0, 256, (2, 233, 261, 3), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    expected = {k: np.asarray(v) for k, v in model(model.preprocess(images)).items()}

    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    out = tmp_path / f"{backend}.npz"
    subprocess.run([sys.executable, "-c", SCRIPT, str(weights_path),
                    str(tmp_path / "images.npy"), str(out), variant, backend],
                   check=True, env=env, timeout=600)
    with np.load(out) as actual:
        assert sorted(actual.files) == sorted(expected)
        for name, value in expected.items():
            assert_close(actual[name], value, rtol=1e-4, what=f"{backend} {name}")
