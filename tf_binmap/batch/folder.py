"""Batch segmentation of image files: prefetching, same-size batches, resumable output.

Decoding runs in a background thread pool ahead of the network (so it overlaps the
network and the superpixels), consecutive images of the same size are batched through
the network, each output is written atomically, and an image whose outputs all exist is
skipped, so an interrupted run resumes without redoing (or rewriting) finished images.
Unreadable files are reported with the reason and skipped.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np

from tf_binmap.batch.outputs import (
    check_settings, colliding_outputs, output_paths, remove_stale_temporaries,
    segmenter_settings, write_outputs,
)
from tf_binmap.io.images import read_image_rgb

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
    def seconds_per_image(self):
        """Wall time of the run divided by the images segmented."""
        return self.seconds / self.done if self.done else 0.0

    def __str__(self):
        return (f"{self.done} segmented, {self.skipped} already done, "
                f"{len(self.failures)} failed ({self.seconds_per_image:.2f} s per image)")


def segment_files(segmenter, paths, out_dir, batch_size=4, redo=False, progress=True,
                  prefetch=8, workers=2):
    """Segment ``paths`` into ``out_dir``; returns a BatchSummary.

    Writes ``NAME.png`` (uint16 labels 0..n-1), ``NAME_overlay.png`` and
    ``NAME_binary_map.png`` per image, and the settings used in
    ``tf_binmap_segment.json`` (a later run into the same folder must use the same
    settings, or ``redo``).
    """
    from tqdm.auto import tqdm

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

    def flush(group, bar):
        if not group:
            return
        # One image at a time through segment(): the hierarchy, and images shrunk to the
        # working size (max_side); the paper's method batches same-size images.
        if segmenter.merge_mode != "codes" or \
                segmenter.shrinks(group[0][1].shape):
            for path, image in group:
                try:
                    result = segmenter.segment(image, return_intermediates=True)
                    write_outputs(output_paths(out_dir, path), image, result.labels,
                                   result.pixel_codes, segmenter.bits)
                    summary.done += 1
                except (ValueError, OSError) as error:
                    fail(path, error)
                bar.update(1)
            return
        try:
            code_maps = np.asarray(segmenter.model.encode(np.stack([im for _, im in group])))
        except ValueError as error:  # e.g. an image below the receptive field
            for path, _ in group:
                fail(path, error)
            bar.update(len(group))
            return
        for (path, image), code_map in zip(group, code_maps):
            try:
                labels, pixel_codes, _, _ = segmenter.merge(image, code_map)
                write_outputs(output_paths(out_dir, path), image, labels, pixel_codes,
                               segmenter.bits)
                summary.done += 1
            except (ValueError, OSError) as error:
                fail(path, error)
            bar.update(1)

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(todo), desc="segmenting", unit="image",
                 disable=not progress or None) as bar:
        futures = {}
        group = []
        for index, path in enumerate(todo):
            # Keep up to `prefetch` decodes in flight ahead of the one we need.
            for ahead in todo[index:index + prefetch]:
                if ahead not in futures:
                    futures[ahead] = pool.submit(read_image_rgb, ahead)
            try:
                image = futures.pop(path).result()
            except (ValueError, OSError) as error:
                fail(path, error)
                bar.update(1)
                continue
            if group and (group[0][1].shape != image.shape or len(group) >= batch_size):
                flush(group, bar)
                group = []
            group.append((path, image))
        flush(group, bar)
    summary.seconds = time.perf_counter() - start
    return summary
