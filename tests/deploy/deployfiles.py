"""What the deploy-file tests share: the node's real flags and env vars, and the Helm chart rendered.

The chart is linted and rendered by helm-python-sdk, which runs Helm's own Go
code (Helm v4's SDK, built into the wheel as libhelm_c): there is no ``helm``
binary in the registries we reach, and this is the same lint and template engine.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import pathlib
import stat
import subprocess

import helm_python
import yaml

from manifest_node import config as config_mod
from manifest_node import config_load
from manifest_node.cli import node_cmd

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "cluster" / "helm" / "manifest"
# Read by the node besides NodeConfig's fields (node/cli.py), and by the client and CLI.
NODE_EXTRA_ENV = {"MANIFEST_CONFIG"}
CLIENT_ENV = {"MANIFEST_URL", "MANIFEST_TOKEN", "MANIFEST_CACERT", "MANIFEST_CLIENT_CERT", "MANIFEST_CLIENT_KEY"}


def node_flags() -> set[str]:
    """Every option string ``manifest node`` accepts (``--peer``, ``--no-fsync``, ...)."""
    return {opt for p in node_cmd.params for opt in (*p.opts, *p.secondary_opts)}


def node_env() -> set[str]:
    """Every MANIFEST_* variable ``manifest node`` reads."""
    return {config_load.env_name(f.name) for f in dataclasses.fields(config_mod.NodeConfig)} | NODE_EXTRA_ENV


def lint(values: dict | None = None) -> dict:
    return helm_python.lint(str(CHART), values, strict=True)


def render(values: dict | None = None, *, release: str = "reg", namespace: str = "prod") -> list[dict]:
    """``helm template``: every object the chart makes with these values (NOTES.txt left out)."""
    with helm_python.Chart.load(str(CHART)) as chart:
        files = chart.render(values, name=release, namespace=namespace, is_install=True)
    return [doc for path, text in sorted(files.items()) if not path.endswith("NOTES.txt")
            for doc in yaml.safe_load_all(text) if doc]


def one(objects: list[dict], kind: str) -> dict:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, (kind, [o["kind"] for o in objects])
    return found[0]


def container_env(objects: list[dict]) -> dict[str, str]:
    """The node container's environment as the kubelet would give it, Secret values filled in."""
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    container = one(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    env = {}
    for var in container["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = base64.b64decode(secrets[ref["name"]]["data"][ref["key"]]).decode()
    return env


def start_pod(objects: list[dict], pod_name: str, tmp_path: pathlib.Path) -> tuple[list[str], dict[str, str]]:
    """Run the container's start command with /bin/sh as the pod ``pod_name`` would, and return
    the argv it hands to ``manifest`` and the environment it gives it. The ``manifest`` found on
    PATH only records them: what they mean is then asked of the node's real parser."""
    container = one(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    bindir = tmp_path / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    record = tmp_path / "argv.json"
    recorder = bindir / "manifest"
    recorder.write_text("#!/usr/bin/env python3\nimport json, os, sys\n"
                        f"json.dump({{'argv': sys.argv[1:], 'env': dict(os.environ)}}, open({str(record)!r}, 'w'))\n")
    recorder.chmod(recorder.stat().st_mode | stat.S_IXUSR)
    env = {**container_env(objects), "POD_NAME": pod_name, "PATH": f"{bindir}:{os.environ['PATH']}"}
    subprocess.run([*container["command"], *container["args"]], env=env, check=True, timeout=30)
    got = json.loads(record.read_text())
    return got["argv"], got["env"]


def node_config(argv: list[str], env: dict[str, str]) -> config_mod.NodeConfig:
    """What ``manifest node`` makes of this argv and environment: its click options, then config's
    merge and validate (as node/cli.py does, without serving)."""
    assert argv[0] == "node", argv
    flags = dict(node_cmd.make_context("node", list(argv[1:])).params)
    config_file = flags.pop("config_file", None)
    return config_load.build(config_load.merge(flags, env=env, config_file=config_file))


def alerts_groups() -> list[dict]:
    return yaml.safe_load((ROOT / "cluster" / "prometheus" / "alerts.yml").read_text())["groups"]
