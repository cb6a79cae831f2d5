"""``python -m weights_conversion SOURCE OUT.h5``: see ``tf-binmap convert-weights``."""

import sys

from tf_binmap.cli import main

if __name__ == "__main__":
    sys.exit(main(["convert-weights", *sys.argv[1:]]))
