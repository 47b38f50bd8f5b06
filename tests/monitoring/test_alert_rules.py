"""cluster/prometheus/alerts.yml: valid for Prometheus, unit-tested, and reading only series a node exports.

promtool is Debian's (package ``prometheus``, ``make tools``); it is the
same binary Prometheus loads rules with, so "valid" means Prometheus's own
verdict. alerts_test.yml shows every alert firing and not firing.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from tests.monitoring.conftest import ROOT
from tests.support.promql import metric_names

PROMTOOL = "/usr/bin/promtool"
RULES = ROOT / "cluster" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "cluster" / "prometheus" / "alerts_test.yml"
# The alerts the pilot ran (issue 15), plus no leader, follower lagging and snapshot failing.
REQUIRED = {"ManifestRegistryDown", "ManifestHeartbeatSuccessLow", "ManifestExpirationBurst",
            "ManifestQueryLatencyHigh", "ManifestStorageFailing", "ManifestNoLeader",
            "ManifestFollowerLagging", "ManifestSnapshotFailing"}


def promtool(*args: str) -> subprocess.CompletedProcess:
    if not os.access(PROMTOOL, os.X_OK):
        raise RuntimeError(f"{PROMTOOL} is not installed: run `make tools` (Debian package prometheus)")
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=RULES.parent)


def rules() -> list[dict]:
    return [r for group in yaml.safe_load(RULES.read_text())["groups"] for r in group["rules"]]


def test_promtool_accepts_the_rules():
    out = promtool("check", "rules", RULES.name)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(rules())} rules found" in out.stdout


def test_promtool_unit_tests_pass():
    out = promtool("test", "rules", RULE_TESTS.name)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_is_tested_firing_and_not_firing():
    alerts = {r["alert"] for r in rules()}
    assert REQUIRED <= alerts, REQUIRED - alerts
    firing, quiet = set(), set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert firing == alerts, ("never shown firing", alerts - firing)
    assert quiet == alerts, ("never shown quiet", alerts - quiet)


def test_every_alert_has_a_severity_and_a_runbook():
    for rule in rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["runbook"], rule["alert"]


@pytest.mark.cluster
def test_every_series_the_rules_read_is_exported_by_a_real_node(exported):
    for rule in rules():
        missing = metric_names(rule["expr"]) - exported
        assert not missing, (rule["alert"], missing)
