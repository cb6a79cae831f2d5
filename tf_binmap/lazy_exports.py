"""Packages whose public names load on first use (PEP 562), so importing one light
module of a package (e.g. `tf_binmap.models.architecture`) neither loads Keras nor runs
the package's other modules."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable, Callable, list]:
    """``(__getattr__, __dir__, __all__)`` for ``package``: each name of ``exports``
    (``{name: module}``) is imported from its module when first asked for."""

    def __getattr__(name: str):
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
            setattr(importlib.import_module(package), name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    names = sorted(exports)

    def __dir__() -> list:
        return names

    return __getattr__, __dir__, names
