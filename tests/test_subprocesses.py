"""Every subprocess the tests start is the interpreter running the tests (``sys.executable``), never a bare
``python``/``python3``/``kg`` looked up on PATH: CI's PATH may hold another Python without medkg's packages."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
BARE = {"python", "python3", "kg", "pytest"}
CALLS = {"run", "Popen", "call", "check_call", "check_output"}


def _bare_commands(path: Path, root: Path = TESTS) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        if name not in CALLS:
            continue
        first = node.args[0]
        head = first.elts[0] if isinstance(first, (ast.List, ast.Tuple)) and first.elts else first
        if isinstance(head, ast.Constant) and isinstance(head.value, str) and head.value.split()[0] in BARE:
            found.append(f"{path.relative_to(root)}:{node.lineno}: {head.value!r}")
    return found


def test_no_test_starts_a_python_from_path():
    bad = [hit for p in sorted(TESTS.rglob("*.py")) for hit in _bare_commands(p)]
    assert bad == [], "use sys.executable instead of a program from PATH:\n" + "\n".join(bad)


def test_the_checker_sees_a_bare_python(tmp_path):
    bare = "py" + "thon"  # spelled apart so that no scanner of this file mistakes the fixture for a real call
    p = tmp_path / "t.py"
    p.write_text(f'import subprocess\nsubprocess.run(["{bare}", "-m", "kg"])\nsubprocess.run(["node", "x.js"])\n')
    assert _bare_commands(p, tmp_path) == [f"t.py:2: '{bare}'"]
