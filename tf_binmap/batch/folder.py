"""Segmenting a folder of image files on one machine: a streaming pipeline whose stages
overlap, and resumable, atomically written output.

Three stages run at once, so decoding, the network and the merge keep both cores busy:

1. decoding, in a small thread pool reading ahead of the network (``prefetch`` images);
2. the network, in this thread, on batches of consecutive same-size images (up to
   ``batch_size``; a batch gives each image exactly what it gets alone);
3. everything after the network (superpixels, the merge, the label PNGs), in
   ``workers`` threads; its hot loops are compiled and release the GIL.

Each image's labels are those `Segmenter.segment` gives it alone (the same
`Segmenter.prepare` / `network_outputs` / `finish` steps). ``workers=0`` runs the steps
one image at a time in this thread. Each output is written atomically, an image whose
outputs all exist is skipped (an interrupted run resumes without redoing finished
images), unreadable files (missing, empty, corrupt, over the pixel limit) and images the
network cannot take (too small, too elongated) are reported with the reason and skipped,
and at most ``prefetch + batch_size + 2 * workers`` images are in memory at once.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import logging
import time
from pathlib import Path

import numpy as np

from tf_binmap.batch.outputs import (
    check_settings, colliding_outputs, output_paths, remove_stale_temporaries,
    segmenter_settings, write_outputs,
)
from tf_binmap.io.images import max_image_pixels, read_image_rgb

__all__ = ["BatchSummary", "segment_files"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class BatchSummary:
    """What a batch run did: images segmented, skipped (already done) and failed (with
    the reason), and its wall time."""

    done: int = 0
    skipped: int = 0
    failures: list = dataclasses.field(default_factory=list)  # (path, message)
    seconds: float = 0.0

    @property
    def seconds_per_image(self) -> float:
        """Wall time of the run divided by the images segmented."""
        return self.seconds / self.done if self.done else 0.0

    @property
    def images_per_second(self) -> float:
        """Images segmented per second of wall time."""
        return self.done / self.seconds if self.seconds else 0.0

    def __str__(self):
        return (f"{self.done} segmented, {self.skipped} already done, "
                f"{len(self.failures)} failed ({self.seconds_per_image:.2f} s per image)")


def _finish_and_write(segmenter, out_dir, path, image, work, output) -> None:
    """Stage 3 for one image: the merge and its three outputs."""
    try:
        result = segmenter.finish(image, work, output, return_intermediates=True)
    except ValueError as error:
        raise segmenter.explain(error, image, work) from None
    write_outputs(output_paths(out_dir, path), image, result.labels, result.pixel_codes,
                  segmenter.bits)


def segment_files(segmenter, paths, out_dir, batch_size: int = 4, redo: bool = False,
                  progress: bool = True, prefetch: int = 8, workers: int = 2,
                  max_pixels: int | None = None) -> BatchSummary:
    """Segment ``paths`` into ``out_dir``; returns a BatchSummary.

    Writes ``NAME.png`` (uint16 labels 0..n-1), ``NAME_overlay.png`` and
    ``NAME_binary_map.png`` per image, and the settings used in
    ``tf_binmap_segment.json`` (a later run into the same folder must use the same
    settings, or ``redo``). ``batch_size``: same-size images per network call;
    ``workers``: threads for the merge (0: everything in this thread, one image at a
    time); ``prefetch``: images decoded ahead; ``max_pixels``: images over it are refused
    unread (`tf_binmap.io.images.read_image_rgb`; default its limit). A file that cannot be
    read or segmented is a failure of the summary (with the reason), and the run goes on.
    """
    from tqdm.auto import tqdm

    if int(batch_size) < 1 or int(workers) < 0 or int(prefetch) < 1:
        raise ValueError(f"batch_size and prefetch must be >= 1 and workers >= 0, got "
                         f"{batch_size}, {prefetch} and {workers}")
    read = functools.partial(read_image_rgb, max_pixels=max_image_pixels(max_pixels))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_settings(out_dir, segmenter_settings(segmenter), redo)
    remove_stale_temporaries(out_dir)
    summary = BatchSummary()

    def fail(path, error):
        message = str(error)
        message = message if str(path) in message else f"{path}: {message}"
        summary.failures.append((path, message))
        logger.error("%s", message)

    paths = [Path(p) for p in paths]
    clashes = colliding_outputs(paths, out_dir)
    todo = []
    for path in paths:
        if path in clashes:
            fail(path, clashes[path])
        elif not redo and all(p.is_file() for p in output_paths(out_dir, path).values()):
            summary.skipped += 1
        else:
            todo.append(path)

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="tf_binmap-read") as readers, \
            concurrent.futures.ThreadPoolExecutor(max(workers, 1),
                                                  thread_name_prefix="tf_binmap-merge") as mergers, \
            tqdm(total=len(todo), desc="segmenting", unit="image",
                 disable=not progress or None) as bar:
        pending = collections.deque()  # (path, future) of stage 3, oldest first

        def collect(block_above):
            """Account for finished merges; wait while more than ``block_above`` run."""
            while pending and (pending[0][1].done() or len(pending) > block_above):
                path, future = pending.popleft()
                try:
                    future.result()
                    summary.done += 1
                except (ValueError, OSError) as error:
                    fail(path, error)
                bar.update(1)

        def run_batch(batch):
            """Stage 2 on one batch of (path, image, work), then stage 3 for each."""
            try:
                outputs = segmenter.network_outputs(np.stack([work for _, _, work in batch]))
            except ValueError as error:  # e.g. images below the receptive field
                for path, image, work in batch:
                    fail(path, segmenter.explain(error, image, work))
                    bar.update(1)
                return
            for (path, image, work), output in zip(batch, outputs):
                if workers == 0:
                    try:
                        _finish_and_write(segmenter, out_dir, path, image, work, output)
                        summary.done += 1
                    except (ValueError, OSError) as error:
                        fail(path, error)
                    bar.update(1)
                    continue
                collect(2 * workers)
                pending.append((path, mergers.submit(_finish_and_write, segmenter, out_dir,
                                                     path, image, work, output)))

        decoding = collections.deque()
        queue = iter(todo)
        batch = []
        while True:
            while len(decoding) < prefetch:  # keep `prefetch` decodes in flight
                path = next(queue, None)
                if path is None:
                    break
                decoding.append((path, readers.submit(read, path)))
            if not decoding:
                break
            path, future = decoding.popleft()
            try:
                image, work, _ = segmenter.prepare(future.result())
            except (ValueError, OSError) as error:
                fail(path, error)
                bar.update(1)
                continue
            if batch and (batch[0][2].shape != work.shape or len(batch) >= batch_size
                          or workers == 0):
                run_batch(batch)
                batch = []
            batch.append((path, image, work))
            collect(2 * workers)
        if batch:
            run_batch(batch)
        collect(0)
    summary.seconds = time.perf_counter() - start
    return summary
