"""The soak's fleet: instances that heartbeat, churn, and the readers that follow them.

Services ``soak-s00`` .. ``soak-s49``, 100 instances each (``--instances``
5,000 by default). The first ``SINGLE`` services (500 instances) beat one
``PUT .../heartbeat`` each; the others belong to fleet agents, one per
``AGENT_SERVICES`` services, that beat their instances in one
``POST /v1/heartbeats`` each round. Every instance beats every
``interval`` seconds (ttl ``3 x interval``).

Churn, one operation every ``churn_every`` seconds, picked at random: a new
instance registers (in the single-beat services), a churned one deregisters,
or any instance restarts (its beats stop, it registers again with a new
``boot`` in its metadata ``RESTART_GAP_S`` later, and beats on).

``acked`` is what the soak believes is registered: added on an acknowledged
registration, removed on an acknowledged deregistration; an outcome that
stayed unknown after every retry goes to ``unknown`` and is checked for
neither presence nor absence.
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib

from .client import Http, Stats

SINGLE = 5  # services whose instances beat one request each
AGENT_SERVICES = 5  # services per fleet agent (a batch of 500 heartbeats)
PER_SERVICE = 100
RESTART_GAP_S = 3.0


def service(i: int) -> str:
    return f"soak-s{i:02d}"


class Fleet:
    def __init__(self, http: Http, stats: Stats, instances: int, interval: float, churn_every: float, seed: int):
        self.http, self.stats = http, stats
        self.interval, self.ttl, self.churn_every = interval, int(3 * interval), churn_every
        self.rng = random.Random(seed)
        self.services = [service(i) for i in range(max(SINGLE + 1, -(-instances // PER_SERVICE)))]
        self.base = [(s, f"{s}-{k:03d}") for s in self.services for k in range(PER_SERVICE)][:instances]
        self.acked: set[tuple[str, str]] = set()
        self.unknown: set[tuple[str, str]] = set()
        self.deregistered: set[tuple[str, str]] = set()
        self.churned: list[tuple[str, str]] = []  # registered by churn, candidates for deregistration
        self.paused: set[tuple[str, str]] = set()  # restarting: no beats
        self.boots: dict[tuple[str, str], int] = {}
        self.ops = {"register": 0, "deregister": 0, "restart": 0}
        self._beaters: dict[tuple[str, str], asyncio.Task] = {}
        self._tasks: list[asyncio.Task] = []
        self._seq = 0

    def record(self, key: tuple[str, str]) -> dict:
        name, iid = key
        return {"name": name, "id": iid, "address": "10.0.0.1", "port": 8000 + zlib.crc32(iid.encode()) % 1000, "ttl": self.ttl,
                "version": "1.0.0", "tags": ["soak"], "metadata": {"boot": str(self.boots.get(key, 0))}}

    def single(self, key: tuple[str, str]) -> bool:
        return key[0] in self.services[:SINGLE]

    # ---- registration ----------------------------------------------------------
    async def register_base(self) -> None:
        """The fleet in ``POST /v1/services/batch`` requests of 500 (all or nothing each)."""
        chunks = [self.base[i:i + 500] for i in range(0, len(self.base), 500)]
        for n, chunk in enumerate(chunks):
            # A batch is an upsert, so a 503 (a node still catching up after the election) is retried
            # as a client would, within a deadline.
            deadline = time.monotonic() + 60
            while True:
                status, _, _, _ = await self.http.send("register_batch", "write", "POST", "/v1/services/batch",
                                                       {"instances": [self.record(k) for k in chunk]}, node=n)
                if status != 503 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            if status not in (200, 201):
                raise RuntimeError(f"registering the fleet: batch {n} answered {status}")
            self.acked.update(chunk)

    async def register(self, key: tuple[str, str], kind: str = "register") -> bool:
        status, _, _, _ = await self.http.send(kind, "write", "POST", "/v1/services", self.record(key),
                                               node=self.rng.randrange(3))
        if status in (200, 201):
            self.acked.add(key)
            self.unknown.discard(key)
            return True
        self.stats.anomalies[f"{kind} failed ({status})"] += 1
        if status == 0:
            self.unknown.add(key)
        return False

    async def deregister(self, key: tuple[str, str]) -> None:
        self.acked.discard(key)
        self._stop_beating(key)
        status, _, _, attempts = await self.http.send("deregister", "write", "DELETE",
                                                      f"/v1/services/{key[0]}/{key[1]}", node=self.rng.randrange(3))
        if status == 200 or (status == 404 and attempts > 1):  # 404 on a retry: the first try committed
            self.deregistered.add(key)
        else:
            self.stats.anomalies[f"deregister failed ({status})"] += 1
            self.unknown.add(key)

    # ---- heartbeats ------------------------------------------------------------
    def start(self) -> None:
        for key in self.base:
            if self.single(key):
                self._start_beating(key)
        agents = [self.services[i:i + AGENT_SERVICES] for i in range(SINGLE, len(self.services), AGENT_SERVICES)]
        self._tasks += [asyncio.create_task(self._agent(n, names)) for n, names in enumerate(agents)]
        self._tasks.append(asyncio.create_task(self._churn()))

    async def stop(self) -> None:
        tasks = self._tasks + list(self._beaters.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start_beating(self, key) -> None:
        self._beaters[key] = asyncio.create_task(self._beat(key))

    def _stop_beating(self, key) -> None:
        task = self._beaters.pop(key, None)
        if task is not None:
            task.cancel()

    async def _beat(self, key) -> None:
        await asyncio.sleep(self.rng.uniform(0, self.interval))
        node = self.rng.randrange(3)
        while True:
            if key not in self.paused:
                status, _, _, _ = await self.http.send("heartbeat", "write", "PUT",
                                                       f"/v1/services/{key[0]}/{key[1]}/heartbeat", node=node)
                if status == 404:  # unknown: a lost registration, or it expired; the client registers again
                    self.stats.anomalies["heartbeat 404"] += 1
                    await self.register(key, "reregister")
            await asyncio.sleep(self.interval)

    async def _agent(self, n: int, names: list[str]) -> None:
        mine = [k for k in self.base if k[0] in names]
        await asyncio.sleep(self.rng.uniform(0, self.interval))
        while True:
            items = [{"name": k[0], "id": k[1]} for k in mine if k not in self.paused]
            status, body, _, _ = await self.http.send("heartbeat_batch", "write", "POST", "/v1/heartbeats",
                                                      {"heartbeats": items}, node=n)
            if status == 200:
                for r in body["results"]:
                    if not r["ok"]:
                        self.stats.anomalies[f"batch heartbeat item {r['error']}"] += 1
                        await self.register((r["name"], r["id"]), "reregister")
            await asyncio.sleep(self.interval)

    # ---- churn -----------------------------------------------------------------
    async def _churn(self) -> None:
        while True:
            await asyncio.sleep(self.churn_every)
            op = self.rng.choice(("register", "deregister", "restart"))
            if op == "deregister" and not self.churned:
                op = "register"
            self.ops[op] += 1
            if op == "register":
                self._seq += 1
                name = self.rng.choice(self.services[:SINGLE])
                key = (name, f"{name}-c{self._seq}")
                if await self.register(key):
                    self.churned.append(key)
                    self._start_beating(key)
            elif op == "deregister":
                key = self.churned.pop(self.rng.randrange(len(self.churned)))
                await self.deregister(key)
            else:
                key = self.rng.choice(self.base)
                asyncio.create_task(self._restart(key))

    async def _restart(self, key) -> None:
        if key in self.paused:
            return
        self.paused.add(key)
        try:
            await asyncio.sleep(RESTART_GAP_S)
            self.boots[key] = self.boots.get(key, 0) + 1
            await self.register(key, "restart")
        finally:
            self.paused.discard(key)
