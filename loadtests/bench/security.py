"""The cost of auth and of TLS on read and write throughput, measured in one run (issue 12).

    python -m loadtests.bench.security [--duration 10] [--connections 32] [--threads 2] [--out DIR]

Three 3-node clusters on free loopback ports, measured in turns (``--rounds``; the median is reported):
``plain`` (no auth, HTTP), ``auth`` (tokens checked on every request) and
``auth+tls`` (tokens over HTTPS; wrk cannot show a client certificate, so
no mTLS). Rate limits are off in all three, so what is measured is the
checking, not a limit; the audit log is on in all three, as by default.
Each gets the same wrk scenarios:

- ``read``: GET /v1/services/bench-read (10 instances) on a follower, with a ``read`` token;
- ``heartbeat``: PUT heartbeats over 200 instances on the leader, with the
  ``service`` token that registered them (scoped commands, owner check in apply);
- ``register``: POST /v1/services with a new id each on the leader, same token.

Prints requests/s per variant and the ratios auth/plain and auth+tls/plain,
and writes security.json into --out. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

from tests.support.certs import CA
from tests.support.cluster import Cluster

from . import tools, wrk

READ_SERVICE, HB_SERVICE, HB_COUNT = "bench-read", "bench-hb", 200
VARIANTS = ("plain", "auth", "auth+tls")


def _script(body: str, token: str | None) -> str:
    auth = f'__hdr["Authorization"] = {wrk.lua_string("Bearer " + token)}\n' if token else ""
    return wrk.script("local __hdr = {}\n" + auth + body)


READ = 'function request() return wrk.format("GET", "/v1/services/%s", __hdr) end\n' % READ_SERVICE
HEARTBEAT = """
local __i = 0
function request()
  __i = (__i + 1 + tid * 7) %% %d
  return wrk.format("PUT", "/v1/services/%s/hb-" .. __i .. "/heartbeat", __hdr, "")
end
""" % (HB_COUNT, HB_SERVICE)
REGISTER = """
local __n = 0
__hdr["Content-Type"] = "application/json"
function request()
  __n = __n + 1
  return wrk.format("POST", "/v1/services", __hdr,
    '{"name":"bench-reg","id":"' .. tag .. "-" .. tid .. "-" .. __n .. '","ttl":3600,"tags":["blue"]}')
end
"""


def start(variant: str, tmp: Path) -> tuple[Cluster, str | None, str | None]:
    """A started cluster for ``variant``, seeded; (cluster, read token, service token)."""
    auth, tls = variant != "plain", variant == "auth+tls"
    cluster = Cluster(tmp / variant, auth=auth, tls=CA(tmp / variant / "pki") if tls else None,
                      extra=["--no-rate-limit"])
    cluster.start(timeout=60)
    leader = cluster.leader()
    reader = service = None
    if auth:
        reader = leader.call("POST", "/v1/tokens", {"role": "read"}).body["token"]
        service = leader.call("POST", "/v1/tokens", {"role": "service", "services": ["bench-*"]}).body["token"]
    for i in range(10):
        assert leader.call("POST", "/v1/services", {"name": READ_SERVICE, "id": f"r{i}"},
                           token=service).status in (200, 201)
    for i in range(HB_COUNT):
        assert leader.call("POST", "/v1/services", {"name": HB_SERVICE, "id": f"hb-{i}", "ttl": 3600},
                           token=service).status in (200, 201)
    cluster.wait_for_replication()
    return cluster, reader, service


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtests.bench.security", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10, help="seconds per scenario and round")
    ap.add_argument("--rounds", type=int, default=3, help="each round runs every scenario on every variant")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    wrk_path = tools.ensure_wrk()
    runs: dict[tuple[str, str], list[float]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="manifest-bench-security-"))
    clusters = {}
    try:
        # All three up at once, measured in turns: a shared machine's load drifts, and taking
        # turns (then the median of the rounds) lets the drift fall on every variant alike.
        for variant in VARIANTS:
            clusters[variant] = start(variant, tmp)
        for rnd in range(args.rounds):
            for name, body in (("read", READ), ("heartbeat", HEARTBEAT), ("register", REGISTER)):
                for variant in VARIANTS:
                    cluster, reader, service = clusters[variant]
                    leader = cluster.leader()
                    node = next(n for n in cluster.nodes if n is not leader) if name == "read" else leader
                    out = wrk.run(wrk_path, [node.url], _script(body, reader if name == "read" else service),
                                  threads=args.threads, connections=args.connections, duration=args.duration,
                                  tag=f"{variant[:1]}{name[:1]}{rnd}")
                    runs.setdefault((variant, name), []).append(out.rps)
                    errors = {k: v for k, v in out.errors.items() if v}  # status: answers not 2xx/3xx
                    print(f"round {rnd + 1} {variant:9} {name:10} {out.rps:10.0f} req/s  "
                          f"p99 {out.latency_us.get('p99', 0) / 1000:.1f} ms  errors {errors or 0}", flush=True)
    finally:
        for cluster, _, _ in clusters.values():
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    results = {v: {name: round(statistics.median(runs[(v, name)]), 1) for (vv, name) in runs if vv == v}
               for v in VARIANTS}
    ratios = {f"{v}/plain": {k: round(results[v][k] / results["plain"][k], 3) for k in results["plain"]}
              for v in VARIANTS[1:]}
    print("\nmedian req/s: " + "; ".join(f"{v}: " + ", ".join(f"{k} {r:.0f}" for k, r in row.items())
                                     for v, row in results.items()))
    print("ratios (1.0 = no cost):")
    for key, row in ratios.items():
        print(f"  {key:15} " + "  ".join(f"{k} {r:.2f}" for k, r in row.items()))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "security.json").write_text(json.dumps({"rps": results, "ratios": ratios, "runs": {
        f"{v}/{n}": r for (v, n), r in runs.items()}, "args": vars(args)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
