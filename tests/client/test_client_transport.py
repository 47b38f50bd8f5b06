"""The real transports (http.client and aiohttp) against small servers on free ports."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from aiohttp import web

from manifest_client import (
    AsyncRegistry,
    AsyncTransport,
    ConnectionFailed,
    Instance,
    NotFound,
    OutcomeUnknown,
    Registry,
    Request,
    RequestTimeout,
    SyncTransport,
)


class AppServer:
    """A tiny registry look-alike on aiohttp, served from its own thread and loop."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.peers: set[tuple] = set()
        self.url = ""
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/services/{name}", self.service)
        app.router.add_post("/v1/services", self.register)
        app.router.add_put("/v1/services/{name}/{id}/heartbeat", self.heartbeat)
        app.router.add_get("/v1/health", self.health)
        return app

    async def service(self, request: web.Request) -> web.Response:
        self.peers.add(request.transport.get_extra_info("peername"))
        if request.match_info["name"] == "slow":
            await asyncio.sleep(0.6)
        body = {"instances": [{"name": request.match_info["name"], "id": "a", "status": "up",
                               "tags": request.query.getall("tag", [])}], "revision": 11}
        return web.json_response(body, headers={"X-Manifest-Leader": self.url})

    async def register(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.posts.append(body)
        return web.json_response({**body, "status": "up", "revision": 12}, status=201)

    async def heartbeat(self, request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": "not_found", "message": "unknown instance"}}, status=404)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "no_leader", "role": "candidate", "leader": None,
                                  "revision": 3}, status=503, headers={"Retry-After": "1"})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(self._app())
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self) -> AppServer:
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


class DropServer:
    """Accepts a connection, reads the request, and closes without answering."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.recv(65536)
            conn.close()

    def stop(self) -> None:
        self.sock.close()


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens any more: connection refused


@pytest.fixture
def server():
    srv = AppServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def drop():
    srv = DropServer()
    yield srv
    srv.stop()


def test_sync_transport_fails_over_keeps_alive_and_maps_errors(server):
    with Registry([dead_url(), server.url], discover_members=False, retry_wait=0.0) as reg:
        for _ in range(3):
            found = reg.discover("n8n", tags=["blue", "eu"])
        assert [i.id for i in found] == ["a"] and found[0].tags == ["blue", "eu"]
        assert found.revision == 11 and reg.leader == server.url
        assert len(server.peers) == 1  # one keep-alive connection served all three reads
        record = reg.register_instance(Instance(name="api", port=80))
        assert record.status == "up" and server.posts == [{"name": "api", "port": 80}]
        with pytest.raises(NotFound):
            reg.heartbeat("api", "x")
        health = reg.health(server.url)
        assert health.ready is False and health.role == "candidate" and health.endpoint == server.url


def test_sync_transport_never_resends_unsafe_write_after_bytes_left(server, drop):
    with Registry([drop.url, server.url], discover_members=False, retry_wait=0.0) as reg:
        with pytest.raises(OutcomeUnknown) as info:
            reg.register_instance({"name": "api"})
        assert isinstance(info.value.cause, ConnectionFailed) and info.value.cause.sent is True
        assert drop.connections == 1 and server.posts == []
        reg.register_instance({"name": "api", "id": "api-1"})  # idempotent: fails over
        assert server.posts == [{"name": "api", "id": "api-1"}]


def test_sync_transport_connect_refused_is_provably_unsent(server):
    with Registry([dead_url(), server.url], discover_members=False) as reg:
        reg.register_instance({"name": "api"})
    assert server.posts == [{"name": "api"}]


def test_sync_transport_times_out(server):
    with (Registry(server.url, timeout=0.2, retries=0, discover_members=False) as reg,
          pytest.raises(RequestTimeout) as info):
        reg.discover("slow")
    assert info.value.sent is True


def test_async_transport_end_to_end(server, drop):
    async def main():
        async with AsyncRegistry([dead_url(), server.url], discover_members=False,
                                 retry_wait=0.0) as reg:
            for _ in range(3):
                found = await reg.discover("n8n", tags="blue")
            assert [i.id for i in found] == ["a"] and found[0].tags == ["blue"]
            record = await reg.register_instance({"name": "api", "id": "api-1"})
            assert record.revision == 12
            with pytest.raises(NotFound):
                await reg.heartbeat("api", "api-1")
            assert (await reg.health(server.url)).ready is False
        async with AsyncRegistry([drop.url, server.url], discover_members=False) as reg:
            with pytest.raises(OutcomeUnknown) as info:
                await reg.register_instance({"name": "web"})
            assert info.value.cause.sent is True
        async with AsyncRegistry(server.url, timeout=0.2, retries=0, discover_members=False) as reg:
            with pytest.raises(RequestTimeout):
                await reg.discover("slow")

    asyncio.run(main())
    assert len(server.peers) == 2  # keep-alive for the reads; one more for the slow one
    assert drop.connections == 1
    assert [p["name"] for p in server.posts] == ["api"]


# -- streams: what the watch is built on -------------------------------------------------


@pytest.fixture
def sse_server():
    from tests.client.sse_server import SSEServer

    srv = SSEServer([(1, "registered", {"name": "web", "id": "a"})]).start()
    yield srv
    srv.stop()


def stream_request(url: str, read_timeout: float) -> Request:
    return Request("GET", url, "/v1/watch", headers={"Accept": "text/event-stream"}, timeout=2.0,
                   read_timeout=read_timeout)


def test_sync_stream_yields_lines_as_they_come_then_reports_a_stall(sse_server):
    transport = SyncTransport()
    response = transport.handle_stream(stream_request(sse_server.url, read_timeout=0.3))
    assert response.status == 200 and response.headers["content-type"] == "text/event-stream"
    lines = response.iter_lines()
    assert [next(lines) for _ in range(5)] == ["retry: 1000", "", "id: 1", "event: registered",
                                              'data: {"name": "web", "id": "a"}']
    started = time.monotonic()
    with pytest.raises(RequestTimeout, match="stalled") as info:
        list(lines)
    assert 0.2 < time.monotonic() - started < 5 and info.value.sent is True
    transport.close()


def test_closing_a_sync_transport_ends_a_stream_read_on_another_thread(sse_server):
    transport = SyncTransport()
    response = transport.handle_stream(stream_request(sse_server.url, read_timeout=30))
    ended = threading.Event()
    outcome: list = []

    def read() -> None:
        try:
            outcome.append(list(response.iter_lines()))
        except ConnectionFailed as exc:
            outcome.append(exc)
        ended.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 5
    while not sse_server.watches:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    transport.close()
    assert ended.wait(5), "the reader stayed blocked after close()"


def test_async_stream_yields_lines_then_reports_a_stall(sse_server):
    async def main():
        transport = AsyncTransport()
        response = await transport.handle_async_stream(stream_request(sse_server.url, read_timeout=0.3))
        assert response.status == 200
        seen = []
        started = None
        with pytest.raises(RequestTimeout, match="stalled"):
            async for line in response.aiter_lines():
                seen.append(line)
                if line.startswith("data:"):
                    started = time.monotonic()
        assert seen[:3] == ["retry: 1000", "", "id: 1"] and 0.2 < time.monotonic() - started < 5
        await response.aclose()
        await transport.aclose()

    asyncio.run(main())


def test_async_transport_sends_blocking_requests_with_its_own_settings(server):
    transport = AsyncTransport()
    response = transport.handle_request(Request("GET", server.url, "/v1/services/n8n"))
    assert response.status == 200 and response.json()["revision"] == 11
    asyncio.run(transport.aclose())
