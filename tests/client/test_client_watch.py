"""The watch through the transport abstraction, driven by MockTransport (sync and async).

A scripted handler plays the registry's ``GET /v1/watch``: each stream request
takes the next answer of the script, so a test says exactly when a stream
ends, breaks or stalls, and then checks where and from which revision the
client resumed.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import pytest

from manifest_client import (
    AsyncRegistry,
    ConnectionFailed,
    MockTransport,
    Registry,
    Request,
    RequestTimeout,
    Response,
    Unauthorized,
)
from manifest_client._watch import STALL_TIMEOUT
from tests.client.mc_fakes import N1, N2, N3, error


def frame(rev: int, kind: str, **record) -> bytes:
    data = record if kind == "reset" else {"name": "web", **record}
    return f"id: {rev}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def stalled(*chunks: bytes) -> Iterator[bytes]:
    """A stream that sends ``chunks`` and then nothing, as the transport reports it."""
    yield from chunks
    raise RequestTimeout("stream stalled: nothing received for 45 s", sent=True)


def broken(*chunks: bytes) -> Iterator[bytes]:
    yield from chunks
    raise ConnectionFailed("connection lost: reset by peer", sent=True)


class Script:
    """Answers watch requests from a list, one per (re)connection; logs every one."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.watches: list[Request] = []
        self.transport = MockTransport(self)

    def __call__(self, request: Request) -> Response:
        if not request.target.startswith("/v1/watch"):
            return self.other(request)
        self.watches.append(request)
        answer = self.answers.pop(0) if self.answers else ConnectionFailed("refused", sent=False)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def other(self, request: Request) -> Response:
        return error(404, "not_found", "no such route")

    def resumed_from(self) -> list[tuple[str, str | None]]:
        return [(r.endpoint, r.headers.get("Last-Event-ID")) for r in self.watches]


def sse(body: bytes | None = None, stream=None) -> Response:
    return Response(200, {"content-type": "text/event-stream"}, body or b"", stream=stream)


def registry(script: Script, *urls: str, **kwargs) -> Registry:
    return Registry(list(urls) or [N1], transport=script.transport, discover_members=False, **kwargs)


def take(events, n: int) -> list:
    out = []
    for event in events:
        out.append(event)
        if len(out) == n:
            return out
    return out


def test_events_and_reset_arrive_with_the_clients_headers_and_timeouts():
    script = Script(sse(b"retry: 1000\n\n: keep-alive\n\n" + frame(5, "registered", id="a")
                        + frame(9, "reset", instances=[{"name": "web", "id": "b"}], revision=9)
                        + frame(10, "expired", id="b", status="down", reason="ttl")))
    reg = registry(script, headers={"Authorization": "Bearer t0ken"}, timeout=1.5)
    events = take(reg.watch("web", since=4), 3)
    assert [(e.revision, e.kind) for e in events] == [(5, "registered"), (9, "reset"), (10, "expired")]
    assert [i.id for i in events[1].instances] == ["b"] and events[2].reason == "ttl"
    request = script.watches[0]
    assert request.method == "GET" and request.target == "/v1/watch?name=web"
    assert request.headers["Authorization"] == "Bearer t0ken"
    assert request.headers["Accept"] == "text/event-stream" and request.headers["Last-Event-ID"] == "4"
    assert request.timeout == 1.5 and request.read_timeout == STALL_TIMEOUT


def test_a_stream_that_ends_is_resumed_with_last_event_id_and_nothing_repeats():
    script = Script(sse(frame(1, "registered", id="a") + frame(2, "updated", id="a")
                        + b"id: 3\nevent: registered\n"),  # cut off in the middle of event 3
                    sse(frame(3, "registered", id="b")))
    events = take(registry(script).watch(), 3)
    assert [(e.revision, e.instance.id) for e in events] == [(1, "a"), (2, "a"), (3, "b")]
    assert script.resumed_from() == [(N1, None), (N1, "2")]


def test_a_stalled_stream_moves_to_the_next_endpoint_from_the_last_revision():
    script = Script(sse(stream=stalled(frame(7, "registered", id="a"))),
                    sse(stream=broken(frame(8, "status", id="a", status="unhealthy"))),
                    sse(frame(9, "deregistered", id="a", reason="owner")))
    events = take(registry(script, N1, N2, N3).watch(since=6), 3)
    assert [e.revision for e in events] == [7, 8, 9] and events[2].reason == "owner"
    assert script.resumed_from() == [(N1, "6"), (N2, "7"), (N3, "8")]


def test_nodes_that_refuse_or_answer_503_are_skipped():
    script = Script(ConnectionFailed("refused", sent=False),
                    error(503, "no_leader", "not ready"),
                    sse(frame(4, "registered", id="a")))
    assert [e.revision for e in take(registry(script, N1, N2, N3).watch(since=3), 1)] == [4]
    assert [endpoint for endpoint, _ in script.resumed_from()] == [N1, N2, N3]


def test_a_refusal_no_retry_fixes_is_raised_once_every_node_gave_it():
    script = Script(error(401, "unauthorized", "bad token"), error(401, "unauthorized", "bad token"))
    with pytest.raises(Unauthorized):
        take(registry(script, N1, N2).watch(), 1)
    script = Script(error(401, "unauthorized", "stale token on one node"), sse(frame(1, "registered", id="a")))
    assert [e.revision for e in take(registry(script, N1, N2).watch(), 1)] == [1]


def test_a_transport_that_cannot_stream_says_so():
    class RequestsOnly:
        def handle_request(self, request):
            raise AssertionError("not reached")

        def close(self):
            pass

    with pytest.raises(TypeError, match="handle_stream"):
        Registry(N1, transport=RequestsOnly(), discover_members=False).watch()
    with pytest.raises(TypeError, match="handle_stream"):
        Registry(N1, transport=RequestsOnly(), live=True)


def test_closing_the_registry_ends_its_watch():
    script = Script(*[sse(frame(i, "registered", id=f"i{i}")) for i in range(1, 4)])
    reg = registry(script)
    events = reg.watch()
    assert next(events).revision == 1
    reg.close()
    assert list(events) == [] and len(script.watches) == 1


def test_live_discovery_follows_the_watch_through_the_transport():
    gate = threading.Event()

    def held(*chunks):
        gate.wait(5)
        yield from stalled(*chunks)

    class Live(Script):
        def other(self, request):
            return Response.from_json(200, {"instances": [{"name": "web", "id": "a", "status": "up"}],
                                            "revision": 5})

    script = Live(sse(stream=held(frame(6, "registered", id="b", status="up"))),
                  sse(frame(7, "status", id="a", status="unhealthy")))
    reg = registry(script, N1, N2, live=True, headers={"X-Team": "blue"})
    assert [i.id for i in reg.discover("web")] == ["a"]
    gate.set()
    deadline = time.monotonic() + 5
    while [i.id for i in reg.discover("web")] != ["b"]:
        assert time.monotonic() < deadline, "the view never followed the stream"
        time.sleep(0.01)
    reg.close()
    assert script.resumed_from()[:2] == [(N1, "5"), (N2, "6")]
    assert all(r.headers["X-Team"] == "blue" for r in script.watches)


# -- the same through AsyncRegistry --------------------------------------------------------


async def atake(events, n: int) -> list:
    out = []
    async for event in events:
        out.append(event)
        if len(out) == n:
            break
    await events.aclose()
    return out


async def astalled(*chunks: bytes):
    for chunk in chunks:
        await asyncio.sleep(0)
        yield chunk
    raise RequestTimeout("stream stalled", sent=True)


async def test_async_watch_events_reset_resume_and_stall():
    script = Script(sse(frame(5, "registered", id="a") + frame(6, "reset", instances=[], revision=6)),
                    sse(stream=astalled(frame(7, "updated", id="a"))),
                    sse(stream=broken(b"id: 8\nevent: upd")),
                    sse(frame(8, "updated", id="a")))
    async with AsyncRegistry([N1, N2, N3], transport=script.transport, discover_members=False,
                             headers={"Authorization": "Bearer t0ken"}) as reg:
        events = await atake(reg.watch("web", since=4), 4)
    assert [(e.revision, e.kind) for e in events] == [(5, "registered"), (6, "reset"), (7, "updated"),
                                                      (8, "updated")]
    # A stream that ends puts its node behind a back-off too: each reconnect picks another.
    assert script.resumed_from() == [(N1, "4"), (N2, "6"), (N3, "7"), (N1, "7")]
    assert all(r.headers["Authorization"] == "Bearer t0ken" and r.read_timeout == STALL_TIMEOUT
               for r in script.watches)


async def test_async_watch_raises_what_every_node_refused_and_needs_a_streaming_transport():
    script = Script(error(403, "forbidden", "read role needed"), error(403, "forbidden", "read role needed"))
    async with AsyncRegistry([N1, N2], transport=script.transport, discover_members=False) as reg:
        with pytest.raises(Exception) as info:
            await atake(reg.watch(), 1)
    assert info.value.status == 403

    class RequestsOnly:
        async def handle_async_request(self, request):
            raise AssertionError("not reached")

        async def aclose(self):
            pass

    async with AsyncRegistry(N1, transport=RequestsOnly(), discover_members=False) as reg:
        with pytest.raises(TypeError, match="handle_async_stream"):
            reg.watch()
    with pytest.raises(TypeError, match="handle_async_stream"):
        AsyncRegistry(N1, transport=RequestsOnly(), live=True)


async def test_closing_the_async_registry_ends_its_watch():
    script = Script(*[sse(frame(i, "registered", id=f"i{i}")) for i in range(1, 4)])
    reg = AsyncRegistry(N1, transport=script.transport, discover_members=False)
    events = reg.watch()
    assert (await events.__anext__()).revision == 1
    await reg.aclose()
    assert [e async for e in events] == [] and len(script.watches) == 1


async def test_async_live_discovery_drops_a_view_whose_watch_gave_up():
    class Live(Script):
        def other(self, request):
            return Response.from_json(200, {"instances": [{"name": "web", "id": "a", "status": "up"}],
                                            "revision": 5})

    script = Live(sse(frame(6, "registered", id="b", status="up")), error(401, "unauthorized", "revoked"))
    async with AsyncRegistry(N1, transport=script.transport, discover_members=False, live=True) as reg:
        assert [i.id for i in await reg.discover("web")] == ["a"]
        deadline = time.monotonic() + 5
        while "web" in reg._views:
            assert time.monotonic() < deadline, "the view outlived its watch"
            await asyncio.sleep(0.01)
        assert [i.id for i in await reg.discover("web")] == ["a"]  # asked the server again
