"""The benchmark's pure helpers: merging wrk runs and the target ratios (no processes)."""

from __future__ import annotations

from loadtests.bench import report, wrk


def run(requests: int, latency_us: float, duration_us: int = 1_000_000) -> dict:
    return {"requests": requests, "duration_us": duration_us, "bytes": 0,
            "errors": {"connect": 0, "read": 0, "write": 0, "status": 1, "timeout": 0},
            "latency": {"min": latency_us, "max": latency_us, "mean": latency_us, "stdev": 0,
                        "percentiles": [[q, latency_us] for q in wrk.GRID]}}


def test_merge_sums_rates_and_weights_latency_by_requests():
    merged = wrk.merge([run(3000, 1000), run(1000, 10_000)])
    assert merged.requests == 4000 and merged.rps == 4000 and merged.per_process == [3000, 1000]
    assert merged.errors["status"] == 2
    at = dict(merged.grid)
    assert at[50.0] == 1000 and at[74.0] == 1000  # three quarters of the requests are fast
    assert at[76.0] == 10_000 and at[99.0] == 10_000
    assert merged.latency_us["mean"] == (3000 * 1000 + 1000 * 10_000) / 4000


def test_parse_finds_the_json_line_among_wrk_output():
    out = "Running 1s test @ http://x\n  1 threads\nWRK_JSON {\"requests\": 5}\nRequests/sec: 5\n"
    assert wrk.parse(out) == {"requests": 5}


def test_split_spreads_connections_over_processes():
    assert wrk.split(64, 3) == [22, 21, 21]


def test_targets_are_ratios_of_the_same_run_and_fail_on_errors():
    results = {"manifest.read.local.follower": {"rps": 900, "latency_ms": {"p50": 0.2}},
               "aiohttp.get": {"rps": 1000},
               "manifest.register.spread": {"rps": 500, "warning": "600 errors in 10000 requests"},
               "etcd.put.leader": {"rps": 400}}
    by_id = {t["id"]: t for t in report.evaluate(results)}
    assert by_id["1a"]["value"] == 0.9 and by_id["1a"]["pass"] is True
    assert by_id["3"]["value"] == 1.25 and by_id["3"]["pass"] is False and "errors" in by_id["3"]["note"]
    assert by_id["1b"]["pass"] is None  # no etcd figure: not judged
