"""``python -m weights_conversion SOURCE OUT.h5``: convert a foreign AlexNet checkpoint
(the same as ``tf-binmap convert-weights``, without loading the rest of tf_binmap)."""

from __future__ import annotations

import argparse
import sys

from weights_conversion import FORMATS, convert
from weights_conversion.common import ConversionError


def main(argv: list[str] | None = None) -> int:
    """Convert ``SOURCE`` to a named-layer ``OUT.h5``; exit 0, 1 (bad input) or 2
    (usage)."""
    parser = argparse.ArgumentParser(
        prog="python -m weights_conversion",
        description="Convert a foreign AlexNet checkpoint to tf_binmap named-layer Keras "
        "weights. Supported: " + "; ".join(f"{suffix} ({what})"
                                           for suffix, what in FORMATS.items()))
    parser.add_argument("source", help="the checkpoint to convert")
    parser.add_argument("out", help="output .h5 (named-layer Keras weights)")
    args = parser.parse_args(argv)
    try:
        out = convert(args.source, args.out)
    except (ConversionError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
