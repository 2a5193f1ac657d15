"""The package's layers import only downward (ARCHITECTURE.md), and no import
hides inside a function except the command modules' lazy ones.

Read from the source with ``ast``: every ``import``/``from ... import`` of a
``host`` module, at any depth, is checked against the layer order."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HOST = Path(__file__).resolve().parents[1] / "host"

#: lowest first; a module may import its own layer and those before it
LAYERS = ("base", "dsp", "midi", "model", "gear", "sim", "offline", "live", "cli")
#: top-level modules of ``host`` itself: the base every layer stands on
BASE = {"host", "host.errors", "host._ffi", "host._outboard", "host.audiofile", "host.tomlfile"}


def layer_of(module: str) -> str:
    if module in BASE:
        return "base"
    if module == "host.__main__":  # `python -m host` is the command line
        return "cli"
    parts = module.split(".")
    if parts[0] != "host" or len(parts) < 2 or parts[1] not in LAYERS:
        raise AssertionError(f"{module}: not in any layer (add it to LAYERS or BASE)")
    return parts[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(HOST.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def host_imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported host module, line, inside a function) for each import in the file."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                if child.module.split(".")[0] == "host":
                    found.append((child.module, child.lineno, in_function))
            elif isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function) for a in child.names
                             if a.name.split(".")[0] == "host")
            visit(child, inside)
    visit(ast.parse(path.read_text()), False)
    return found


SOURCES = sorted(p for p in HOST.rglob("*.py"))


def test_every_module_belongs_to_a_layer():
    for path in SOURCES:
        layer_of(module_name(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(HOST)))
def test_imports_point_only_downward(path):
    me = module_name(path)
    mine = LAYERS.index(layer_of(me))
    upward = [f"{me}:{line} imports {m} ({layer_of(m)} is above {layer_of(me)})"
              for m, line, _ in host_imports(path)
              if m != "host" and LAYERS.index(layer_of(m)) > mine]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(HOST)))
def test_no_import_hides_in_a_function(path):
    """Below the command line, a module imports what it needs at its top: a
    function-level import of a host module is how a cycle gets hidden."""
    me = module_name(path)
    if layer_of(me) == "cli":
        return
    hidden = [f"{me}:{line} imports {m} inside a function"
              for m, line, inside in host_imports(path) if inside]
    assert not hidden, "\n".join(hidden)


def test_the_check_sees_an_upward_import(tmp_path):
    """The checker itself: a model module importing the live layer is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from host.live.engine import Engine\n")
    (m, line, inside), = host_imports(bad)
    assert (m, line, inside) == ("host.live.engine", 2, True)
    assert LAYERS.index(layer_of(m)) > LAYERS.index(layer_of("host.model.session"))
