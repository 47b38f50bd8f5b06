"""Real scrapers discover Manifest's instances, through consul_sd_configs and http_sd_configs.

Nothing here speaks for them: each check reads the scraper's own
/api/v1/targets. Registered instances become targets; they are dropped once
down (an unpassed TTL, a failed check, or no heartbeats) or deregistered.

http_sd_configs: Debian's Prometheus. consul_sd_configs: Debian builds its
Prometheus without Consul SD, so Debian's VictoriaMetrics (whose scraper
reads the same configuration) discovers through Manifest's Consul API; a
Prometheus built with Consul SD, when the machine has one, runs the same test.
"""

from __future__ import annotations

import consul
import pytest

from tests.support.cluster import free_port, wait_until
from tests.support.http import call
from tests.support.prometheus import Prometheus, VictoriaMetrics

pytestmark = pytest.mark.cluster
DISCOVERY = 60  # Prometheus hands discovered targets on at most every 5 s; a loaded machine takes longer


def consul_job(node) -> dict:
    return {"job_name": "consul", "consul_sd_configs": [{"server": f"127.0.0.1:{node.api_port}",
                                                      "refresh_interval": "1s"}],
         # The usual rule: scrape what Consul calls passing.
         "relabel_configs": [{"source_labels": ["__meta_consul_health"], "regex": "passing", "action": "keep"}]}


def http_sd_job(node) -> dict:
    return {"job_name": "manifest", "http_sd_configs": [{"url": f"{node.url}/v1/sd/prometheus?status=up",
                                                        "refresh_interval": "1s"}]}


# Debian's prometheus is built without Consul SD (consul_sd_in_prometheus() says so), and no
# other build is reachable here: VictoriaMetrics, whose consul_sd_configs follow Prometheus's,
# is the real consul_sd client in CI. A skip that always fires would only look like coverage.
SCRAPERS = [pytest.param(VictoriaMetrics, id="victoria-metrics")]


@pytest.mark.parametrize("scraper", SCRAPERS)
def test_consul_sd_finds_instances_and_drops_them_when_down_or_gone(cluster, tmp_path, scraper):
    follower, leader = cluster.followers()[0], cluster.leader()
    c = consul.Consul(host="127.0.0.1", port=leader.api_port)
    ports = [free_port() for _ in range(3)]
    with scraper(tmp_path, [consul_job(follower)]) as prom:
        for i, port in enumerate(ports):
            assert c.agent.service.register("web", service_id=f"web-{i}", address="127.0.0.1", port=port,
                                            tags=["blue"], meta={"team": "search"}, check=consul.Check.ttl("30s"))
        want = {f"127.0.0.1:{p}" for p in ports}
        wait_until(lambda: prom.addresses("consul") == want, DISCOVERY, interval=0.5,
                   what=f"Prometheus to discover {want} through consul_sd")
        labels = {t["discoveredLabels"]["__address__"]: t["discoveredLabels"] for t in prom.targets("consul")[0]}
        first = labels[f"127.0.0.1:{ports[0]}"]
        assert (first["__meta_consul_service"], first["__meta_consul_service_id"], first["__meta_consul_tags"],
                first["__meta_consul_service_metadata_team"], first["__meta_consul_health"],
                first["__meta_consul_dc"]) == ("web", "web-0", ",blue,", "search", "passing", "dc1")

        assert c.agent.check.ttl_fail("service:web-1")
        assert c.agent.service.deregister("web-2")
        wait_until(lambda: prom.addresses("consul") == {f"127.0.0.1:{ports[0]}"}, DISCOVERY, interval=0.5,
                   what="Prometheus to drop the failed and the deregistered instance")
        dropped = {t["discoveredLabels"]["__address__"] for t in prom.targets("consul")[1]}
        assert f"127.0.0.1:{ports[1]}" in dropped  # discovered, and dropped by the relabel rule

        # An instance whose TTL runs out without a pass goes critical, and is dropped too.
        late = free_port()
        assert c.agent.service.register("batch", service_id="batch-1", address="127.0.0.1", port=late,
                                        check=consul.Check.ttl("2s"))
        wait_until(lambda: f"127.0.0.1:{late}" in prom.addresses("consul"), DISCOVERY, interval=0.5,
                   what="Prometheus to discover the batch instance")
        wait_until(lambda: f"127.0.0.1:{late}" not in prom.addresses("consul"), DISCOVERY, interval=0.5,
                   what="Prometheus to drop the batch instance once its TTL expired")


def test_prometheus_http_sd_finds_instances_and_drops_them_when_down_or_gone(cluster, tmp_path):
    follower, leader = cluster.followers()[0], cluster.leader()
    ports = {name: free_port() for name in ("a", "b", "c")}
    with Prometheus(tmp_path, [http_sd_job(follower)]) as prom:
        def register(name: str, port: int, ttl: float) -> int:
            return call(leader.url, "POST", "/v1/services", {
                "name": "api", "id": f"api-{name}", "address": "127.0.0.1", "port": port, "ttl": ttl,
                "version": "1.4.2", "tags": ["blue", "canary"], "metadata": {"team.name": "search"},
                "interfaces": {"http": f"http://127.0.0.1:{port}"}}).status

        for name, port in ports.items():
            assert register(name, port, 600) == 201
        want = {f"127.0.0.1:{p}" for p in ports.values()}
        wait_until(lambda: prom.addresses("manifest") >= want, DISCOVERY, interval=0.5,
                   what=f"Prometheus to discover {want} through http_sd")
        labels = next(t["discoveredLabels"] for t in prom.targets("manifest")[0]
                      if t["discoveredLabels"]["__address__"] == f"127.0.0.1:{ports['a']}")
        assert {k: v for k, v in labels.items() if k.startswith("__meta_manifest_")} == {
            "__meta_manifest_name": "api", "__meta_manifest_id": "api-a", "__meta_manifest_version": "1.4.2",
            "__meta_manifest_status": "up", "__meta_manifest_tags": ",blue,canary,",
            "__meta_manifest_address": "127.0.0.1", "__meta_manifest_port": str(ports["a"]),
            "__meta_manifest_metadata_team_name": "search",
            "__meta_manifest_interface_http": f"http://127.0.0.1:{ports['a']}"}

        # b, registered again with a 1 s ttl, never heartbeats: down, and gone from the status=up
        # list (a short ttl from the start could expire before a loaded Prometheus first looked).
        assert register("b", ports["b"], 1) == 200
        assert call(leader.url, "DELETE", "/v1/services/api/api-c").status == 200
        wait_until(lambda: prom.addresses("manifest") == {f"127.0.0.1:{ports['a']}"}, DISCOVERY, interval=0.5,
                   what="Prometheus to drop the expired and the deregistered instance")
        assert call(leader.url, "GET", "/v1/services/api/api-b").body["status"] == "down"
