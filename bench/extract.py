"""Extraction speed: the rules backend with concept mapping, one core.

    python bench/extract.py [--reports 20000] [--repeats 3] [--corpus DIR_OF_TXT]

Replicates a report set (../shared/data/radlabels/reports if present, else the bundled sample) to
--reports texts, runs section splitting + rules extraction + study-level merge on each, and prints
reports/s (median of --repeats), peak RSS, and the ratio to a plain regex tokenisation pass over the
same texts measured in the same run. Target (issue): >= 1,000 reports/s per core, peak RSS <= 1 GB.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, peak_rss_mb, timed  # noqa: E402
from extract.rules import RulesExtractor  # noqa: E402
from extract.text import tokenize  # noqa: E402


def load_texts(corpus: Path | None) -> list[str]:
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "radlabels" / "reports"
    if corpus is None and default.is_dir():
        corpus = default
    if corpus is None:
        from kg.sample import sample_corpus

        corpus = sample_corpus()
    return [p.read_text(encoding="utf-8") for p in sorted(corpus.rglob("*.txt"))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--corpus", type=Path)
    args = ap.parse_args()
    base = load_texts(args.corpus)
    texts = (base * (args.reports // len(base) + 1))[: args.reports]
    x = RulesExtractor()

    def run_extract():
        for i, t in enumerate(texts):
            x.extract(str(i), t)

    def run_tokenize():
        for t in texts:
            tokenize(t)

    tok_med, _ = timed(run_tokenize, args.repeats)
    ext_med, ext_all = timed(run_extract, args.repeats)
    chars = sum(map(len, texts))
    print(f"machine: {machine()}")
    print(f"input: {len(texts)} reports ({len(base)} distinct), {chars / len(texts):.0f} chars/report")
    print(f"rules extraction + concept mapping: median {ext_med:.2f} s = {len(texts) / ext_med:,.0f} reports/s "
          f"(runs: {', '.join(f'{t:.2f}' for t in ext_all)})")
    print(f"plain tokenisation pass: median {tok_med:.2f} s = {len(texts) / tok_med:,.0f} reports/s")
    print(f"ratio extraction/tokenisation time: {ext_med / tok_med:.1f}x")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
