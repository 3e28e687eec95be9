"""A keyword-and-negation labeler for ChestX-ray14's findings: the floor bench/extract_quality.py compares with."""
import re

KEYWORDS = {"Atelectasis": r"atelecta", "Cardiomegaly": r"cardiomegaly|enlarged (heart|cardiac)", "Effusion":
            r"(?<!pericardial )effusion", "Infiltration": r"infiltrat", "Mass": r"\bmass(es)?\b", "Nodule": r"\bnodules?\b",
            "Pneumonia": r"pneumonia", "Pneumothorax": r"pneumothora", "Consolidation": r"consolidat", "Edema": r"edema",
            "Emphysema": r"emphysema", "Fibrosis": r"fibros", "Pleural_Thickening": r"pleural thickening", "Hernia": r"hernia"}
NEGATION = re.compile(r"\b(no|without|negative for|free of|clear of|resolved)\b[^.;]*$")


def label(text: str) -> dict[str, int]:
    """1 when a finding's keyword occurs in a sentence with no negation cue before it in that sentence."""
    out = dict.fromkeys(KEYWORDS, 0)
    for sentence in re.split(r"[.;\n]", text.lower()):
        for name, pattern in KEYWORDS.items():
            for m in re.finditer(pattern, sentence):
                if not NEGATION.search(sentence[:m.start()]):
                    out[name] = 1
    return out
