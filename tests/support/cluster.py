"""Real Manifest nodes as separate processes on loopback, for cluster tests.

Offers what hashicorp/raft's testing.go offers: ``leader()``, ``kill()``,
``restart()``, ``wait_for_replication()``. Ports are free ports picked at
start, so tests run in parallel under ``pytest -n auto``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from .http import call


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except RuntimeError:
            raise  # the predicate knows waiting is pointless
        except Exception as exc:  # the node may be starting or dying
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_exc})" if last_exc else ""))


@dataclass
class Node:
    id: str
    api_port: int
    raft_port: int
    data_dir: str
    log_path: str
    peers: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    launcher: list[str] = field(default_factory=lambda: [sys.executable, "-m", "manifest_node"])
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def raft(self) -> str:
        return f"127.0.0.1:{self.raft_port}"

    def args(self) -> list[str]:
        out = [*self.launcher, "node", "--id", self.id,
               "--api", f"127.0.0.1:{self.api_port}", "--raft", self.raft, "--data-dir", self.data_dir]
        for p in self.peers:
            out += ["--peer", p]
        return out + self.extra

    def start(self) -> None:
        log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_")}
        self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 15) -> int:
        if not self.alive:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def health(self):
        return call(self.url, "GET", "/v1/health", timeout=1.0)

    def get(self, path: str, **kw):
        return call(self.url, "GET", path, **kw)

    def log_text(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()


class Cluster:
    def __init__(self, tmp_path, size: int = 3, extra: list[str] | None = None,
                 launcher: list[str] | None = None):
        self.nodes: list[Node] = []
        rafts = []
        for i in range(size):
            node = Node(f"n{i + 1}", free_port(), free_port(), str(tmp_path / f"n{i + 1}"),
                        str(tmp_path / f"n{i + 1}.log"), extra=list(extra or []))
            if launcher:
                node.launcher = list(launcher)
            rafts.append(node.raft)
            self.nodes.append(node)
        for node in self.nodes:
            node.peers = [r for r in rafts if r != node.raft]

    def __enter__(self) -> "Cluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 45) -> None:  # generous: CI machines are shared
        for node in self.nodes:
            node.start()
        self.wait_ready(timeout)

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def alive(self) -> list[Node]:
        return [n for n in self.nodes if n.alive]

    def wait_ready(self, timeout: float = 20, nodes: list[Node] | None = None) -> None:
        targets = nodes if nodes is not None else self.alive()

        def ready():
            dead = [n.id for n in targets if not n.alive]
            if dead:  # e.g. a port taken between free_port() and bind: fail now, with the logs
                raise RuntimeError(f"node(s) {dead} exited during start-up:\n{self.logs()}")
            for n in targets:
                h = n.health()
                if h.status != 200:
                    return False
                members = n.get("/v1/cluster").body["members"]
                if any(m["api"] is None for m in members if m["raft"] in {t.raft for t in self.alive()}):
                    return False
            return True

        wait_until(ready, timeout, what="cluster ready: " + ", ".join(n.id for n in targets))

    def leader(self, timeout: float = 10) -> Node:
        def find():
            for n in self.alive():
                try:
                    h = n.health()
                except OSError:
                    continue
                if h.status == 200 and h.body["role"] == "leader":
                    return n
            return None

        return wait_until(find, timeout, what="a leader")

    def followers(self) -> list[Node]:
        leader = self.leader()
        return [n for n in self.alive() if n is not leader]

    def restart(self, node: Node) -> None:
        node.kill()
        node.start()

    def wait_for_replication(self, revision: int | None = None, timeout: float = 10) -> int:
        """Wait until every live node has applied the same revision (at least ``revision``)."""
        def same():
            revs = [n.health().body["revision"] for n in self.alive()]
            if len(set(revs)) == 1 and (revision is None or revs[0] >= revision):
                return (revs[0],)  # a tuple: revision 0 is a valid answer
            return None

        return wait_until(same, timeout, what=f"replication to revision {revision}")[0]

    def logs(self) -> str:
        return "\n".join(f"===== {n.id} =====\n{n.log_text()[-4000:]}" for n in self.nodes)
