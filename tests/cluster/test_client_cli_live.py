"""Every client command of ``manifest`` against a real cluster, as a subprocess with ``--json`` (issue 3).

Exit codes: 0 ok, 1 not found, 2 usage, 3 unavailable/unreachable (for
``health``: some node not ready), 4 any other error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from manifest_client import Registry
from tests.support.cluster import free_port, wait_until

pytestmark = pytest.mark.cluster

ENV = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_")} | {"NO_COLOR": "1"}
MODULE = [sys.executable, "-m", "manifest_node"]
SCRIPT = [str(Path(sys.executable).with_name("manifest"))]  # the console script in the same venv


def manifest(url: str | None, *args: str, launcher: list[str] = MODULE, env: dict | None = None):
    cmd = [*launcher, *(["--url", url] if url is not None else []), "--json", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def ok(url: str | None, *args: str, **kw):
    done = manifest(url, *args, **kw)
    assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
    return json.loads(done.stdout)


def parallel(*calls):
    """Run independent commands side by side; each call is ``(url, *args)`` or a dict of keywords."""
    def one(c):
        if isinstance(c, dict):
            return manifest(c["url"], *c["args"], launcher=c.get("launcher", MODULE), env=c.get("env"))
        return manifest(*c)

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, calls))


def parallel_ok(*calls):
    out = []
    for call, done in zip(calls, parallel(*calls)):
        assert done.returncode == 0, (call, done.returncode, done.stdout, done.stderr)
        out.append(json.loads(done.stdout))
    return out


# Longer than the whole test: some forty CLI start-ups took over 30 s on a loaded
# machine, and the instances expired under the status filters being tested.
TTL = "600"


def ids(listing) -> list[str]:
    return sorted(i["id"] for i in listing["instances"])


def test_cli_register_list_get_heartbeat_deregister(cluster):
    leader = cluster.leader()
    follower = cluster.followers()[0]
    url = leader.url

    rec = ok(url, "register", "web", "--id", "web-1", "--address", "10.0.0.9", "--port", "80",
             "--version", "2.0.0", "--tag", "blue", "--tag", "eu", "--meta", "region=eu",
             "--interface", "http=http://10.0.0.9:80", "--depends-on", "db", "--ttl", TTL)
    assert {k: rec[k] for k in ("name", "id", "address", "port", "version", "tags", "metadata",
                                "interfaces", "dependencies", "status")} == {
        "name": "web", "id": "web-1", "address": "10.0.0.9", "port": 80, "version": "2.0.0",
        "tags": ["blue", "eu"], "metadata": {"region": "eu"}, "interfaces": {"http": "http://10.0.0.9:80"},
        "dependencies": ["db"], "status": "up"}
    assert rec["ttl"] == int(TTL) and isinstance(rec["revision"], int) and rec["registered_at"]
    # Through a follower (forwarded to the leader), and without --id: the server names it.
    generated = ok(follower.url, "register", "web", "--port", "81", "--ttl", TTL)
    assert generated["id"].startswith("web-") and generated["id"] != "web-1"
    ok(url, "register", "db", "--id", "db-1", "--ttl", TTL)
    cluster.wait_for_replication()

    # Independent reads run side by side (each command is a ~0.25 s Python start-up).
    all_urls = ",".join(cluster.urls)
    (everything, via_env, web, blue, blue_green, down) = parallel_ok(
        (url, "ls"),
        # The console script and MANIFEST_URL (a comma-separated list) work the same way.
        dict(url=None, args=("ls",), launcher=SCRIPT, env=ENV | {"MANIFEST_URL": all_urls}),
        (url, "ls", "--service", "web"),
        (url, "ls", "--tag", "blue"),
        (url, "ls", "--tag", "blue", "--tag", "green"),
        (url, "ls", "--status", "down"),
    )
    assert ids(everything) == sorted(["web-1", generated["id"], "db-1"])
    assert isinstance(everything["revision"], int) and everything["revision"] >= 3
    assert ids(via_env) == ids(everything)
    assert ids(web) == sorted(["web-1", generated["id"]])
    assert ids(blue) == ["web-1"]
    assert ids(blue_green) == []  # every tag must match
    assert ids(down) == []

    hb = ok(url, "heartbeat", "web", "web-1", "--status", "unhealthy")
    assert (hb["id"], hb["status"]) == ("web-1", "unhealthy")
    cluster.wait_for_replication()
    unhealthy, web_up, both, listing, record = parallel_ok(
        (follower.url, "ls", "--status", "unhealthy"),
        (url, "ls", "--service", "web", "--status", "up"),
        (url, "ls", "--status", "up", "--status", "unhealthy"),
        (url, "get", "web"),
        (follower.url, "get", "web", "web-1"),
    )
    assert ids(unhealthy) == ["web-1"]
    assert ids(web_up) == [generated["id"]]
    assert ids(both) == ids(everything)
    assert ids(listing) == sorted(["web-1", generated["id"]])
    assert (record["name"], record["id"], record["version"], record["status"]) == (
        "web", "web-1", "2.0.0", "unhealthy")
    assert record["last_heartbeat"] >= rec["last_heartbeat"]
    assert ok(url, "heartbeat", "web", "web-1")["status"] == "up"

    not_found = [(url, "get", "nosuch"), (url, "get", "web", "nosuch"), (url, "heartbeat", "web", "nosuch"),
                 (url, "deregister", "web", "nosuch")]
    invalid = (url, "register", "Not A Name")
    *missing, refused = parallel(*not_found, invalid)
    for args, done in zip(not_found, missing):
        assert done.returncode == 1 and done.stderr.startswith("error: "), (args, done.returncode, done.stderr)
    # The server refused the input: exit 4, naming the field.
    assert refused.returncode == 4 and "name" in refused.stderr, (refused.returncode, refused.stderr)

    assert ok(url, "deregister", "web", "web-1") == {"deregistered": {"name": "web", "id": "web-1"}}
    cluster.wait_for_replication()
    gone, again = parallel((all_urls, "get", "web", "web-1"), (follower.url, "deregister", "web", "web-1"))
    assert gone.returncode == 1 and again.returncode == 1, (gone.stderr, again.stderr)


def test_cli_health_cluster_and_stats_with_a_dead_node(cluster):
    leader = cluster.leader()
    url = leader.url
    ok(url, "register", "quiet", "--id", "quiet-1", "--ttl", "600")

    # A loaded machine may hold an election right after start-up: wait (bounded)
    # for every node to be ready under one leader rather than assume the first stays.
    def one_leader():
        health = ok(url, "health")
        leaders = {h["leader"] for h in health}
        if all(h["ready"] and h["status"] == "ok" for h in health) and len(leaders) == 1 and \
                [h["endpoint"] for h in health if h["role"] == "leader"] == list(leaders):
            return health

    health = wait_until(one_leader, 30, interval=0.2, what="every node ready under one leader")
    assert sorted(h["endpoint"] for h in health) == sorted(cluster.urls)

    info = ok(url, "cluster")
    assert info["leader"] in cluster.urls and isinstance(info["term"], int)
    assert sorted(m["api"] for m in info["members"]) == sorted(cluster.urls)
    assert sorted(m["id"] for m in info["members"]) == ["n1", "n2", "n3"]
    assert [m["api"] for m in info["members"] if m["role"] == "leader"] == [info["leader"]]
    assert all(isinstance(m["lag"], int) and m["lag"] >= 0 for m in info["members"]), info["members"]

    # A live heartbeating instance, so that the heartbeat rate has something to count.
    reg = Registry(url)
    try:
        with reg.register("beating", ttl=2, handle_signals=False):
            cluster.wait_for_replication()
            stats = ok(url, "stats", "--sample", "1")
    finally:
        reg.close()
    assert stats["instances"]["total"] == 2
    assert stats["instances"]["by_status"] == {"up": 2}
    assert stats["instances"]["by_service"] == {"beating": {"up": 1}, "quiet": {"up": 1}}
    metrics = stats["metrics"]
    assert metrics["endpoint"] == url
    assert metrics["heartbeats_total"] >= 1
    assert metrics["heartbeat_rate"] > 0  # ~1.5/s with a TTL of 2 s
    routes = {(r["route"], r["method"]) for r in metrics["latency"]}
    assert ("/v1/services", "POST") in routes and ("/v1/cluster", "GET") in routes, routes
    assert all(isinstance(r["p50"], float) and r["p50"] <= r["p99"] for r in metrics["latency"])

    dead = cluster.followers()[0]
    dead.kill()
    done = manifest(url, "health")
    assert done.returncode == 3, (done.stdout, done.stderr)
    report = {h["endpoint"]: h for h in json.loads(done.stdout)}
    assert report[dead.url]["status"] == "unreachable" and not report[dead.url]["ready"]
    assert all(h["ready"] for e, h in report.items() if e != dead.url)
    lags = {m["api"]: m["lag"] for m in ok(url, "cluster")["members"]}
    assert lags[dead.url] == "unreachable"
    assert all(isinstance(v, int) for k, v in lags.items() if k != dead.url)
    assert ids(ok(",".join(cluster.urls), "ls")) == sorted(["quiet-1"])  # the dead seed is skipped


def test_cli_usage_errors_exit_2_and_an_unreachable_registry_exits_3():
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    usage = [
        (closed, "ls", "--status", "bogus"),
        (closed, "register", "web", "--meta", "novalue"),
        (closed, "get"),
        ("ftp://registry:8500", "ls"),
    ]
    unreachable = [
        (closed, "ls"),
        (closed, "get", "web", "web-1"),
        (closed, "register", "web", "--id", "web-1"),
        (closed, "register", "web"),
        (closed, "heartbeat", "web", "web-1"),
        (closed, "deregister", "web", "web-1"),
        (closed, "health"),
        (closed, "cluster"),
        (closed, "stats", "--sample", "0"),
    ]
    results = parallel(*usage, *unreachable)
    for args, done in zip(usage, results[:len(usage)]):
        assert done.returncode == 2, (args, done.returncode, done.stderr)
        assert done.stdout == "", args
    for args, done in zip(unreachable, results[len(usage):]):
        if args[1] == "health":  # health reports the node and exits 3
            assert done.returncode == 3, (args, done.returncode, done.stderr)
            report = json.loads(done.stdout)
            assert [(h["endpoint"], h["status"], h["ready"]) for h in report] == [(closed, "unreachable", False)]
            continue
        assert done.returncode == 3, (args, done.returncode, done.stdout, done.stderr)
        assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stdout == "", args
