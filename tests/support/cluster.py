"""Real Manifest nodes as separate processes on loopback, for cluster tests.

Offers what hashicorp/raft's testing.go offers: ``leader()``, ``kill()``,
``restart()``, ``wait_for_replication()``. Ports are free ports picked at
start, so tests run in parallel under ``pytest -n auto``.

Nodes run as in production: with a cluster secret (a fresh one per cluster
unless given), passed in the environment as operators should, never in argv.
``secret=None`` runs them with ``--insecure`` instead.

Auth is off on loopback unless asked for: ``auth=True`` turns it on with a
bootstrap admin token (``cluster.token``, also in the environment, never in
argv); ``tls=CA`` (tests/support/certs.py) gives each node a certificate of
that CA and serves HTTPS, ``mtls=True`` also requires client certificates.
Every helper here (``health``, ``get``, ``call``) then sends the token and
trusts the CA, showing a client certificate of its own.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from .http import call


def _port_slice() -> range:
    """This test process's own ports: below the kernel's ephemeral range, one slice per xdist worker.

    Port 0 hands out ephemeral ports, the same pool every outgoing connection
    takes its source port from; between free_port() returning and a node
    binding, some other test's client could take it (CI saw a node wait 45 s
    for its Raft port). Below that range only listeners we start live, and
    the slices keep parallel workers from picking the same one.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    low = 10000
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1), index + 1)
    width = (ephemeral_low - low) // count
    if width < 200:  # an unusual ephemeral range: fall back to the kernel's choice
        return range(0)
    start = low + index * width
    return range(start, start + width)


_PORTS = _port_slice()
_next_port = secrets.randbelow(len(_PORTS)) if _PORTS else 0


def free_port() -> int:
    """A loopback port nothing listens on now and no other test process will be handed."""
    global _next_port
    for _ in range(len(_PORTS)):
        port = _PORTS[_next_port % len(_PORTS)]
        _next_port += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
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
    secret: str | None = None  # None: --insecure
    launcher: list[str] = field(default_factory=lambda: [sys.executable, "-m", "manifest_node"])
    environ: dict[str, str] = field(default_factory=dict)  # more environment for this node's process
    proc: subprocess.Popen | None = None
    token: str | None = None  # the bootstrap admin token when auth is on
    context: object = None  # ssl.SSLContext of the test's client side when TLS is on

    @property
    def url(self) -> str:
        return f"{'https' if self.context is not None else 'http'}://127.0.0.1:{self.api_port}"

    @property
    def raft(self) -> str:
        return f"127.0.0.1:{self.raft_port}"

    def args(self) -> list[str]:
        out = [*self.launcher, "node", "--id", self.id,
               "--api", f"127.0.0.1:{self.api_port}", "--raft", self.raft, "--data-dir", self.data_dir]
        for p in self.peers:
            out += ["--peer", p]
        if self.secret is None:
            out.append("--insecure")
        return out + self.extra

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_")}
        if self.secret is not None:
            env["MANIFEST_CLUSTER_SECRET"] = self.secret
        if self.token is not None:
            env["MANIFEST_BOOTSTRAP_TOKEN"] = self.token
        env.update(self.environ)
        return env

    def start(self) -> None:
        log = open(self.log_path, "ab")
        env = self.env()
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

    def call(self, method: str, path: str, body=None, *, token: str | None | bool = True, **kw):
        """``call`` on this node with the cluster's CA and, unless ``token`` says otherwise, its admin token."""
        token = self.token if token is True else (token or None)
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **kw.pop("headers", {})}
        return call(self.url, method, path, body, headers=headers, context=self.context, **kw)

    def health(self):
        return self.call("GET", "/v1/health", timeout=1.0)

    def get(self, path: str, **kw):
        return self.call("GET", path, **kw)

    def log_text(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()


_GENERATE = object()


class Cluster:
    def __init__(self, tmp_path, size: int = 3, extra: list[str] | None = None,
                 launcher: list[str] | None = None, secret: str | None = _GENERATE, auth: bool = False,
                 tls=None, mtls: bool = False):
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.secret = secrets.token_urlsafe(32) if secret is _GENERATE else secret
        self.token = secrets.token_urlsafe(32) if auth else None
        self.ca = tls
        self.client_cert = tls.issue("test-client", tag="client") if tls is not None else None
        self.nodes: list[Node] = []
        rafts = []
        for i in range(size):
            node = Node(f"n{i + 1}", free_port(), free_port(), str(tmp_path / f"n{i + 1}"),
                        str(tmp_path / f"n{i + 1}.log"), extra=list(extra or []), secret=self.secret)
            if auth:
                node.token = self.token
                node.extra += ["--auth"]
            if tls is not None:
                issued = tls.issue(node.id)
                node.extra += ["--tls-cert", issued.cert, "--tls-key", issued.key]
                node.extra += ["--tls-client-ca" if mtls else "--tls-peer-ca", tls.cert]
                node.context = tls.client_context(self.client_cert)
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

    def new_node(self, node_id: str, tmp_path, join: bool = True) -> Node:
        """A node on fresh ports and a fresh data directory, started with ``--join`` (not yet started)."""
        first = self.nodes[0]
        node = Node(node_id, free_port(), free_port(), str(tmp_path / node_id), str(tmp_path / f"{node_id}.log"),
                    extra=[x for x in first.extra] + (["--join"] if join else []), secret=self.secret,
                    launcher=list(first.launcher), token=first.token)
        self.nodes.append(node)
        return node

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
