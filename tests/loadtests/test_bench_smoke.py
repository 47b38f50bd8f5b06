"""Smoke runs of the benchmark tooling (issue 6): each completes and reports every scenario.

No performance threshold is asserted: CI machines are shared and small. The
bench runs ``--quick`` paced at ``--rate 300`` so that it does not starve the
cluster tests running beside it; it installs wrk (and etcd) itself when they
are missing, and reports etcd's scenarios as skipped when etcd cannot be had.
The locust run starts in the background first and overlaps the bench (one
test, so that they overlap on whichever xdist worker runs it): ~40 s on a
quiet machine.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.bench import report, scenarios

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.cluster


def every_key() -> set[str]:
    env = scenarios.Env("http://l", "http://f", ["http://a"], 10, "http://b", "http://el", "http://ef", ["1"])
    keys = {s.key for s in scenarios.latency_scenarios(env) + scenarios.throughput_scenarios(env)}
    return keys | {"failover.manifest", "failover.etcd"}


def start_locust(out: Path) -> subprocess.Popen:
    """``loadtests.locust_run`` with 5 users for 8 s, in the background."""
    return subprocess.Popen([sys.executable, "-m", "loadtests.locust_run", "--users", "5", "--seconds", "8",
                             "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def check_bench(run: subprocess.CompletedProcess, out: Path) -> None:
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    data = json.loads((out / "results.json").read_text())
    results = data["results"]
    assert set(results) >= every_key()
    for key in every_key():
        r = results[key]
        if "skipped" in r:
            assert key in scenarios.ETCD_KEYS, f"{key} skipped: {r['skipped']}"
        elif key.startswith("failover."):
            assert r["kills"] == 1 and r["median_s"] > 0, (key, r)
        else:
            assert "error" not in r and r["requests"] > 0 and r["latency_ms"]["p50"] > 0, (key, r)
    assert [t["id"] for t in data["targets"]] == [t.id for t in report.TARGETS]
    assert "manifest.register.spread" in run.stdout and "PASS" in run.stdout + "FAIL"
    assert (out / "bench.png").exists() or "no plot" in run.stdout


def check_locust(stdout: str, returncode: int, out: Path) -> None:
    assert returncode == 0, stdout[-4000:]
    with open(out / "locust_stats.csv", newline="") as f:
        rows = {r["Name"]: r for r in csv.DictReader(f)}
    assert int(rows["Aggregated"]["Request Count"]) > 0
    assert "/v1/services (register)" in rows
    assert "locust: 5 users" in stdout


def test_quick_bench_and_locust_run_report_everything(tmp_path):
    """Both runs at once (one test, so that they overlap whatever worker runs it)."""
    assert importlib.util.find_spec("locust") is not None, "locust is in the dev extra: run make setup"
    locust = start_locust(tmp_path / "locust")
    try:
        bench = subprocess.run([sys.executable, "-m", "loadtests.bench", "--quick", "--rate", "300",
                                "--out", str(tmp_path / "bench")], cwd=ROOT, capture_output=True, text=True,
                               timeout=240)
        check_bench(bench, tmp_path / "bench")
        stdout = locust.communicate(timeout=120)[0]
        check_locust(stdout, locust.returncode, tmp_path / "locust")
    finally:
        if locust is not None and locust.poll() is None:
            locust.terminate()
            locust.wait(30)


def test_the_replica_benchmark_runs_and_reports_its_figures():
    out = subprocess.run([sys.executable, "-m", "loadtests.replica_bench", "--duration", "1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    for line in ("without replicas", "with 1 replica(s)", "ratio with/without", "replication lag", "local reads",
                 "CPU per acknowledged write: voters"):
        assert line in out.stdout, out.stdout
    cpu_line = next(line for line in out.stdout.splitlines() if line.startswith("CPU per acknowledged write"))
    figures = [float(w) for w in cpu_line.replace("(", " ").replace(")", " ").split() if w.replace(".", "").isdigit()]
    assert len(figures) == 4 and figures[0] > 0 and figures[1] > 0, cpu_line  # voters without, with, ratio, replica
