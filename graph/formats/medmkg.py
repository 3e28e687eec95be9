"""The published MedMKG graph (Wang et al., 2025) in medkg's model, both ways.

MedMKG.csv has one triple per row: ``Head, Relation, Tail, Head_Name, Tail_Name``. Image ids start with ``I``
(``I<MIMIC study id>``), concepts are UMLS CUIs. ``POSITIVE`` / ``NEGATIVE`` / ``UNCERTAIN`` rows are
``(Image)-[:POSITIVE]->(Concept)`` edges; every other relation is a UMLS relation between concepts and becomes a
relationship type of its own, upper-cased with anything but letters, digits and ``_`` as ``_``
(``co-occurs_with`` -> ``CO_OCCURS_WITH``) and the original kept as the ``rela`` property, so the export writes
back exactly what was read. ``image_mapping.csv`` (``IID, Image_Path``) adds each image's path.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

from extract.records import EDGE_TYPES
from graph.model import NAME_RE, Graph, NodeTable
from kg.core.errors import InvalidInput
from kg.core.quarantine import Rejected

COLUMNS = ("Head", "Relation", "Tail", "Head_Name", "Tail_Name")
POLARITY = set(EDGE_TYPES)
CUI_RE = re.compile(r"^C\d{7}$")


def relation_type(rela: str) -> str:
    t = re.sub(r"[^A-Za-z0-9_]", "_", rela.strip()).upper()
    return t if NAME_RE.match(t) else f"R_{t}"


def read_medmkg(path: Path, images: Path | None = None) -> tuple[Graph, list[Rejected], int]:
    """The graph, the quarantined rows (each with the row number, the value and the fix) and the rows read."""
    quarantine: list[Rejected] = []
    names: dict[str, Counter] = {}
    concept_edges: dict[tuple[str, str], list[dict]] = {}
    image_edges: dict[str, list[dict]] = {}
    image_ids: set[str] = set()
    seen: set[tuple[str, str, str]] = set()
    read = 0

    def bad(n: int, row: dict, what: str, fix: str) -> None:
        quarantine.append(Rejected(f"{path.name}:{n}", str(path), "import", what, fix,
                                   row={k: row.get(k) for k in COLUMNS}))

    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS[:3] if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInput(f"{path.name} has no column {', '.join(missing)} (columns: {reader.fieldnames})",
                               code="E1115", where=str(path), fix="pass MedMKG.csv: Head, Relation, Tail, Head_Name, Tail_Name")
        for n, row in enumerate(reader, start=2):
            read += 1
            head, rela, tail = ((row.get(c) or "").strip() for c in COLUMNS[:3])
            if not head or not rela or not tail:
                bad(n, row, "empty Head, Relation or Tail", "fill in all three or drop the row")
                continue
            if (head, rela, tail) in seen:
                bad(n, row, f"duplicate triple ({head}, {rela}, {tail})", "drop the repeated row")
                continue
            if rela in POLARITY:
                if not head.startswith("I") or not CUI_RE.match(tail):
                    bad(n, row, f"{rela} needs an image id (I…) as Head and a CUI as Tail, got {head!r} -> {tail!r}",
                        "check the row's columns")
                    continue
                image_ids.add(head)
                image_edges.setdefault(rela, []).append({"_start": head, "_end": tail, "source": "MedMKG"})
            else:
                if not CUI_RE.match(head) or not CUI_RE.match(tail):
                    bad(n, row, f"relation {rela!r} joins concepts, got {head!r} -> {tail!r}",
                        "use CUIs (C0000000) for concept relations")
                    continue
                concept_edges.setdefault((relation_type(rela), rela), []).append(
                    {"_start": head, "_end": tail, "rela": rela, "source": "UMLS"})
            seen.add((head, rela, tail))
            for key, name in ((head, row.get("Head_Name")), (tail, row.get("Tail_Name"))):
                if CUI_RE.match(key) and name:
                    names.setdefault(key, Counter())[name.strip()] += 1
    paths = {}
    if images is not None:
        with images.open(newline="", encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                if row.get("IID"):
                    paths[row["IID"].strip()] = (row.get("Image_Path") or "").strip() or None
    cuis = sorted({e["_end"] for rows in image_edges.values() for e in rows}
                  | {x for rows in concept_edges.values() for e in rows for x in (e["_start"], e["_end"])})
    g = Graph()
    # the most frequent name a CUI is given (ties: the first in sort order)
    g.nodes["Concept"] = NodeTable("Concept", [
        {"cui": c, "name": (min(names[c].items(), key=lambda kv: (-kv[1], kv[0]))[0] if c in names else c)}
        for c in cuis])
    g.nodes["Image"] = NodeTable("Image", [{"id": i, "path": paths.get(i)} for i in sorted(image_ids)])
    for typ, rows in sorted(image_edges.items()):
        g.add_edges(typ, "Image", "Concept", rows)
    by_type: dict[str, list[dict]] = {}
    for (typ, _), rows in sorted(concept_edges.items()):
        by_type.setdefault(typ, []).extend(rows)
    for typ, rows in by_type.items():
        g.add_edges(typ, "Concept", "Concept", rows)
    return g.sort(), quarantine, read


def medmkg_rows(g: Graph) -> list[dict]:
    """Every image-concept and concept-concept relationship as a MedMKG row (sorted)."""
    names = {r["cui"]: r.get("name") or r["cui"] for r in g.nodes["Concept"].rows} if "Concept" in g.nodes else {}
    out: list[dict[str, str]] = []
    for t in g.edges.values():
        if (t.source_label, t.target_label) == ("Image", "Concept") and t.type in POLARITY:
            out.extend({"Head": r["_start"], "Relation": t.type, "Tail": r["_end"], "Head_Name": f"Image_{r['_start']}",
                        "Tail_Name": names.get(r["_end"], r["_end"])} for r in t.rows)
        elif (t.source_label, t.target_label) == ("Concept", "Concept"):
            out.extend({"Head": r["_start"], "Relation": r.get("rela") or t.type.lower(), "Tail": r["_end"],
                        "Head_Name": names.get(r["_start"], r["_start"]), "Tail_Name": names.get(r["_end"], r["_end"])}
                       for r in t.rows)
    return sorted(out, key=lambda r: (r["Head"], r["Relation"], r["Tail"]))


def write_medmkg(g: Graph, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        w.writeheader()
        w.writerows(medmkg_rows(g))
