"""The ``tf-binmap`` command (`main`)."""

from tf_binmap.cli.main import main

__all__ = ["main"]
