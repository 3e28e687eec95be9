"""The scores of `kg eval rag`: clinical efficacy of generated reports (CheXpert-14 labels of the generated report
against the reference's, positive class: micro and macro precision, recall, F1), closed-VQA accuracy, paired
bootstrap 95% intervals for every difference, and McNemar's exact test for paired VQA answers."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from extract.labels import SCHEMAS

LABELS = tuple(SCHEMAS["chexpert"])
FINDINGS = tuple(x for x in LABELS if x not in ("No Finding", "Support Devices"))  # what a VQA item asks about
PHRASES = {"Enlarged Cardiomediastinum": "an enlarged cardiomediastinum", "Cardiomegaly": "cardiomegaly",
           "Lung Lesion": "a lung lesion", "Lung Opacity": "a lung opacity", "Edema": "pulmonary edema",
           "Consolidation": "consolidation", "Pneumonia": "pneumonia", "Atelectasis": "atelectasis",
           "Pneumothorax": "a pneumothorax", "Pleural Effusion": "a pleural effusion",
           "Pleural Other": "another pleural abnormality", "Fracture": "a fracture"}
BOOTSTRAP = 1000
Labels = dict[str, float | None]


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}


def clinical_efficacy(pairs: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """(reference labels, generated labels) per case -> micro and macro P/R/F1 of the positive class (1.0) over the
    14 labels; an uncertain (-1.0) or unmentioned label counts as not positive, on both sides."""
    counts = {label: [0, 0, 0] for label in LABELS}
    for ref, gen, *_ in pairs:
        for label in LABELS:
            r, g = ref.get(label) == 1.0, gen.get(label) == 1.0
            c = counts[label]
            c[0] += r and g
            c[1] += g and not r
            c[2] += r and not g
    micro = _prf(*(sum(c[i] for c in counts.values()) for i in range(3)))
    per = {label: _prf(*c) for label, c in counts.items()}
    scored = [label for label, c in counts.items() if c[0] + c[2] > 0]  # labels the references have
    macro = {m: round(sum(per[x][m] for x in scored) / len(scored), 4) if scored else 0.0
             for m in ("precision", "recall", "f1")}
    return {"micro": micro, "macro": macro, "per_label": per, "cases": len(pairs)}


@dataclass(frozen=True)
class VqaItem:
    image_id: str
    label: str
    question: str
    answer: str  # "yes" | "no"


def vqa_items(cases: Sequence[Any], *, seed: int = 0) -> list[VqaItem]:
    """Closed questions from each reference's findings: "Is there a pleural effusion?" -> yes (present) or no
    (stated absent); uncertain and unmentioned findings are left out. Balanced per finding: as many yes as no
    items (a seeded sample of the larger side), so always answering one way scores 0.5."""
    rng = random.Random(seed)
    items: list[VqaItem] = []
    for label in FINDINGS:
        yes = [c for c in cases if c.labels.get(label) == 1.0]
        no = [c for c in cases if c.labels.get(label) == 0.0]
        n = min(len(yes), len(no))
        q = f"Is there {PHRASES[label]}? Answer yes or no."
        for group, answer in ((yes, "yes"), (no, "no")):
            for c in sorted(rng.sample(group, n), key=lambda c: c.image_id):
                items.append(VqaItem(c.image_id, label, q, answer))
    return items


def yes_no(text: str) -> str | None:
    """A model's answer as yes / no: the first yes or no word in it (None when it says neither)."""
    m = re.search(r"\b(yes|no)\b", text.lower())
    return m.group(1) if m else None


def accuracy(right: Sequence[bool]) -> float:
    return round(sum(right) / len(right), 4) if right else 0.0


def paired_bootstrap(n: int, metric: Callable[[np.ndarray], float], *, seed: int = 0,
                     rounds: int = BOOTSTRAP) -> tuple[float, float, float]:
    """``metric(indices)`` on all n cases, and the 2.5th and 97.5th percentiles of it over ``rounds`` resamples of
    the cases with replacement (the same resample for both sides of a difference: paired)."""
    rng = np.random.default_rng(seed)
    full = metric(np.arange(n))
    draws = [metric(rng.integers(0, n, n)) for _ in range(rounds)] if n else [0.0]
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return round(float(full), 4), round(float(lo), 4), round(float(hi), 4)


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> dict[str, Any]:
    """McNemar's exact test on paired right/wrong answers: the discordant pairs and the two-sided binomial p."""
    only_a = sum(1 for x, y in zip(a, b) if x and not y)
    only_b = sum(1 for x, y in zip(a, b) if y and not x)
    n, k = only_a + only_b, min(only_a, only_b)
    p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n) if n else 1.0
    return {"only_first_right": only_a, "only_second_right": only_b, "p": round(p, 6)}


def text_metrics(references: Sequence[str], generated: Sequence[str]) -> dict[str, float] | None:
    """Corpus BLEU-4 (sacrebleu, its default 13a tokenisation) and mean ROUGE-L F1 (rouge-score), both in [0, 1];
    None when the eval extra is not installed."""
    try:
        import sacrebleu
        from rouge_score import rouge_scorer
    except ImportError:
        return None
    bleu = sacrebleu.corpus_bleu(list(generated), [list(references)]).score / 100
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rouge = [scorer.score(r, g)["rougeL"].fmeasure for r, g in zip(references, generated)]
    return {"bleu4": round(bleu, 4), "rougeL": round(sum(rouge) / len(rouge), 4) if rouge else 0.0}
