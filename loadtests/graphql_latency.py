"""GraphQL against REST on one local node: the same reads, one keep-alive connection, one at a time.

    python -m loadtests.graphql_latency [--instances 200] [--requests 2000]

Registers ``--instances`` instances of one service on a fresh one-node
cluster, then prints p50/p99 of each pair: ``GET /v1/services/{name}`` and
the GraphQL query asking for the same records; a one-field list
(``?limit=10``) and its GraphQL twin; ``GET /v1/cluster`` and
``{ cluster { ... } }``. A measurement, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
from pathlib import Path

from loadtests.latency import quantiles
from tests.support.cluster import Cluster

_RECORD = "name id version address port tags status revision registeredAt lastHeartbeat metadata { key value }"
PAIRS = [
    ("full list of one service", ("GET", "/v1/services/web", None),
     {"query": "{ instances(name: \"web\") { revision instances { " + _RECORD + " } } }"}),
    ("first 10, ids only", ("GET", "/v1/services?limit=10", None),
     {"query": "{ instances(limit: 10) { nextCursor instances { id } } }"}),
    ("cluster", ("GET", "/v1/cluster", None), {"query": "{ cluster { id leader term revision members { id role } } }"}),
]


def _timed(conn, method: str, path: str, body: dict | None) -> float:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    t0 = time.perf_counter()
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    elapsed = time.perf_counter() - t0
    if resp.status >= 300 or (path == "/v1/graphql" and b'"errors"' in payload):
        raise RuntimeError(f"{method} {path} -> {resp.status} {payload[:200]!r}")
    return elapsed


def _measure(conn, method, path, body, n: int) -> list[float]:
    for _ in range(min(100, n)):  # warm up: caches, the schema's first parse
        _timed(conn, method, path, body)
    return [_timed(conn, method, path, body) for _ in range(n)]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--instances", type=int, default=200)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, Cluster(Path(tmp), size=1) as cluster:
        node = cluster.nodes[0]
        conn = http.client.HTTPConnection("127.0.0.1", node.api_port, timeout=10)
        for i in range(args.instances):
            _timed(conn, "POST", "/v1/services", {"name": "web", "id": f"w{i}", "version": "1.2.3",
                                                  "address": f"10.0.{i // 250}.{i % 250}", "port": 8080,
                                                  "tags": ["blue"], "metadata": {"region": "eu"}})
        print(f"one node, {args.instances} instances, {args.requests} requests each, one connection")
        for label, (method, path, _), gql in PAIRS:
            rest = _measure(conn, method, path, None, args.requests)
            graph = _measure(conn, "POST", "/v1/graphql", gql, args.requests)
            print(f"{label:26s} REST {method} {path:24s} {quantiles(rest)}")
            print(f"{'':26s} GraphQL POST /v1/graphql{'':9s} {quantiles(graph)}")
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
