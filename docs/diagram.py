"""The package diagram in docs/ARCHITECTURE.md, generated from the imports (grimp, import-linter's graph).

``python docs/diagram.py`` rewrites the Mermaid block between the markers; tests/test_structure.py fails when
the block no longer matches the code. A box is a subpackage (``kg.serve``, ``graph.retrieve``) or a top package's
own modules (``kg``); an arrow is "imports".
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGES = ("kg", "extract", "embed", "graph")
BEGIN, END = "<!-- diagram:begin (python docs/diagram.py) -->", "<!-- diagram:end -->"


def group(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and (ROOT / parts[0] / parts[1] / "__init__.py").is_file():
        return ".".join(parts[:2])
    return parts[0]


def edges() -> list[tuple[str, str]]:
    import grimp

    g = grimp.build_graph(*PACKAGES, cache_dir=None)
    out = set()
    for m in g.modules:
        for other in g.find_modules_directly_imported_by(m):
            a, b = group(m), group(other)
            if a != b and b.split(".")[0] in PACKAGES:
                out.add((a, b))
    return sorted(out)


def mermaid() -> str:
    pairs = edges()
    names = sorted({n for p in pairs for n in p})
    ids = {n: n.replace(".", "_") for n in names}
    lines = ["```mermaid", "flowchart TD"]
    lines += [f"  {ids[n]}[{n}]" for n in names]
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in pairs]
    lines.append("```")
    return "\n".join(lines)


def current() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip()


def main() -> None:
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{mermaid()}\n{END}{tail}", encoding="utf-8")
    print(f"wrote the diagram into {DOC.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
