"""Debian's Prometheus loads alerts.yml, scrapes a real node, evaluates every rule, and an alert fires.

promtool's unit tests feed the rules made-up series; here the series are a
running node's own, so a rule that names a label the node does not set, or
that Prometheus cannot evaluate, shows up as a rule in error or an alert
that never fires.
"""

from __future__ import annotations

import json

import pytest

from tests.monitoring.test_alert_rules import RULES, rules
from tests.support.cluster import Cluster, wait_until
from tests.support.http import call
from tests.support.prometheus import Prometheus

pytestmark = pytest.mark.cluster


class RulingPrometheus(Prometheus):
    """Prometheus scraping every second and evaluating ``rule_file`` every second."""

    def __init__(self, tmp_path, scrape_configs: list[dict], rule_file):
        super().__init__(tmp_path, scrape_configs)
        config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                  "rule_files": [str(rule_file)], "scrape_configs": scrape_configs}
        (self.dir / "prometheus.yml").write_text(json.dumps(config, indent=1))

    def rules(self) -> dict[str, dict]:
        groups = call(self.url, "GET", "/api/v1/rules", timeout=5).body["data"]["groups"]
        return {r["name"]: r for g in groups for r in g["rules"]}

    def alerts(self) -> dict[str, str]:
        return {a["labels"]["alertname"]: a["state"]
                for a in call(self.url, "GET", "/api/v1/alerts", timeout=5).body["data"]["alerts"]}


def test_prometheus_evaluates_every_rule_on_a_real_node_and_an_expiry_burst_fires(tmp_path):
    with Cluster(tmp_path, size=1, extra=["--tick-interval", "0.2"]) as c:
        node = c.nodes[0]
        job = {"job_name": "manifest", "static_configs": [{"targets": [f"127.0.0.1:{node.api_port}"]}]}
        with RulingPrometheus(tmp_path, [job], RULES) as prom:
            names = {r["alert"] for r in rules()}

            def all_evaluated():
                loaded = prom.rules()
                bad = {n: r.get("lastError") for n, r in loaded.items() if r["health"] == "err"}
                if bad:
                    raise RuntimeError(f"rules in error: {bad}")
                return set(loaded) == names and all(r["health"] == "ok" for r in loaded.values())

            wait_until(all_evaluated, 60, interval=0.5, what="Prometheus to evaluate every rule")
            wait_until(lambda: call(prom.url, "GET", "/api/v1/query?query=manifest_ready",
                                    timeout=5).body["data"]["result"], 60, interval=0.5,
                       what="a scrape of the node")
            assert "ManifestExpirationBurst" not in prom.alerts()
            # Seven services of one instance each: seven silent instances of one service
            # would be held by mass-expiry protection instead (api.md), and not expire.
            for i in range(7):
                r = node.call("POST", "/v1/services", {"name": f"burst{i}", "id": "b", "ttl": 1})
                assert r.status == 201, r.body
            wait_until(lambda: prom.alerts().get("ManifestExpirationBurst") == "firing", 60, interval=0.5,
                       what="ManifestExpirationBurst to fire after 7 expiries")
            # The node is up, ready and leading: none of those alerts is even pending.
            assert not {"ManifestRegistryDown", "ManifestNodeDown", "ManifestNoLeader"} & set(prom.alerts())
