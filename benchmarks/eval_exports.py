"""Segmentation quality of each exported model on BSDS500 val, beside Keras.

Exports the default preset as TFLite float32 / float16 / dynamic / int8 (and a
SavedModel) into a temporary folder, then runs the same evaluation (EGS k=100
superpixels, equal-code merging) with each runner in one pass over the images:

    python benchmarks/eval_exports.py --out outputs/evaluation/exports
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tf_binmap.evaluation.command import open_dataset
from tf_binmap.evaluation.methods import BinaryMapMethod
from tf_binmap.evaluation.reports import format_table, write_json
from tf_binmap.evaluation.runner import evaluate
from tf_binmap.export.runners import SavedModelCodeMapper, TFLiteCodeMapper
from tf_binmap.export.saved_model import export_saved_model
from tf_binmap.export.tflite import export_tflite
from tf_binmap.models.binary_map import BinaryMapModel  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="binmap_conv5")
    parser.add_argument("--superpixels", default="egs", choices=["egs", "slic"])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", default="outputs/evaluation/exports")
    args = parser.parse_args()

    model = BinaryMapModel.from_preset(args.preset)
    runners = {"Keras": model}
    with tempfile.TemporaryDirectory() as tmp:
        export_saved_model(model, tmp)
        runners["SavedModel"] = SavedModelCodeMapper(Path(tmp) / model.name)
        for quantization in (None, "float16", "dynamic", "int8"):
            path = Path(tmp) / f"{quantization or 'float32'}.tflite"
            export_tflite(model, path, quantization=quantization)
            runners[f"TFLite {quantization or 'float32'}"] = TFLiteCodeMapper(path)
        methods = [BinaryMapMethod(model=runner, superpixel_method=args.superpixels,
                                   name=f"{name} on {args.superpixels.upper()}")
                   for name, runner in runners.items()]
        results = evaluate(open_dataset("bsds500", "val", None, "gt_bmp"), methods,
                           limit=args.limit)
    print(format_table(results))
    write_json(results, Path(args.out) / "results.json")


if __name__ == "__main__":
    main()
