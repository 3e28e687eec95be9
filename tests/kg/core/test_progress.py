"""Progress lines: a stage whose results arrive in one burst (as from a cluster) reports its average rate."""

import io
import re
import time

from rich.console import Console

from kg.core.progress import progress


def test_a_burst_at_the_end_reads_as_the_stage_average_not_a_spike():
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    with progress(False, console=console) as track:
        advance = track("Reading", unit="reports")
        time.sleep(0.5)  # a cluster starting: nothing comes back
        advance(100)  # then everything at once
        advance.done()
    line = next(x for x in out.getvalue().splitlines() if "Reading" in x)
    assert "100/100" in line
    rate = float(re.search(r"([\d,]+) reports/s", line).group(1).replace(",", ""))
    assert 50 <= rate <= 220, line  # about 100 reports in half a second, not the burst's instant rate


def test_quiet_progress_accepts_the_same_calls():
    with progress(True) as track:
        advance = track("Reading", unit="reports")
        advance(3)
        advance.done()
