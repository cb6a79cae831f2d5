"""The package's shape, checked: imports point down the layers and form no cycle, no
module grows past ~400 lines without saying why, private helpers stay in their module,
and public names say what they are.

The import graph is read from the source (every ``import`` statement, at module level
or inside functions), so a cycle hidden behind a function-level import is found too.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tf_binmap", "weights_conversion")

#: Layers from the bottom up: a module may import its own layer and the ones below.
LAYERS = (
    ("tf_binmap.lazy_exports", "tf_binmap.io"),
    ("tf_binmap.hashing", "tf_binmap.models", "tf_binmap.weights", "tf_binmap.presets",
     "weights_conversion", "tf_binmap.visualize"),
    ("tf_binmap.segmentation",),
    ("tf_binmap.evaluation",),
    ("tf_binmap.training",),
    ("tf_binmap.batch", "tf_binmap.export", "tf_binmap.beam"),
    ("tf_binmap.cli",),
)
MAX_LINES = 400
#: A module above MAX_LINES says why in its docstring, with this phrase.
LONG_MODULE_PHRASE = "longer than 400 lines because"


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The internal module an imported dotted name refers to (longest known prefix)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def _imports(module: str) -> list[tuple[str, str, int]]:
    """(imported module, imported name or "", line) of every import in ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name)
                if target:
                    found.append((target, "", node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = _resolve(f"{node.module}.{alias.name}")
                if submodule == f"{node.module}.{alias.name}":
                    found.append((submodule, "", node.lineno))
                elif _resolve(node.module):
                    found.append((_resolve(node.module), alias.name, node.lineno))
    return found


def _ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:end]) for end in range(1, len(parts))}


def _graph() -> dict[str, set[str]]:
    """Edges importer -> imported module; an import of one's own ancestor package is no
    edge (Python has initialised it before the importer runs)."""
    return {module: {target for target, _, _ in _imports(module)
                     if target != module and target not in _ancestors(module)}
            for module in MODULES}


def _layer(module: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return len(LAYERS)  # tf_binmap/__init__.py: the public API, above everything


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


def test_imports_point_down_the_layers():
    upward = [f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)}) "
              f"at line {line}"
              for module in MODULES for target, _, line in _imports(module)
              if _layer(target) > _layer(module) and target not in _ancestors(module)]
    assert not upward, "\n".join(upward)


def test_no_private_name_is_imported_from_another_module():
    private = [f"{module}:{line} imports {name} from {target}"
               for module in MODULES for target, name, line in _imports(module)
               if name.startswith("_") and not name.endswith("__") and target != module]
    assert not private, "\n".join(private)


def test_modules_stay_small_or_say_why():
    long = []
    for module, path in MODULES.items():
        lines = len(path.read_text().splitlines())
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MAX_LINES and LONG_MODULE_PHRASE not in docstring:
            long.append(f"{module}: {lines} lines")
    assert not long, f"modules over {MAX_LINES} lines without '{LONG_MODULE_PHRASE}' in " \
        f"their docstring: {long}"


def test_public_names_have_docstrings():
    missing = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        if not ast.get_docstring(tree):
            missing.append(f"{module} (the module)")
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and \
                    not node.name.startswith("_") and not ast.get_docstring(node):
                missing.append(f"{module}.{node.name}")
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and not item.name.startswith("_") \
                            and not ast.get_docstring(item) and not _is_keras_override(item):
                        missing.append(f"{module}.{node.name}.{item.name}")
    assert not missing, "public names without a docstring:\n" + "\n".join(missing)


def _is_keras_override(function: ast.FunctionDef) -> bool:
    """Keras' own protocol methods, documented by Keras."""
    return function.name in {"build", "call", "get_config", "from_config",
                             "compute_output_shape", "compute_output_spec"}


@pytest.mark.parametrize("name", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_every_module_imports(name):
    if name == "tf_binmap.beam" or name.startswith("tf_binmap.beam."):
        pytest.importorskip("apache_beam", reason="tf_binmap.beam needs the optional extra "
                            "tf-binmap[beam] (apache-beam)")
    importlib.import_module(name)


def test_the_public_api_has_type_hints():
    import inspect

    import tf_binmap

    missing = []
    for name in tf_binmap.__all__:
        value = getattr(tf_binmap, name)
        functions = []
        if inspect.isclass(value):
            for attribute, member in vars(value).items():
                if isinstance(member, (classmethod, staticmethod)):
                    member = member.__func__
                if isinstance(member, property):
                    member = member.fget
                if inspect.isfunction(member) and (attribute == "__init__" or not
                                                   attribute.startswith("_")) \
                        and attribute not in {"build", "call", "get_config", "from_config",
                                              "compute_output_shape", "compute_output_spec",
                                              "project"}:
                    functions.append((f"{name}.{attribute}", member))
        elif inspect.isfunction(value):
            functions.append((name, value))
        for qualified, function in functions:
            signature = inspect.signature(function)
            unannotated = [p.name for p in signature.parameters.values()
                           if p.name not in ("self", "cls")
                           and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                           and p.annotation is inspect.Parameter.empty]
            no_return = function.__name__ != "__init__" and \
                signature.return_annotation is inspect.Signature.empty
            if unannotated or no_return:
                missing.append(f"{qualified}: {unannotated}{' and the return' if no_return else ''}")
    assert not missing, "public API without type hints:\n" + "\n".join(missing)
