"""The house rules that the code's shape must keep (docs/ARCHITECTURE.md): small source files and functions, tests that
use only public names, no logic in a package's __init__.py. The import layering is checked by import-linter in
tests/run.sh."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kg", "extract", "embed", "graph")
MAX_LINES = 450
MAX_FUNCTION_LINES = 100  # a function's body, its docstring not counted


def _body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = fn.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return (fn.end_lineno or fn.lineno) - body[0].lineno + 1


def test_no_source_file_is_over_450_lines():
    big = {str(p.relative_to(ROOT)): n for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}


def test_tests_import_no_private_name():
    bad = []
    for p in (ROOT / "tests").rglob("*.py"):
        if "node_modules" in p.parts:
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in (*PACKAGES, "tests"):
                bad += [f"{p.relative_to(ROOT)}:{node.lineno} {node.module}.{a.name}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
    assert bad == []


def test_no_function_is_over_100_lines():
    long = {}
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _body_lines(node) > MAX_FUNCTION_LINES:
                    long[f"{p.relative_to(ROOT)}:{node.lineno} {node.name}"] = _body_lines(node)
    assert long == {}


def test_package_inits_hold_re_exports_only():
    """An __init__.py says what lives in its package (its docstring) and re-exports; the code is in modules."""
    bad = []
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("__init__.py"):
            tree = ast.parse(p.read_text(encoding="utf-8"))
            if ast.get_docstring(tree) is None:
                bad.append(f"{p.relative_to(ROOT)}: no docstring")
            bad += [f"{p.relative_to(ROOT)}:{n.lineno} {n.name}" for n in tree.body
                    if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert bad == []


def test_the_architecture_diagram_matches_the_imports():
    import importlib.util

    spec = importlib.util.spec_from_file_location("diagram", ROOT / "docs" / "diagram.py")
    diagram = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(diagram)
    assert diagram.current() == diagram.mermaid(), "run `python docs/diagram.py` and commit docs/ARCHITECTURE.md"
