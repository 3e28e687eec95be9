"""UMLS indexing and lookup at scale, on a generated release in the real RRF layouts.

    python bench/umls.py [--rows 2000000] [--lookups 20000] [--approx-share 0.2]

Generates MRCONSO (``--rows`` rows, ~5 names per concept, realistic lengths: 1-6 words from a
medical-looking vocabulary), MRSTY, MRREL and MRDEF; times ``build_index`` (rows/s, peak RSS of this
process), then ``Linker`` lookups on a mention list where ``--approx-share`` of the mentions are
misspelled (forcing approximate matching) and the rest are exact or variant names; every mention is
distinct, so no cache helps. Targets (issue): index build with throughput and peak RSS printed,
lookups >= 20k mentions/s on one core.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, peak_rss_mb  # noqa: E402

SYLLABLES = ("pul mo nar car dio pneu thor ax ate lec ta sis con sol i da tion ef fu sion nod ule med ias ti num "
             "hep at ic ren al gas tro en ter itis oste o por osis fib ro sis cyst ic neo plasm lym pho ma derm").split()
TYPES = [("T047", "Disease or Syndrome"), ("T033", "Finding"), ("T023", "Body Part, Organ, or Organ Component"),
         ("T074", "Medical Device"), ("T046", "Pathologic Function"), ("T080", "Qualitative Concept")]


def word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def generate(meta: Path, rows: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    meta.mkdir(parents=True)
    vocab = [word(rng) for _ in range(40_000)]
    n_concepts = rows // 5
    names: list[tuple[str, str]] = []
    with (meta / "MRCONSO.RRF").open("w") as con, (meta / "MRSTY.RRF").open("w") as sty, \
            (meta / "MRREL.RRF").open("w") as rel, (meta / "MRDEF.RRF").open("w") as mrdef:
        aui = 0
        for c in range(n_concepts):
            cui = f"C{c:07d}"
            base = [rng.choice(vocab) for _ in range(rng.choice((1, 2, 2, 3, 3, 4, 5, 6)))]
            tui, styname = TYPES[c % len(TYPES)]
            sty.write(f"{cui}|{tui}|A1|{styname}|AT{c:08d}||\n")
            for k in range(5):
                aui += 1
                words = list(base)
                if k == 1:
                    words = words[::-1]
                elif k >= 2:
                    words = words + [rng.choice(vocab)]
                s = " ".join(words).capitalize()
                lat = "ENG" if k < 4 else "SPA"
                ts = "P" if k == 0 else "S"
                con.write(f"{cui}|{lat}|{ts}|L{aui:07d}|PF|S{aui:07d}|{'Y' if k == 0 else 'N'}|A{aui:08d}||||"
                          f"{rng.choice(('MSH', 'SNOMEDCT_US', 'NCI', 'MTH'))}|{'PT' if k == 0 else 'SY'}|X{c}|{s}|0|N||\n")
                if k == 0 and tui != "T080":  # qualitative concepts are dropped by the default filter
                    names.append((cui, " ".join(base)))
            if c % 2 == 0:  # half the concepts have a definition, some from two sources
                for sab in ("NCI", "MSH")[: 1 + (c % 4 == 0)]:
                    text = " ".join(rng.choice(vocab) for _ in range(rng.randint(8, 30))).capitalize() + "."
                    mrdef.write(f"{cui}|A{c:08d}|AT{c:08d}D||{sab}|{text}|N||\n")
            if c:
                parent = f"C{rng.randrange(c):07d}"
                rel.write(f"{parent}|A|AUI|CHD|{cui}|A|AUI|isa|R{c}||MTH|MTH|||N||\n")
                rel.write(f"{cui}|A|AUI|PAR|{parent}|A|AUI|inverse_isa|R{c}b||MTH|MTH|||N||\n")
    return names


def misspell(s: str, rng: random.Random) -> str:
    i = rng.randrange(1, max(2, len(s) - 2))
    return s[:i] + s[i + 1] + s[i] + s[i + 2 :] if i + 1 < len(s) else s + "e"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--approx-share", type=float, default=0.2)
    args = ap.parse_args()
    from extract.linker import Linker
    from extract.umls import UmlsIndex, build_index

    tmp = Path(tempfile.mkdtemp(prefix="medkg-umls-"))
    t = time.perf_counter()
    names = generate(tmp / "META", args.rows)
    print(f"machine: {machine()}")
    print(f"input: generated MRCONSO of {args.rows:,} rows ({len(names):,} concepts) in {time.perf_counter() - t:.0f} s")
    t = time.perf_counter()
    summary = build_index(tmp / "META", tmp / "index")
    dt = time.perf_counter() - t
    print(f"index build: {dt:.1f} s = {args.rows / dt:,.0f} MRCONSO rows/s; {summary['counts']}; "
          f"peak RSS {peak_rss_mb():.0f} MB")
    t = time.perf_counter()
    linker = Linker(UmlsIndex(tmp / "index"))
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    linker.prepare()
    t_ngram = time.perf_counter() - t
    print(f"index load {t_load:.1f} s, word, compact and trigram indexes {t_ngram:.1f} s, peak RSS {peak_rss_mb():.0f} MB")
    rng = random.Random(1)
    sample = rng.sample(names, min(args.lookups, len(names)))
    mentions, expect = [], []
    for n, (cui, s) in enumerate(sample):
        if n < args.approx_share * len(sample):
            mentions.append(misspell(s, rng))
        else:
            # upper case, or the last word in the plural (English -s; words already ending in s stay)
            mentions.append(s.upper() if n % 2 or s.endswith("s") else s + "s")
        expect.append(cui)
    n_mis = int(args.approx_share * len(sample))
    t = time.perf_counter()
    got_exact = [linker.best(m) for m in mentions[n_mis:]]
    dt_exact = time.perf_counter() - t
    t = time.perf_counter()
    got_mis = [linker.best(m) for m in mentions[:n_mis]]
    dt_mis = time.perf_counter() - t
    got = got_mis + got_exact
    dt = dt_exact + dt_mis
    print(f"  correctly spelled names (case/plural variants): {len(got_exact) / dt_exact:,.0f} mentions/s; "
          f"misspelled: {len(got_mis) / max(dt_mis, 1e-9):,.0f} mentions/s")
    correct = sum(1 for g, e in zip(got, expect) if g is not None and g.cui == e)
    # generated names are random words, so some are shared by several concepts: no linker can tell those apart
    from extract.concepts import normalise_phrase

    def shared(name: str) -> bool:
        k = " ".join(normalise_phrase(name))
        return len({linker.cuis[i] for i in linker._by_key.get(k, [])}) > 1 or \
            len({linker.cuis[i] for i in linker._by_sorted.get(" ".join(sorted(k.split())), [])}) > 1
    unique = [(g, e) for g, e, (_, s) in zip(got, expect, sample) if not shared(s)]
    correct_unique = sum(1 for g, e in unique if g is not None and g.cui == e) / max(1, len(unique))
    n_approx = sum(1 for g in got if g is not None and g.method == "approximate")
    print(f"lookups: {len(mentions):,} distinct mentions ({args.approx_share:.0%} misspelled) in {dt:.2f} s = "
          f"{len(mentions) / dt:,.0f} mentions/s on one core; {n_approx:,} resolved approximately; "
          f"correct CUI {correct / len(mentions):.3f} ({correct_unique:.3f} of the {len(unique):,} whose name no other "
          f"concept shares)")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
