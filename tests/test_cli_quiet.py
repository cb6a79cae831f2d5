"""TensorFlow's start-up lines are kept out of tf-binmap's output; nothing else is."""

from __future__ import annotations

import os
import subprocess
import sys

from tf_binmap.cli.quiet import CHATTER, filtered_stderr

ABSL = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ONEDNN = ("I0000 00:00:1796447573.380202    1897 port.cc:153] oneDNN custom operations are "
          "on. You may see slightly different numerical results due to floating-point "
          "round-off errors from different computation orders. To turn them off, set the "
          "environment variable `TF_ENABLE_ONEDNN_OPTS=0`.")


def test_the_pattern_matches_the_chatter_only():
    assert CHATTER.match(ABSL) and CHATTER.match(ONEDNN)
    for line in ("ERROR: photo.jpg: not an image", "Traceback (most recent call last):",
                 "E0000 00:00:1.0  1 port.cc:153] a real error",
                 "I0000 00:00:1.0  1 cuda_dnn.cc:8] something else"):
        assert not CHATTER.match(line), line


def test_filtered_stderr_drops_the_chatter_and_passes_the_rest_on_in_order(capfd):
    with filtered_stderr():
        os.write(2, f"{ABSL}\nfirst\n{ONEDNN}\n".encode())
        os.write(2, b"second\n")
        os.write(2, b"\rprogress 50%\rprogress 100%\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "first\nsecond\n\rprogress 50%\rprogress 100%\nafter\n"


def test_filtered_stderr_restores_stderr_when_the_block_raises(capfd):
    try:
        with filtered_stderr():
            os.write(2, b"kept\n")
            raise ImportError("broken")
    except ImportError:
        pass
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "kept\nafter\n"


def _import_tensorflow(quiet):
    code = ("import sys\n"
            + ("from tf_binmap.cli.quiet import quiet_tensorflow_import\n"
               "quiet_tensorflow_import()\n" if quiet else "")
            + "import keras, tensorflow\n"
              "print('imported', file=sys.stderr)\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_the_first_tensorflow_import_is_quiet():
    loud, quiet = _import_tensorflow(quiet=False), _import_tensorflow(quiet=True)
    assert loud.returncode == 0 and quiet.returncode == 0, loud.stderr + quiet.stderr
    # The control: this TensorFlow does write start-up lines, so the filter is tested.
    assert any(CHATTER.match(line) for line in loud.stderr.splitlines()), loud.stderr
    assert not any(CHATTER.match(line) for line in quiet.stderr.splitlines()), quiet.stderr
    assert quiet.stderr.endswith("imported\n")  # what else was written still arrives
