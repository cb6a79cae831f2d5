"""``tf-binmap demo``, ``segment`` and ``bench``: segmenting photos, and timing it."""

from __future__ import annotations

from pathlib import Path

from tf_binmap.cli.common import (
    CommandError,
    add_segmenter_arguments,
    make_segmenter,
    non_negative_int,
    positive,
)

__all__ = ["register"]


def register(add) -> None:
    """Add the subcommands; ``add(name, help, epilog)`` makes a subparser."""
    p = add("demo", "segment scikit-image's sample photos and draw what each stage does",
            "writes one figure per photo: image | binary map | superpixels | merged "
            "segments\nexamples:\n  tf-binmap demo\n  tf-binmap demo --segments 30\n"
            "  tf-binmap demo --out demo_paper/ --merge codes --superpixels slic")
    p.add_argument("--out", default="outputs/demo", help="output folder (outputs/demo)")
    add_segmenter_arguments(p)
    p.set_defaults(handler=_cmd_demo)
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
    add_segmenter_arguments(p)
    p.set_defaults(handler=_cmd_bench)
    p = add("segment", "segment images: label PNGs, boundary overlays, binary-map pictures",
            "writes, per image NAME: NAME.png (16-bit labels 0..n-1), NAME_overlay.png "
            "(segment boundaries on the photo), NAME_binary_map.png; images whose three "
            "outputs exist are skipped (so an interrupted run resumes)\n"
            "examples:\n  tf-binmap segment photo.jpg --out segments/\n"
            "  tf-binmap segment photos/ --segments 50\n"
            "  tf-binmap segment 'photos/*.jpg' --merge codes --superpixels slic --threshold 1")
    p.add_argument("images", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("--out", default="outputs/segments", help="output folder")
    add_segmenter_arguments(p)
    p.add_argument("--redo", action="store_true", help="recompute finished images too")
    p.add_argument("--batch", type=positive(int), default=4,
                   help="same-size images per network batch (default 4)")
    p.add_argument("--workers", type=non_negative_int, default=2,
                   help="threads for the merge, beside the network and decoding (default "
                   "2; 0: one image at a time)")
    p.add_argument("--max-pixels", type=non_negative_int, default=None, metavar="PIXELS",
                   help="refuse images whose header claims more pixels, before decoding "
                   "(default 64000000, or $TF_BINMAP_MAX_IMAGE_PIXELS; 0: no limit)")
    p.set_defaults(handler=_cmd_segment)


def _cmd_bench(args):
    import json

    from tf_binmap.evaluation.speed import benchmark, format_table, sample_images
    from tf_binmap.io import atomic_output

    keras_segmenter = make_segmenter(args)
    segmenters = {"ours (Keras)": keras_segmenter}
    if args.tflite:
        from tf_binmap.export.runners import TFLiteCodeMapper
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


DEMO_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def _cmd_demo(args):
    import skimage.data

    from tf_binmap.io import write_png_atomic
    from tf_binmap.visualize import segmentation_figure

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    segmenter = make_segmenter(args)
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
    from tf_binmap.batch.folder import segment_files
    from tf_binmap.io import list_images

    paths = list_images(args.images)
    if not paths:
        raise CommandError(f"no images found in {' '.join(args.images)}")
    segmenter = make_segmenter(args)
    summary = segment_files(segmenter, paths, args.out, batch_size=args.batch,
                            workers=args.workers, redo=args.redo, progress=not args.quiet,
                            max_pixels=args.max_pixels)
    if not args.quiet:
        print(f"{summary}, {summary.images_per_second:.2f} images/s -> {args.out}")
    return 1 if summary.failures else 0
