"""The client CLI through click's CliRunner, against the fake cluster."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.client.mc_fakes import N1, N2, N3, FakeCluster

from manifest_client import Registry
from manifest_client.cli import cli

METRICS = """\
# HELP manifest_heartbeats_total Heartbeats received.
# TYPE manifest_heartbeats_total counter
manifest_heartbeats_total{node="n1"} 40
manifest_heartbeats_total{node="n2"} 2
# TYPE manifest_http_request_duration_seconds histogram
manifest_http_request_duration_seconds_bucket{route="/v1/services",method="GET",le="0.005"} 50
manifest_http_request_duration_seconds_bucket{route="/v1/services",method="GET",le="0.01"} 90
manifest_http_request_duration_seconds_bucket{route="/v1/services",method="GET",le="0.1"} 100
manifest_http_request_duration_seconds_bucket{route="/v1/services",method="GET",le="+Inf"} 100
manifest_http_request_duration_seconds_count{route="/v1/services",method="GET"} 100
manifest_http_request_duration_seconds_sum{route="/v1/services",method="GET"} 0.4
"""


@pytest.fixture
def cluster() -> FakeCluster:
    c = FakeCluster()
    c.add("n8n", "n8n-1", version="1.2.0", address="10.0.0.7", port=5678, tags=["blue"])
    c.add("n8n", "n8n-2", status="down")
    c.add("orchestrator", "o-1", status="unhealthy")
    c.metrics_text = METRICS
    return c


def run(cluster: FakeCluster, *args: str, env: dict[str, str] | None = None):
    seen_urls = []

    def factory(url, timeout):
        seen_urls.append(url)
        return Registry(url or ",".join([N1, N2, N3]), timeout=timeout, transport=cluster.transport,
                        retry_wait=0.0, retries=0)

    result = CliRunner().invoke(cli, list(args), obj={"registry_factory": factory}, env=env)
    result.seen_urls = seen_urls
    return result


def test_ls_prints_an_aligned_table(cluster):
    result = run(cluster, "ls")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["SERVICE", "ID", "STATUS", "VERSION", "ENDPOINT", "TAGS", "HEARTBEAT"]
    status_col = lines[0].index("STATUS")
    assert [line[status_col:].split()[0] for line in lines[1:]] == ["up", "down", "unhealthy"]
    assert "10.0.0.7:5678" in result.output
    assert "\x1b[" not in result.output  # no colour when not a terminal


def test_ls_filters_and_json(cluster):
    result = run(cluster, "--json", "ls", "--service", "n8n", "--status", "up", "--tag", "blue")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [i["id"] for i in data["instances"]] == ["n8n-1"] and data["revision"] == 3
    assert cluster.calls[-1][2] == "/v1/services/n8n"


def test_not_found_exits_1_with_one_line(cluster):
    result = run(cluster, "get", "n8n", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unknown instance n8n/nope")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert run(cluster, "ls", "--service", "ghost").exit_code == 1


def test_get_shows_a_record(cluster):
    result = run(cluster, "get", "n8n", "n8n-1")
    assert result.exit_code == 0
    assert "version" in result.output and "1.2.0" in result.output
    assert json.loads(run(cluster, "--json", "get", "n8n", "n8n-1").output)["port"] == 5678
    assert "n8n-2" in run(cluster, "get", "n8n").output


def test_register_deregister_heartbeat(cluster):
    result = run(cluster, "--json", "register", "api", "--id", "api-1", "--port", "80", "--tag", "x",
                 "--meta", "region=eu", "--interface", "http=http://h:80", "--ttl", "15")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["metadata"] == {"region": "eu"}
    assert cluster.instances[("api", "api-1")]["interfaces"] == {"http": "http://h:80"}
    assert run(cluster, "heartbeat", "api", "api-1", "--status", "unhealthy").exit_code == 0
    assert cluster.instances[("api", "api-1")]["status"] == "unhealthy"
    result = run(cluster, "deregister", "api", "api-1")
    assert result.exit_code == 0 and "deregistered api/api-1" in result.output
    assert ("api", "api-1") not in cluster.instances
    assert run(cluster, "deregister", "api", "api-1").exit_code == 1


def test_register_without_id_lets_the_server_choose(cluster):
    result = run(cluster, "register", "api")
    assert result.exit_code == 0 and "registered api/api-gen1" in result.output


def test_usage_errors_exit_2(cluster):
    assert run(cluster, "register", "api", "--meta", "novalue").exit_code == 2
    assert run(cluster, "ls", "--status", "sleeping").exit_code == 2
    assert run(cluster, "frobnicate").exit_code == 2
    result = run(cluster, "--url", "ftp://nowhere", "ls")
    assert result.exit_code == 2 and "not an http(s) endpoint" in result.stderr


def test_unreachable_registry_exits_3(cluster):
    cluster.refused.update({N1, N2, N3})
    result = run(cluster, "ls")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: no registry endpoint reachable")
    cluster.refused.clear()
    cluster.unavailable.update({N1, N2, N3})
    assert run(cluster, "heartbeat", "n8n", "n8n-1").exit_code == 3


def test_other_errors_exit_4(cluster):
    def broken(request):
        from manifest_client import Response
        return Response(500, {}, b"internal error")

    cluster.transport.handler = broken
    result = run(cluster, "ls")
    assert result.exit_code == 4 and "internal error" in result.stderr


def test_url_option_and_env_reach_the_factory(cluster):
    assert run(cluster, "--url", N2, "ls").seen_urls == [N2]
    assert run(cluster, "ls", env={"MANIFEST_URL": N3}).seen_urls == [N3]
    assert cluster.calls[-1][0] == N3


def test_health_reports_every_node(cluster):
    result = run(cluster, "health")
    assert result.exit_code == 0, result.output
    assert result.output.count("ready") == 3
    cluster.refused.add(N2)
    cluster.leaderless.add(N3)
    result = run(cluster, "--json", "health")
    assert result.exit_code == 3
    states = {h["endpoint"]: (h["ready"], h["status"]) for h in json.loads(result.output)}
    assert states == {N1: (True, "ok"), N2: (False, "unreachable"), N3: (False, "no_leader")}


def test_cluster_shows_members_and_leader(cluster):
    result = run(cluster, "cluster")
    assert result.exit_code == 0
    assert f"leader: {N1}" in result.output and "term: 2" in result.output
    rows = result.output.splitlines()[2:]
    assert [r.split()[:2] for r in rows] == [["n1", "leader"], ["n2", "follower"], ["n3", "follower"]]
    assert json.loads(run(cluster, "--json", "cluster").output)["members"][0]["api"] == N1


def test_cluster_lag_comes_from_each_members_applied_index(cluster):
    cluster.applied[N2] = 1  # the leader has committed 3
    cluster.refused.add(N3)
    result = run(cluster, "cluster")
    assert result.exit_code == 0, result.output
    lags = {r.split()[0]: r.split()[-1] for r in result.output.splitlines()[2:]}
    assert lags == {"n1": "0", "n2": "2", "n3": "unreachable"}
    members = json.loads(run(cluster, "--json", "cluster").output)["members"]
    assert [m["lag"] for m in members] == [0, 2, "unreachable"]


def test_stats_counts_and_metrics(cluster):
    result = run(cluster, "--json", "stats", "--sample", "0")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["instances"]["by_status"] == {"up": 1, "down": 1, "unhealthy": 1}
    assert data["instances"]["by_service"]["n8n"] == {"up": 1, "down": 1}
    metrics = data["metrics"]
    assert metrics["heartbeats_total"] == 42 and metrics["heartbeat_rate"] is None
    (row,) = metrics["latency"]
    assert row["route"] == "/v1/services" and row["count"] == 100
    assert row["p50"] == pytest.approx(0.005) and row["p90"] == pytest.approx(0.01)
    assert row["p99"] == pytest.approx(0.091)
    text = run(cluster, "stats", "--sample", "0").output
    assert "42 total" in text and "P99" in text and "91.0ms" in text


def test_stats_heartbeat_rate_from_two_scrapes(cluster):
    texts = iter([METRICS, METRICS.replace("} 40", "} 60")])
    original = cluster._route

    def route(request, path, query):
        if path == "/metrics":
            cluster.metrics_text = next(texts)
        return original(request, path, query)

    cluster._route = route
    data = json.loads(run(cluster, "--json", "stats", "--sample", "0.05").output)
    assert data["metrics"]["heartbeat_rate"] == pytest.approx(20 / 0.05)


def test_stats_tolerates_missing_metrics(cluster):
    cluster.metrics_text = "# nothing here\nother_metric 1\n"
    result = run(cluster, "stats", "--sample", "0")
    assert result.exit_code == 0
    assert "not exported" in result.output
