"""The ``radgraph`` extractor: the RadGraph / RadGraph-XL models of the ``radgraph`` package.

Used only when the package and its weights are already on the machine (medkg never downloads);
otherwise a clear error says what to install. Its annotations (whitespace tokens of its own
preprocessed text) are aligned back to the report's characters, then concepts and the study
merge come from medkg as for the other backends.
"""

from __future__ import annotations

from extract.assembly import Span, assemble_plan
from extract.concepts import ConceptIndex
from extract.lexicon import Lexicon
from extract.linker import concept_for_span
from extract.radgraph import normalise_label
from extract.records import Extraction, Polarity, Section
from extract.text import plan
from kg.core.errors import Unavailable

DEFAULT_MODEL = "modern-radgraph-xl"


class RadGraphExtractor:
    name = "radgraph"
    version = "0.1"
    uses_model = True

    def __init__(self, index: ConceptIndex | None = None, model: str | None = None):
        self.index = index or Lexicon.default()
        try:
            from radgraph import RadGraph
        except ImportError:
            raise Unavailable(
                "the radgraph extractor needs the 'radgraph' package", code="E416",
                fix="pip install radgraph, and place its model weights in its cache before use "
                "(medkg does not download them); or use --extractor rules",
            ) from None
        self.model_type = model or DEFAULT_MODEL
        try:
            try:
                self._rg = RadGraph(model=self.model_type)
            except TypeError:
                self._rg = RadGraph(model_type=self.model_type)
        except Exception as exc:  # the package raises various errors when weights are absent
            raise Unavailable(
                f"the radgraph model {self.model_type!r} could not be loaded: {exc}", code="E417",
                fix="download the RadGraph weights into the radgraph package cache first, or use --extractor rules",
            ) from None

    @property
    def id(self) -> str:
        return f"{self.name}/{self.version}:{self.model_type}+{self.index.name}@{self.index.version}"

    def extract(self, report_id: str, text: str, sections: tuple[Section, ...] | None = None) -> Extraction:
        sections, tokens, sents = plan(text, sections)
        sentences = [" ".join(text[tokens[t][0] : tokens[t][1]] for t in units) for _, units in sents]
        ann = self._rg(sentences) if sentences else {}
        found = []
        for k, (_, units) in enumerate(sents):
            doc = ann.get(str(k), {})
            words = doc.get("text", "").split(" ")
            # the package re-tokenises: align its words to ours in order
            ours = [text[tokens[t][0] : tokens[t][1]] for t in units]
            align, j = {}, 0
            for i, w in enumerate(words):
                while j < len(ours) and ours[j] != w:
                    j += 1
                if j < len(ours):
                    align[i] = j
                    j += 1
            low = [w.lower() for w in ours]
            ents: list[Span] = []
            ids: dict[str, Span] = {}
            for eid, e in doc.get("entities", {}).items():
                s, t = align.get(int(e["start_ix"])), align.get(int(e["end_ix"]))
                label = normalise_label(e["label"])
                if s is None or t is None or label is None:
                    continue
                cui = concept_for_span(self.index, low[s : t + 1], " ".join(low[s : t + 1]), label)
                if label == "ANAT-DP":
                    ent = Span(s, t + 1, "anat", cui=cui)
                else:
                    ent = Span(s, t + 1, "obs", cui=cui, polarity=Polarity.of_label(label), reason="radgraph")
                ents.append(ent)
                ids[eid] = ent
            for eid, e in doc.get("entities", {}).items():
                src = ids.get(eid)
                for rel, tgt in e.get("relations", []):
                    if src is None or tgt not in ids:
                        continue
                    if rel == "located_at":
                        src.located.append(ids[tgt])
                    elif rel == "modify":
                        src.modifies = ids[tgt]
                    elif rel == "suggestive_of":
                        src.suggests.append(ids[tgt])
            ents.sort(key=lambda e: e.u0)
            found.append(ents)
        return assemble_plan(report_id, text, sections, tokens, sents, found, self.index, self.id)
