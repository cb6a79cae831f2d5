"""What a batch run writes for each image, and the bookkeeping that makes runs
resumable: ``NAME.png`` (uint16 labels), ``NAME_overlay.png``, ``NAME_binary_map.png``,
each written atomically; the settings of the run in ``tf_binmap_segment.json`` (a later
run into the same folder must use the same settings); inputs whose outputs would clash;
temporary files a killed run left behind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from tf_binmap.hashing.codes import code_map_to_rgb
from tf_binmap.io.files import atomic_output, write_png_atomic
from tf_binmap.visualize import boundary_overlay

__all__ = ["OUTPUT_KINDS", "SETTINGS_FILE", "TEMP_FILE", "check_settings", "colliding_outputs",
           "output_paths", "remove_stale_temporaries", "segmenter_settings", "write_outputs"]


OUTPUT_KINDS = ("", "_overlay", "_binary_map")


def output_paths(out_dir, path):
    """The output files of the image at ``path`` in ``out_dir``: ``{suffix: path}`` for
    the labels, the overlay and the binary-map picture."""
    return {kind: Path(out_dir) / f"{Path(path).stem}{kind}.png" for kind in OUTPUT_KINDS}


def write_outputs(outputs, image, labels, pixel_codes, bits):
    """Write the three outputs of one image (`output_paths`), each atomically: the
    boundary overlay, the binary-map picture, then the uint16 labels (last, so a label
    file means the image is done)."""
    if labels.max() >= 65536:
        raise ValueError(f"{labels.max() + 1} segments do not fit a 16-bit PNG")
    write_png_atomic(outputs["_overlay"], boundary_overlay(image, labels))
    write_png_atomic(outputs["_binary_map"], code_map_to_rgb(pixel_codes, bits))
    write_png_atomic(outputs[""], labels.astype(np.uint16))


SETTINGS_FILE = "tf_binmap_segment.json"


TEMP_FILE = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp(\.\w+)?$")


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
        # Written only when not the reference, so folders of earlier runs still resume.
        **({"precision": model.precision}
           if getattr(model, "precision", "float32") != "float32" else {}),
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


def settings_to_record(recorded: bytes | None, settings: dict, out_dir, path,
                       redo: bool) -> bytes | None:
    """The bytes to write to the settings file ``path`` of ``out_dir`` (None: it already
    holds ``settings``), given what it holds now (``recorded``; None when absent).
    Raises ValueError for a folder made with other settings, unless ``redo``."""
    previous = None
    if recorded is not None:
        try:
            previous = json.loads(recorded)
        except ValueError:
            previous = "unreadable"
        if previous != settings and not redo:
            raise ValueError(
                f"{out_dir} holds outputs made with other settings ({path}: {previous}); "
                "choose another --out folder, or pass --redo to recompute everything "
                "with the current settings"
            )
    if previous == settings:
        return None
    return (json.dumps(settings, indent=1) + "\n").encode("utf-8")


def check_settings(out_dir, settings, redo):
    """Refuse to resume into a folder made with other settings (unless ``redo``)."""
    path = out_dir / SETTINGS_FILE
    recorded = path.read_bytes() if path.is_file() else None
    record = settings_to_record(recorded, settings, out_dir, path, redo)
    if record is not None:
        with atomic_output(path) as tmp:
            Path(tmp).write_bytes(record)


def colliding_outputs(paths, out_dir):
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


def remove_stale_temporaries(out_dir: Path) -> None:
    """Delete the temporary files of a run that was killed mid-write in ``out_dir``."""
    for stale in Path(out_dir).iterdir():
        if TEMP_FILE.match(stale.name):
            stale.unlink(missing_ok=True)
