"""DNS load check (issue 14 point 4): queries/s and the node's CPU, with dnsperf or, without it, a Python loop.

    python -m loadtests.dns_bench [--services 20] [--instances 10] [--seconds 10] [--clients 4]

Starts a one-node Manifest with ``--dns`` (DNS answers come from local state,
so one node shows what each node of a cluster does), registers
``services x instances`` up instances (a tag on half of them), then sends a
mix of A, SRV and tagged A queries for those names plus one unknown name,
over UDP. dnsperf (Debian ``dnsperf``, installed by ``make tools``) keeps
``--outstanding`` queries in flight; the fallback loop is one dnspython client
per thread, one query at a time, so its figure is a floor, not the server's
ceiling. Prints one line: queries/s, lost queries, and the node's CPU
(user + system seconds, and microseconds per query).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from loadtests.bench import cpu, tools
from tests.support.cluster import Cluster, free_port
from tests.support.http import call


def start(tmp: Path) -> tuple[Cluster, int]:
    cluster = Cluster(tmp, size=1)
    port = free_port()
    cluster.nodes[0].extra += ["--dns", f"127.0.0.1:{port}"]
    cluster.start()
    return cluster, port


def register(node, services: int, instances: int) -> list[tuple[str, str]]:
    for s in range(services):
        for i in range(instances):
            body = {"name": f"svc{s}", "id": f"i{i}", "address": f"10.{s // 250}.{s % 250}.{i + 1}",
                    "port": 8000 + i, "tags": ["blue"] if i % 2 else []}
            reply = call(node.url, "POST", "/v1/services", body, headers=_auth(node))
            if reply.status not in (200, 201):
                raise SystemExit(f"register failed: {reply.status} {reply.body}")
    queries = []
    for s in range(services):
        queries += [(f"svc{s}.service.consul", "A"), (f"svc{s}.service.consul", "SRV"),
                    (f"blue.svc{s}.service.consul", "A")]
    return queries + [("unknown.service.consul", "A")]


def _auth(node) -> dict:
    token = getattr(node, "token", None)
    return {"Authorization": f"Bearer {token}"} if token else {}


def with_dnsperf(dnsperf: str, port: int, queries, seconds: float, clients: int, outstanding: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("".join(f"{name} {kind}\n" for name, kind in queries))
    cmd = [dnsperf, "-s", "127.0.0.1", "-p", str(port), "-d", f.name, "-l", str(seconds), "-c", str(clients),
           "-q", str(outstanding), "-t", "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    Path(f.name).unlink()
    qps = re.search(r"Queries per second:\s+([\d.]+)", out)
    sent = re.search(r"Queries sent:\s+(\d+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    if not (qps and sent):
        raise SystemExit("dnsperf printed no figures:\n" + out[-2000:])
    return {"tool": "dnsperf", "command": " ".join(cmd), "qps": float(qps.group(1)),
            "queries": int(sent.group(1)), "lost": int(lost.group(1)) if lost else 0}


def with_python(port: int, queries, seconds: float, clients: int) -> dict:
    import dns.message
    import dns.query

    wires = [dns.message.make_query(name, kind) for name, kind in queries]
    counts, lost = [0] * clients, [0] * clients
    deadline = time.monotonic() + seconds

    def loop(k: int) -> None:
        i = k
        while time.monotonic() < deadline:
            try:
                dns.query.udp(wires[i % len(wires)], "127.0.0.1", port=port, timeout=2)
                counts[k] += 1
            except Exception:
                lost[k] += 1
            i += 1

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return {"tool": "python loop (dnspython, one query in flight per thread)", "qps": sum(counts) / elapsed,
            "queries": sum(counts) + sum(lost), "lost": sum(lost)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=20)
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--outstanding", type=int, default=50, help="dnsperf's queries in flight")
    ap.add_argument("--python", action="store_true", help="the Python loop even when dnsperf is there")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = ap.parse_args(argv)
    dnsperf = None if args.python else (shutil.which("dnsperf") or tools.ensure("dnsperf", ("dnsperf",)))
    with tempfile.TemporaryDirectory(prefix="manifest-dns-bench-") as tmp:
        cluster, port = start(Path(tmp))
        try:
            node = cluster.nodes[0]
            queries = register(node, args.services, args.instances)
            before = cpu.seconds([node.proc.pid])
            if dnsperf:
                result = with_dnsperf(dnsperf, port, queries, args.seconds, args.clients, args.outstanding)
            else:
                result = with_python(port, queries, args.seconds, args.clients)
            after = cpu.seconds([node.proc.pid])
        finally:
            cluster.stop()
    result.update(cpu.per_request(before, after, result["queries"], args.seconds))
    result["instances"] = args.services * args.instances
    print(f"DNS ({result['tool']}, {result['instances']} instances, {len(queries)} names, {args.seconds:g} s): "
          f"{result['qps']:.0f} queries/s, {result['lost']} lost, node CPU {result['cpu_s']} s "
          f"({result['cpu_cores']} cores, {result['cpu_us_per_req']} us/query)")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
