"""cluster/grafana/manifest.json: a Grafana dashboard whose every query reads series a node exports."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from tests.monitoring.conftest import ROOT
from tests.support.http import call
from tests.support.prometheus import Prometheus
from tests.support.promql import metric_names

DASHBOARD = ROOT / "cluster" / "grafana" / "manifest.json"
# What issue 15 asks the dashboard to show, by a series each topic must read.
TOPICS = {
    "requests": "manifest_http_requests_total",
    "latency percentiles": "manifest_http_request_duration_seconds_bucket",
    "heartbeat rate": "manifest_heartbeats_total",
    "heartbeat failures": "manifest_heartbeat_failures_total",
    "instances by status": "manifest_instances",
    "expirations": "manifest_expirations_total",
    "raft role": "manifest_raft_role",
    "raft term": "manifest_raft_term",
    "commit lag": "manifest_raft_follower_commit_lag_entries",
    "apply lag": "manifest_raft_follower_apply_lag_entries",
    "journal size": "manifest_journal_size_bytes",
    "snapshot size": "manifest_snapshot_size_bytes",
    "cpu": "process_cpu_seconds_total",
    "rss": "process_resident_memory_bytes",
    "fds": "process_open_fds",
}


def panels(dashboard: dict) -> list[dict]:
    out = []
    for p in dashboard["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))  # collapsed rows hold their panels
    return out


def queries(dashboard: dict) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels(dashboard) for t in p.get("targets", []) if t.get("expr")]


def test_the_dashboard_is_grafana_json_with_unique_ids_on_a_prometheus_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)) and dashboard["uid"] and dashboard["schemaVersion"] >= 30
    assert [v["type"] for v in dashboard["templating"]["list"]] == ["datasource"]
    for p in panels(dashboard):
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            assert p["targets"], p["title"]
        grid = p["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, p["title"]


def test_every_topic_the_issue_asks_for_has_a_panel():
    read = set().union(*(metric_names(expr) for _, expr in queries(json.loads(DASHBOARD.read_text()))))
    missing = {topic for topic, series in TOPICS.items() if series not in read}
    assert not missing, missing


@pytest.mark.cluster
def test_every_query_reads_only_series_a_real_node_exports(exported):
    for title, expr in queries(json.loads(DASHBOARD.read_text())):
        names = metric_names(expr)
        assert names, (title, expr)  # a query that reads nothing would pass for anything
        assert not names - exported, (title, names - exported)


def test_prometheus_accepts_every_query(tmp_path):
    """Debian's Prometheus parses and runs each query (Grafana's $__rate_interval as 1m)."""
    with Prometheus(tmp_path, []) as prom:
        for title, expr in queries(json.loads(DASHBOARD.read_text())):
            query = expr.replace("$__rate_interval", "1m")
            r = call(prom.url, "GET", "/api/v1/query?" + urlencode({"query": query}), timeout=10)
            assert r.status == 200 and r.body["status"] == "success", (title, query, r.body)
