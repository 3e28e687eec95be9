"""`kg train-extractor`: fine-tune a local token-classification model on RadGraph annotations.

Users with RadGraph data (PhysioNet's RadGraph 1.0 ``train.json`` / ``dev.json``, RadGraph-XL output files)
fine-tune any local Hugging Face encoder (a folder: BiomedBERT, RadBERT, a model of their own; nothing is
downloaded) into the tagger the ``transformers:<folder>`` extractor reads: BIO tags over RadGraph's four entity
labels (:data:`extract.neural.BIO_LABELS`), one per word of RadGraph's whitespace tokens, a word tagged by its
first sub-word. Relations stay medkg's rules over the tagged entities.

A seeded share of the documents (``valid_share``) is held out and scored by RadGraph's entity matching (span and
label) before and after training; the output folder gets the model, its tokenizer and ``medkg-train.json``
(settings, data hash, losses, those scores). The folder is written whole: a temporary folder renamed at the end.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from extract.neural import BIO_LABELS
from extract.radgraph import RGDoc, read_radgraph
from kg.core.devices import pick_device
from kg.core.errors import Conflict, InvalidInput, MissingExtraError


@dataclass
class TrainSettings:
    epochs: int = 3
    lr: float = 5e-5
    batch_size: int = 8
    max_length: int = 256
    valid_share: float = 0.1
    seed: int = 0
    device: str = "auto"


def bio_tags(doc: RGDoc) -> tuple[list[str], list[str]]:
    """RadGraph's whitespace words of a document and their BIO tags (overlapping entities: the first wins)."""
    words = doc.text.split(" ")
    tags = ["O"] * len(words)
    for e in sorted(doc.entities, key=lambda e: (e.start_ix, e.end_ix)):
        if any(t != "O" for t in tags[e.start_ix:e.end_ix + 1]):
            continue
        for k in range(e.start_ix, e.end_ix + 1):
            tags[k] = ("B-" if k == e.start_ix else "I-") + e.label
    return words, tags


def spans(tags: list[str]) -> set[tuple[int, int, str]]:
    """Entity spans ``(start, end, label)`` (inclusive) of a BIO sequence; an I- after another label starts one."""
    out: set[tuple[int, int, str]] = set()
    start, label = 0, None
    for k, t in enumerate([*tags, "O"]):
        if t.startswith("I-") and label == t[2:]:
            continue
        if label is not None:
            out.add((start, k - 1, label))
            label = None
        if t != "O":
            start, label = k, t[2:]
    return out


def check_out(out: Path) -> None:
    """``out`` may be new, empty, or a tagger this command wrote before (it has ``medkg-train.json``)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "medkg-train.json").is_file())):
        raise Conflict(f"{out} exists and is not a model kg train-extractor wrote", code="E3101", where=str(out),
                       fix="choose a new --out folder; medkg does not overwrite files it did not write")


def train_extractor(gold_path: Path, base: Path, out: Path, settings: TrainSettings, *,
                    on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Fine-tune ``base`` on ``gold_path``; write the tagger to ``out``; return the run's record."""
    try:
        import torch
    except ImportError:
        raise MissingExtraError("kg train-extractor", "nlp", "transformers/torch") from None
    if not 0 <= settings.valid_share < 1:
        raise InvalidInput(f"--valid-share must be in [0, 1), not {settings.valid_share}", code="E1138",
                           fix="e.g. --valid-share 0.1")
    check_out(out)
    docs = read_radgraph(gold_path)
    if len(docs) < 2:
        raise InvalidInput(f"{gold_path} has {len(docs)} document(s): too few to train on", code="E1139",
                           where=str(gold_path), fix="pass a RadGraph file with annotated reports")
    device = pick_device(settings.device)
    tagger = _Tagger(base, settings, device)
    rng = random.Random(settings.seed)
    order = list(range(len(docs)))
    rng.shuffle(order)
    n_valid = int(round(len(docs) * settings.valid_share))
    valid = [docs[i] for i in sorted(order[:n_valid])]
    train = [docs[i] for i in sorted(order[n_valid:])]
    torch.manual_seed(settings.seed)
    tagger.model.to(device)
    before = tagger.score(valid) if valid else None
    opt = torch.optim.AdamW(tagger.model.parameters(), lr=settings.lr)
    history = []
    for epoch in range(1, settings.epochs + 1):
        tagger.model.train()
        rng.shuffle(train)
        total, steps = 0.0, 0
        for s in range(0, len(train), settings.batch_size):
            enc, labels = tagger.encode(train[s:s + settings.batch_size])
            loss = tagger.model(**{k: v.to(device) for k, v in enc.items()}, labels=labels.to(device)).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, steps = total + float(loss), steps + 1
        row = {"epoch": epoch, "loss": round(total / max(steps, 1), 5)}
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
    after = tagger.score(valid) if valid else None
    record = {"base": str(base), "data": str(gold_path), "dataHash": "sha256:" + hashlib.sha256(
        Path(gold_path).read_bytes()).hexdigest(), "documents": {"train": len(train), "valid": len(valid)},
        "settings": asdict(settings), "device": device.type, "history": history,
        "validEntityF1": {"before": before, "after": after}, "labels": list(BIO_LABELS)}
    tagger.save(out, record)
    return record


class _Tagger:
    """The base encoder with a BIO token-classification head, its fast tokenizer, and how documents become
    batches and scores."""

    def __init__(self, base: Path, settings: TrainSettings, device: Any):
        try:
            from transformers import AutoModelForTokenClassification, AutoTokenizer
        except ImportError:
            raise MissingExtraError("kg train-extractor", "nlp", "transformers/torch") from None
        try:
            self.tok = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
            self.model = AutoModelForTokenClassification.from_pretrained(
                str(base), local_files_only=True, num_labels=len(BIO_LABELS), id2label=dict(enumerate(BIO_LABELS)),
                label2id={label: n for n, label in enumerate(BIO_LABELS)}, ignore_mismatched_sizes=True)
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot load the base model {str(base)!r}: {str(exc).splitlines()[0]}", code="E1140",
                               where="--base", fix="pass a local folder with a Hugging Face encoder and its tokenizer "
                                                   "(medkg downloads nothing)") from None
        if not getattr(self.tok, "is_fast", False):
            raise InvalidInput("the base model's tokenizer is not a fast tokenizer", code="E1141", where="--base",
                               fix="save the model with its fast tokenizer (tokenizer.json)")
        self.settings, self.device = settings, device

    def encode(self, batch: list[RGDoc]) -> Any:
        import torch

        pairs = [bio_tags(d) for d in batch]
        enc = self.tok([w for w, _ in pairs], is_split_into_words=True, truncation=True,
                       max_length=self.settings.max_length, padding=True, return_tensors="pt")
        labels = torch.full(enc["input_ids"].shape, -100, dtype=torch.long)
        for i, (_, tags) in enumerate(pairs):
            seen = set()
            for pos, w in enumerate(enc.word_ids(i)):
                if w is not None and w not in seen:
                    seen.add(w)
                    labels[i, pos] = BIO_LABELS.index(tags[w])
        return enc, labels

    def score(self, batch: list[RGDoc]) -> dict[str, Any]:
        """Entity-span precision, recall and F1 of the tagger on ``batch`` (first sub-token of each word)."""
        import torch

        tp = fp = fn = 0
        self.model.eval()
        size = self.settings.batch_size
        with torch.no_grad():
            for s in range(0, len(batch), size):
                part = batch[s:s + size]
                enc, _ = self.encode(part)
                pred = self.model(**{k: v.to(self.device) for k, v in enc.items()}).logits.argmax(-1).cpu()
                for i, d in enumerate(part):
                    words, gold_tags = bio_tags(d)
                    tags, seen = ["O"] * len(words), set()
                    for pos, w in enumerate(enc.word_ids(i)):
                        if w is not None and w not in seen:
                            seen.add(w)
                            tags[w] = BIO_LABELS[int(pred[i, pos])]
                    g, p = spans(gold_tags), spans(tags)
                    tp, fp, fn = tp + len(g & p), fp + len(p - g), fn + len(g - p)
        pr, rc = tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0
        return {"precision": round(pr, 4), "recall": round(rc, 4), "f1": round(2 * pr * rc / (pr + rc), 4) if pr + rc
                else 0.0, "documents": len(batch)}

    def save(self, out: Path, record: dict[str, Any]) -> None:
        """The tagger and its record written whole into ``out`` (a temporary folder renamed into place)."""
        tmp = out.with_name(f".{out.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.model.to("cpu").save_pretrained(tmp)
        self.tok.save_pretrained(tmp)
        (tmp / "medkg-train.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)  # the caller checked that ``out`` is a folder this command wrote before
        tmp.rename(out)
