"""xDS push latency (issue 18 point 2): from a registration's HTTP ack to the xDS clients.

    python -m loadtests.xds_push [--trials 20] [--streams 0]

Starts a one-node Manifest with ``--xds``, a gRPC test server ``base`` and one
``new`` (tests/support/grpc_backends.py), registers ``base``, and connects two
clients: a raw ADS stream subscribed to the service's endpoints
(tests/support/ads.py), and gRPC's own xDS client in a subprocess calling
``xds:///orchestrator`` every millisecond (tests/support/xds_caller.py). Each
trial registers ``new`` under a fresh id and takes, on CLOCK_MONOTONIC (shared
by the processes), the time from the HTTP response to

    (a) the DiscoveryResponse listing it arriving at the raw ADS client,
    (b) the gRPC client's first call that reached it,
    (d) the first call through a real Envoy sidecar (docs/mesh.md's bootstrap,
        tests/support/envoy.py; a plain gRPC client calling every millisecond)
        that reached it,

then deregisters it and waits until calls reach ``base`` only. ``--streams N``
adds N more raw ADS streams on the same service and reports (c), the time
until the last of them has the new endpoint (the fan-out cost). A negative (a)
means the push arrived before the HTTP answer was read: both leave the node
when the entry is applied. (b) includes the caller's call interval and gRPC's
own picker update. Prints p50, p99 and max of each, in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from pathlib import Path

import grpc

from tests.support.ads import EDS, AdsClient, decode, endpoints
from tests.support.cluster import Cluster, free_port, wait_until
from tests.support.envoy import Envoy
from tests.support.grpc_backends import METHOD, Backend
from tests.support.xds_caller import Caller, bootstrap

SERVICE = "orchestrator"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def show(label: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"{label}: p50 {percentile(ms, 0.5):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, "
            f"max {max(ms):.1f} ms over {len(ms)} trials")


def register(node, iid: str, port: int) -> float:
    reply = node.call("POST", "/v1/services", {"name": SERVICE, "id": iid, "address": "127.0.0.1",
                                               "port": port, "ttl": 600})
    at = time.monotonic()
    assert reply.status in (200, 201), reply.body
    return at


def eds_until(ads: AdsClient, predicate, timeout: float = 10.0) -> float:
    """Arrival time of the first EDS response whose endpoints satisfy ``predicate`` (each ACKed)."""
    deadline = time.monotonic() + timeout
    while True:
        at, response = ads.next(timeout=max(0.01, deadline - time.monotonic()))
        ads.ack(response, [SERVICE])
        if response.type_url == EDS and SERVICE in decode(response) and predicate(endpoints(decode(response)[SERVICE])):
            return at


class ThroughEnvoy:
    """Calls through Envoy's listener on a thread: (monotonic end time, backend id or None)."""

    def __init__(self, port: int):
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.calls: list[tuple[float, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        who = self.channel.unary_unary(METHOD)
        while not self._stop.is_set():
            try:
                answer = who(b"", timeout=2).decode()
            except grpc.RpcError:
                answer = None
            self.calls.append((time.monotonic(), answer))
            time.sleep(0.001)

    def first_after(self, t: float, ident: str) -> float | None:
        return next((at for at, who in list(self.calls) if at > t and who == ident), None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--streams", type=int, default=0, help="more ADS streams subscribed to the service")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        base, new = stack.enter_context(Backend("base")), stack.enter_context(Backend("new"))
        xds = f"127.0.0.1:{free_port()}"
        node = stack.enter_context(Cluster(tmp / "cluster", size=1, extra=["--xds", xds])).nodes[0]
        register(node, "base", base.port)
        clients = [AdsClient(xds, node_id=f"probe-{i}") for i in range(1 + args.streams)]
        for client in clients:
            stack.callback(client.close)
            client.request(EDS, [SERVICE])
        for client in clients:
            eds_until(client, lambda eps: len(eps) == 1)
        ads, crowd = clients[0], clients[1:]
        caller = Caller(SERVICE, bootstrap(str(tmp / "bootstrap.json"), xds), every=0.001)
        stack.callback(caller.close)
        wait_until(lambda: caller.first_after(0, "base"), 20, what="the gRPC client's first call")
        sidecar_port = free_port()
        stack.enter_context(Envoy(tmp, int(xds.rpartition(":")[2]), sidecar_port, free_port()))
        through = ThroughEnvoy(sidecar_port)
        stack.callback(through.close)
        wait_until(lambda: through.first_after(0, "base"), 20, what="the first call through Envoy")
        pushes, calls, sidecar, fanout = [], [], [], []
        new_at = f"127.0.0.1:{new.port}"
        for trial in range(args.trials):
            acked = register(node, f"new-{trial}", new.port)
            pushes.append(eds_until(ads, lambda eps: new_at in eps) - acked)
            if crowd:
                fanout.append(max(eds_until(c, lambda eps: new_at in eps) for c in crowd) - acked)
            calls.append(wait_until(lambda: caller.first_after(acked, "new"), 20, what="a call reaching new") - acked)
            sidecar.append(wait_until(lambda: through.first_after(acked, "new"), 20,
                                      what="a call through Envoy reaching new") - acked)
            assert node.call("DELETE", f"/v1/services/{SERVICE}/new-{trial}").status == 200
            for client in clients:
                eds_until(client, lambda eps: new_at not in eps)
            gone = time.monotonic()
            wait_until(lambda: len(caller.since(gone)) >= 20 and "new" not in caller.since(gone)[-20:],
                       20, what="calls back on base only")
            wait_until(lambda: [w for at, w in through.calls[-20:] if at > gone] == ["base"] * 20, 20,
                       what="calls through Envoy back on base only")
    print(show("(a) registration ack -> DiscoveryResponse at a raw ADS client", pushes))
    print(show("(b) registration ack -> first gRPC xds:/// call reaching the new instance", calls))
    print(show("(d) registration ack -> first call through an Envoy sidecar reaching the new instance", sidecar))
    if fanout:
        print(show(f"(c) registration ack -> the last of {args.streams} more ADS streams", fanout))


if __name__ == "__main__":
    main()
