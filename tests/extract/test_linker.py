from pathlib import Path

import pytest

from extract.lexicon import Lexicon
from extract.linker import Linker

VARIANTS = Path(__file__).resolve().parents[1] / "fixtures" / "mention_variants.tsv"


@pytest.fixture(scope="module")
def linker():
    return Linker(Lexicon.default())


def test_held_out_variants_resolve(linker):
    rows = [ln.split("\t") for ln in VARIANTS.read_text().splitlines() if ln and not ln.startswith("#")]
    assert len(rows) >= 60
    wrong = []
    for mention, cui, label in rows:
        best = linker.best(mention, None if label == "-" else label)
        if best is None or best.cui != cui:
            wrong.append((mention, cui, best and best.cui))
    accuracy = 1 - len(wrong) / len(rows)
    assert accuracy >= 0.95, wrong


def test_typed_candidates_and_threshold(linker):
    c = linker.best("pleural effusions")
    assert (c.cui, c.name, c.method, c.score) == ("C0032227", "Pleural effusion", "exact", 1.0)
    assert c.semantic_types == ("T047:Disease or Syndrome",) and c.matched == "pleural effusion"
    assert linker.best("the patient is comfortable") is None


def test_label_prefers_compatible_group(tmp_path):
    from extract.concepts import Concept, IndexBase

    class Two(IndexBase):
        name, version = "two", "1"

        def __init__(self):
            self._c = {
                "C0000001": Concept("C0000001", "Base anatomy", "ANATOMY", ("T029:Body Location or Region",), ("base",), ()),
                "C0000002": Concept("C0000002", "Base finding", "OBSERVATION", ("T033:Finding",), ("base",), ()),
            }

        def concept(self, cui):
            return self._c.get(cui)

        def concepts(self):
            return self._c.values()

        def find(self, words):
            return []  # no preference of its own between the two

    lk = Linker(Two())
    assert lk.best("base", "ANAT-DP").cui == "C0000001"
    assert lk.best("base", "OBS-DP").cui == "C0000002"
    assert lk.best("base").cui == "C0000001"  # no label, no context: the lower CUI
    assert lk.best("base", None, {"C0000002"}).cui == "C0000002"  # the study already has this concept
