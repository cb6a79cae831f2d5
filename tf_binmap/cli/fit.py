"""``tf-binmap fit-itq`` and ``fit-merge``: fitting the hashing and the merge order."""

from __future__ import annotations

import logging
from pathlib import Path

from tf_binmap.cli.common import CommandError, UsageError, positive

__all__ = ["add_fit_itq_arguments", "register"]

logger = logging.getLogger("tf_binmap")


def add_fit_itq_arguments(p) -> None:
    """The arguments of ``fit-itq``, shared by ``beam-fit-itq``."""
    p.add_argument("--images", nargs="+", required=True,
                   help="image files, folders or glob patterns")
    p.add_argument("--preset", default=None,
                   help="binary-map preset giving backbone/layer/bits/upscale "
                   "(default: binmap_conv5)")
    p.add_argument("--weights", default=None, metavar="PATH", help="backbone weights file")
    p.add_argument("--layer", default=None, help="feature layer (overrides the preset)")
    p.add_argument("--bits", type=positive(int), default=None,
                   help="bit count (overrides the preset)")
    p.add_argument("--upscale", type=positive(float), default=None,
                   help="resize factor before the network (overrides the preset)")
    p.add_argument("--vectors-per-image", type=int, default=500,
                   help="feature vectors sampled per image (default 500; 0 = all)")
    p.add_argument("--iterations", type=int, default=50, help="ITQ iterations (default 50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output .npz")


def register(add) -> None:
    """Add the subcommands; ``add(name, help, epilog)`` makes a subparser."""
    p = add("fit-itq", "fit ITQ hashing parameters on the features of a folder of images",
            "examples:\n"
            "  tf-binmap fit-itq --images ../shared/data/BSDS500/data/images/train "
            "--out itq.npz\n"
            "  tf-binmap fit-itq --images 'photos/*.jpg' --layer conv5 --bits 8 "
            "--upscale 2 --out itq8.npz")
    add_fit_itq_arguments(p)
    p.set_defaults(handler=_cmd_fit_itq)
    p = add("fit-merge", "fit the learned merge order of the hierarchy on images with ground truth",
            "fits the pair classifier of tf_binmap.training.merge_fit on a split in the "
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
    p.add_argument("--rounds", type=positive(int), default=2,
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
    p.add_argument("--epochs", type=positive(int), default=6, help="epochs per round (default 6)")
    p.add_argument("--limit", type=positive(int), default=None, help="first N images only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output .npz")
    p.set_defaults(handler=_cmd_fit_merge)


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
    from tf_binmap.evaluation.command import open_dataset
    from tf_binmap.io import atomic_output
    from tf_binmap.models.binary_map import BinaryMapModel
    from tf_binmap.presets import DEFAULT_HIERARCHY_PRESET
    from tf_binmap.segmentation.scorer import (
        DEFAULT_SIZE_EXPONENT,
        format_size_exponent,
        parse_size_exponent,
    )
    from tf_binmap.training.merge_fit import fit_merge_scorer_on_images
    from tf_binmap.training.merge_pairs import DEFAULT_TRAIN_SCALES, parse_train_scales

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
    dataset = open_dataset("bsds500", args.split, args.data_root, "gt_bmp")
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
