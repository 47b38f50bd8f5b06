"""cluster/helm/manifest: Helm lints it, renders it, and every object is valid Kubernetes that runs nodes right.

Rendered with default values and with non-default ones (5 replicas, TLS, a
Secret of one's own, the ServiceMonitor and the PrometheusRule on). Built-in
kinds are validated against the Kubernetes OpenAPI schemas that
kubernetes-validate ships (strict: an unknown field fails); the two Prometheus
Operator objects, whose schemas are CRDs, are checked by what they must hold,
and the rules by promtool. Each pod's start command is run by /bin/sh and the
argv it builds is parsed by the node's own option parser and config validation.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import helm_python
import kubernetes_validate
import pytest
import yaml

from tests.deploy.deployfiles import (CHART, ROOT, alerts_groups, container_env, lint, node_config, node_env,
                                      node_flags, one, render, start_pod)

K8S_VERSION = kubernetes_validate.latest_version()
BIG = {"replicas": 5, "serviceMonitor": {"enabled": True, "tokenSecret": {"name": "scrape", "key": "token"}},
       "prometheusRule": {"enabled": True}, "tls": {"enabled": True, "secretName": "manifest-tls"},
       "secrets": {"existingSecret": "manifest-own"}, "settings": {"MANIFEST_FSYNC": "true"},
       "persistence": {"storageClassName": "fast", "size": "10Gi"}}
VALUES = {"default": None, "big": BIG, "given-secrets": {"secrets": {"clusterSecret": "a-cluster-secret-of-32-bytes-ok!",
                                                                      "bootstrapToken": "a-bootstrap-token-of-32-bytes-ok"}}}
BUILT_IN = {"StatefulSet", "Service", "Secret", "PodDisruptionBudget"}
# The Secret BIG names, as its owner would create it (kubectl create secret generic manifest-own ...).
OWN_SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "manifest-own"},
              "data": {"cluster-secret": base64.b64encode(b"own-cluster-secret-32-bytes-long").decode(),
                       "bootstrap-token": base64.b64encode(b"own-bootstrap-token-of-32-bytes!").decode()}}


def pod_names(objects) -> list[str]:
    sts = one(objects, "StatefulSet")
    return [f"{sts['metadata']['name']}-{i}" for i in range(sts["spec"]["replicas"])]


def headless(objects) -> dict:
    return next(o for o in objects if o["kind"] == "Service" and o["spec"].get("clusterIP") == "None")


@pytest.mark.parametrize("values", VALUES.values(), ids=VALUES.keys())
def test_helm_lint_finds_nothing(values):
    report = lint(values)
    assert report["total_charts_linted"] == 1 and not report["errors"], report
    # severity 1 is information (such as "icon is recommended"); 2 warning, 3 error.
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


def test_lint_fails_a_broken_chart(tmp_path):
    """The lint above can fail: a template that does not parse is an error."""
    broken = tmp_path / "manifest"
    shutil.copytree(CHART, broken)
    (broken / "templates" / "service.yaml").write_text("kind: Service\nmetadata: {{ .Values.nope.deeper }}\n")
    assert helm_python.lint(str(broken), strict=True)["errors"]


@pytest.mark.parametrize("values", VALUES.values(), ids=VALUES.keys())
def test_every_built_in_object_is_valid_against_the_kubernetes_schema(values):
    objects = render(values)
    kinds = {o["kind"] for o in objects}
    assert {"StatefulSet", "Service", "PodDisruptionBudget"} <= kinds
    for obj in objects:
        if obj["kind"] in BUILT_IN:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        else:
            assert obj["apiVersion"] == "monitoring.coreos.com/v1" and obj["kind"] in {"ServiceMonitor",
                                                                                       "PrometheusRule"}, obj
    assert {"ServiceMonitor", "PrometheusRule"} <= kinds if values is BIG else not kinds & {"ServiceMonitor",
                                                                                            "PrometheusRule"}


def test_the_schema_check_can_fail():
    sts = one(render(), "StatefulSet")
    sts["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = "/typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(sts, K8S_VERSION, strict=True)


@pytest.mark.parametrize("values,replicas", [(None, 3), (BIG, 5)], ids=["default", "big"])
def test_the_statefulset_runs_n_pods_with_stable_names_and_their_own_volume(values, replicas):
    objects = render(values)
    sts = one(objects, "StatefulSet")
    spec = sts["spec"]
    assert spec["replicas"] == replicas and spec["serviceName"] == headless(objects)["metadata"]["name"]
    # OrderedReady would wait for pod 0 to be ready, which needs a majority: never.
    assert spec["podManagementPolicy"] == "Parallel"
    [claim] = spec["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in spec["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/var/lib/manifest/data"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert set(spec["selector"]["matchLabels"].items()) <= set(spec["template"]["metadata"]["labels"].items())


@pytest.mark.parametrize("values", [None, BIG], ids=["default", "big"])
def test_each_pod_runs_a_node_whose_peers_are_the_other_pods_by_headless_dns_name(values, tmp_path):
    objects = render(values) + ([OWN_SECRET] if values is BIG else [])
    names = pod_names(objects)
    svc = headless(objects)["metadata"]["name"]
    fqdn = {n: f"{n}.{svc}.prod.svc.cluster.local" for n in names}
    volume = one(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"]
    scheme = "https" if values is BIG else "http"
    for i, pod in enumerate(names):
        argv, env = start_pod(objects, pod, tmp_path / str(i))
        cfg = node_config(argv, env)
        assert cfg.id == pod
        assert cfg.raft == f"{fqdn[pod]}:8501"
        assert sorted(cfg.peer) == sorted(f"{fqdn[other]}:8501" for other in names if other != pod)
        assert cfg.api == "0.0.0.0:8500" and cfg.api_url == f"{scheme}://{fqdn[pod]}:8500"
        assert cfg.data_dir == volume
        # Off loopback: the secret is required and auth is on; both come from the environment.
        assert cfg.cluster_secret and cfg.cluster_secret == env["MANIFEST_CLUSTER_SECRET"]
        assert cfg.bootstrap_token == env["MANIFEST_BOOTSTRAP_TOKEN"] and cfg.auth_on
        assert cfg.cluster_secret not in " ".join(argv) and cfg.bootstrap_token not in " ".join(argv)
        assert "--cluster-secret" not in argv and "--bootstrap-token" not in argv
        if values is BIG:
            assert cfg.cluster_secret == "own-cluster-secret-32-bytes-long"
            assert cfg.fsync and cfg.tls_cert == "/etc/manifest/tls/tls.crt"


def test_the_secrets_reach_the_nodes_only_through_a_secret_and_env_vars():
    given = VALUES["given-secrets"]
    objects = render(given)
    secret = one(objects, "Secret")
    container = one(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    refs = {v["name"]: v["valueFrom"]["secretKeyRef"] for v in container["env"] if "valueFrom" in v
            and "secretKeyRef" in v["valueFrom"]}
    assert {r["name"] for r in refs.values()} == {secret["metadata"]["name"]}
    assert set(refs) == {"MANIFEST_CLUSTER_SECRET", "MANIFEST_BOOTSTRAP_TOKEN"}
    env = container_env(objects)
    assert env["MANIFEST_CLUSTER_SECRET"] == given["secrets"]["clusterSecret"]
    assert env["MANIFEST_BOOTSTRAP_TOKEN"] == given["secrets"]["bootstrapToken"]
    others = yaml.safe_dump_all([o for o in objects if o["kind"] != "Secret"])
    for value in given["secrets"].values():
        assert value not in others
    # Generated when not given, at least 16 bytes (the node's minimum).
    generated = container_env(render())
    assert len(generated["MANIFEST_CLUSTER_SECRET"]) >= 16 and len(generated["MANIFEST_BOOTSTRAP_TOKEN"]) >= 16


def test_an_existing_secret_is_used_and_none_is_made():
    objects = render(BIG)
    assert not [o for o in objects if o["kind"] == "Secret"]
    container = one(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    assert {v["valueFrom"]["secretKeyRef"]["name"] for v in container["env"] if "valueFrom" in v
            and "secretKeyRef" in v["valueFrom"]} == {"manifest-own"}


@pytest.mark.parametrize("values,scheme", [(None, "HTTP"), (BIG, "HTTPS")], ids=["default", "tls"])
def test_liveness_needs_no_leader_and_readiness_is_health(values, scheme):
    container = one(render(values), "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"api": 8500, "raft": 8501}
    live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    assert (live["path"], live["port"], live["scheme"]) == ("/v1/health/live", "api", scheme)
    assert (ready["path"], ready["port"], ready["scheme"]) == ("/v1/health", "api", scheme)


def test_services_headless_for_peers_and_one_for_clients():
    objects = render()
    peers = headless(objects)
    assert peers["spec"]["publishNotReadyAddresses"] is True
    assert {p["name"]: p["port"] for p in peers["spec"]["ports"]} == {"api": 8500, "raft": 8501}
    clients = next(o for o in objects if o["kind"] == "Service" and o is not peers)
    assert {p["name"]: p["port"] for p in clients["spec"]["ports"]} == {"api": 8500}
    labels = one(objects, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    for svc in (peers, clients):
        assert set(svc["spec"]["selector"].items()) <= set(labels.items())


def test_the_disruption_budget_lets_one_node_go_at_a_time():
    objects = render()
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    labels = one(objects, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert set(pdb["spec"]["selector"]["matchLabels"].items()) <= set(labels.items())


def test_the_chart_keeps_an_exact_copy_of_the_alert_rules():
    assert (CHART / "files" / "alerts.yml").read_bytes() == (ROOT / "cluster" / "prometheus" / "alerts.yml").read_bytes()


def test_the_prometheus_rule_holds_exactly_the_alert_groups_and_promtool_accepts_them(tmp_path):
    rule = one(render(BIG), "PrometheusRule")
    assert rule["spec"]["groups"] == alerts_groups()
    extracted = tmp_path / "rules.yml"
    extracted.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    done = subprocess.run(["promtool", "check", "rules", str(extracted)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_service_monitor_scrapes_every_node_as_job_manifest_with_a_token():
    objects = render(BIG)
    monitor = one(objects, "ServiceMonitor")
    peers = headless(objects)
    labels = peers["metadata"]["labels"]
    assert set(monitor["spec"]["selector"]["matchLabels"].items()) <= set(labels.items())
    # The alert rules select job="manifest"; the job label is taken from this Service label.
    assert labels[monitor["spec"]["jobLabel"]] == "manifest"
    assert all('job="manifest"' in r["expr"] for g in alerts_groups() for r in g["rules"])
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in peers["spec"]["ports"]} and endpoint["path"] == "/metrics"
    assert endpoint["authorization"] == {"type": "Bearer", "credentials": {"name": "scrape", "key": "token"}}
    assert endpoint["scheme"] == "https" and endpoint["tlsConfig"]["ca"]["secret"]["name"] == "manifest-tls"


@pytest.mark.parametrize("values", [None, BIG], ids=["default", "big"])
def test_every_flag_and_env_var_in_the_templates_is_the_nodes(values):
    objects = render(values)
    container = one(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    script = container["args"][0]
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", script))
    assert {"--id", "--api", "--raft", "--peer", "--advertise-api", "--data-dir"} <= flags
    assert flags <= node_flags(), flags - node_flags()
    names = {v["name"] for v in container["env"]} - {"POD_NAME"}
    assert "MANIFEST_CLUSTER_SECRET" in names and names <= node_env(), names - node_env()
