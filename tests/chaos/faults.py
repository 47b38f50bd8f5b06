"""The nemesis' faults. Each has ``start(env)`` and ``stop(env)`` and a JSON-able ``detail``.

``env`` is the running ``ChaosRun`` (cluster, clock, rng, network book,
probers). Network faults add their share to ``env.net`` and re-apply the
union, so several can be active at once. Process faults run on the main
thread (nodes die with the thread that started them, see cluster.py).
"""

from __future__ import annotations

import itertools
import threading
import time

from .workload import do_get, do_put

PROBE_KEY, STALE_KEY = "probe", "stale"
_unique = itertools.count(1)  # written values must be unique per key


class NetBook:
    """Active network contributions by fault; the cluster gets their union."""

    def __init__(self, cluster):
        self.cluster, self.parts = cluster, {}

    def set(self, owner, blocked=(), loss=None, delay=None) -> None:
        self.parts[owner] = (list(blocked), dict(loss or {}), dict(delay or {}))
        self._apply()

    def drop(self, owner) -> None:
        self.parts.pop(owner, None)
        self._apply()

    def _apply(self) -> None:
        blocked, loss, delay = [], {}, {}
        for b, lo, d in self.parts.values():
            blocked += b
            for k, v in lo.items():
                loss[k] = max(loss.get(k, 0), v)
            for k, v in d.items():
                delay[k] = max(delay.get(k, 0), v)
        self.cluster.set_network(blocked, loss, delay)


class Fault:
    kind = "fault"

    def __init__(self, **params):
        self.params, self.detail = params, {}

    def start(self, env) -> None:
        raise NotImplementedError

    def stop(self, env) -> None:
        pass

    def _target(self, env, who: str):
        nodes = [n for n in env.cluster.nodes if n.alive and not n.paused]
        if who == "leader":
            leader = env.cluster.leader()
            if leader is not None:
                return leader
        return env.rng.choice(nodes) if nodes else None


class Kill(Fault):
    kind = "kill"

    def start(self, env):
        self.node = self._target(env, self.params.get("who", "any"))
        if self.node is None:
            return
        self.kind = "kill-leader" if self.params.get("who") == "leader" else "kill"
        self.detail = {"node": self.node.id}
        self.node.kill()

    def stop(self, env):
        if self.node is not None and not self.node.alive:
            self.node.start()


class Pause(Fault):
    kind = "pause"

    def start(self, env):
        self.node = self._target(env, self.params.get("who", "any"))
        self.kind = "pause-leader" if self.params.get("who") == "leader" else "pause"
        if self.node is not None:
            self.detail = {"node": self.node.id}
            self.node.pause()

    def stop(self, env):
        if self.node is not None:
            self.node.resume()


class Disk(Fault):
    """One node's data directory fails every write and fsync (``eio``; ``erofs`` as a file system
    remounted read-only; ``enospc`` as a full one) or fsyncs 200 ms slower, through the LD_PRELOAD
    shim every node runs with (tests/support/faultfs.c). The node must acknowledge nothing it did
    not persist, step down if it leads and recover by itself when the fault ends; the others keep
    serving."""

    kind = "disk"
    MODES = ("eio", "erofs", "enospc", "slow:200")

    def start(self, env):
        self.node = self._target(env, self.params.get("who", "any"))
        if self.node is None:
            return
        mode = self.params.get("mode") or self.next_mode(env)
        self.detail = {"node": self.node.id, "mode": mode}
        self.node.disk_fault(mode)

    def stop(self, env):
        if self.node is not None:
            self.node.disk_fault("")

    @classmethod
    def next_mode(cls, env) -> str:
        """The modes in turn from a seeded start: a run with four disk faults has had each of them
        (drawn at random, a long run could miss one; kept on ``env`` so runs do not share a turn)."""
        turn = getattr(env, "disk_turn", None)
        if turn is None:
            turn = env.rng.randrange(len(cls.MODES))
        env.disk_turn = turn + 1
        return cls.MODES[turn % len(cls.MODES)]


class Partition(Fault):
    """``isolate-leader``, ``split`` (one node alone, 1|2) or ``bridge`` (two ends, middle sees both)."""

    def start(self, env):
        self.prober = self.stale = None
        shape = self.kind = self.params["shape"]
        ids = [n.index for n in env.cluster.nodes]
        leader = env.cluster.leader()
        if shape == "bridge":
            middle = env.rng.choice(ids)
            a, b = [i for i in ids if i != middle]
            blocked, minority = [(a, b)], []
            self.detail = {"middle": f"n{middle}", "cut": [f"n{a}", f"n{b}"]}
        else:
            alone = leader.index if (shape == "isolate-leader" and leader) else env.rng.choice(ids)
            blocked = [(alone, o) for o in ids if o != alone]
            minority = [alone]
            self.detail = {"alone": f"n{alone}"}
        env.net.set(self, blocked=blocked)
        if minority:
            majority = [n for n in env.cluster.nodes if n.index not in minority]
            alone = env.cluster.nodes[minority[0] - 1]
            self.stale = threading.Thread(target=stale_probe, args=(env, majority, alone), daemon=True)
            self.stale.start()
        if leader is not None and leader.index in minority:
            self.detail["deposed"] = leader.id
            self.prober = Prober(env, leader)
            self.prober.start()

    def stop(self, env):
        if self.stale is not None:
            self.stale.join(8)  # its reads must happen while the node is still cut off
        if self.prober is not None:
            self.prober.record["t_heal"] = env.clock.now()  # before the rules go
        env.net.drop(self)
        if self.prober is not None:
            self.prober.finish()


class Loss(Fault):
    kind = "loss"

    def start(self, env):
        node = self._target(env, self.params.get("who", "any"))
        p = self.params.get("p", 0.5)
        self.detail = {"node": node.id, "p": p}
        env.net.set(self, loss={node.index: p})

    def stop(self, env):
        env.net.drop(self)


class Delay(Fault):
    kind = "delay"

    def start(self, env):
        ms = self.params.get("ms", 150)
        if self.params.get("who") == "all":
            targets = [n.index for n in env.cluster.nodes]
        else:
            targets = [self._target(env, self.params.get("who", "any")).index]
        self.detail = {"ms": ms, "nodes": [f"n{i}" for i in targets]}
        env.net.set(self, delay={i: ms for i in targets})

    def stop(self, env):
        env.net.drop(self)


class ClockSkew(Fault):
    """Restart a node with its wall clock shifted by hours, then give it a chance to lead."""

    kind = "clock"

    def start(self, env):
        node = self._target(env, self.params.get("who", "any"))
        sign = getattr(getattr(env, "cfg", None), "clock_sign", None) or env.rng.choice([-1, 1])
        offset = self.params.get("offset") or sign * 3600 * env.rng.randint(1, 6)
        node.kill()
        node.clock_offset = offset
        node.start()
        self.detail = {"node": node.id, "offset_s": offset}
        try:
            env.cluster.wait_ready(10, nodes=[node])
        except AssertionError:
            return
        leader = env.cluster.leader()
        if leader is not None and leader is not node:
            leader.pause()  # an election among the other two: the skewed node may win
            time.sleep(1.2)
            leader.resume()
        found = env.cluster.wait_leader(5)
        self.detail["then_leader"] = found.id if found else None


def stale_probe(env, majority: list, alone) -> None:
    """Write through the majority, then read locally on the node cut off: a certain stale read.

    The local reads (``lget``) are legal, but checked as if linearizable they
    must be rejected: the self-test's proof that the checker can fail.
    """
    h, attempt = env.history, 0
    time.sleep(0.3)
    deadline = time.monotonic() + 6.0  # a loaded machine may need a few tries (Partition.stop waits)
    while time.monotonic() < deadline:
        node = majority[attempt % len(majority)]
        attempt += 1
        value = f"stale-{alone.id}-{next(_unique)}"
        if do_put(h, "stale-probe", node.url, node.id, STALE_KEY, value, timeout=3).outcome == "ok":
            for _ in range(3):
                do_get(h, "stale-probe", alone.url, alone.id, STALE_KEY, False, timeout=2)
            return
        time.sleep(0.2)


class Prober(threading.Thread):
    """Against a leader just cut off: its health every 0.1 s and, in two more threads,
    writes and linearizable reads one after another (each may take seconds to fail)."""

    def __init__(self, env, node):
        super().__init__(name=f"prober-{node.id}", daemon=True)
        self.env, self.node = env, node
        self.record = {"node": node.id, "t_cut": env.clock.now(), "health": []}
        self._done = threading.Event()
        self._ops = [threading.Thread(target=self._ops_loop, args=(kind,), name=f"prober-{kind}-{node.id}",
                                      daemon=True) for kind in ("put", "get")]

    def start(self) -> None:
        super().start()
        for t in self._ops:
            t.start()

    def finish(self) -> None:
        self.record.setdefault("t_heal", self.env.clock.now())
        self._done.set()
        self.join(10)  # the op threads end by themselves after their current call
        self.env.probes.append(self.record)

    def run(self) -> None:
        while not self._done.is_set():
            now = self.env.clock.now()
            try:
                r = self.node.health(timeout=0.5)
                self.record["health"].append([round(now, 3), r.body.get("role"), r.status])
            except OSError as exc:
                self.record["health"].append([round(now, 3), exc.__class__.__name__, None])
            self._done.wait(0.1)

    def _ops_loop(self, kind: str) -> None:
        h, url = self.env.history, self.node.url
        while not self._done.is_set():
            if kind == "put":
                value = f"probe-{self.node.id}-{next(_unique)}"
                do_put(h, "prober", url, self.node.id, PROBE_KEY, value, timeout=4)
            else:
                do_get(h, "prober", url, self.node.id, PROBE_KEY, True, timeout=4)
            self._done.wait(0.25)
