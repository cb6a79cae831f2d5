"""``python -m tf_binmap.cli``: the same as ``tf-binmap``."""

import sys

from tf_binmap.cli.main import main

sys.exit(main())
