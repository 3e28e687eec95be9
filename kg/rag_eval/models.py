"""The models `kg eval rag` asks: two baselines that need no VLM (``retrieval-only``, ``prior``), an
OpenAI-compatible endpoint (``openai:http://host:port/v1@model-name``) and a local transformers model folder.

Each gets, per case, the image, the instruction (write the report, or a closed question) and the rendered context
of the setting (None for ``none``) with the context itself, and returns its text."""

from __future__ import annotations

import base64
import os
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from extract.labels import load_label_map
from graph.retrieve import Context
from kg.core.errors import InvalidInput, MissingExtraError, Unavailable
from kg.rag_eval.cases import Case
from kg.rag_eval.scoring import FINDINGS, LABELS, PHRASES

REPORT_INSTRUCTION = "Write the findings and impression of the radiology report for this chest X-ray."


class EvalModel(Protocol):
    id: str
    cached: bool  # answers worth caching (a model call), not a baseline computed in microseconds
    concurrent: bool  # may be asked from several threads at once (an endpoint's requests in flight)
    usage: dict[str, int]  # tokens spent so far by this process's requests (an endpoint's usage); empty otherwise

    def ask(self, case: Case, instruction: str, context: Context | None, prompt: str | None) -> str: ...


def finding_states(ctx: Context | None, mapping: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Per CheXpert label, the polarity most of the neighbours' similarity states (agreement >= 0.5), from the
    context's findings: what the retrieval-only baseline writes and what an answer may contradict."""
    if ctx is None:
        return {}
    best: dict[str, tuple[float, str]] = {}
    for f in ctx.findings:
        if f.agreement >= best.get(f.concept.cui, (0.0, ""))[0]:
            best[f.concept.cui] = (f.agreement, f.polarity.value)
    out: dict[str, str] = {}
    for label, cuis in mapping.items():
        states = [best[c] for c in cuis if c in best and best[c][0] >= 0.5]
        if states:
            out[label] = max(states)[1]
    return out


class RetrievalOnly:
    """The neighbours' findings, similarity-weighted, as the answer: each label most of the neighbours' similarity
    states present ("Pleural effusion."), absent ("No pleural effusion.") or uncertain ("Possible ..."); a closed
    question answered from the same states (no when the context does not state the finding)."""

    id = "retrieval-only"
    cached = False
    concurrent = False
    usage: dict[str, int] = {}

    def __init__(self) -> None:
        self.mapping = load_label_map("chexpert")

    def ask(self, case: Case, instruction: str, context: Context | None, prompt: str | None) -> str:
        states = finding_states(context, self.mapping)
        if instruction != REPORT_INSTRUCTION:
            label = next((x for x in FINDINGS if PHRASES[x] in instruction), None)
            return "yes" if label is not None and states.get(label) == "positive" else "no"
        words = {"positive": "{}.", "negative": "No {}.", "uncertain": "Possible {}."}
        lines = [words[s].format(PHRASES.get(x, x.lower()).removeprefix("a ").removeprefix("an ")).capitalize()
                 for x, s in states.items() if x in PHRASES]
        return " ".join(lines) or "No acute cardiopulmonary process."


class Prior:
    """The split's most frequent findings, whatever the image: the labels positive in at least half of the
    references (else the most frequent one) as the report; a closed question answered with the majority answer
    for its finding."""

    id = "prior"
    cached = False
    concurrent = False
    usage: dict[str, int] = {}

    def __init__(self, cases: Sequence[Case]):
        pos = Counter(x for c in cases for x in LABELS if c.labels.get(x) == 1.0)
        neg = Counter(x for c in cases for x in LABELS if c.labels.get(x) == 0.0)
        common = [x for x in FINDINGS if pos[x] >= len(cases) / 2] or [max(FINDINGS, key=lambda x: pos[x])]
        self.report = " ".join(PHRASES[x].removeprefix("a ").removeprefix("an ").capitalize() + "." for x in common)
        self.majority = {x: "yes" if pos[x] > neg[x] else "no" for x in FINDINGS}

    def ask(self, case: Case, instruction: str, context: Context | None, prompt: str | None) -> str:
        if instruction == REPORT_INSTRUCTION:
            return self.report
        label = next((x for x in FINDINGS if PHRASES[x] in instruction), None)
        return self.majority.get(label or "", "no")


def _image_url(case: Case) -> str:
    try:
        data = Path(case.path).read_bytes()
    except OSError:
        raise InvalidInput(f"cannot read the image of {case.image_id} at {case.path}", code="E1172",
                           where=case.image_id, fix="run kg eval rag where the build's image paths are readable") from None
    kind = "png" if data[:4] == b"\x89PNG" else "jpeg"
    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


class OpenAIModel:
    """A model behind an OpenAI-compatible server (vLLM, Ollama, ...), with the ``openai`` SDK: the context as a
    system message, the image and the instruction as the user message; greedy, at most ``max_tokens``."""

    cached = True
    concurrent = True
    usage: dict[str, int]

    def __init__(self, url: str, name: str, *, key_env: str | None = None, max_tokens: int = 256, timeout: float = 120):
        try:
            import openai
        except ImportError:
            raise MissingExtraError("kg eval rag --model openai:...", "api", "openai") from None
        self.id, self.name, self.max_tokens = f"openai:{url}@{name}", name, max_tokens
        key = os.environ.get(key_env) if key_env else None
        self.client = openai.OpenAI(base_url=url, api_key=key or "unused", timeout=timeout, max_retries=3)
        self.errors = openai.APIError
        self.usage = {"prompt": 0, "completion": 0}
        self._lock = threading.Lock()

    def ask(self, case: Case, instruction: str, context: Context | None, prompt: str | None) -> str:
        messages: list[dict[str, Any]] = [{"role": "system", "content": prompt}] if prompt else []
        messages.append({"role": "user", "content": [{"type": "text", "text": instruction},
                                                     {"type": "image_url", "image_url": {"url": _image_url(case)}}]})
        try:
            r = self.client.chat.completions.create(model=self.name, messages=messages,  # type: ignore[arg-type]
                                                    max_tokens=self.max_tokens, temperature=0)
        except self.errors as exc:
            raise Unavailable(f"the model server answered an error: {exc}", code="E435", where=self.id,
                              fix="check the server and the model name (GET /v1/models)") from None
        if r.usage is not None:
            with self._lock:
                self.usage["prompt"] += r.usage.prompt_tokens
                self.usage["completion"] += r.usage.completion_tokens
        return r.choices[0].message.content or ""


class TransformersModel:
    """A local vision-language model folder (transformers; medkg downloads nothing), through its processor's chat
    template, greedy."""

    cached = True
    concurrent = False  # one generate at a time: torch uses every core for each
    usage: dict[str, int] = {}

    def __init__(self, folder: Path, *, max_tokens: int = 256):
        try:
            import torch
            from transformers import AutoProcessor, LlavaForConditionalGeneration
        except ImportError:
            raise MissingExtraError("kg eval rag --model FOLDER", "nlp", "transformers") from None
        self.id, self.torch, self.max_tokens = f"transformers:{folder}", torch, max_tokens
        try:
            self.processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
            self.model = LlavaForConditionalGeneration.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot load the model folder {folder}: {str(exc).splitlines()[0]}", code="E1173",
                               where="--model", fix="pass a folder with a LLaVA-style model and its processor") from None

    def ask(self, case: Case, instruction: str, context: Context | None, prompt: str | None) -> str:
        from PIL import Image

        content = [{"type": "image"}, {"type": "text", "text": (prompt + "\n\n" if prompt else "") + instruction}]
        text = self.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
        image = Image.open(case.path).convert("RGB")
        inputs = self.processor(images=image, text=text, return_tensors="pt")
        with self.torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=self.max_tokens, do_sample=False)
        return str(self.processor.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))


def model_for(spec: str, cases: Sequence[Case], *, key_env: str | None = None, max_tokens: int = 256) -> EvalModel:
    """``retrieval-only``, ``prior``, ``openai:URL@NAME`` or a model folder."""
    if spec == "retrieval-only":
        return RetrievalOnly()
    if spec == "prior":
        return Prior(cases)
    if spec.startswith("openai:"):
        url, sep, name = spec[len("openai:"):].rpartition("@")
        if not sep or not url.startswith(("http://", "https://")) or not name:
            raise InvalidInput(f"--model {spec!r} is not openai:URL@MODEL", code="E1174", where="--model",
                               fix="e.g. --model openai:http://127.0.0.1:8001/v1@llava-hf/llava-1.5-7b-hf")
        return OpenAIModel(url, name, key_env=key_env, max_tokens=max_tokens)
    if Path(spec).is_dir():
        return TransformersModel(Path(spec), max_tokens=max_tokens)
    raise InvalidInput(f"unknown model {spec!r}", code="E1175", where="--model",
                       fix="use retrieval-only, prior, openai:URL@MODEL or a local model folder")
