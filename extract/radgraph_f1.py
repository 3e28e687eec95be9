"""RadGraph-F1 (Delbrouck et al., 2022: "Improving the Factual Correctness of Radiology Report Generation with
Semantic Rewards"): how much of a reference report's RadGraph a generated report reproduces, at three levels.

* ``simple`` (RG_E): the entities, each as (its tokens, its label);
* ``partial`` (RG_ER): each entity as (tokens, label, whether it has a relation);
* ``complete`` (RG_ER̄): each entity as (tokens, label, the set of its relations, each as (relation type, the
  target's tokens, the target's label)).

Per report, F1 of the two sets (tokens compared in lower case); both reports without an entity score 1.0, one
without 0.0. A corpus's figure is the mean over its reports. Both graphs come from the same extractor (medkg's
RadGraph view of its extraction, ``extract.radgraph``), as the reward model reads both sides alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from extract.radgraph import RGDoc

LEVELS = ("simple", "partial", "complete")


def entity_set(doc: RGDoc, level: str) -> set[Any]:
    by_id = {e.id: e for e in doc.entities}
    out: set[Any] = set()
    for e in doc.entities:
        key = (e.tokens.lower(), e.label)
        if level == "simple":
            out.add(key)
        elif level == "partial":
            out.add((*key, bool(e.relations)))
        else:
            rels = frozenset((typ, by_id[t].tokens.lower(), by_id[t].label) for typ, t in e.relations if t in by_id)
            out.add((*key, rels))
    return out


def _f1(ref: set[Any], hyp: set[Any]) -> float:
    if not ref and not hyp:
        return 1.0
    tp = len(ref & hyp)
    return 2 * tp / (len(ref) + len(hyp)) if tp else 0.0


def radgraph_f1(reference: RGDoc, generated: RGDoc) -> dict[str, float]:
    """The three levels' F1 for one pair of reports."""
    return {level: round(_f1(entity_set(reference, level), entity_set(generated, level)), 4) for level in LEVELS}


def mean_radgraph_f1(pairs: Iterable[tuple[RGDoc, RGDoc]]) -> dict[str, float]:
    scores = [radgraph_f1(r, g) for r, g in pairs]
    return {level: round(sum(s[level] for s in scores) / len(scores), 4) if scores else 0.0 for level in LEVELS}
