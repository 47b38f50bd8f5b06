"""The soak (issue 17.5) for 3 minutes: ``python -m loadtests.soak --minutes 3`` passes every check.

Slow-marked (CI runs ``-m "not slow"``): ~4 minutes of three nodes and a
5,000-instance fleet. A 1-minute variant would not be cheap enough for CI
either (over 60 s of wall clock and most of a core), so CI has the pure
growth tests of tests/loadtests/test_soak_trend.py instead. The growth gate
needs a 15-minute fit window (loadtests/soak/trend.py): here the slopes are
reported, and checked to be reported, but a 90-second window sees warm-up,
not leaks. Everything else gates: no error outside the one node restart,
no acknowledged registration missing on any node, no watch gap.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.soak import trend

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@pytest.mark.timeout(600)
def test_three_minute_soak(tmp_path):
    out = tmp_path / "soak"
    run = subprocess.run([sys.executable, "-m", "loadtests.soak", "--minutes", "3", "--out", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=540)
    result = json.loads((out / "soak.json").read_text())
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert result["pass"] and not any(result["checks"].values()), result["checks"]
    assert len(result["restarts"]) == 1 and result["restarts"][0]["t_min"] < 1.5  # one restart, early
    assert {(s["node"], s["series"]) for s in result["slopes"]} == {
        (n, series) for n in ("n1", "n2", "n3") for series in trend.SERIES}
    assert all(s["unit"].endswith("/h") and s["threshold_per_hour"] > 0 for s in result["slopes"])
    assert len({s["t_min"] for s in result["samples"]}) >= 15  # every 10 s in a short run
    final = result["final"]
    assert final["expected"] >= 4900 and all(v["missing"] == 0 for v in final["nodes"].values())
    assert not result["errors"]["unexpected"], result["errors"]
    assert all(w["events"] > 0 and w["gap_count"] == 0 and w["duplicate_count"] == 0 for w in result["watchers"])
    assert sum(b["woken"] for b in result["blocking_readers"]) > 0
    assert (out / "soak.png").stat().st_size > 10_000
    assert "VERDICT: PASS" in run.stdout
