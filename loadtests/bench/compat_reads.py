"""Read throughput of the compatibility views next to our own read, in one run (issue 14, "Done when").

    python -m loadtests.bench.compat_reads [--duration 10] [--connections 16] [--threads 2] [--rounds 3]
                                           [--instances 10] [--auth] [--out DIR]

One 3-node cluster; ``--instances`` instances of one service registered through
our API. On a follower, wrk runs in turns (``--rounds`` of each, the median
reported):

- ``manifest``: ``GET /v1/services/bench-read`` (our own read);
- ``consul``: ``GET /v1/health/service/bench-read`` (Consul's health read, JSON);
- ``eureka``: ``GET /eureka/apps/BENCH-READ`` with ``Accept: application/json``;
- ``eureka-xml``: the same without it (XML, what Java clients ask for).

``--auth`` runs the cluster with auth on and every request carries a ``read``
token (as ``X-Consul-Token`` for Consul, Basic for Eureka, Bearer for ours).
Prints requests/s, p50/p99 latency and the nodes' CPU per request of each,
and the ratio to ours; writes compat_reads.json into --out when given.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import tempfile
from pathlib import Path

from tests.support.cluster import Cluster
from tests.support.http import call

from . import cpu, tools, wrk

SERVICE = "bench-read"
PATHS = {"manifest": ("/v1/services/" + SERVICE, {}),
         "consul": ("/v1/health/service/" + SERVICE, {}),
         "eureka": ("/eureka/apps/" + SERVICE.upper(), {"Accept": "application/json"}),
         "eureka-xml": ("/eureka/apps/" + SERVICE.upper(), {})}


def _headers(view: str, base: dict, token: str | None) -> dict:
    out = dict(base)
    if token:
        if view == "consul":
            out["X-Consul-Token"] = token
        elif view.startswith("eureka"):
            out["Authorization"] = "Basic " + base64.b64encode(f"manifest:{token}".encode()).decode()
        else:
            out["Authorization"] = f"Bearer {token}"
    return out


def _script(path: str, headers: dict) -> str:
    hdr = "".join(f"__hdr[{wrk.lua_string(k)}] = {wrk.lua_string(v)}\n" for k, v in headers.items())
    return wrk.script("local __hdr = {}\n" + hdr +
                      f'function request() return wrk.format("GET", {wrk.lua_string(path)}, __hdr) end\n')


def _read_token(cluster: Cluster) -> str | None:
    if getattr(cluster, "token", None) is None:
        return None
    reply = cluster.nodes[0].call("POST", "/v1/tokens", {"role": "read", "description": "compat_reads"})
    assert reply.status == 201, reply.body
    return reply.body["token"]


def measure(args) -> dict:
    wrk_bin = tools.ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="manifest-compat-reads-") as tmp:
        cluster = Cluster(Path(tmp), auth=args.auth) if args.auth else Cluster(Path(tmp))
        try:
            cluster.start()
            leader = cluster.leader()
            admin = {"Authorization": f"Bearer {cluster.token}"} if getattr(cluster, "token", None) else {}
            for i in range(args.instances):
                body = {"name": SERVICE, "id": f"r{i}", "address": f"10.9.0.{i + 1}", "port": 8080,
                        "ttl": 3600, "tags": ["blue"], "metadata": {"zone": "a"}}
                assert call(leader.url, "POST", "/v1/services", body, headers=admin).status in (200, 201)
            cluster.wait_for_replication()
            follower = cluster.followers()[0]
            token = _read_token(cluster)
            pids = [n.proc.pid for n in cluster.nodes]
            runs: dict[str, list[dict]] = {view: [] for view in PATHS}
            for round_ in range(args.rounds):
                for view, (path, base) in PATHS.items():
                    headers = _headers(view, base, token)
                    check = call(follower.url, "GET", path, headers=headers)
                    assert check.status == 200, (view, check.status, check.raw[:300])
                    before = cpu.seconds(pids)
                    result = wrk.run(wrk_bin, [follower.url], _script(path, headers), threads=args.threads,
                                     connections=args.connections, duration=args.duration,
                                     tag=f"{view}{round_}")
                    used = cpu.per_request(before, cpu.seconds(pids), result.requests, result.duration_s)
                    runs[view].append({**result.to_dict(), **used})
        finally:
            cluster.stop()
    out = {}
    for view, results in runs.items():
        best = sorted(results, key=lambda r: r["rps"])[len(results) // 2]  # the median round
        errors = sum(r["error_count"] for r in results)
        out[view] = {"rps": round(statistics.median(r["rps"] for r in results), 1), "errors": errors,
                     "p50_ms": best["latency_ms"].get("p50"), "p99_ms": best["latency_ms"].get("p99"),
                     "cpu_us_per_req": best["cpu_us_per_req"], "bytes_per_response": best["bytes_per_response"],
                     "path": PATHS[view][0]}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--auth", action="store_true")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    results = measure(args)
    ours = results["manifest"]["rps"] or 1
    print(f"read throughput on a follower, {args.instances} instances, {args.connections} connections, "
          f"{args.rounds} x {args.duration:g} s each (median), auth {'on' if args.auth else 'off'}:")
    for view, r in results.items():
        print(f"  {view:<11} {r['path']:<34} {r['rps']:>8.0f} req/s  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms"
              f"  {r['cpu_us_per_req']} us CPU/req  {r['bytes_per_response']} B  x{r['rps'] / ours:.2f} of ours"
              f"  errors {r['errors']}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "compat_reads.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
