"""The core's shape: its parts import each other one way, with no loop, and never Streamlit.

Every import counts, also one inside a function: a late import hides a loop, it does
not remove it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "mnist_models"

# Each part may import the parts before it, never one after it.
LAYERS = [
    {
        "mnist_models.data",
        "mnist_models.files",
        "mnist_models.text",
        "mnist_models.addresses",
        "mnist_models.cpu",
    },
    {"mnist_models.nets"},
    {"mnist_models.reading"},
    {"mnist_models.drawings"},
    {"mnist_models.training", "mnist_models.presenter"},
    {"mnist_models.rooms"},
    {"mnist_models.cli", "mnist_models.__main__"},
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in CORE.rglob("*.py")}


def imports(name: str) -> set[str]:
    """The core modules `name` imports anywhere in its file (a package counts as its __init__)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


GRAPH = {name: imports(name) for name in MODULES}


def part(name: str) -> str:
    bits = name.split(".")
    return ".".join(bits[:2]) if len(bits) > 1 else name


def layer(name: str) -> int:
    return next(i for i, group in enumerate(LAYERS) if part(name) in group)


def test_every_module_is_in_a_layer() -> None:
    for name in MODULES:
        if name != "mnist_models":
            layer(name)


def test_no_import_loop() -> None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(GRAPH[n]):
            if state.get(m) == 1:
                loop = stack[stack.index(m) :] + [m]
                pytest.fail("import loop: " + " -> ".join(loop))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(GRAPH):
        if n not in state:
            visit(n)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != "mnist_models"))
def test_parts_import_only_earlier_parts(name: str) -> None:
    later = {
        m
        for m in GRAPH[name]
        if m != "mnist_models" and part(m) != part(name) and layer(m) > layer(name)
    }
    assert not later, f"{name} imports later parts: {sorted(later)}"


def test_the_core_never_imports_streamlit() -> None:
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                mods = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                assert not any(m.split(".")[0] == "streamlit" for m in mods), name
