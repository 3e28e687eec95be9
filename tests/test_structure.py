"""The house rules that the code's shape must keep (docs/ARCHITECTURE.md): small source files, tests that use only public
names. The import layering is checked by import-linter in tests/run.sh."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kg", "extract", "embed", "graph")
MAX_LINES = 450


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
