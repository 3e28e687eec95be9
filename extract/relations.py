"""Relations between the spans of a sentence, by rules (used by the rules and the model-based extractors)."""

from __future__ import annotations

from extract.assembly import Span
from extract.text import PhraseTable, phrase_key
from extract.triggers import LOCATIVE_WORDS, SUGGESTIVE_PHRASES

_SUGGESTIVE = PhraseTable({phrase_key(p): "sugg" for p in SUGGESTIVE_PHRASES})


def add_relations(low: list[str], ents: list[Span]) -> None:
    """RadGraph relations by rules, on the spans of one sentence (``low``: its lower-case words):
    ``located_at`` (anatomy right before, or after a preposition), ``modify`` (modifier words and side/part words
    before an anatomy), ``suggestive_of`` ("opacity, likely atelectasis")."""
    by_u0 = {e.u0: e for e in ents}
    obs = [e for e in ents if e.kind == "obs"]
    # a side or part word right before an anatomy concept modifies it ("left hemidiaphragm")
    for a in ents:
        if a.kind == "anat" and a.cui is None:
            nxt = by_u0.get(a.u1)
            if nxt is not None and nxt.kind == "anat" and nxt.cui is not None:
                a.modifies = nxt
    for o in obs:
        if o.composed_from is not None:
            o.located.append(o.composed_from)
        # anatomy (and modifiers) right before the observation: "left basilar atelectasis"
        k = o.u0 - 1
        while k >= 0:
            prev = _ending_at(ents, k)
            if prev is None or prev.kind == "obs":
                break
            if prev.kind == "anat" and prev.modifies is None and prev not in o.located:
                o.located.append(prev)
            k = prev.u0 - 1
        # prepositional anatomy: "opacity in the left lower lobe"
        k = o.u1
        saw_prep = False
        while k < len(low):
            e = by_u0.get(k)
            if e is not None:
                if e.kind == "anat":
                    if saw_prep or not o.located:
                        if e not in o.located:
                            o.located.append(e)
                    k = e.u1
                    # a chain "left lower lobe" is one entity; stop after the anatomy phrase
                    nxt = by_u0.get(k)
                    if nxt is None or nxt.kind != "anat":
                        break
                    continue
                if e.kind == "mod":
                    k = e.u1
                    continue
                break
            if low[k] in LOCATIVE_WORDS:
                saw_prep = True
                k += 1
                continue
            break
    # modifiers: the nearest observation after (within 3 words), else before
    for m in ents:
        if m.kind != "mod":
            continue
        target = _nearest(obs, m, after=True, limit=3) or _nearest(obs, m, after=False, limit=3)
        m.modifies = target
    # suggestive_of: "<obs A> ... likely <obs B>"
    free = [True] * len(low)
    i = 0
    while i < len(low):
        hit = _SUGGESTIVE.at(low, i, free)
        if hit is None:
            i += 1
            continue
        length, _ = hit
        before = [o for o in obs if o.u1 <= i]
        after = [o for o in obs if o.u0 >= i + length]
        if before and after:
            a, b = before[-1], after[0]
            if b not in a.suggests:
                a.suggests.append(b)
        i += length


def _ending_at(ents: list[Span], u: int) -> Span | None:
    for e in ents:
        if e.u0 <= u < e.u1:
            return e if e.u1 - 1 == u else None
    return None


def _nearest(obs: list[Span], m: Span, *, after: bool, limit: int) -> Span | None:
    if after:
        cands = [o for o in obs if o.u0 >= m.u1 and o.u0 - m.u1 <= limit]
        return min(cands, key=lambda o: o.u0) if cands else None
    cands = [o for o in obs if o.u1 <= m.u0 and m.u0 - o.u1 <= limit]
    return max(cands, key=lambda o: o.u1) if cands else None
