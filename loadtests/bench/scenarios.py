"""The benchmark's scenarios: what each sends, to which nodes, and how it is run.

Throughput scenarios run wrk with the run's threads/connections for the run's
duration; "spread" ones run one wrk per node at once. Latency scenarios use
one connection and one thread (p50 of requests sent one at a time).
Keys are ``system.operation[.detail].target`` and are what results.json and
the target ratios refer to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import lua

READ_SERVICE = "bench-read"
HB_SERVICE = "bench-hb"
HB_PREFIX = "hb-"
ETCD_READ_PREFIX = "svc/bench-read/"


@dataclass
class Scenario:
    key: str
    system: str  # manifest | etcd | aiohttp
    kind: str  # throughput | latency
    description: str
    target: str  # leader | follower | all 3 | server
    urls: list[str] = field(default_factory=list)
    script: str = ""


@dataclass
class Env:
    """What the scenarios are aimed at, once everything is started and seeded."""
    manifest_leader: str
    manifest_follower: str
    manifest_all: list[str]
    hb_count: int
    bare: str
    etcd_leader: str | None = None
    etcd_follower: str | None = None
    lease_ids: list[str] = field(default_factory=list)


def latency_scenarios(env: Env) -> list[Scenario]:
    out = [
        Scenario("latency.manifest.register.leader", "manifest", "latency",
                 "register (unique id), one connection, via the leader", "leader",
                 [env.manifest_leader], lua.manifest_register("bench-lat")),
        Scenario("latency.manifest.register.follower", "manifest", "latency",
                 "register (unique id), one connection, via a follower", "follower",
                 [env.manifest_follower], lua.manifest_register("bench-lat")),
        Scenario("latency.manifest.read.follower", "manifest", "latency",
                 f"GET /v1/services/{READ_SERVICE} (10 instances), one connection, local read", "follower",
                 [env.manifest_follower + f"/v1/services/{READ_SERVICE}"], lua.static_get()),
        # After the read above: heartbeats of the read service's instances change what it lists.
        Scenario("latency.manifest.heartbeat.leader", "manifest", "latency",
                 f"PUT heartbeat of the {READ_SERVICE} instances, one connection, via the leader", "leader",
                 [env.manifest_leader], lua.manifest_heartbeat(READ_SERVICE, "r", 10)),
        Scenario("latency.aiohttp.get", "aiohttp", "latency", "bare aiohttp GET, one connection", "server",
                 [env.bare + "/item"], lua.static_get()),
    ]
    if env.etcd_leader:
        out += [
            Scenario("latency.etcd.put.leader", "etcd", "latency", "etcd put, one connection, to the leader",
                     "leader", [env.etcd_leader], lua.etcd_put("bench/lat/")),
            Scenario("latency.etcd.range.serializable.follower", "etcd", "latency",
                     "etcd serializable range (10 keys), one connection", "follower",
                     [env.etcd_follower + "/v3/kv/range"], lua.etcd_range(ETCD_READ_PREFIX, True)),
            Scenario("latency.etcd.keepalive.leader", "etcd", "latency",
                     f"etcd keepalive over {len(env.lease_ids)} leases, one connection, to the leader", "leader",
                     [env.etcd_leader], lua.etcd_keepalive(env.lease_ids)),
        ]
    return out


def throughput_scenarios(env: Env) -> list[Scenario]:
    read = f"/v1/services/{READ_SERVICE}"
    out = [
        Scenario("aiohttp.get", "aiohttp", "throughput", "bare aiohttp GET of a ~300-byte JSON dict", "server",
                 [env.bare + "/item"], lua.static_get()),
        Scenario("aiohttp.post", "aiohttp", "throughput", "bare aiohttp POST: parse ~300-byte JSON, store",
                 "server", [env.bare + "/item"], lua.static_post(
                     {"name": "orchestrator", "id": "orchestrator-7f3a", **lua.RECORD, "ttl": 30})),
    ]
    if env.etcd_leader:
        out += [
            Scenario("etcd.range.serializable.follower", "etcd", "throughput",
                     "POST /v3/kv/range serializable (10 keys)", "follower",
                     [env.etcd_follower + "/v3/kv/range"], lua.etcd_range(ETCD_READ_PREFIX, True)),
            Scenario("etcd.range.linearizable.follower", "etcd", "throughput",
                     "POST /v3/kv/range linearizable (10 keys)", "follower",
                     [env.etcd_follower + "/v3/kv/range"], lua.etcd_range(ETCD_READ_PREFIX, False)),
            Scenario("etcd.put.leader", "etcd", "throughput", "POST /v3/kv/put, new key each", "leader",
                     [env.etcd_leader], lua.etcd_put()),
            Scenario("etcd.put.follower", "etcd", "throughput", "POST /v3/kv/put, new key each", "follower",
                     [env.etcd_follower], lua.etcd_put()),
            Scenario("etcd.keepalive.leader", "etcd", "throughput",
                     f"POST /v3/lease/keepalive over {len(env.lease_ids)} leases", "leader",
                     [env.etcd_leader], lua.etcd_keepalive(env.lease_ids)),
            Scenario("etcd.keepalive.follower", "etcd", "throughput",
                     f"POST /v3/lease/keepalive over {len(env.lease_ids)} leases", "follower",
                     [env.etcd_follower], lua.etcd_keepalive(env.lease_ids)),
        ]
    out += [
        Scenario("manifest.read.local.follower", "manifest", "throughput",
                 f"GET {read} (10 instances), local read", "follower",
                 [env.manifest_follower + read], lua.static_get()),
        Scenario("manifest.read.linearizable.follower", "manifest", "throughput",
                 f"GET {read}?consistency=linearizable", "follower",
                 [env.manifest_follower + read + "?consistency=linearizable"], lua.static_get()),
        Scenario("manifest.heartbeat.spread", "manifest", "throughput",
                 f"PUT heartbeat over {env.hb_count} instances, all 3 nodes", "all 3",
                 list(env.manifest_all), lua.manifest_heartbeat(HB_SERVICE, HB_PREFIX, env.hb_count)),
        Scenario("manifest.register.leader", "manifest", "throughput", "POST /v1/services, new id each",
                 "leader", [env.manifest_leader], lua.manifest_register("bench-reg")),
        Scenario("manifest.register.follower", "manifest", "throughput", "POST /v1/services, new id each",
                 "follower", [env.manifest_follower], lua.manifest_register("bench-reg")),
        Scenario("manifest.register.spread", "manifest", "throughput",
                 "POST /v1/services, new id each, all 3 nodes", "all 3",
                 list(env.manifest_all), lua.manifest_register("bench-reg")),
    ]
    return out


ETCD_KEYS = {
    "latency.etcd.put.leader", "latency.etcd.range.serializable.follower", "latency.etcd.keepalive.leader",
    "etcd.range.serializable.follower",
    "etcd.range.linearizable.follower", "etcd.put.leader", "etcd.put.follower", "etcd.keepalive.leader",
    "etcd.keepalive.follower", "failover.etcd",
}
