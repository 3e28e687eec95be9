"""The extraction as RadGraph draws it: one entity per meaningful word, tied by ``modify`` and ``located_at``.

The extractor keeps lexicon phrases whole ("pleural effusion", "left lower lobe", "cardiac silhouette"): that is
what maps to a UMLS concept and what the graph's concept edges use. RadGraph's annotators split such phrases
(RadGraph schema, Jain et al. 2021; RadGraph-XL):

* an observation phrase into its anatomy words (ANAT-DP) and its observation words, the head observation
  ``located_at`` the anatomy ("pleural effusions": *effusions* located_at *pleural*; "pulmonary vascular
  congestion": *congestion* located_at *vascular*), other observation words ``modify`` the head ("nasogastric
  tube": *nasogastric* modify *tube*);
* an anatomy phrase into words, the descriptors ``modify`` its organ word ("left pleural": *left* modify
  *pleural*; "cardiac silhouette", "lung volumes": *silhouette* modify *cardiac*, *volumes* modify *lung*);
* a modifier ("acute", "mild", "unchanged") takes the label of the observation it modifies ("no acute process":
  *acute* OBS-DA), and comparison words ("prior", "previous") are not entities.

This module only changes the RadGraph view (``kg extract``'s ``entities``, ``kg eval extract --radgraph``); the
concept mentions, their polarity and certainty, and the graph stay as they were (modifiers have no CUI and never
become concepts of their own).
"""

from __future__ import annotations

from typing import Any

from extract.records import Entity, Extraction, Relation
from extract.triggers import ANATOMY_WORDS, MODIFIER_WORDS

#: Words that name where something is (an organ, a region, a side): ANAT-DP when split out of a phrase.
ANATOMY_TOKENS = ANATOMY_WORDS | frozenset("""
    pleural pleura pulmonary lung lungs cardiac heart mediastinal mediastinum vascular vasculature interstitial
    parenchymal parenchyma hilar hila hilum hilus cardiopulmonary cardiomediastinal chest thoracic thorax aortic
    aorta costophrenic diaphragm diaphragmatic hemidiaphragm hemidiaphragms airspace airway airways bronchial
    bronchovascular alveolar venous arterial artery vein abdomen abdominal gastric stomach esophageal esophagus
    tracheal trachea spine spinal osseous bony rib ribs clavicle sternal sternum soft tissue tissues subcutaneous
    jugular subclavian atrium atrial ventricle ventricular cavoatrial bibasilar bibasal basal base bases apex apices
    retrocardiac lingula lingular lobar perihilar subdiaphragmatic vertebral
""".split())
#: Anatomy words that qualify the organ word rather than name it.
DESCRIPTOR_TOKENS = frozenset("""
    left right bilateral bilaterally lower upper middle mid lateral medial posterior anterior central peripheral
    silhouette contour contours volumes volume size margins margin borders border structures outline region regions
    zone zones segment segments segmental subsegmental field fields aspect portion base bases apex apices internal
    external proximal distal both
""".split())
FUNCTION_TOKENS = frozenset("of the a an and or with in at to".split())
COMPARISON_TOKENS = frozenset("prior previous previously recent recently".split())
#: The exam, not the patient: "chest radiograph", "PA and lateral views" name no anatomy RadGraph annotates.
EXAM_TOKENS = frozenset("radiograph radiographs radiography film films x-ray xray x-rays ct exam examination study "
                        "studies view views image images imaging projection projections".split())
VIEW_TOKENS = frozenset("chest lateral frontal pa ap portable upright supine".split())


def radgraph_entities(x: Extraction, text: str) -> tuple[list[Entity], list[Relation]]:
    """RadGraph-granular entities (ids renumbered in text order) and relations of an extraction."""
    pieces: list[dict[str, Any]] = []  # {key, start_ix, end_ix, label, section, cui}
    head_of: dict[str, int] = {}  # original entity id -> index of its head piece
    internal: list[tuple[str, int, int]] = []  # (type, source piece, target piece)
    low = [text[s:t].lower() for s, t in x.tokens]
    for e in x.entities:
        words = [(k, low[k]) for k in range(e.start_ix, e.end_ix + 1)]
        if e.label == "ANAT-DP" and all(w in VIEW_TOKENS for _, w in words) and _exam_context(low, e.start_ix,
                                                                                              e.end_ix):
            continue  # "chest radiograph", "PA and lateral views", "portable view of the chest"
        content = [(k, w) for k, w in words if w not in FUNCTION_TOKENS and any(ch.isalnum() for ch in w)]
        if e.cui is None and e.label != "ANAT-DP" and all(w in COMPARISON_TOKENS for _, w in content):
            continue  # "prior", "previous": not RadGraph entities
        if len(content) <= 1:
            head_of[e.id] = len(pieces)
            pieces.append(_piece(e, e.start_ix, e.end_ix, e.label))
            continue
        if e.label == "ANAT-DP":
            anat, obs = content, []
        else:
            anat = [(k, w) for k, w in content if w in ANATOMY_TOKENS or w in DESCRIPTOR_TOKENS]
            if len(anat) == len(content):  # no observation word left: the last word is the observation
                anat = anat[:-1]
            obs = [(k, w) for k, w in content if (k, w) not in anat]
        first = len(pieces)
        for k, _w in content:
            pieces.append(_piece(e, k, k, "ANAT-DP" if (k, _w) in anat else e.label))
        at = {k: first + n for n, (k, _w) in enumerate(content)}
        organs = [at[k] for k, w in anat if w not in DESCRIPTOR_TOKENS]
        # the organ word: in an observation phrase the one nearest the observation ("pulmonary vascular
        # congestion": vascular), in an anatomy phrase the first ("right lung", "cardiac contours", "lung base")
        organ = (organs[-1] if obs else organs[0]) if organs else (at[anat[-1][0]] if anat else None)
        for k, _w in anat:
            if organ is not None and at[k] != organ:
                internal.append(("modify", at[k], organ))
        if obs:
            head = at[obs[-1][0]]
            for k, _w in obs[:-1]:
                internal.append(("modify", at[k], head))
            if organ is not None:
                internal.append(("located_at", head, organ))
        elif organ is not None:
            head = organ
        else:
            continue
        head_of[e.id] = head
    relations = [(r.type, head_of[r.source], head_of[r.target]) for r in x.relations
                 if r.source in head_of and r.target in head_of]
    relations = _side_to_organ(relations + internal, pieces, low)
    # an observation word relates to anatomy by located_at ("low lung volumes": *low* located_at *lung*)
    relations = [("located_at" if typ == "modify" and pieces[s]["label"].startswith("OBS")
                  and pieces[t]["label"] == "ANAT-DP" else typ, s, t) for typ, s, t in relations]
    _tips(pieces, low, relations)
    _state_words(x, low, pieces, relations)
    # a modifier says how its observation is stated: it takes that observation's label
    label_of = {n: p["label"] for n, p in enumerate(pieces)}
    for typ, s, t in relations:
        if typ == "modify" and pieces[s]["cui"] is None and pieces[s]["label"].startswith("OBS") \
                and label_of[t].startswith("OBS"):
            pieces[s]["label"] = label_of[t]
    order = sorted(range(len(pieces)), key=lambda n: (pieces[n]["start_ix"], pieces[n]["end_ix"]))
    new_id = {n: str(i) for i, n in enumerate(order, 1)}
    entities = []
    for n in order:
        p = pieces[n]
        start, end = x.tokens[p["start_ix"]][0], x.tokens[p["end_ix"]][1]
        entities.append(Entity(new_id[n], text[start:end], p["label"], start, end, p["start_ix"], p["end_ix"],
                               p["section"], p["cui"], p["reason"]))
    seen, rels = set(), []
    for typ, s, t in relations:
        if s != t and (typ, s, t) not in seen:
            seen.add((typ, s, t))
            rels.append(Relation(typ, new_id[s], new_id[t]))
    return entities, rels


def _tips(pieces: list[dict[str, Any]], low: list[str], relations: list[Any]) -> None:
    """"the tip of the endotracheal tube": *tip* modify the device named after it."""
    has = {s for typ, s, _ in relations if typ == "modify"}
    for n, p in enumerate(pieces):
        if low[p["start_ix"]] != "tip" or p["end_ix"] != p["start_ix"] or n in has:
            continue
        nxt = sorted((q["start_ix"], m) for m, q in enumerate(pieces)
                     if 0 < q["start_ix"] - p["start_ix"] <= 5 and q["label"].startswith("OBS")
                     and low[q["end_ix"]] not in MODIFIER_WORDS)
        if nxt:
            relations.append(("modify", n, nxt[0][1]))


def _side_to_organ(relations: list[Any], pieces: list[dict[str, Any]], low: list[str]) -> list[Any]:
    """"right pleural effusion": the side qualifies the organ word (*right* modify *pleural*), not the finding;
    an observation located at a side-only anatomy and also at an organ keeps the organ."""
    words = [" ".join(low[p["start_ix"]:p["end_ix"] + 1]) for p in pieces]
    side = {n for n, p in enumerate(pieces) if p["label"] == "ANAT-DP"
            and all(w in DESCRIPTOR_TOKENS for w in words[n].split())}
    organ_of = {s: t for typ, s, t in relations if typ == "located_at" and t not in side}
    out = []
    for typ, s, t in relations:
        if typ == "located_at" and t in side and s in organ_of:
            out.append(("modify", t, organ_of[s]))
        else:
            out.append((typ, s, t))
    return out


#: Words that state how something is ("unchanged", "normal", "clear"), which the polarity engine reads as triggers:
#: RadGraph annotates them as observations of what they describe.
STATE_TOKENS = frozenset("unchanged normal clear unremarkable".split())


def _state_words(x: Extraction, low: list[str], pieces: list[dict[str, Any]], relations: list[Any]) -> None:
    """Adds a definitely-present observation for each state word no entity covers: it modifies the next
    observation of its sentence ("unchanged mild cardiomegaly"), else is located at the nearest anatomy ("heart
    size is normal", "lungs are clear")."""
    covered = {k for p in pieces for k in range(p["start_ix"], p["end_ix"] + 1)}
    ends = {n for n, w in enumerate(low) if w in (".", ";", ":")}
    for k, w in enumerate(low):
        if w not in STATE_TOKENS or k in covered:
            continue
        lo = max((n for n in ends if n < k), default=-1)
        hi = min((n for n in ends if n > k), default=len(low))
        mine = [n for n, p in enumerate(pieces) if lo < p["start_ix"] < hi]
        section = x.entities[0].section if x.entities else "findings"
        pieces.append({"start_ix": k, "end_ix": k, "label": "OBS-DP", "section": section, "cui": None, "reason": ""})
        me = len(pieces) - 1
        obs = sorted((abs(pieces[n]["start_ix"] - k), n) for n in mine if pieces[n]["label"].startswith("OBS")
                     and low[pieces[n]["end_ix"]] not in MODIFIER_WORDS)
        anat = sorted((abs(pieces[n]["start_ix"] - k), n) for n in mine if pieces[n]["label"] == "ANAT-DP")
        if w == "unchanged" and obs:  # "unchanged mild cardiomegaly", "the effusion is unchanged"
            relations.append(("modify", me, obs[0][1]))
        elif anat:  # "the lungs are clear", "normal mediastinal contours"
            relations.append(("located_at", me, anat[0][1]))
        elif obs:
            relations.append(("modify", me, obs[0][1]))


def _exam_context(low: list[str], s: int, t: int) -> bool:
    """Whether view words name the exam: an exam word next ("PA and lateral chest radiographs"), another view word
    before ("AP chest compared to"), or "view of the" before ("portable view of the chest")."""
    k = t + 1
    while k < len(low) and (low[k] in VIEW_TOKENS or low[k] in ("and", "/", "-")):
        k += 1
    if k < len(low) and low[k] in EXAM_TOKENS:
        return True
    before = low[max(0, s - 3):s]
    return bool(before) and (before[-1] in VIEW_TOKENS or before[-1] == "and" and len(before) > 1
                             and before[-2] in VIEW_TOKENS or before[-2:] == ["of", "the"] and len(before) == 3
                             and before[0] in EXAM_TOKENS)


def _piece(e: Entity, s: int, t: int, label: str) -> dict[str, Any]:
    whole = s == e.start_ix and t == e.end_ix
    return {"start_ix": s, "end_ix": t, "label": label, "section": e.section, "cui": e.cui if whole else None,
            "reason": e.reason}
