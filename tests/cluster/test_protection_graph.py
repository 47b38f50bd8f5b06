"""Mass-expiry protection and the dependency graph (a generated fleet of 500 services) on a real cluster."""

import random
import threading
import time

import pytest

from tests.support.cluster import Cluster, wait_until
from tests.support.http import call

pytestmark = pytest.mark.cluster

TTL = 3


class Beater(threading.Thread):
    """Heartbeats one instance every ttl/3 on any node, until stopped (the partition) or ended."""

    def __init__(self, urls, name, iid):
        super().__init__(daemon=True)
        self.urls, self.name, self.iid = urls, name, iid
        self.paused, self.ended = threading.Event(), threading.Event()

    def run(self):
        i = 0
        while not self.ended.wait(TTL / 3):
            if self.paused.is_set():
                continue
            for _ in self.urls:
                i += 1
                try:
                    if call(self.urls[i % len(self.urls)], "PUT",
                            f"/v1/services/{self.name}/{self.iid}/heartbeat", timeout=1).status == 200:
                        break
                except OSError:
                    pass


@pytest.fixture
def protecting(tmp_path):
    c = Cluster(tmp_path, extra=["--protection-window", "30", "--down-grace", "60"])
    try:
        c.start()
        yield c
    finally:
        c.stop()


def statuses(url, name):
    return {i["id"]: i["status"] for i in call(url, "GET", f"/v1/services/{name}").body["instances"]}


def test_a_partition_of_most_heartbeats_protects_the_service_and_ends_when_they_return(protecting):
    urls = protecting.urls
    url = protecting.leader().url
    beaters = []
    for k in range(8):
        call(url, "POST", "/v1/services", {"name": "fleet", "id": f"f{k}", "ttl": TTL})
        beaters.append(Beater(urls, "fleet", f"f{k}"))
    call(url, "POST", "/v1/services", {"name": "solo", "id": "s1", "ttl": TTL})
    for b in beaters:
        b.start()
    try:
        wait_until(lambda: set(statuses(url, "fleet").values()) == {"up"}, 10, what="fleet up")
        for b in beaters[:6]:  # 6 of 8: more than half and more than 3 stop at once
            b.paused.set()
        shielded = wait_until(lambda: call(url, "GET", "/v1/cluster").body["protected"], 3 * TTL + 5,
                              what="protection")
        assert [p["service"] for p in shielded] == ["fleet"] and "6 of 8" in shielded[0]["reason"]
        body = call(protecting.nodes[2].url, "GET", "/v1/services/fleet").body
        assert body["protected"] is True and body["protection"]["reason"]
        # Never global: the lone silent instance of another service expires as usual.
        wait_until(lambda: statuses(url, "solo") == {"s1": "down"}, 3 * TTL, what="solo expired")
        # Meanwhile no instance of the protected service expired, for several ttls.
        until = time.monotonic() + 2 * TTL
        while time.monotonic() < until:
            for n in protecting.alive():
                assert "down" not in statuses(n.url, "fleet").values(), f"mass expiry on {n.id}"
            time.sleep(0.2)
        for b in beaters[:6]:
            b.paused.clear()
        wait_until(lambda: not call(url, "GET", "/v1/cluster").body["protected"], 3 * TTL + 5,
                   what="protection to end once heartbeats return")
        assert set(statuses(url, "fleet").values()) == {"up"}
        assert "protected" not in call(url, "GET", "/v1/services/fleet").body
        metrics = call(url, "GET", "/metrics").raw.decode()
        assert "manifest_protection_episodes_total 1.0" in metrics
        # After protection, one instance that stops expires normally.
        beaters[0].paused.set()
        wait_until(lambda: statuses(url, "fleet")["f0"] == "down", 3 * TTL + 3, what="f0 expired")
    finally:
        for b in beaters:
            b.ended.set()


def fleet(count=500, seed=13):
    """Service -> dependencies: a layered DAG of ``count`` services, some with version ranges."""
    rng = random.Random(seed)
    names = [f"s{i:03d}" for i in range(count)]
    deps = {}
    for i, name in enumerate(names):
        lower = names[i + 1:i + 40]
        picks = sorted(rng.sample(lower, min(len(lower), rng.randint(0, 3))))
        deps[name] = [p + (">=1.0" if rng.random() < 0.3 else "") for p in picks]
    return deps


def dependents_of(deps, target):
    """Transitive dependents with their BFS depth, computed the slow way for comparison."""
    reverse = {}
    for src, ds in deps.items():
        for d in ds:
            reverse.setdefault(d.split(">")[0], set()).add(src)
    depth, frontier = {target: 0}, [target]
    while frontier:
        nxt = []
        for node in frontier:
            for dep in sorted(reverse.get(node, ())):
                if dep not in depth:
                    depth[dep] = depth[node] + 1
                    nxt.append(dep)
        frontier = nxt
    depth.pop(target)
    return depth


def test_graph_and_impact_on_a_fleet_of_500_services(cluster):
    deps = fleet()
    records = [{"name": n, "id": f"{n}-1", "version": "1.2.0", "dependencies": d, "ttl": 3600}
               for n, d in deps.items()]
    url = cluster.leader().url
    r = call(url, "POST", "/v1/services/batch", {"instances": records}, timeout=30)
    assert r.status == 201 and len(r.body["instances"]) == 500
    follower = next(n for n in cluster.alive() if n.url != url)
    cluster.wait_for_replication(r.body["revision"])
    started = time.monotonic()
    g = call(follower.url, "GET", "/v1/graph", timeout=10).body
    took = time.monotonic() - started
    assert len(g["nodes"]) == 500 and len(g["edges"]) == sum(len(d) for d in deps.values())
    assert all(e["satisfied"] for e in g["edges"]) and g["cycles"] == []
    assert took < 2.0, f"graph took {took:.2f}s"
    for target in ["s499", "s480", "s250", "s010"]:
        started = time.monotonic()
        imp = call(follower.url, "GET", f"/v1/graph/impact/{target}", timeout=10).body
        took = time.monotonic() - started
        assert {i["name"]: i["depth"] for i in imp["impacted"]} == dependents_of(deps, target)
        assert not any(i["has_other_provider"] for i in imp["impacted"])
        assert took < 1.0, f"impact of {target} took {took:.2f}s"
    # A second instance of s499: removing one of them leaves its direct dependents a provider.
    call(url, "POST", "/v1/services", {"name": "s499", "id": "s499-2", "version": "1.2.0", "ttl": 3600})
    imp = call(url, "GET", "/v1/graph/impact/s499?id=s499-1&consistency=linearizable").body
    assert imp["impacted"] and all(i["has_other_provider"] for i in imp["impacted"])
    # A cycle is reported, and the impact walk ends.
    call(url, "POST", "/v1/services", {"name": "s499", "id": "s499-3", "dependencies": ["s000"], "ttl": 3600})
    imp = call(url, "GET", "/v1/graph/impact/s000?consistency=linearizable").body
    assert any("s000" in c and "s499" in c for c in imp["cycles"])
    assert call(url, "GET", "/v1/graph").body["cycles"]
    metrics = call(url, "GET", "/metrics").raw.decode()
    assert "manifest_unmet_dependencies" in metrics
