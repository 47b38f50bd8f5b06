"""A Manifest cluster whose nodes are separate hosts the nemesis can hurt.

Mode ``netns``: node i runs in its own network namespace (``netns.py``) on
``10.99.X.(10+i)``; the test process reaches the APIs through the bridge.
Mode ``proxy`` (fallback without CAP_NET_ADMIN): nodes on loopback, every
node-to-node connection redirected through the proxy (``launch.py``). Both
modes route node-to-node traffic (Raft and forwarded writes) through
``proxy.py`` for latency faults. Every process is recorded in the run's
ledger before anything else happens, and dies with the test process
(``setpriv --pdeathsig KILL``; start nodes from the main thread only).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

import pathlib

from tests.support import faultfs
from tests.support.certs import CA
from tests.support.cluster import free_port
from tests.support.http import call

from . import client
from .cleanup import Ledger, cleanup_orphans
from .netns import API_PORT, RAFT_PORT, Topology, netns_possible

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = sys.executable
DEATHSIG = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []


class ChaosNode:
    def __init__(self, index: int, host: str, api_port: int, raft_port: int, workdir: str,
                 prefix: list[str], launcher: list[str], env: dict, ledger: Ledger):
        self.index, self.id = index, f"n{index}"
        self.host, self.api_port, self.raft_port = host, api_port, raft_port
        self.data_dir = os.path.join(workdir, self.id)
        self.log_path = os.path.join(workdir, f"{self.id}.log")
        self.prefix, self.launcher, self.env, self.ledger = prefix, launcher, env, ledger
        self.peers: list[str] = []
        self.flags: list[str] = []
        self.clock_offset = 0.0
        self.proc: subprocess.Popen | None = None
        self.paused = False
        self.scheme = "http"
        # tests/support/faultfs.c reads this file: empty, or eio / erofs / slow:MS for the data directory.
        self.disk_control = pathlib.Path(workdir) / f"{self.id}.disk"

    def disk_fault(self, mode: str) -> None:
        """Start (``eio``, ``erofs``, ``slow:200``) or end (``""``) a fault of this node's data directory."""
        self.disk_control.write_text(mode)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.api_port}"

    @property
    def raft(self) -> str:
        return f"{self.host}:{self.raft_port}"

    def args(self) -> list[str]:
        out = [*self.prefix, *DEATHSIG, *self.launcher, "node", "--id", self.id,
               "--api", f"{self.host}:{self.api_port}", "--raft", self.raft, "--data-dir", self.data_dir]
        for p in self.peers:
            out += ["--peer", p]
        if self.clock_offset:
            out += ["--clock-offset", str(self.clock_offset)]
        return out + self.flags

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start {time.strftime('%H:%M:%S')} offset={self.clock_offset}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                         cwd=ROOT, stdin=subprocess.DEVNULL)
        self.ledger.add_pid(self.proc.pid, f"node {self.id}")
        self.paused = False

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.ledger.drop_pid(self.proc.pid)
        self.paused = False

    def pause(self) -> None:
        if self.alive and not self.paused:
            self.proc.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.alive and self.paused:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def health(self, timeout: float = 1.0):
        return _call(self.url, "GET", "/v1/health", timeout=timeout)


def _call(url: str, method: str, path: str, **kw):
    """tests.support.http.call with the run's token and TLS context (client.configure)."""
    return call(url, method, path, headers=client.auth_headers(), context=client._CREDENTIALS["context"], **kw)


class ChaosCluster:
    def __init__(self, workdir: str, mode: str = "auto", size: int = 3, secret: str | None = None,
                 flags: list[str] | None = None, slot_hint: int | None = None, trace: bool = False,
                 secure: bool = True):
        """``secure``: auth on (a bootstrap token in the nodes' environment) and mTLS with a CA made
        for the run, as production should run; off, plain HTTP without auth."""
        self.workdir, self.size, self.trace, self.secure = workdir, size, trace, secure
        self.token = secrets.token_urlsafe(32) if secure else None
        self.secret = secret or secrets.token_urlsafe(32)  # a fresh one per run unless given
        self.flags = list(flags or [])
        self.mode = mode if mode != "auto" else ("netns" if netns_possible() else "proxy")
        self.slot_hint = os.getpid() if slot_hint is None else slot_hint
        self.ledger = Ledger(f"run-{os.getpid()}-{int(time.time() * 1000) % 10**8}")
        self.topo: Topology | None = None
        self.nodes: list[ChaosNode] = []
        self.proxy: subprocess.Popen | None = None
        self.links: dict[str, tuple[int, int]] = {}  # link name -> (src, dst) node indexes

    # ---- start and stop ---------------------------------------------------------
    def start(self, timeout: float = 30) -> None:
        os.makedirs(self.workdir, exist_ok=True)
        cleanup_orphans()  # leftovers of runs whose process died (never a live run's)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_")}
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        self._start_proxy()
        if self.mode == "netns":
            self.topo = Topology(self.size, self.ledger)
            self.topo.create(self.slot_hint)
            for i in range(1, self.size + 1):
                launcher = [PY, "-m", "tests.chaos.launch" if self.trace else "manifest_node"]
                self.nodes.append(ChaosNode(i, self.topo.ip_of(i), API_PORT, RAFT_PORT, self.workdir,
                                            self.topo.prefix(i), launcher, dict(env), self.ledger))
            listen_host = self.topo.bridge_ip
        else:
            for i in range(1, self.size + 1):
                self.nodes.append(ChaosNode(i, "127.0.0.1", free_port(), free_port(), self.workdir, [],
                                            [PY, "-m", "tests.chaos.launch"], dict(env), self.ledger))
            listen_host = "127.0.0.1"
        redirects: dict[int, dict] = {i: {} for i in range(1, self.size + 1)}
        for src in self.nodes:
            for dst in self.nodes:
                if src is dst:
                    continue
                for kind, port in (("raft", dst.raft_port), ("api", dst.api_port)):
                    name = f"{src.id}>{dst.id}/{kind}"
                    if self.topo is not None:
                        lport = self.topo.proxy_port(src.index, dst.index) + (100 if kind == "api" else 0)
                    else:
                        lport = free_port()
                    cmd = {"op": "listen", "link": name, "listen": f"{listen_host}:{lport}",
                           "target": f"{dst.host}:{port}"}
                    if self.topo is not None:
                        cmd["source"] = self.topo.alias_of(src.index)
                    self._proxy_cmd(cmd)
                    self.links[name] = (src.index, dst.index)
                    redirects[src.index][f"{dst.host}:{port}"] = f"{listen_host}:{lport}"
        self._credentials()
        shim = faultfs.build(pathlib.Path(self.workdir))
        for node in self.nodes:
            node.env.update(faultfs.Faults(shim, node.data_dir, node.disk_control).environ)
            node.peers = [n.raft for n in self.nodes if n is not node]
            node.flags = list(self.flags) + self._security_flags(node)
            node.env["MANIFEST_CLUSTER_SECRET"] = self.secret  # the environment, as in production: not argv
            if self.token:
                node.env["MANIFEST_BOOTSTRAP_TOKEN"] = self.token
            if self.mode == "proxy":
                node.env["CHAOS_REDIRECT"] = json.dumps(redirects[node.index])
            if self.trace:
                node.env["CHAOS_TRACE"] = os.path.join(self.workdir, f"{node.id}.trace.jsonl")
            node.start()
        self.wait_ready(timeout)

    def _credentials(self) -> None:
        if not self.secure:
            client.configure()
            return
        self.ca = CA(os.path.join(self.workdir, "pki"), "chaos-ca")
        client.configure(self.token, self.ca.client_context(self.ca.issue("chaos-client")))
        for node in self.nodes:
            node.scheme = "https"

    def _security_flags(self, node: ChaosNode) -> list[str]:
        if not self.secure:
            return ["--no-auth"]  # off loopback (netns) auth is on by default
        issued = self.ca.issue(node.id, ips=(node.host,), dns=())
        # Rate limits off: the workload is a handful of clients sharing one token, and a 429 would
        # read as a status outside the contract to the history checkers.
        return ["--auth", "--no-rate-limit", "--tls-cert", issued.cert, "--tls-key", issued.key,
                "--tls-client-ca", self.ca.cert]

    def _start_proxy(self) -> None:
        with open(os.path.join(self.workdir, "proxy.log"), "ab") as log:
            self.proxy = subprocess.Popen([*DEATHSIG, PY, "-m", "tests.chaos.proxy"], cwd=ROOT, text=True,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        self.ledger.add_pid(self.proxy.pid, "chaos proxy")

    def _proxy_cmd(self, cmd: dict) -> None:
        self.proxy.stdin.write(json.dumps(cmd) + "\n")
        self.proxy.stdin.flush()
        reply = self.proxy.stdout.readline().strip()
        if reply != "ok":
            raise RuntimeError(f"proxy refused {cmd}: {reply or 'proxy exited'}")

    def stop(self) -> None:
        """Idempotent: kill nodes and proxy, delete namespaces and links."""
        for node in self.nodes:
            try:
                node.kill()
            except Exception:
                pass
        if self.proxy is not None and self.proxy.poll() is None:
            self.proxy.kill()
            self.proxy.wait(10)
        self.ledger.release()

    # ---- observing --------------------------------------------------------------
    def wait_ready(self, timeout: float = 30, nodes: list[ChaosNode] | None = None) -> float:
        """Until every given node answers health 200 and knows every member's API URL."""
        targets = nodes if nodes is not None else self.nodes
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if all(n.health().status == 200 for n in targets) and all(
                        all(m["api"] for m in _call(n.url, "GET", "/v1/cluster", timeout=1).body["members"])
                        for n in targets):
                    return time.monotonic()
            except (OSError, TypeError, KeyError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"cluster not ready after {timeout}s: " + self.describe())

    def leader(self) -> ChaosNode | None:
        """The node that says it leads with the highest term (None while electing)."""
        best, best_term = None, -1
        for n in self.nodes:
            if not n.alive or n.paused:
                continue
            try:
                h = n.health(timeout=0.5)
            except OSError:
                continue
            if h.status == 200 and h.body.get("role") == "leader" and h.body.get("term", 0) > best_term:
                best, best_term = n, h.body["term"]
        return best

    def wait_leader(self, timeout: float = 10) -> ChaosNode | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.leader()
            if found is not None:
                return found
            time.sleep(0.1)
        return None

    def describe(self) -> str:
        parts = []
        for n in self.nodes:
            try:
                h = n.health(timeout=0.5).body
                parts.append(f"{n.id}:{h.get('role')}/t{h.get('term')}/r{h.get('revision')}")
            except OSError as exc:
                state = "paused" if n.paused else "down" if not n.alive else exc.__class__.__name__
                parts.append(f"{n.id}:{state}")
        return " ".join(parts)

    # ---- faults -----------------------------------------------------------------
    def set_network(self, blocked=(), loss=None, delay=None) -> None:
        """Declarative network state: pairs cut, loss per node, added delay (ms) per node."""
        blocked = {frozenset(p) for p in blocked}
        loss, delay = dict(loss or {}), dict(delay or {})
        if self.topo is not None:
            self.topo.apply(blocked, loss)
        for name, (src, dst) in self.links.items():
            cut = frozenset((src, dst)) in blocked
            ms = max(delay.get(src, 0), delay.get(dst, 0))
            lossy = 0.0 if self.topo is not None else max(loss.get(src, 0), loss.get(dst, 0))
            mode = "blackhole" if cut and self.topo is None else "pass"
            self._proxy_cmd({"op": "set", "link": name, "mode": mode, "delay_ms": ms, "loss": lossy})
