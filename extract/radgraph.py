"""RadGraph JSON: read, write, and score against it.

The format of the RadGraph releases and the ``radgraph`` package::

    {doc_id: {"text": "space separated tokens", "entities": {"1": {"tokens": "effusion",
        "label": "OBS-DP", "start_ix": 12, "end_ix": 12, "relations": [["located_at", "2"]]}}}}

Token indices are inclusive and index ``text.split(" ")``. Gold files from PhysioNet put the
entities under ``labeler_1`` / ``labeler_2`` (``{doc_id: {"text", "labeler_1": {"entities": …}}}``).
RadGraph-XL labels ("Observation::definitely absent", "Anatomy::definitely present") are read as
their v1 equivalents (OBS-DA, ANAT-DP, …).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extract.records import Extraction
from kg.core.errors import InvalidInput

LABELS = ("ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA")
RELATIONS = ("modify", "located_at", "suggestive_of")
#: RadGraph-XL's label names ("Observation::definitely absent") in the RadGraph v1 scheme.
_XL_LABELS = {
    "anatomy::definitely present": "ANAT-DP",
    "anatomy::definitely absent": "ANAT-DP",
    "anatomy::uncertain": "ANAT-DP",
    "observation::definitely present": "OBS-DP",
    "observation::definitely absent": "OBS-DA",
    "observation::uncertain": "OBS-U",
}


def normalise_label(label: str) -> str | None:
    """A RadGraph v1 label for a v1 or RadGraph-XL label; None if unknown."""
    if label in LABELS:
        return label
    parts = str(label).strip().lower().split("::")
    if len(parts) == 3 and parts[1] == "measurement":  # RadGraph-XL's measurement spans ("3 cm") keep their kind
        parts = [parts[0], parts[2]]
    return _XL_LABELS.get("::".join(parts))


@dataclass(frozen=True)
class RGEntity:
    id: str
    tokens: str
    label: str
    start_ix: int
    end_ix: int
    relations: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RGDoc:
    id: str
    text: str  # space-joined tokens
    entities: tuple[RGEntity, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "entities": {
                e.id: {"tokens": e.tokens, "label": e.label, "start_ix": e.start_ix, "end_ix": e.end_ix,
                       "relations": [list(r) for r in e.relations]}
                for e in self.entities
            },
        }


def to_radgraph(x: Extraction, text: str) -> dict[str, Any]:
    """An extraction as a RadGraph entities dict (token indices into our tokenisation), at RadGraph's
    granularity (:mod:`extract.radgraph_view`)."""
    from extract.radgraph_view import radgraph_entities

    entities, relations = radgraph_entities(x, text)
    rels: dict[str, list[list[str]]] = {}
    for r in relations:
        rels.setdefault(r.source, []).append([r.type, r.target])
    return {
        e.id: {
            "tokens": " ".join(text[s:t] for s, t in x.tokens[e.start_ix : e.end_ix + 1]),
            "label": e.label,
            "start_ix": e.start_ix,
            "end_ix": e.end_ix,
            "relations": rels.get(e.id, []),
        }
        for e in entities
    }


def extraction_doc(report_id: str, x: Extraction, text: str) -> RGDoc:
    """A whole RadGraph document: our tokens joined by spaces plus the entities."""
    joined = " ".join(text[s:t] for s, t in x.tokens)
    ents = to_radgraph(x, text)
    return _parse_doc(report_id, {"text": joined, "entities": ents}, "<memory>")


def _parse_doc(doc_id: str, d: dict[str, Any], where: str, labeler: str | None = None) -> RGDoc:
    if not isinstance(d, dict) or "text" not in d:
        raise InvalidInput(f"document {doc_id!r} has no 'text'", code="E123", where=where, fix="use the RadGraph JSON layout")
    body = d
    if "entities" not in d:
        keys = [k for k in d if k.startswith("labeler_")]
        pick = labeler or (sorted(keys)[0] if keys else None)
        if pick is None or pick not in d:
            raise InvalidInput(f"document {doc_id!r} has no 'entities' (nor {labeler or 'labeler_N'})", code="E125", where=where,
                             fix="pass a RadGraph file, or --labeler labeler_1|labeler_2")
        body = d[pick]
    n_tokens = len(d["text"].split(" "))
    ents = []
    for eid, e in sorted(body.get("entities", {}).items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else kv[0]):
        try:
            label, s, t = normalise_label(e["label"]) or e["label"], int(e["start_ix"]), int(e["end_ix"])
            relations = tuple((str(r[0]), str(r[1])) for r in e.get("relations", []))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvalidInput(f"entity {eid} of {doc_id!r} is malformed ({exc})", code="E129", where=where,
                             fix="each entity needs tokens, label, start_ix, end_ix, relations") from None
        bad_rel = [r for r, _ in relations if r not in RELATIONS]
        if bad_rel:
            raise InvalidInput(f"entity {eid} of {doc_id!r} has relation type {bad_rel[0]!r}", code="E126", where=where,
                             fix=f"relation types are {', '.join(RELATIONS)}")
        if label not in LABELS or not 0 <= s <= t < n_tokens:
            raise InvalidInput(f"entity {eid} of {doc_id!r} has label {label!r} or span {s}..{t} out of range", code="E127",
                             where=where, fix=f"labels are {', '.join(LABELS)}; indices are inclusive token indices")
        ents.append(RGEntity(str(eid), str(e.get("tokens", "")), label, s, t, relations))
    return RGDoc(doc_id, d["text"], tuple(ents))


def read_radgraph(path: Path, labeler: str | None = None) -> list[RGDoc]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read RadGraph JSON: {exc}", code="E128", where=str(path), fix="pass a RadGraph .json file") from None
    if isinstance(raw, list) and all(isinstance(x, dict) for x in raw):
        # the radgraph package's output: a list with one {"0": {...}} per input text, in input order; the
        # document's id is its position (item n of several documents: "n:key")
        raw = {(str(n) if len(item) == 1 else f"{n}:{k}"): v for n, item in enumerate(raw) for k, v in item.items()}
    if not isinstance(raw, dict):
        raise InvalidInput("RadGraph JSON must be an object {doc_id: {...}} (or RadGraph-XL's list of them)",
                           code="E124", where=str(path), fix="check the file")
    return [_parse_doc(str(k), v, str(path), labeler) for k, v in raw.items()]


def write_radgraph(docs: list[RGDoc], path: Path) -> None:
    Path(path).write_text(json.dumps({d.id: d.as_json() for d in docs}, indent=1, sort_keys=True), encoding="utf-8")


def score_radgraph(gold: list[RGDoc], pred: dict[str, RGDoc]) -> dict[str, Any]:
    """Entity F1 and relation F1 as the RadGraph paper counts them: an entity is correct when its
    token span and label match; a relation when its type and both entities (span and label) match."""
    tp = fp = fn = rtp = rfp = rfn = 0
    for g in gold:
        p = pred.get(g.id)
        ge = {(e.start_ix, e.end_ix, e.label) for e in g.entities}
        pe = {(e.start_ix, e.end_ix, e.label) for e in p.entities} if p else set()
        tp += len(ge & pe)
        fp += len(pe - ge)
        fn += len(ge - pe)
        gr, pr = _relations(g), _relations(p) if p else set()
        rtp += len(gr & pr)
        rfp += len(pr - gr)
        rfn += len(gr - pr)

    def f(tp: int, fp: int, fn: int) -> dict[str, float | int]:
        pr = tp / (tp + fp) if tp + fp else 0.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        return {"precision": round(pr, 4), "recall": round(rc, 4), "f1": round(2 * pr * rc / (pr + rc), 4) if pr + rc else 0.0,
                "tp": tp, "fp": fp, "fn": fn}

    return {"documents": len(gold), "entity": f(tp, fp, fn), "relation": f(rtp, rfp, rfn)}


def _relations(doc: RGDoc) -> set[tuple[tuple[int, int, str], str, tuple[int, int, str]]]:
    by_id = {e.id: e for e in doc.entities}
    out = set()
    for e in doc.entities:
        for typ, tgt in e.relations:
            t = by_id.get(tgt)
            if t is not None:
                out.add(((e.start_ix, e.end_ix, e.label), typ, (t.start_ix, t.end_ix, t.label)))
    return out


def align_to_gold(gold: RGDoc, x: Extraction, text: str) -> RGDoc:
    """Our entities re-indexed to the gold document's whitespace tokens (``text`` = gold text)."""
    starts, ends, pos = [], [], 0
    for tok in gold.text.split(" "):
        starts.append(pos)
        ends.append(pos + len(tok))
        pos += len(tok) + 1
    import bisect

    def tok_at(ch: int) -> int:
        return max(0, bisect.bisect_right(starts, ch) - 1)

    from extract.radgraph_view import radgraph_entities

    entities, relations = radgraph_entities(x, text)
    ids = {}
    ents = []
    rels: dict[str, list[tuple[str, str]]] = {}
    for r in relations:
        rels.setdefault(r.source, []).append((r.type, r.target))
    for e in entities:
        s, t = tok_at(e.start), tok_at(e.end - 1)
        ids[e.id] = e.id
        ents.append(RGEntity(e.id, " ".join(gold.text.split(" ")[s : t + 1]), e.label, s, t, tuple(rels.get(e.id, []))))
    return RGDoc(gold.id, gold.text, tuple(ents))
