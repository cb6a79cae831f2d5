"""One log line when the segmentation's compiled kernels are being compiled.

The leaves (`felzenszwalb`), the region statistics (`regions`) and the learned merge
loop (`agglomerate_compiled`) are numba functions cached on disk (``cache=True``). The
first use on a machine (or after an upgrade) compiles them, about 10 s on a 2-core CPU,
before the first image finishes; later processes load them from the cache in well under
a second. `install_compile_notice` tells the user why the first image is slow: numba's
``numba:compile`` event fires only when a function is compiled, never on a cache load,
and the notice is given once per process, for this package's functions only.
"""

from __future__ import annotations

import logging
import threading

from numba.core import event

__all__ = ["COMPILE_NOTICE", "install_compile_notice"]

logger = logging.getLogger("tf_binmap")

#: What the user is told, once per process.
COMPILE_NOTICE = ("compiling the segmentation's kernels with numba: once on this machine, "
                  "about 10 s; later runs load them from numba's cache")


class _CompileNotice(event.Listener):
    """Logs `COMPILE_NOTICE` at the first compilation of a ``tf_binmap`` function."""

    def __init__(self):
        self.given = False
        self._lock = threading.Lock()

    def on_start(self, ev):
        dispatcher = (ev.data or {}).get("dispatcher")
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
        if not module.startswith("tf_binmap."):
            return
        with self._lock:
            if self.given:
                return
            self.given = True
        logger.info("%s", COMPILE_NOTICE)

    def on_end(self, ev):
        pass


_listener: _CompileNotice | None = None
_install_lock = threading.Lock()


def install_compile_notice() -> None:
    """Register the notice with numba's event system (once per process)."""
    global _listener
    with _install_lock:
        if _listener is None:
            _listener = _CompileNotice()
            event.register("numba:compile", _listener)
