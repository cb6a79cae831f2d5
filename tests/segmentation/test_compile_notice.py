"""The user is told when the compiled kernels are compiled (the slow first use), and
only then: a run that loads them from numba's cache says nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tf_binmap.segmentation.compile_notice import COMPILE_NOTICE

pytestmark = pytest.mark.slow

CODE = """
import logging
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
import numba, numpy as np
from tf_binmap.segmentation.felzenszwalb import felzenszwalb_numba

@numba.njit
def own(x):  # a user's own numba function: no notice for it
    return x + 1

own(1)
image = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
felzenszwalb_numba(image)
felzenszwalb_numba(image[:8])
"""


def _run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_the_notice_comes_once_when_compiling_and_not_from_the_cache(tmp_path):
    first = _run(tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count(f"tf_binmap: {COMPILE_NOTICE}") == 1, first.stderr
    assert any(tmp_path.rglob("*.nbi")), "numba wrote no cache index"
    second = _run(tmp_path)
    assert second.returncode == 0, second.stderr
    assert COMPILE_NOTICE not in second.stderr


def test_a_users_own_numba_function_gives_no_notice(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    code = CODE.split("image = ")[0]  # only the user's function is compiled
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0 and COMPILE_NOTICE not in result.stderr, result.stderr
