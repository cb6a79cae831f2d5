"""Running the network beside the CPU work of the same image.

On a CPU the network (TensorFlow, or the LiteRT interpreter) and the superpixels (numba,
OpenCV) both release the GIL, so one image's network can run in a second thread while
this thread computes its superpixels: the two take about the time of the longer one on
two cores instead of their sum. One network thread per `NetworkThread` serialises the
calls into the model, so a model that is not thread-safe (a TFLite interpreter) is only
ever called from that thread.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["NetworkThread"]


class NetworkThread:
    """One thread that runs network calls while the caller's thread works."""

    def __init__(self):
        self._executor = None
        self._lock = threading.Lock()

    def beside(self, network: Callable[[], Any], work: Callable[[], Any],
               timings: dict) -> tuple[Any, Any]:
        """``(network(), work())``, the first run in the network thread during the
        second. ``timings`` gets "network" (the network's own seconds) and
        "network_wait" (how long this thread waited for it after ``work``)."""
        with self._lock:  # made on first use, once, however many threads ask
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix="tf_binmap-network")

        def timed():
            start = time.perf_counter()
            return network(), time.perf_counter() - start

        future = self._executor.submit(timed)
        try:
            done = work()
        finally:
            start = time.perf_counter()
            output, timings["network"] = future.result()
            timings["network_wait"] = time.perf_counter() - start
        return output, done
