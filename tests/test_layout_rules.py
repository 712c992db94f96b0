"""The code's shape, checked from its source: short functions, Gradio only at the edge, ui/ in folders."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 80
NOT_PRODUCT = {"tests", "bench", "scripts"}  # long test bodies and one-off scripts may stay long
GRADIO_ALLOWED = {"ui", "app.py"}  # the one door to Gradio; everything else runs without it
MAX_LOOSE_UI_MODULES = 10


def sources() -> list[Path]:
    """Every Python file of the project (no virtual environment, no hidden or cache folders)."""
    skip = {".venv", "venv", "node_modules", "__pycache__"}
    return [
        p
        for p in sorted(ROOT.rglob("*.py"))
        if not any(part in skip or part.startswith(".") for part in p.relative_to(ROOT).parts[:-1])
    ]


def top(path: Path) -> str:
    return path.relative_to(ROOT).parts[0]


def long_functions() -> list[str]:
    """``path:name (lines)`` for every product function or method over MAX_LINES lines, decorators excluded."""
    found = []
    for path in sources():
        if top(path) in NOT_PRODUCT:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    found.append(f"{path.relative_to(ROOT).as_posix()}:{node.name} ({lines})")
    return found


def gradio_importers() -> list[str]:
    """Files outside ui/ and app.py (and the tests) that import gradio or a part of it."""
    found = []
    for path in sources():
        if top(path) in GRADIO_ALLOWED or top(path) == "tests":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if any(n == "gradio" or n.startswith("gradio.") for n in names):
                found.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}")
    return found


def test_the_checks_see_the_code():
    """The walk finds the product files, so an empty list below means something."""
    names = {p.relative_to(ROOT).as_posix() for p in sources()}
    assert {"app.py", "ui/page/layout.py", "runs/session.py", "ui/api/endpoints.py"} <= names


def test_no_product_function_is_over_80_lines():
    assert long_functions() == []


def test_only_ui_and_app_import_gradio():
    assert gradio_importers() == []


def test_ui_is_in_folders_with_few_loose_modules():
    loose = sorted(p.name for p in (ROOT / "ui").glob("*.py"))
    assert len(loose) <= MAX_LOOSE_UI_MODULES, loose
    assert {"page", "library_tab", "api"} <= {p.name for p in (ROOT / "ui").iterdir() if p.is_dir()}
