"""A fleet talking to Manifest, for locust: service instances, discoverers and operators.

    MANIFEST_URL=http://127.0.0.1:8500,http://127.0.0.1:8502 \\
        locust -f loadtests/locustfile.py --host http://127.0.0.1:8500
    python -m loadtests.locust_run --users 200 --minutes 1      # starts a cluster, runs headless

Weights follow a fleet: most clients are instances heartbeating, a quarter
look services up, a few are operators.

- ``ServiceInstance`` (70): registers under a service from ``CATALOGUE`` with
  ttl 10 s, heartbeats every ~3 s with jitter, now and then re-registers
  (a deploy changing its version) or is replaced (deregister, new id), and
  deregisters when it stops. A heartbeat answered 404 (expired) registers
  again, as the client library does, and counts as a failure.
- ``Discoverer`` (25): discovers a service (``status=up``) and picks an
  instance, sometimes linearizably; holds blocking reads; follows a watch
  stream for a few seconds.
- ``Operator`` (5): lists and filters the whole registry, reads cluster status,
  health of every node and metrics.

Each user talks to one node of ``MANIFEST_URL`` (or ``--host``) and moves to
another when a request cannot connect, as a client holding every endpoint does.
"""

from __future__ import annotations

import os
import random
import time
import uuid

import requests
from locust import HttpUser, between, events, task

CATALOGUE = {"orders": 8, "payments": 4, "search": 6, "catalog": 5, "auth": 3, "gateway": 2, "n8n": 1,
             "orchestrator": 1}
TTL = 10


def endpoints(host: str | None) -> list[str]:
    urls = [u.strip().rstrip("/") for u in os.environ.get("MANIFEST_URL", "").split(",") if u.strip()]
    return urls or [(host or "http://127.0.0.1:8500").rstrip("/")]


def pick_service() -> str:
    return random.choices(list(CATALOGUE), weights=list(CATALOGUE.values()))[0]


@events.test_start.add_listener
def seed_catalogue(environment, **_):
    """One long-lived instance per service, so that discovery never meets an unknown service."""
    for url in endpoints(environment.host):
        try:
            for name in CATALOGUE:
                requests.post(f"{url}/v1/services", timeout=5, json={
                    "name": name, "id": f"{name}-anchor", "ttl": 3600, "version": "1.0.0", "port": 8080,
                    "tags": ["anchor"], "metadata": {"region": "eu"}})
            return
        except requests.RequestException:
            continue


class _Fleet(HttpUser):
    abstract = True

    def on_start(self):
        self.urls = endpoints(self.host)
        self.node = random.randrange(len(self.urls))

    @property
    def base(self) -> str:
        return self.urls[self.node]

    def call(self, method: str, path: str, name: str, ok=(200, 201), **kw):
        """One request to this user's node; a connection failure moves the user to the next node."""
        with self.client.request(method, self.base + path, name=name, catch_response=True, **kw) as r:
            if r.status_code in ok:
                r.success()
            elif r.status_code == 0:
                self.node = (self.node + 1) % len(self.urls)
                r.failure(f"no connection ({r.error})")
            else:
                r.failure(f"{r.status_code}: {r.text[:120]}")
            return r


class ServiceInstance(_Fleet):
    weight = 70
    wait_time = between(2.5, 3.5)  # heartbeat every ~ttl/3, with jitter

    def on_start(self):
        super().on_start()
        self.service = pick_service()
        self.version = f"1.{random.randint(0, 9)}.{random.randint(0, 20)}"
        self.register(new_id=True)

    def on_stop(self):
        self.call("DELETE", f"/v1/services/{self.service}/{self.iid}", "/v1/services/[name]/[id] (deregister)",
                  ok=(200, 404))

    def register(self, new_id: bool = False):
        if new_id:
            self.iid = f"{self.service}-{uuid.uuid4().hex[:10]}"
        port = random.randint(1024, 65000)
        self.call("POST", "/v1/services", "/v1/services (register)", json={
            "name": self.service, "id": self.iid, "version": self.version, "address": "10.1.2.3", "port": port,
            "interfaces": {"http": f"http://10.1.2.3:{port}"}, "tags": [random.choice(["blue", "green"])],
            "metadata": {"region": random.choice(["eu", "us"]), "zone": random.choice("abc")},
            "dependencies": random.sample(list(CATALOGUE), 2), "ttl": TTL})

    @task(60)
    def heartbeat(self):
        r = self.call("PUT", f"/v1/services/{self.service}/{self.iid}/heartbeat",
                      "/v1/services/[name]/[id]/heartbeat")
        if r.status_code == 404:  # expired and removed: register again, as the client does
            self.register()

    @task(2)
    def deploy(self):
        self.version = f"1.{random.randint(0, 9)}.{random.randint(0, 20)}"
        self.register()

    @task(1)
    def replaced(self):
        self.on_stop()
        self.register(new_id=True)


class Discoverer(_Fleet):
    weight = 25
    wait_time = between(0.5, 2.0)

    @task(10)
    def discover(self):
        name = pick_service()
        r = self.call("GET", f"/v1/services/{name}?status=up", "/v1/services/[name]?status=up")
        instances = (r.json().get("instances") or []) if r.status_code == 200 else []
        if instances:
            chosen = random.choice(instances)
            self.call("GET", f"/v1/services/{name}/{chosen['id']}", "/v1/services/[name]/[id]", ok=(200, 404))

    @task(2)
    def discover_linearizable(self):
        self.call("GET", f"/v1/services/{pick_service()}?consistency=linearizable",
                  "/v1/services/[name]?consistency=linearizable")

    @task(2)
    def blocking_read(self):
        name = pick_service()
        r = self.call("GET", f"/v1/services/{name}", "/v1/services/[name]")
        index = r.headers.get("X-Manifest-Index", "0") if r.status_code == 200 else "0"
        self.call("GET", f"/v1/services/{name}?index={index}&wait=2s", "/v1/services/[name]?index&wait=2s",
                  timeout=10)

    @task(1)
    def watch(self):
        """Follow a service's watch stream for ~3 s; one request in the stats, events counted."""
        name, started, seen = pick_service(), time.perf_counter(), 0
        try:
            with requests.get(f"{self.base}/v1/watch?name={name}", stream=True, timeout=(2, 3)) as r:
                r.raise_for_status()
                for line in r.iter_lines():
                    seen += line.startswith(b"event: ")
                    if time.perf_counter() - started > 3:
                        break
            exc = None
        except requests.RequestException as e:
            # A quiet stream times out reading (requests wraps that in ConnectionError mid-stream).
            quiet = isinstance(e, requests.exceptions.ReadTimeout) or "Read timed out" in str(e)
            exc = None if quiet else e
        self.environment.events.request.fire(
            request_type="GET", name="/v1/watch?name=[name] (3 s)", response_length=seen,
            response_time=(time.perf_counter() - started) * 1000, exception=exc, context={})


class Operator(_Fleet):
    weight = 5
    wait_time = between(5, 10)

    @task(3)
    def list_all(self):
        self.call("GET", "/v1/services?limit=100", "/v1/services?limit=100")

    @task(2)
    def list_filtered(self):
        self.call("GET", "/v1/services?status=up&tag=blue&meta.region=eu", "/v1/services?status&tag&meta")

    @task(2)
    def cluster_status(self):
        self.call("GET", "/v1/cluster", "/v1/cluster")

    @task(1)
    def health_everywhere(self):
        for url in self.urls:
            with self.client.get(url + "/v1/health", name="/v1/health", catch_response=True) as r:
                r.success() if r.status_code in (200, 503) else r.failure(str(r.status_code))

    @task(1)
    def metrics(self):
        self.call("GET", "/metrics", "/metrics")
