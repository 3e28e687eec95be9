"""graph/retrieve/calibrate.py: the Hoeffding-Bentkus p-value, Learn-then-Test, and the guarantee holding."""

import math
import shutil

import numpy as np
import pytest

from graph.retrieve.calibrate import binom_cdf, calibrate, calibration_cases, case_losses, h1, hb_pvalue, holdout_check, plug_in
from graph.store import FileStore
from kg.core.errors import InvalidInput


def test_the_pieces_against_their_definitions():
    assert h1(0.1, 0.1) == pytest.approx(0.0) and h1(0.0, 0.2) == pytest.approx(math.log(1 / 0.8))
    for x, n, p in ((3, 20, 0.1), (0, 5, 0.3), (40, 100, 0.35)):
        exact = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(x + 1))
        assert binom_cdf(x, n, p) == pytest.approx(exact, rel=1e-9)
    # lower empirical risk, more cases: stronger evidence that the risk is under alpha
    assert hb_pvalue(0.02, 500, 0.1) < hb_pvalue(0.05, 500, 0.1) < hb_pvalue(0.05, 100, 0.1) <= 1.0
    assert hb_pvalue(0.2, 500, 0.1) == 1.0


TRUE_RISK = {1: 0.30, 2: 0.16, 3: 0.105, 4: 0.07, 5: 0.05, 6: 0.06, 7: 0.095, 8: 0.12}


@pytest.mark.parametrize("method", ["bonferroni", "fixed-sequence"])
def test_the_chosen_k_keeps_its_promise_over_200_splits(method):
    """Cases whose neighbours share their findings with a known probability per k (losses are Bernoulli with
    the true risk of k); over 200 random calibration draws the chosen k's true risk exceeds alpha in at most a
    delta fraction of them."""
    rng = np.random.default_rng(11)
    alpha, delta, n = 0.1, 0.1, 800
    violations = chosen_any = family = 0
    for _ in range(200):
        u = rng.random(n)  # one uniform per case: a case that is hard at k is hard at every k (nested)
        losses = {k: (u < r).astype(float) for k, r in TRUE_RISK.items()}
        cal = calibrate(losses, alpha=alpha, delta=delta, method=method, order=[5, 4, 6, 3, 7, 2, 8, 1])
        if cal.chosen is not None:
            chosen_any += 1
            violations += TRUE_RISK[cal.chosen] > alpha
            assert all(cal.p_values[k] <= delta for k in cal.accepted)
        family += any(TRUE_RISK[k] > alpha for k in cal.accepted)
    assert violations / 200 <= delta and family / 200 <= delta  # the guarantee, for the chosen k and every accepted k
    assert chosen_any >= 150  # and it is not met by abstaining


@pytest.fixture(scope="module")
def agreement_losses(tmp_path_factory):
    """Per-case losses for k = 1..10 on a generated store where each image's report agrees with its group's
    findings with probability 0.94 (kg.sample.stores.agreement_store), through the retrieval `kg calibrate` uses."""
    from kg.sample.stores import agreement_store

    out = agreement_store(tmp_path_factory.mktemp("agreement") / "store", groups=100, seed=3)
    files = FileStore(out)
    return case_losses(files, calibration_cases(files, "validate"), list(range(1, 11)))


def test_on_a_generated_store_the_promise_holds_on_held_out_cases(agreement_losses):
    """200 random calibration/test splits of the store's cases: the chosen k's risk on the test part exceeds alpha
    in at most a delta fraction of them, and so does any accepted k's."""
    alpha, delta = 0.1, 0.1
    population = {k: float(v.mean()) for k, v in agreement_losses.items()}
    assert len(agreement_losses[1]) == 1600
    # one or two neighbours disagree too often (a k that must never be accepted); more neighbours vote it down
    assert population[1] > alpha + 0.015 and min(population.values()) < alpha - 0.03
    for method, order in (("bonferroni", None), ("fixed-sequence", list(range(10, 0, -1)))):
        held = holdout_check(agreement_losses, alpha=alpha, delta=delta, method=method, order=order, splits=200, seed=5)
        assert (held.n_calibration, held.n_test) == (800, 800)
        assert held.chosen_over / 200 <= delta and held.accepted_over / 200 <= delta, held.summary
        assert held.abstained <= 20 and 1 not in held.chosen  # not met by abstaining; k = 1 never passes
    # the same check on a rule without the p-values (accept k when its calibration risk is at most alpha), with a
    # small calibration part: it accepts a k whose risk is above alpha, and the check sees it
    naive_over = holdout_check(agreement_losses, alpha=alpha, delta=delta, splits=200, calibration_share=60 / 1600,
                               seed=5, rule=plug_in).accepted_over
    assert naive_over / 200 > delta


def test_bad_settings_are_refused():
    with pytest.raises(InvalidInput, match="alpha and delta"):
        calibrate({1: np.zeros(3)}, alpha=1.5)
    with pytest.raises(InvalidInput, match="same, non-empty"):
        calibrate({1: np.zeros(3), 2: np.zeros(2)})


def test_kg_calibrate_then_k_auto(sample_build, tmp_path):
    import json
    import subprocess
    import sys

    from graph.retrieve import Retriever
    from graph.store import FileStore

    out = tmp_path / "g"
    shutil.copytree(sample_build, out)
    s = FileStore(out)
    with pytest.raises(InvalidInput, match="calibrated"):
        Retriever(s).context(image_id=s.index.ids[0], k="auto")
    p = subprocess.run([sys.executable, "-m", "kg", "calibrate", str(out), "--split", "all", "--max-k", "6",
                        "--alpha", "0.7", "--delta", "0.2", "--check", "20", "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    cal = json.loads(p.stdout)
    assert cal["n"] > 30 and cal["chosen"] in cal["accepted"] and "probability at least 0.80" in cal["guarantee"]
    check = cal["check"]  # calibrated on one half, measured on the other, 20 times
    assert check["splits"] == 20 and check["nCalibration"] + check["nTest"] == cal["n"]
    assert 0 <= check["chosenOver"] <= 20 and sum(check["chosen"].values()) + check["abstained"] == 20
    s = FileStore(out)
    c = Retriever(s).context(image_id=s.index.ids[0], k="auto")
    assert c.k.method == "calibrated" and c.k.k == cal["chosen"] and c.k.guarantee == cal["guarantee"]
    p = subprocess.run([sys.executable, "-m", "kg", "calibrate", str(out), "--split", "nosuchsplit"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "--split" in p.stderr and "validate" in p.stderr  # names the splits there are


def test_a_build_without_splits_is_offered_only_what_works(tmp_path):
    """A corpus that names no split (JSONL without 'split'): `--split validate` and `--split None` both say the build
    has no splits and offer `--split all`, which works; never 'None' as a value to pass."""
    import json
    import subprocess
    import sys

    from PIL import Image

    corpus = tmp_path / "c.jsonl"
    rows = []
    for i in range(6):
        img = tmp_path / f"i{i}.png"
        Image.fromarray((np.random.default_rng(i).random((64, 64)) * 255).astype(np.uint8)).save(img)
        rows.append(json.dumps({"id": f"r{i}", "patient_id": f"p{i}", "text": "FINDINGS: Small left pleural effusion.",
                                "image": str(img)}))
    corpus.write_text("\n".join(rows) + "\n")
    kg = [sys.executable, "-m", "kg"]
    assert subprocess.run([*kg, "build", str(corpus), "--out", str(tmp_path / "g"), "-q"]).returncode == 0
    for split in ("validate", "None"):
        p = subprocess.run([*kg, "calibrate", str(tmp_path / "g"), "--split", split], capture_output=True, text=True)
        assert p.returncode == 2 and "have no split" in p.stderr and "Fix: pass --split all" in p.stderr, p.stderr
        assert "None (or all)" not in p.stderr
    p = subprocess.run([*kg, "calibrate", str(tmp_path / "g"), "--split", "all", "--max-k", "2"], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
