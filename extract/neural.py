"""The ``transformers`` extractor: a token-classification model tags RadGraph entities.

The model is any Hugging Face token-classification checkpoint (local folder, or a model id
already in the local cache: nothing is downloaded) whose labels are BIO tags over the RadGraph
entity types: ``O``, ``B-ANAT-DP``, ``I-ANAT-DP``, ``B-OBS-DP``, ``I-OBS-DP``, ``B-OBS-U``,
``I-OBS-U``, ``B-OBS-DA``, ``I-OBS-DA``. Words come from medkg's tokeniser and are fed with
``is_split_into_words=True``; a word takes the tag of its first sub-word. Sentences of many
reports are batched; the model runs on CUDA when available (``device``), else on CPU.

The relation step is medkg's rule set (the same ``located_at`` / ``modify`` / ``suggestive_of``
heuristics the ``rules`` backend uses) applied to the model's entities; polarity comes from
the entity label; concepts come from the concept index on each entity's words.
"""

from __future__ import annotations

from pathlib import Path

from extract.assembly import Span, assemble_plan
from extract.concepts import ConceptIndex
from extract.lexicon import Lexicon
from extract.records import Extraction, Polarity, Section
from extract.relations import add_relations
from extract.text import plan
from kg.core.environment import medkg_env
from kg.core.errors import InvalidInput, MissingExtraError

BIO_LABELS = ("O", "B-ANAT-DP", "I-ANAT-DP", "B-OBS-DP", "I-OBS-DP", "B-OBS-U", "I-OBS-U", "B-OBS-DA", "I-OBS-DA")
MODEL_ENV = "MEDKG_EXTRACT_MODEL"


class TransformersExtractor:
    name = "transformers"
    version = "0.1"
    uses_model = True

    def __init__(self, index: ConceptIndex | None = None, model: str | None = None, *, device: str | None = None,
                 batch_size: int = 32, max_length: int = 256):
        self.index = index or Lexicon.default()
        env_model = medkg_env().extract_model
        model = model or (str(env_model) if env_model else None)
        if not model:
            raise InvalidInput(
                "the transformers extractor needs a model", code="E120",
                fix=f"pass --extractor transformers:<model folder> or set {MODEL_ENV}",
            )
        try:
            import torch
            from transformers import AutoModelForTokenClassification, AutoTokenizer
        except ImportError:
            raise MissingExtraError("the transformers extractor", "nlp", "transformers/torch") from None
        self._torch = torch
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
            self.model = AutoModelForTokenClassification.from_pretrained(model, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise InvalidInput(
                f"cannot load the token-classification model {model!r}: {str(exc).splitlines()[0]}", code="E122",
                fix=f"point --extractor transformers:<folder> (or {MODEL_ENV}) at a saved model folder; "
                "medkg never downloads models: fetch it yourself first (e.g. huggingface-cli download)",
            ) from None
        id2label = {int(k): v for k, v in self.model.config.id2label.items()}
        unknown = sorted(set(id2label.values()) - set(BIO_LABELS))
        if unknown:
            raise InvalidInput(
                f"model labels {unknown} are not RadGraph BIO tags", code="E121",
                fix="train the model with labels " + ", ".join(BIO_LABELS),
            )
        self.id2label = id2label
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.max_length = max_length
        self.model_name = Path(model).name if Path(model).exists() else model

    @property
    def id(self) -> str:
        return f"{self.name}/{self.version}:{self.model_name}+{self.index.name}@{self.index.version}"

    def extract(self, report_id: str, text: str, sections: tuple[Section, ...] | None = None) -> Extraction:
        return self.extract_many([(report_id, text, sections)])[0]

    def extract_many(self, items: list[tuple[str, str, tuple[Section, ...] | None]]) -> list[Extraction]:
        """Extract several reports, batching their sentences through the model."""
        plans = []
        sentences: list[list[str]] = []
        for report_id, text, sections in items:
            sections, tokens, sents = plan(text, sections)
            plans.append((report_id, text, sections, tokens, sents))
            for _, units in sents:
                sentences.append([text[tokens[t][0] : tokens[t][1]] for t in units])
        tags = self._tag(sentences)
        out, k = [], 0
        for report_id, text, sections, tokens, sents in plans:
            found = []
            for _, units in sents:
                found.append(self._entities(text, tokens, units, tags[k]))
                k += 1
            out.append(assemble_plan(report_id, text, sections, tokens, sents, found, self.index, self.id))
        return out

    def _tag(self, sentences: list[list[str]]) -> list[list[str]]:
        torch = self._torch
        result: list[list[str]] = []
        for b in range(0, len(sentences), self.batch_size):
            batch = sentences[b : b + self.batch_size]
            enc = self.tokenizer(batch, is_split_into_words=True, truncation=True, max_length=self.max_length,
                                 padding=True, return_tensors="pt")
            with torch.inference_mode():
                inputs = {k: v.to(self.device) for k, v in enc.items()}
                with torch.autocast(device_type="cuda", enabled=self.device.startswith("cuda")):
                    logits = self.model(**inputs).logits
                pred = logits.argmax(-1).cpu().tolist()
            for i, words in enumerate(batch):
                tags = ["O"] * len(words)
                seen = set()
                for pos, w in enumerate(enc.word_ids(i)):
                    if w is None or w in seen:
                        continue
                    seen.add(w)
                    tags[w] = self.id2label[pred[i][pos]]
                result.append(tags)
        return result

    def _entities(self, text: str, tokens: list[tuple[int, int]], units: list[int], tags: list[str]) -> list[Span]:
        """BIO tags over one sentence's words -> entities (with concepts) and rule relations."""
        low = [text[tokens[t][0] : tokens[t][1]].lower() for t in units]
        ents: list[Span] = []
        cur = None
        for i, tag in enumerate(tags + ["O"]):
            kind, _, label = tag.partition("-")
            if cur is not None and (kind != "I" or label != cur[2]):
                ents.append(self._entity(low, cur[0], i, cur[2]))
                cur = None
            if kind == "B" or (kind == "I" and cur is None):
                cur = (i, i, label)
        add_relations(low, ents)
        return ents

    def _entity(self, low: list[str], u0: int, u1: int, label: str) -> Span:
        from extract.linker import concept_for_span

        cui = concept_for_span(self.index, low[u0:u1], " ".join(low[u0:u1]), label)
        if label == "ANAT-DP":
            return Span(u0, u1, "anat", cui=cui)
        return Span(u0, u1, "obs", cui=cui, polarity=Polarity.of_label(label), reason="model")
