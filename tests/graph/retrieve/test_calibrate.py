"""graph/retrieve/calibrate.py: the Hoeffding-Bentkus p-value, Learn-then-Test, and the guarantee holding."""

import math
import shutil

import numpy as np
import pytest

from graph.retrieve.calibrate import binom_cdf, calibrate, h1, hb_pvalue
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


def test_bad_settings_are_refused():
    with pytest.raises(InvalidInput, match="alpha and delta"):
        calibrate({1: np.zeros(3)}, alpha=1.5)
    with pytest.raises(InvalidInput, match="same, non-empty"):
        calibrate({1: np.zeros(3), 2: np.zeros(2)})


def test_kg_calibrate_then_k_auto(sample_build, tmp_path):
    import json
    import subprocess
    import sys

    from graph.retrieve import retrieve_context
    from graph.store import FileStore

    out = tmp_path / "g"
    shutil.copytree(sample_build, out)
    s = FileStore(out)
    with pytest.raises(InvalidInput, match="calibrated"):
        retrieve_context(s, s, image_id=s.index.ids[0], k="auto")
    p = subprocess.run([sys.executable, "-m", "kg", "calibrate", str(out), "--split", "all", "--max-k", "6",
                        "--alpha", "0.7", "--delta", "0.2", "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    cal = json.loads(p.stdout)
    assert cal["n"] > 30 and cal["chosen"] in cal["accepted"] and "probability at least 0.80" in cal["guarantee"]
    s = FileStore(out)
    c = retrieve_context(s, s, image_id=s.index.ids[0], k="auto")
    assert c.k.method == "calibrated" and c.k.k == cal["chosen"] and c.k.guarantee == cal["guarantee"]
    p = subprocess.run([sys.executable, "-m", "kg", "calibrate", str(out), "--split", "nosuchsplit"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "--split" in p.stderr and "validate" in p.stderr  # names the splits there are
