"""Bulk path: CSV files for ``neo4j-admin database import full`` and the exact command to run.

One CSV per node label (``<key>:ID(<Label>)`` header, typed properties, arrays joined by U+001F) and
per relationship table (``:START_ID(<Src>)``, ``:END_ID(<Dst>)``, ``:TYPE``). Image embeddings are
written as ``embedding:float[]``. After the import, ``kg load DIR --schema-only`` adds the
constraints, indexes and the vector index the Bolt loader would have created.
"""

from __future__ import annotations

import csv
import shlex
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from graph.model import NODE_KEYS
from graph.store import read_manifest

ARRAY_DELIMITER = "\x1f"


def _type_of(field: pa.Field) -> str:
    t = field.type
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "long"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_list(t):
        inner = t.value_type
        return "long[]" if pa.types.is_integer(inner) else "double[]" if pa.types.is_floating(inner) else "string[]"
    return "string"


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ARRAY_DELIMITER.join(_cell(x) for x in v)
    return str(v)


def export_admin(out: Path, dest: Path, *, embeddings: bool = True, database: str = "neo4j") -> list[str]:
    """Write the CSVs to ``dest``; return the import command as argv."""
    read_manifest(out)
    dest.mkdir(parents=True, exist_ok=True)
    vectors = {}
    if embeddings and (out / "index" / "vectors.npy").is_file():
        ids = (out / "index" / "ids.txt").read_text().splitlines()
        mat = np.load(out / "index" / "vectors.npy")
        vectors = {i: mat[n] for n, i in enumerate(ids)}
    args = ["neo4j-admin", "database", "import", "full", database, "--overwrite-destination=true",
            "--multiline-fields=true", "--array-delimiter=U+001F"]
    for p in sorted((out / "nodes").glob("*.parquet")):
        label = p.stem
        key = NODE_KEYS.get(label, "id")
        table = pq.read_table(p)
        cols = table.column_names
        header = [f"{key}:ID({label})"] + [f"{c}:{_type_of(table.schema.field(c))}" for c in cols if c != key]
        with_emb = label == "Image" and vectors
        if with_emb:
            header.append("embedding:float[]")
        target = dest / f"nodes_{label}.csv"
        with target.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, quoting=csv.QUOTE_MINIMAL)
            w.writerow(header)
            for r in table.to_pylist():
                row = [_cell(r[key])] + [_cell(r[c]) for c in cols if c != key]
                if with_emb:
                    v = vectors.get(r[key])
                    row.append("" if v is None else ARRAY_DELIMITER.join(f"{x:.8g}" for x in v))
                w.writerow(row)
        args.append(f"--nodes={label}={target}")
    for p in sorted((out / "edges").glob("*.parquet")):
        src, _, rest = p.stem.partition("_")
        typ, _, dst = rest.rpartition("_")
        table = pq.read_table(p)
        props = [c for c in table.column_names if c not in ("_start", "_end")]
        header = [f":START_ID({src})", f":END_ID({dst})"] + [f"{c}:{_type_of(table.schema.field(c))}" for c in props]
        target = dest / f"rels_{p.stem}.csv"
        with target.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            for r in table.to_pylist():
                w.writerow([_cell(r["_start"]), _cell(r["_end"])] + [_cell(r[c]) for c in props])
        args.append(f"--relationships={typ}={target}")
    return args


def command_line(args: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)
