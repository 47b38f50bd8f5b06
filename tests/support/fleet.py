"""A generated fleet for the dashboard tests: services in tiers that depend on the next tier.

``records()`` is deterministic (a seeded random generator). ``register()``
sends them pipelined over a few keep-alive connections with pre-built
requests: a Python HTTP client would cost more CPU than the node it feeds,
and 10,000 registrations must fit in a fast test on two shared cores.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

TIERS = ["edge", "api", "core", "store", "infra"]
MISSING = "ledger-legacy"  # depended on, never registered: an unmet dependency


def services(count: int = 50, seed: int = 7) -> dict[str, list[str]]:
    """Service name -> the services it depends on (tier t depends on tier t+1)."""
    rng = random.Random(seed)
    per_tier = max(1, count // len(TIERS))
    tiers = [[f"{tier}-{k}" for k in range(per_tier)] for tier in TIERS]
    deps = {}
    for t, names in enumerate(tiers):
        for name in names:
            below = tiers[t + 1] if t + 1 < len(tiers) else []
            deps[name] = sorted(rng.sample(below, min(len(below), rng.randint(1, 3)))) if below else []
    deps["api-1"].append(MISSING)
    return deps


def records(instances: int = 2000, count: int = 50, seed: int = 7, ttl: float = 3600) -> list[dict]:
    deps = services(count, seed)
    names = sorted(deps)
    out = []
    for i in range(instances):
        name = names[i % len(names)]
        k = i // len(names)
        out.append({
            "name": name, "id": f"{name}-{k:04d}", "version": f"1.{i % 4}.{k % 3}",
            "address": f"10.{i % 7}.{k // 250}.{k % 250}", "port": 8000 + i % 50,
            "interfaces": {"http": f"http://10.{i % 7}.{k // 250}.{k % 250}:{8000 + i % 50}"},
            "tags": ["blue" if k % 2 else "green", f"zone-{i % 3}"],
            "metadata": {"region": "eu" if i % 2 else "us", "build": str(1000 + k)},
            "dependencies": deps[name], "ttl": ttl,
        })
    return out


def _request(method: str, path: str, body: dict | None) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    return (f"{method} {path} HTTP/1.1\r\nHost: fleet\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


async def _pipeline(host: str, port: int, requests: list[bytes]) -> list[int]:
    reader, writer = await asyncio.open_connection(host, port)
    statuses = []
    try:
        writer.write(b"".join(requests))
        await writer.drain()
        for _ in requests:
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            statuses.append(status)
    finally:
        writer.close()
    return statuses


def send(url: str, requests: list[tuple[str, str, dict | None]], connections: int = 24) -> list[int]:
    """Send ``(method, path, body)`` requests pipelined; their statuses, in the same order."""
    u = urlsplit(url)
    raw = [_request(*r) for r in requests]

    async def run():
        lanes = [list(range(k, len(raw), connections)) for k in range(min(connections, len(raw)))]
        results = await asyncio.gather(*(_pipeline(u.hostname, u.port, [raw[i] for i in lane]) for lane in lanes))
        statuses = [0] * len(raw)
        for lane, got in zip(lanes, results):
            for i, status in zip(lane, got):
                statuses[i] = status
        return statuses

    # A thread of its own: the caller may already run an event loop (Playwright's sync API does).
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def register(url: str, recs: list[dict], connections: int = 24, rounds: int = 5) -> None:
    """Register ``recs``; what a leader change answered with 503 is sent again (a registration
    with its id is idempotent)."""
    for _ in range(rounds):
        statuses = send(url, [("POST", "/v1/services", r) for r in recs], connections)
        failed = [s for s in statuses if s not in (200, 201)]
        recs = [r for r, s in zip(recs, statuses) if s not in (200, 201)]
        if not recs or any(s != 503 for s in failed):
            break
        time.sleep(0.5)
    assert not recs, f"{len(recs)} registrations failed"
