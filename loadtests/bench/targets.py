"""The systems under test, started in one run: Manifest, etcd and a bare aiohttp server.

- ``start_manifest``: a 3-node cluster from ``tests.support.cluster.Cluster``.
- ``EtcdCluster``: 3 etcd members on free loopback ports, one data dir each.
- ``BareServer``: ``loadtests.bench.bare_server`` in its own process.
Plus the seeding helpers (concurrent HTTP with aiohttp) and process RSS.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.support.cluster import Cluster, free_port, wait_until
from tests.support.http import call


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _send_all(requests: list[tuple[str, str, str, object]], concurrency: int) -> list[tuple[int, object]]:
    """(method, base_url, path, json body) each, ``concurrency`` at a time; (status, json) each."""
    out: list = [None] * len(requests)
    queue = iter(enumerate(requests))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as s:
        async def worker():
            for i, (method, base, path, body) in queue:
                for attempt in range(5):
                    try:
                        async with s.request(method, base + path, json=body) as r:
                            data = await r.json(content_type=None) if r.content_length != 0 else None
                            out[i] = (r.status, data)
                        if out[i][0] < 500:
                            break
                    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                        out[i] = (0, repr(exc))
                    await asyncio.sleep(0.1 * (attempt + 1))
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def send_all(requests, concurrency: int = 32) -> list[tuple[int, object]]:
    return asyncio.run(_send_all(requests, concurrency))


def register_many(urls: list[str], service: str, ids: list[str], ttl: int, concurrency: int = 32,
                  extra: dict | None = None) -> int:
    """Register ``ids`` under ``service`` round-robin over ``urls``; returns how many were acknowledged."""
    reqs = [("POST", urls[i % len(urls)], "/v1/services",
             {"name": service, "id": iid, "ttl": ttl, **(extra or {})}) for i, iid in enumerate(ids)]
    return sum(1 for status, _ in send_all(reqs, concurrency) if status in (200, 201))


def start_manifest(tmp: Path, extra: list[str] | None = None, started: list | None = None) -> Cluster:
    """A started 3-node cluster; it joins ``started`` before starting, so a failed start is cleaned up."""
    tmp.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(tmp, size=3, extra=list(extra or []))
    if started is not None:
        started.append(cluster)
    cluster.start(timeout=60)
    return cluster


@dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: str
    log_path: str
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class EtcdCluster:
    """Three etcd 3.4 members on loopback; clients use the v3 HTTP/JSON gateway."""

    def __init__(self, etcd: str, tmp: Path, size: int = 3):
        self.etcd = etcd
        tmp.mkdir(parents=True, exist_ok=True)
        self.members = [EtcdMember(f"e{i + 1}", free_port(), free_port(), str(tmp / f"e{i + 1}"),
                                   str(tmp / f"e{i + 1}.log")) for i in range(size)]
        self.initial = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.members)

    def _start(self, m: EtcdMember) -> None:
        peer = f"http://127.0.0.1:{m.peer_port}"
        cmd = [self.etcd, "--name", m.name, "--data-dir", m.data_dir,
               "--listen-client-urls", m.url, "--advertise-client-urls", m.url,
               "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
               "--initial-cluster", self.initial, "--initial-cluster-token", "manifest-bench",
               "--initial-cluster-state", "new", "--logger", "zap", "--log-level", "warn"]
        with open(m.log_path, "ab") as log:
            m.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)

    def start(self, timeout: float = 30) -> None:
        for m in self.members:
            self._start(m)
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 30) -> None:
        def healthy():
            return all(call(m.url, "GET", "/health", timeout=1).raw.find(b'"true"') >= 0
                       for m in self.members if m.alive) and self.leader(timeout=0.5) is not None
        wait_until(healthy, timeout, what="etcd healthy")

    def status(self, m: EtcdMember) -> dict:
        return json.loads(call(m.url, "POST", "/v3/maintenance/status", {}, timeout=1).raw)

    def leader(self, timeout: float = 10) -> EtcdMember | None:
        def find():
            for m in self.members:
                if not m.alive:
                    continue
                try:
                    st = self.status(m)
                except (OSError, ValueError):
                    continue
                if st.get("leader") and st["leader"] == st["header"]["member_id"]:
                    return m
            return None
        try:
            return wait_until(find, timeout, what="an etcd leader")
        except AssertionError:
            return None

    def followers(self) -> list[EtcdMember]:
        leader = self.leader()
        return [m for m in self.members if m is not leader and m.alive]

    def kill(self, m: EtcdMember) -> None:
        if m.alive:
            m.proc.send_signal(signal.SIGKILL)
            m.proc.wait(10)

    def restart(self, m: EtcdMember) -> None:
        self.kill(m)
        self._start(m)  # the data dir holds the membership; the initial-cluster flags are ignored

    def stop(self) -> None:
        for m in self.members:
            self.kill(m)

    def put_prefix(self, prefix: str, count: int, value: str) -> None:
        b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
        leader = self.leader()
        for i in range(count):
            r = call(leader.url, "POST", "/v3/kv/put", {"key": b64(f"{prefix}{i:04d}"), "value": b64(value)})
            assert r.status == 200, r.raw

    def grant_leases(self, count: int, ttl: int) -> list[str]:
        leader = self.leader()
        replies = send_all([("POST", leader.url, "/v3/lease/grant", {"TTL": ttl})] * count, 16)
        return [body["ID"] for status, body in replies if status == 200]


class BareServer:
    def __init__(self, log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "loadtests.bench.bare_server", "--port",
                                          str(self.port)], stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONPATH": _root()})
        wait_until(lambda: call(self.url, "GET", "/item", timeout=1).status == 200, 20, what="bare server")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _root() -> str:
    return str(Path(__file__).resolve().parents[2])

