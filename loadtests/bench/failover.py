"""Failover: time from SIGKILL of the leader to the next acknowledged write, over N kills.

From the kill on, a new write attempt starts every 25 ms (each in its own
thread, 5 s timeout), alternating between the surviving nodes, as a fleet of
writers holding every endpoint would; the failover time is when the first
attempt is acknowledged. Overlapping attempts keep a slow attempt (a write
parked on a follower until a leader exists) from hiding an earlier success,
so the figure does not depend on a client timeout. After each kill the node is restarted with its data and the
cluster is given time to settle before the next kill (not after the last:
the caller stops the cluster).
"""

from __future__ import annotations

import base64
import http.client
import json
import statistics
import threading
import time

from tests.support.cluster import Cluster, wait_until


def _post(port: int, path: str, body: dict) -> int:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
    except OSError:
        return 0
    if path == "/v3/kv/put" and resp.status == 200 and b'"error"' in payload:
        return 503  # grpc-gateway reports a failed put with an error object
    return resp.status


def _until_acked(ports: list[int], path: str, make_body, every: float = 0.025,
                 limit: float = 30) -> tuple[float, list[threading.Thread]]:
    """Seconds to the first acknowledged attempt, and the attempts' threads (some may still run)."""
    t0 = time.monotonic()
    acked: list[float] = []
    done = threading.Event()

    def attempt(i: int) -> None:
        if _post(ports[i % len(ports)], path, make_body(i)) in (200, 201):
            acked.append(time.monotonic())  # list.append is atomic
            done.set()

    threads = []
    while not done.is_set():
        if time.monotonic() - t0 > limit:
            raise RuntimeError(f"no write acknowledged within {limit} s")
        threads.append(threading.Thread(target=attempt, args=(len(threads),), daemon=True))
        threads[-1].start()
        done.wait(every)
    return min(acked) - t0, threads


def _join(threads: list[threading.Thread]) -> None:
    for th in threads:  # leave no attempt running into the next kill
        th.join(6)


def manifest(cluster: Cluster, kills: int, log=print) -> list[float]:
    times = []
    for k in range(kills):
        leader = cluster.leader(timeout=30)
        others = [n for n in cluster.alive() if n is not leader]
        leader.kill()
        t, attempts = _until_acked([n.api_port for n in others], "/v1/services",
                                   lambda i, k=k: {"name": "failover", "id": f"k{k}-{i}"})
        times.append(t)
        log(f"  manifest kill {k + 1}/{kills}: {t * 1000:.0f} ms")
        if k == kills - 1:
            break  # the caller stops the cluster
        _join(attempts)
        leader.start()
        cluster.wait_ready(timeout=60)
        time.sleep(1.0)
    return times


def etcd(cluster, kills: int, log=print) -> list[float]:
    times = []
    for k in range(kills):
        leader = cluster.leader(timeout=30)
        others = [m for m in cluster.members if m is not leader and m.alive]
        cluster.kill(leader)

        def body(i, k=k):
            return {"key": base64.b64encode(f"failover/k{k}-{i}".encode()).decode(), "value": "eA=="}

        t, attempts = _until_acked([m.client_port for m in others], "/v3/kv/put", body)
        times.append(t)
        log(f"  etcd kill {k + 1}/{kills}: {t * 1000:.0f} ms")
        if k == kills - 1:
            break  # the caller stops the cluster
        _join(attempts)
        cluster.restart(leader)
        cluster.wait_healthy(60)
        wait_until(lambda: all(cluster.status(m)["leader"] != "0" for m in cluster.members), 30,
                   what="etcd members agree on a leader")
        time.sleep(1.0)
    return times


def summary(times: list[float]) -> dict:
    if not times:
        return {"kills": 0}
    return {"kills": len(times), "median_s": round(statistics.median(times), 3),
            "max_s": round(max(times), 3), "times_s": [round(t, 3) for t in times]}
