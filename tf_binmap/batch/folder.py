"""Batch segmentation of image files: prefetching, same-size batches, resumable output.

Decoding runs in a background thread pool ahead of the network (so it overlaps the
network and the superpixels), consecutive images of the same size are batched through
the network, each output is written atomically, and an image whose outputs all exist is
skipped, so an interrupted run resumes without redoing (or rewriting) finished images.
Unreadable files (missing, empty, corrupt, over the pixel limit) and images the network
cannot take (too small, too elongated) are reported with the reason and skipped.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import json
import logging
import re
import time
from pathlib import Path

import numpy as np

from tf_binmap.hashing.codes import code_map_to_rgb
from tf_binmap.io.files import atomic_output, write_png_atomic
from tf_binmap.io.images import max_image_pixels, read_image_rgb
from tf_binmap.visualize import boundary_overlay

logger = logging.getLogger(__name__)

OUTPUT_KINDS = ("", "_overlay", "_binary_map")


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


def output_paths(out_dir, path):
    """The output files of the image at ``path`` in ``out_dir``: ``{suffix: path}`` for
    the labels, the overlay and the binary-map picture."""
    return {kind: Path(out_dir) / f"{Path(path).stem}{kind}.png" for kind in OUTPUT_KINDS}


def _write_outputs(outputs, image, labels, pixel_codes, bits):
    if labels.max() >= 65536:
        raise ValueError(f"{labels.max() + 1} segments do not fit a 16-bit PNG")
    write_png_atomic(outputs["_overlay"], boundary_overlay(image, labels))
    write_png_atomic(outputs["_binary_map"], code_map_to_rgb(pixel_codes, bits))
    write_png_atomic(outputs[""], labels.astype(np.uint16))


SETTINGS_FILE = "tf_binmap_segment.json"
_TEMP_FILE = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp(\.\w+)?$")


def segmenter_settings(segmenter):
    """What determines the outputs: a finished image is only reused under the same."""
    model = segmenter.model
    return {
        "model": getattr(model, "name", type(model).__name__), "bits": int(model.bits),
        "upscale": float(model.upscale),
        "superpixels": segmenter.superpixel_method,
        "superpixel_params": {k: float(v) for k, v in
                              sorted(segmenter.superpixel_params.items())},
        "threshold": segmenter.threshold, "alignment": segmenter.alignment,
        "absorb_single_neighbour": segmenter.absorb_single_neighbour,
        "merge": segmenter.merge_mode, "max_side": segmenter.max_side,
        **({"n_segments": segmenter.n_segments, "hierarchy": _hierarchy_settings(segmenter)}
           if segmenter.merge_mode == "hierarchy" else {}),
    }


def _hierarchy_settings(segmenter) -> dict:
    settings = {}
    for key, value in segmenter.hierarchy_params.items():
        if key == "scorer":
            scorer = segmenter.merge_scorer
            # The scorer by content (a file may be refitted under the same name).
            settings[key] = None if scorer is None else scorer.fingerprint()
        elif value is None or isinstance(value, str):
            settings[key] = value
        else:
            settings[key] = float(value)
    return settings


def _check_settings(out_dir, settings, redo):
    """Refuse to resume into a folder made with other settings (unless ``redo``)."""
    path = out_dir / SETTINGS_FILE
    previous = None
    if path.is_file():
        try:
            previous = json.loads(path.read_text())
        except ValueError:
            previous = "unreadable"
        if previous != settings and not redo:
            raise ValueError(
                f"{out_dir} holds outputs made with other settings ({path}: {previous}); "
                "choose another --out folder, or pass --redo to recompute everything "
                "with the current settings"
            )
    if previous != settings:
        with atomic_output(path) as tmp:
            Path(tmp).write_text(json.dumps(settings, indent=1) + "\n")


def _colliding_outputs(paths, out_dir):
    """{path: message} for inputs whose output files another input also writes
    (``a/x.jpg`` and ``b/x.png``, or ``x.jpg`` and ``x_overlay.jpg``)."""
    owners = {}
    for path in paths:
        for output in output_paths(out_dir, path).values():
            owners.setdefault(output.name, []).append(path)
    clashes = {}
    for name, owner_paths in owners.items():
        if len(owner_paths) > 1:
            for path in owner_paths:
                others = ", ".join(str(p) for p in owner_paths if p != path)
                clashes[path] = (f"{path}: its output {name} would also be written for "
                                 f"{others}; rename one of them or segment them into "
                                 "different --out folders")
    return clashes


def segment_files(segmenter, paths, out_dir, batch_size=4, redo=False, progress=True,
                  prefetch=8, workers=2, max_pixels=None):
    """Segment ``paths`` into ``out_dir``; returns a BatchSummary.

    Writes ``NAME.png`` (uint16 labels 0..n-1), ``NAME_overlay.png`` and
    ``NAME_binary_map.png`` per image, and the settings used in
    ``tf_binmap_segment.json`` (a later run into the same folder must use the same
    settings, or ``redo``). ``max_pixels``: images over it are refused unread
    (`tf_binmap.io.read_image_rgb`; default its limit). A file that cannot be read or
    segmented is a failure of the summary (with the reason), and the run goes on.
    """
    from tqdm.auto import tqdm

    read = functools.partial(read_image_rgb, max_pixels=max_image_pixels(max_pixels))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_settings(out_dir, segmenter_settings(segmenter), redo)
    for stale in out_dir.iterdir():  # temp files of a run that was killed
        if _TEMP_FILE.match(stale.name):
            stale.unlink(missing_ok=True)
    summary = BatchSummary()

    def fail(path, error):
        message = str(error)
        message = message if str(path) in message else f"{path}: {message}"
        summary.failures.append((path, message))
        logger.error("%s", message)

    paths = [Path(p) for p in paths]
    clashes = _colliding_outputs(paths, out_dir)
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
                    _write_outputs(output_paths(out_dir, path), image, result.labels,
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
                _write_outputs(output_paths(out_dir, path), image, labels, pixel_codes,
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
                    futures[ahead] = pool.submit(read, ahead)
            try:
                image = futures.pop(path).result()
                segmenter.check_size(image.shape)  # too small or too elongated
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
