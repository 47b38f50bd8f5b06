"""Federated regions of real clusters on loopback, for the federation tests and loadtests/federation_bench.py.

``Regions(tmp, ["us", "eu", "ap"], cut="ap")``: one 3-node cluster per
region (auth on, each its own admin token; one federation token shared,
in the environment, never in argv), each node federating with the other
regions. Every connection to or from region ``cut`` goes through the chaos
TCP proxy (tests/chaos/proxy.py), one link per remote node, so
``partition()`` blackholes that region (bytes held, as a real partition
does: connections hang rather than fail) and ``heal()`` lets them through.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

from .cluster import Cluster, free_port

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--federation-probe-interval", "0.5", "--federation-timeout", "0.5", "--federation-deadline", "1.5"]


class Proxy:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.chaos.proxy"], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.links: list[str] = []

    def cmd(self, **kw) -> None:
        self.proc.stdin.write(json.dumps(kw) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if reply != "ok":
            raise RuntimeError(f"proxy: {reply}")

    def link(self, name: str, target_port: int) -> int:
        port = free_port()
        self.cmd(op="listen", link=name, listen=f"127.0.0.1:{port}", target=f"127.0.0.1:{target_port}")
        self.links.append(name)
        return port

    def set_all(self, mode: str) -> None:
        for name in self.links:
            self.cmd(op="set", link=name, mode=mode)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Regions:
    def __init__(self, tmp: Path, names: list[str], cut: str | None = None, size: int | dict = 3,
                 extra: dict[str, list[str]] | None = None):
        self.token = secrets.token_urlsafe(32)
        sizes = size if isinstance(size, dict) else {n: size for n in names}
        self.clusters = {n: Cluster(tmp / n, sizes[n], auth=True) for n in names}
        self.cut, self.proxy = cut, Proxy() if cut else None
        for name, cluster in self.clusters.items():
            for node in cluster.nodes:
                node.environ["MANIFEST_FEDERATION_TOKEN"] = self.token
                node.extra += ["--region", name, *FAST, *(extra or {}).get(name, [])]
                for other, remote in self.clusters.items():
                    if other == name:
                        continue
                    urls = [self._url(node.id, name, r.id, other, r.api_port) for r in remote.nodes]
                    node.extra += ["--federate", f"{other}={','.join(urls)}"]

    def _url(self, from_id: str, region: str, to_id: str, other: str, port: int) -> str:
        if self.cut in (region, other):  # every path to or from the cut region crosses the proxy
            port = self.proxy.link(f"{region}.{from_id}>{other}.{to_id}", port)
        return f"http://127.0.0.1:{port}"

    def __getitem__(self, name: str) -> Cluster:
        return self.clusters[name]

    def start(self, timeout: float = 90) -> None:
        for cluster in self.clusters.values():
            for node in cluster.nodes:
                node.start()
        for cluster in self.clusters.values():
            cluster.wait_ready(timeout)

    def stop(self) -> None:
        for cluster in self.clusters.values():
            cluster.stop()
        if self.proxy is not None:
            self.proxy.stop()

    def partition(self) -> None:
        self.proxy.set_all("blackhole")

    def heal(self) -> None:
        self.proxy.set_all("pass")

    def logs(self) -> str:
        return "\n".join(f"######## region {n}\n{c.logs()}" for n, c in self.clusters.items())
