"""The first page after a start: its canvas waits for nothing that imports torch.

Torch takes a second or more to import at a server's first page view
(bench/bench_first_page.py), so app.py and the drawing page send the canvas first; these
tests keep what they import before it torch-free.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What app.py and app_pages/draw.py import at their top, before the canvas is sent.
BEFORE_CANVAS = (
    "app_pages.startup",
    "app_pages.styles",
    "app_pages.canvas",
    "mnist_models.reading.canvas",
    "app_pages.session_message",
)


def top_imports(path: Path) -> set[str]:
    """The modules a file imports at its top level (not inside functions)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
    return found


@pytest.mark.parametrize("script", ["app.py", "app_pages/draw.py"])
def test_the_first_page_imports_only_torch_free_modules_at_its_top(script):
    allowed = {"pathlib", "pathlib.Path", "streamlit", "app_pages", "streamlit_drawable_canvas"}
    allowed |= {"mnist_models.reading", "mnist_models.reading.canvas"}
    allowed |= {"streamlit_drawable_canvas.st_canvas", "app_pages.presentation", *BEFORE_CANVAS}
    assert top_imports(ROOT / script) <= allowed


def test_those_modules_do_not_import_torch():
    """In a fresh interpreter: importing them leaves torch unimported (the component's
    module is left out: it registers itself only inside a running Streamlit server)."""
    code = (
        "import sys\n"
        f"import {', '.join((*BEFORE_CANVAS, 'app_pages.presentation'))}\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
