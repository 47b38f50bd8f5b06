"""The registration handles: heartbeats, re-registration, health reporting, clean exit, signals."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import threading
import time

import pytest

from tests.client.mc_fakes import N1, N2, N3, FakeCluster

from manifest_client import AsyncRegistry, ConnectionFailed, Registry

TTL = 0.3  # heartbeats every 0.1 s


def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def make(cluster: FakeCluster, **kwargs) -> Registry:
    return Registry([N1, N2, N3], transport=cluster.transport, retry_wait=0.0,
                    discover_members=False, **kwargs)


def heartbeat_statuses(cluster: FakeCluster) -> list[str]:
    return [body["status"] for (_, method, path), body in zip(cluster.calls, cluster.bodies, strict=False)
            if method == "PUT"]


def test_register_sends_explicit_id_heartbeats_and_deregisters_on_exit():
    cluster = FakeCluster()
    reg = make(cluster)
    with reg.register("orchestrator", port=8080, version="1.4.2", ttl=TTL) as me:
        assert re.fullmatch(r"orchestrator-[0-9a-f]{12}", me.id)
        assert cluster.bodies[0] == {"name": "orchestrator", "id": me.id, "port": 8080,
                                     "version": "1.4.2", "ttl": TTL}
        assert me.interval == pytest.approx(0.1)
        wait_until(lambda: len(cluster.sent("PUT")) >= 3)
        assert me.running and me.consecutive_failures == 0 and me.last_error is None
        assert me.last_success is not None and time.time() - me.last_success < 1
        assert me.record.status == "up"
    assert not me.running
    assert (("orchestrator", me.id)) not in cluster.instances
    last_delete = max(i for i, c in enumerate(cluster.calls) if c[1] == "DELETE")
    assert all(c[1] != "PUT" for c in cluster.calls[last_delete:])


def test_heartbeat_404_registers_again():
    cluster = FakeCluster()
    with make(cluster).register("svc", id="svc-1", ttl=TTL, tags=["blue"]):
        with cluster._lock:
            cluster.instances.clear()  # expired and removed by the registry
        wait_until(lambda: ("svc", "svc-1") in cluster.instances)
        assert len(cluster.sent("POST")) == 2
        assert cluster.instances[("svc", "svc-1")]["tags"] == ["blue"]


def test_health_check_false_or_raising_reports_unhealthy():
    cluster = FakeCluster()
    state = {"mode": "ok"}

    def check():
        if state["mode"] == "raise":
            raise RuntimeError("database gone")
        return state["mode"] == "ok"

    with make(cluster).register("svc", ttl=TTL, health_check=check) as me:
        wait_until(lambda: len(cluster.sent("PUT")) >= 1)
        state["mode"] = "bad"
        wait_until(lambda: heartbeat_statuses(cluster)[-1:] == ["unhealthy"])
        assert me.status == "unhealthy"
        state["mode"] = "ok"
        wait_until(lambda: heartbeat_statuses(cluster)[-1:] == ["up"])
        state["mode"] = "raise"
        wait_until(lambda: heartbeat_statuses(cluster)[-1:] == ["unhealthy"])
        assert cluster.instances[("svc", me.id)]["status"] == "unhealthy"


def test_unhealthy_at_start_is_reported_right_after_registering():
    cluster = FakeCluster()
    with make(cluster).register("svc", ttl=30, health_check=lambda: False) as me:
        assert heartbeat_statuses(cluster) == ["unhealthy"]
        assert me.record.status == "unhealthy"


def test_heartbeats_continue_when_a_registry_node_dies():
    cluster = FakeCluster()
    with make(cluster).register("svc", ttl=TTL) as me:
        wait_until(lambda: len(cluster.sent("PUT")) >= 2)
        cluster.refused.add(N1)
        cluster.blackholed.add(N2)
        before = len(cluster.sent("PUT"))
        wait_until(lambda: len([c for c in cluster.sent("PUT") if c[0] == N3]) >= 3)
        assert me.consecutive_failures == 0
        assert len(cluster.sent("PUT")) > before
        assert cluster.instances[("svc", me.id)]["status"] == "up"


def test_failures_are_counted_and_reset_on_recovery():
    cluster = FakeCluster()
    with make(cluster).register("svc", ttl=TTL) as me:
        cluster.refused.update({N1, N2, N3})
        wait_until(lambda: me.consecutive_failures >= 2)
        assert isinstance(me.last_error, ConnectionFailed)
        cluster.refused.clear()
        wait_until(lambda: me.consecutive_failures == 0)
        assert me.last_error is None


def test_opt_outs_keep_the_instance_and_send_no_heartbeat():
    cluster = FakeCluster()
    with make(cluster).register("svc", ttl=TTL, heartbeat=False, deregister_on_exit=False) as me:
        time.sleep(0.25)
        assert not me.running
    assert cluster.sent("PUT") == [] and cluster.sent("DELETE") == []
    assert ("svc", me.id) in cluster.instances


def test_failed_registration_raises_and_starts_nothing():
    cluster = FakeCluster()
    cluster.refused.update({N1, N2, N3})
    threads = threading.active_count()
    with pytest.raises(ConnectionFailed):
        make(cluster).register("svc", ttl=TTL)
    assert threading.active_count() == threads


def test_sigterm_deregisters_then_chains_to_previous_handler():
    cluster = FakeCluster()
    received = []

    def previous(signum, frame):
        received.append(signum)

    old = signal.signal(signal.SIGTERM, previous)
    try:
        with make(cluster).register("svc", ttl=30) as me:
            assert signal.getsignal(signal.SIGTERM) != previous
            os.kill(os.getpid(), signal.SIGTERM)
            wait_until(lambda: received == [signal.SIGTERM])
            assert ("svc", me.id) not in cluster.instances
            assert len(cluster.sent("DELETE")) == 1
        assert signal.getsignal(signal.SIGTERM) == previous  # restored
        assert len(cluster.sent("DELETE")) == 1  # exit does not deregister twice
    finally:
        signal.signal(signal.SIGTERM, old)


def test_signal_handlers_only_from_main_thread_and_only_when_asked():
    cluster = FakeCluster()
    before = signal.getsignal(signal.SIGTERM)
    with make(cluster).register("svc", ttl=30, handle_signals=False):
        assert signal.getsignal(signal.SIGTERM) == before
    seen = []

    def in_thread():
        with make(cluster).register("svc", ttl=30):
            seen.append(signal.getsignal(signal.SIGTERM))

    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join()
    assert seen == [before]


def test_async_registration_heartbeats_reregisters_and_deregisters():
    cluster = FakeCluster()
    health = {"ok": True}

    async def check():
        return health["ok"]

    async def main():
        reg = AsyncRegistry([N1, N2, N3], transport=cluster.transport, retry_wait=0.0,
                            discover_members=False)
        async with reg.register("worker", ttl=TTL, health_check=check) as me:
            assert re.fullmatch(r"worker-[0-9a-f]{12}", me.id)
            while len(cluster.sent("PUT")) < 2:
                await asyncio.sleep(0.02)
            with cluster._lock:
                cluster.instances.clear()
            while ("worker", me.id) not in cluster.instances:
                await asyncio.sleep(0.02)
            health["ok"] = False
            while heartbeat_statuses(cluster)[-1:] != ["unhealthy"]:
                await asyncio.sleep(0.02)
            assert me.running
        assert not me.running
        await reg.aclose()
        return me

    me = asyncio.run(asyncio.wait_for(main(), 10))
    assert len(cluster.sent("POST")) == 2
    assert ("worker", me.id) not in cluster.instances


def test_async_sigterm_deregisters_with_blocking_io():
    cluster = FakeCluster()
    received = []
    old = signal.signal(signal.SIGTERM, lambda s, f: received.append(s))

    async def main():
        reg = AsyncRegistry([N1, N2, N3], transport=cluster.transport, discover_members=False)
        handle = await reg.register("worker", ttl=30)
        os.kill(os.getpid(), signal.SIGTERM)
        while not received:
            await asyncio.sleep(0.01)
        await handle.aclose()  # already closed by the signal: nothing more is sent
        return handle

    try:
        handle = asyncio.run(asyncio.wait_for(main(), 10))
    finally:
        signal.signal(signal.SIGTERM, old)
    assert ("worker", handle.id) not in cluster.instances
    assert len(cluster.sent("DELETE")) == 1


class FakeAtexit:
    def __init__(self) -> None:
        self.hooks: list = []

    def register(self, fn):
        self.hooks.append(fn)
        return fn

    def unregister(self, fn):
        self.hooks = [h for h in self.hooks if h != fn]


def test_exit_hook_deregisters_a_handle_that_was_never_closed(monkeypatch):
    import manifest_client.heartbeat as heartbeat_module

    fake = FakeAtexit()
    monkeypatch.setattr(heartbeat_module, "atexit", fake)
    cluster = FakeCluster()
    me = make(cluster).register("svc", ttl=TTL)
    assert len(fake.hooks) == 1
    fake.hooks[0]()  # what the interpreter does at exit
    assert ("svc", me.id) not in cluster.instances and not me.running
    assert fake.hooks == []
    with make(cluster).register("svc", ttl=TTL):
        assert len(fake.hooks) == 1
    assert fake.hooks == []  # a closed handle leaves nothing behind


def test_async_exit_hook_deregisters_after_the_loop_is_gone(monkeypatch):
    import manifest_client.heartbeat as heartbeat_module

    fake = FakeAtexit()
    monkeypatch.setattr(heartbeat_module, "atexit", fake)
    cluster = FakeCluster()

    async def main():
        reg = AsyncRegistry([N1, N2, N3], transport=cluster.transport, discover_members=False)
        return await reg.register("worker", ttl=TTL)

    handle = asyncio.run(main())
    assert ("worker", handle.id) in cluster.instances
    fake.hooks[0]()
    assert ("worker", handle.id) not in cluster.instances
    assert fake.hooks == []


class ThreeCalls:
    """Exactly what a Registration may use of its client (heartbeat.RegistrationClient)."""

    def __init__(self) -> None:
        self.log: list[tuple] = []

    def register(self, instance, *, timeout=None, rounds=None):
        self.log.append(("register", timeout, rounds))
        return instance

    def heartbeat(self, name, id, status, *, generation=None, load=None, timeout=None, rounds=None):
        self.log.append(("heartbeat", status, timeout, rounds))
        return None

    def deregister(self, name, id, generation=None):
        self.log.append(("deregister", name, id))


def test_a_handle_runs_on_its_narrow_client_alone():
    from manifest_client import Instance, Registration

    calls = ThreeCalls()
    me = Registration(calls, Instance(name="svc", id="svc-1", ttl=TTL), health_check=lambda: False,
                      heartbeat=True, deregister_on_exit=True, handle_signals=False).start()
    wait_until(lambda: len(calls.log) >= 4)
    me.close()
    assert calls.log[:2] == [("register", None, None), ("heartbeat", "unhealthy", None, None)]
    beats = [c for c in calls.log[2:] if c[0] == "heartbeat"]
    assert beats and all(c == ("heartbeat", "unhealthy", me.request_timeout, 1) for c in beats)
    assert calls.log[-1] == ("deregister", "svc", "svc-1")


def test_the_registries_hand_out_objects_shaped_like_the_handle_protocols():
    import inspect as insp

    from manifest_client import _async_client, _sync_client
    from manifest_client._handle import AsyncRegistrationClient, RegistrationClient

    def surface(cls):
        return {name: insp.signature(fn) for name, fn in vars(cls).items()
                if callable(fn) and not name.startswith("_")}

    def protocol_surface(proto):
        return {name: insp.signature(getattr(proto, name)) for name in vars(proto)
                if not name.startswith("_") and callable(getattr(proto, name))}

    for impl, proto in ((_sync_client._HandleClient, RegistrationClient),
                        (_async_client._HandleClient, AsyncRegistrationClient)):
        assert surface(impl).keys() == protocol_surface(proto).keys()
        for name, sig in protocol_surface(proto).items():
            assert list(surface(impl)[name].parameters) == list(sig.parameters), name
            assert insp.iscoroutinefunction(getattr(impl, name)) == insp.iscoroutinefunction(getattr(proto, name))
