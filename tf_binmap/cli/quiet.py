"""TensorFlow's start-up chatter kept out of the command's output.

``import tensorflow`` writes a few lines straight to file descriptor 2 from C++ (abseil's
"All log messages before absl::InitializeLog() ..." and oneDNN's "custom operations are
on ..."), which ``TF_CPP_MIN_LOG_LEVEL`` does not silence (abseil logs before it reads
the setting). `quiet_tensorflow_import` catches what the first import of TensorFlow
writes to descriptor 2, wherever in the command it happens, and passes every other line
on: an import error, a warning or a progress bar written meanwhile still reaches the
user. ``tf-binmap -v`` leaves the import alone.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

__all__ = ["CHATTER", "filtered_stderr", "quiet_tensorflow_import"]

#: Lines of TensorFlow's start-up that say nothing to a user of this tool.
CHATTER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written"
    r" to STDERR"
    r"|[IW]\d{4} [\d:. ]+\s+\d+ (port|cpu_feature_guard)\.cc:\d+\] .*"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate"
    r" compiler flags\.)$")


@contextlib.contextmanager
def filtered_stderr(pattern: re.Pattern = CHATTER):
    """Within the block, file descriptor 2 goes to a temporary file; at its end the lines
    that do not match ``pattern`` are written back to descriptor 2, in order."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a detached process): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True)
                    if not pattern.match(line.rstrip("\r\n"))]
            if kept:
                os.write(2, "".join(kept).encode("utf-8"))


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` once, as the next finders do, and runs its module code
    inside `filtered_stderr`."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)  # once; the real finders do the finding
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            with filtered_stderr():
                run(module)

        spec.loader.exec_module = exec_module
        return spec


def quiet_tensorflow_import() -> None:
    """Filter `CHATTER` from the first ``import tensorflow`` of this process (from now
    on, wherever it happens; nothing if TensorFlow is already imported)."""
    if "tensorflow" in sys.modules or any(
            isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorFlowFinder())
