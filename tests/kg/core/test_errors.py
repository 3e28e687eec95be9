"""kg/core/errors.py: every raise names its mistake with a code unique to it, in its category's range."""

import ast
from pathlib import Path

import pytest

from kg.core import errors
from kg.core.errors import (
    Conflict,
    InvalidInput,
    KGError,
    MissingExtraError,
    NotFound,
    Unavailable,
)

ROOT = Path(__file__).resolve().parents[3]
RANGES = {"InvalidInput": "E1", "TooLarge": "E1", "MethodNotAllowed": "E1", "Unauthorized": "E1", "NotFound": "E2",
          "Conflict": "E3", "OutputConflict": "E3", "Unavailable": "E4",
          "KGError": "E5"}


def raise_sites():
    for pkg in ("kg", "extract", "embed", "graph"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in RANGES:
                    code = next((k.value for k in node.keywords if k.arg == "code"), None)
                    yield f"{path.relative_to(ROOT)}:{node.lineno}", node.func.id, code


def test_every_error_has_a_unique_code_in_its_category_range():
    sites = list(raise_sites())
    assert len(sites) > 60
    seen: dict[str, str] = {}
    for where, cls, code in sites:
        if where.startswith("kg/core/"):
            continue
        assert isinstance(code, ast.Constant), f"{where}: {cls}(...) needs code='E…'"
        assert code.value.startswith(RANGES[cls]), f"{where}: {cls} uses {code.value}"
        assert code.value not in seen, f"{where}: {code.value} is already used at {seen[code.value]}"
        seen[code.value] = where


@pytest.mark.parametrize("cls,exit_code,status", [
    (InvalidInput, 2, 422), (NotFound, 2, 404), (Conflict, 2, 409), (Unavailable, 2, 503), (KGError, 1, 500)])
def test_categories_map_to_exit_codes_and_http_statuses(cls, exit_code, status):
    e = cls("the thing is wrong", where="f.txt:3", fix="do this", code="E999")
    assert (e.exit_code, e.http_status) == (exit_code, status)
    assert e.message == "[E999] the thing is wrong (at f.txt:3). Fix: do this"
    assert e.as_dict() == {"code": "E999", "category": e.category, "what": "the thing is wrong", "where": "f.txt:3",
                           "fix": "do this"}
    assert isinstance(e, KGError)


def test_missing_extra_names_the_install_command():
    e = MissingExtraError("the open_clip encoder", "images", "open_clip_torch")
    assert isinstance(e, Unavailable) and "needs medkg[images]" in e.message and "[images]" in e.fix
    assert e.fix.startswith("pip install ")


def test_core_imports_nothing_else_of_medkg():
    for path in (ROOT / "kg" / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                top = node.module.split(".")[0]
                assert top not in ("extract", "embed", "graph") and (top != "kg" or node.module.startswith("kg.core")), \
                    f"{path.name} imports {node.module}"
    assert errors.CATEGORIES[-1] is KGError
