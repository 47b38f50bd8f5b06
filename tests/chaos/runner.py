"""One chaos run: cluster up, workloads on, nemesis plays, heal, observe, check.

``ChaosRun(config).execute()`` returns ``(RunData, results)`` and always
tears the cluster down. The end of a run, after the nemesis healed
everything (``t_healed``: every node process answers again):

1. writers and readers stop;
2. convergence: poll every node until all show the same revision and list;
3. expiry: every stopped heartbeater must become ``down`` on every node;
4. final linearizable read of each key (process ``final`` in the history);
5. the final list and its revision; watchers must reach that revision.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field

from .checks import Result, convergence, deposed_leader, divergence, linearizability, lost_writes, unexpected
from .checks_lifecycle import lifecycle
from .checks_watch import expiry, watch
from .client import request
from .cluster import ChaosCluster
from .faults import PROBE_KEY, STALE_KEY, NetBook
from .history import Clock, History, RunData
from .nemesis import Nemesis, random_schedule, short_schedule
from .observe import applied_hashes, final_state, wait_converged, wait_down
from .watchers import ChaosWatcher
from .workload import CHECK_SERVICE, HB_SERVICE, Drainer, Heartbeater, Reader, Sampler, Writer, do_get, register_body
from tests.support.probe_targets import HttpTarget

ELECTION_MAX = 0.6


@dataclass
class RunConfig:
    seed: int = 1
    duration: float = 45.0  # seconds of faults
    schedule: str = "short"  # short | random
    interval: float = 5.0  # random schedule: a new step every interval
    out_dir: str | None = None
    mode: str = "auto"  # netns | proxy | auto
    keys: int = 5
    writers: int = 3
    lin_readers: int = 2
    local_readers: int = 1
    keepers: int = 3
    stoppers: int = 3
    checked: int = 2  # instances kept alive by a leader-run HTTP check alone
    drainers: int = 1
    ttl: int = 10
    convergence_limit: float = 5.0
    expiry_slack: float = 0.0
    # A leader cut off from the majority stops leading within deposed_limit +
    # deposed_slack of the cut (leader_fallback is 1 s), and refuses each
    # request within refuse_limit (issue 17: 1.5 s).
    deposed_limit: float = 1.0
    deposed_slack: float = 0.5
    refuse_limit: float = 1.5
    # Clock faults: +1 or -1 to force the direction of the offset (None: either).
    clock_sign: int | None = None
    lin_budget: float = 30.0
    trace_apply: bool = False  # diagnosis: every node traces each state-machine apply (launch.py)
    node_flags: list = field(default_factory=lambda: [
        # Frequent compaction (each node has a window every 20 s): snapshot installs and watch resets happen.
        "--watch-keepalive", "1", "--compaction-entries", "1000", "--compaction-interval", "20",
        "--down-grace", "30", "--divergence-check-interval", "1",
        # Durable, as etcd always is; it also gives the disk fault's slow fsyncs something to slow.
        "--fsync"])


def run_checks(data: RunData) -> list:
    """Every checker on one run's data, with the run's own settings (also used by ``--check DIR``)."""
    cfg = {**asdict(RunConfig()), **data.meta.get("config", {})}
    harness = Result("harness")
    if data.meta.get("error"):
        harness.violations.append("the run itself failed:\n" + data.meta["error"])
    return [linearizability(data, budget_s=cfg["lin_budget"]), lost_writes(data), watch(data), expiry(data),
            lifecycle(data),
            deposed_leader(data, limit=cfg["deposed_limit"], slack=cfg["deposed_slack"],
                           refuse_limit=cfg["refuse_limit"]),
            convergence(data), divergence(data), unexpected(data), harness]


class ChaosRun:
    def __init__(self, config: RunConfig):
        self.cfg = config
        self.rng = random.Random(config.seed)
        self.clock = Clock()
        self.history = History(self.clock)
        self.faults: list[dict] = []
        self.probes: list[dict] = []
        self.out_dir = config.out_dir or tempfile.mkdtemp(prefix=f"chaos-{config.seed}-")
        if os.path.exists(os.path.join(self.out_dir, "nodes")):
            # Nodes would start from that run's data: every history check would be wrong.
            raise ValueError(f"{self.out_dir} already holds a run; choose a new folder")
        self.cluster = ChaosCluster(os.path.join(self.out_dir, "nodes"), mode=config.mode,
                                    flags=config.node_flags, slot_hint=config.seed + os.getpid(),
                                    trace=config.trace_apply)
        self.net = NetBook(self.cluster)
        self.meta: dict = {"config": asdict(config), "mode": self.cluster.mode}
        self.final: dict = {}
        self.generations: dict[str, int] = {}
        self.target: HttpTarget | None = None

    # ---- the run ----------------------------------------------------------------
    def execute(self) -> tuple[RunData, list]:
        try:
            data = self._run()
        finally:
            self.cluster.stop()
            if self.target is not None:
                self.target.close()
        data.save(self.out_dir)
        return data, run_checks(data)

    def _run(self) -> RunData:
        cfg, cluster = self.cfg, self.cluster
        cluster.start()
        nodes = {n.id: n.url for n in cluster.nodes}
        self.meta["nodes"] = nodes
        self._register_heartbeaters(nodes)
        self._register_checked(nodes)
        work_stop, hb_stop = threading.Event(), threading.Event()
        keys = [f"k{i}" for i in range(cfg.keys)]
        seed = str(cfg.seed)
        workers = [Writer(f"w{i}", nodes, self.history, work_stop, seed, keys=keys) for i in range(cfg.writers)]
        workers += [Reader(f"r{i}", nodes, self.history, work_stop, seed, keys=keys, linearizable=True)
                    for i in range(cfg.lin_readers)]
        workers += [Reader(f"l{i}", nodes, self.history, work_stop, seed, keys=keys, linearizable=False)
                    for i in range(cfg.local_readers)]
        workers += [Drainer(f"d{i}", nodes, self.history, work_stop, seed) for i in range(cfg.drainers)]
        beaters = self._heartbeaters(nodes, hb_stop, seed)
        sampler = Sampler("sampler", nodes, self.history, hb_stop, seed)
        watchers = [ChaosWatcher(f"watch-{n}", nodes, n, self.clock, hop_every=20.0) for n in sorted(nodes)]
        threads = [*workers, *beaters, sampler, *watchers]
        try:
            for t in threads:
                t.start()
            steps = short_schedule() if cfg.schedule == "short" else random_schedule(
                self.rng, cfg.duration, cfg.interval)
            self.meta["t_faults"] = self.clock.now()
            time.sleep(1.0)  # a calm start: every worker has done something
            # The CI tour plays every step however slow the machine; random runs stop on time.
            Nemesis(self).play(steps, until=None if cfg.schedule == "short" else self.clock.now() + cfg.duration)
            self.meta["t_heal"] = self.clock.now()
            cluster.wait_ready(30)  # all processes up and in the cluster again
            t_healed = self.meta["t_healed"] = self.clock.now()
            work_stop.set()
            for t in workers:
                t.join(10)
            self.final["convergence"] = wait_converged(cluster, self.clock, t_healed, cfg.convergence_limit)
            self.final["expiry"] = self._expiry(beaters, t_healed)
            self._final_reads(nodes, keys + [PROBE_KEY, STALE_KEY])
            self.final["state"] = final_state(cluster)
            self.final["state"]["t"] = self.clock.now()
            self.final["hashes"] = applied_hashes(cluster)
        except Exception:  # judged as a violation; the history is still saved
            self.meta["error"] = traceback.format_exc()
        finally:
            work_stop.set()
            hb_stop.set()
            for t in [*workers, *beaters, sampler]:
                t.join(10)
            if "state" in self.final:
                target = self.final["state"]["revision"]
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and any(w.last < target for w in watchers):
                    time.sleep(0.1)
            for w in watchers:
                w.stop()
        self.meta["hb"] = {b.instance: {"stop_at": b.stop_at, "stopped_at": b.stopped_at} for b in beaters}
        self.meta["t_end"] = self.clock.now()
        return RunData(meta=self.meta, ops=self.history.ops, faults=self.faults,
                       watchers={w.name: {"items": w.items, "errors": w.errors} for w in watchers},
                       samples=sampler.samples, probes=self.probes, final=self.final)

    # ---- pieces ---------------------------------------------------------------------
    def _register_heartbeaters(self, nodes: dict) -> None:
        cfg = self.cfg
        for i in range(cfg.keepers + cfg.stoppers):
            body = register_body(f"h{i}", "hb", service=HB_SERVICE, ttl=cfg.ttl)
            deadline = time.monotonic() + 20
            while True:
                leader = self.cluster.wait_leader(5)
                r = request(leader.url if leader else next(iter(nodes.values())), "POST", "/v1/services", body)
                if r.status in (200, 201):
                    self.generations[f"h{i}"] = r.body["generation"]  # fencing: every heartbeat carries it
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"could not register heartbeater h{i}: {r}")
                time.sleep(0.2)

    def _register_checked(self, nodes: dict) -> None:
        """``chk/c*``: no ttl, an HTTP check against a target that always passes (reachable from every node)."""
        host = self.cluster.topo.bridge_ip if self.cluster.topo is not None else "127.0.0.1"
        self.target = HttpTarget(host)
        ids = [f"c{i}" for i in range(self.cfg.checked)]
        self.meta["checked"] = ids
        check = {"http": f"http://{host}:{self.target.port}/health", "interval": 2, "timeout": 1.5,
                 "failures_before_unhealthy": 3, "failures_before_down": 6}
        for iid in ids:
            deadline = time.monotonic() + 20
            while True:
                leader = self.cluster.wait_leader(5)
                r = request(leader.url if leader else next(iter(nodes.values())), "POST", "/v1/services",
                            {"name": CHECK_SERVICE, "id": iid, "check": check})
                if r.status in (200, 201):
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"could not register checked {iid}: {r}")
                time.sleep(0.2)

    def _heartbeaters(self, nodes: dict, stop: threading.Event, seed: str) -> list:
        cfg, out = self.cfg, []
        for i in range(cfg.keepers + cfg.stoppers):
            stop_at = None
            if i >= cfg.keepers:  # stoppers leave at spread-out moments of the fault phase
                k = i - cfg.keepers + 1
                stop_at = 1.0 + cfg.duration * k / (cfg.stoppers + 1)
            out.append(Heartbeater(f"hb{i}", nodes, self.history, stop, seed,
                                   instance=f"h{i}", ttl=cfg.ttl, stop_at=stop_at,
                                   generation=self.generations.get(f"h{i}")))
        return out

    def _expiry(self, beaters: list, t_healed: float) -> dict:
        out = {}
        for b in beaters:
            if b.stop_at is None:
                continue
            stopped = b.stopped_at if b.stopped_at is not None else self.clock.now()
            deadline = max(stopped, t_healed) + self.cfg.ttl + ELECTION_MAX + 2.0 + self.cfg.expiry_slack
            down_at, last_seen = wait_down(self.cluster, self.clock, b.instance, deadline)
            out[b.instance] = {"stopped_at": stopped, "deadline": deadline, "down_at": down_at,
                               "last_seen": last_seen}
        return out

    def _final_reads(self, nodes: dict, keys: list[str]) -> None:
        order = sorted(nodes)
        for n, key in enumerate(keys):
            deadline = time.monotonic() + 15
            i = n
            while time.monotonic() < deadline:
                node = order[i % len(order)]
                i += 1
                if do_get(self.history, "final", nodes[node], node, key, True).outcome == "ok":
                    break
                time.sleep(0.2)
