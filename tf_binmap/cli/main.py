"""``tf-binmap`` command line: thin wrappers over the package's modules, one module per
group of subcommands (`segment`, `evaluate`, `fit`, `models`).

Exit codes: 0 success, 1 failure (bad input, missing weights, ...), 2 usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
import warnings

from tf_binmap.cli import beam, evaluate, fit, models, segment
from tf_binmap.cli.common import CommandError, UsageError
from tf_binmap.cli.quiet import quiet_tensorflow_import

__all__ = ["main"]

logger = logging.getLogger("tf_binmap")


def build_parser() -> argparse.ArgumentParser:
    """The ``tf-binmap`` parser with every subcommand."""
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
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, and TensorFlow's start-up lines")
    # The same flags after the subcommand (SUPPRESS keeps the top-level value unless
    # given there).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="only print errors (no progress bars)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="debug logging, and TensorFlow's start-up lines")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name, help, epilog):
        return sub.add_parser(name, help=help, description=help, epilog=epilog,
                              parents=[common],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    for group in (segment, evaluate, models, fit, beam):
        group.register(add)
    return parser


def main(argv=None):
    """Run ``tf-binmap`` with ``argv`` (default: the command line); returns the exit
    code."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)  # exits 2 on usage errors
    if unknown and not getattr(args, "takes_beam_flags", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.beam_flags = unknown  # the Beam commands pass flags they do not know to Beam
    logging.basicConfig(
        level=logging.ERROR if args.quiet else (logging.DEBUG if args.verbose
                                                else logging.INFO),
        format="%(levelname)s: %(message)s",
    )
    # PIL warns of a possible decompression bomb when it opens a header that claims a
    # huge size; tf_binmap.io refuses such a file itself, naming it and its size.
    warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit",
                            category=RuntimeWarning)
    if not args.verbose:
        quiet_tensorflow_import()  # abseil's and oneDNN's start-up lines; -v shows them
    from tqdm.contrib.logging import logging_redirect_tqdm

    try:
        with logging_redirect_tqdm():  # log lines above the progress bars, not through them
            return args.handler(args)
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
