"""Watch streams over real TLS: the transports' TLS settings and headers reach them.

The CA and the server certificate are made at test time; the server speaks
only TLS, so a watch that ignored the endpoint's scheme (as it once did,
sending plain HTTP to port 80) could not read a single event.
"""

from __future__ import annotations

import ssl

import pytest

from manifest_client import (
    AsyncRegistry,
    AsyncTransport,
    ConnectionFailed,
    Registry,
    SyncTransport,
    TLSError,
)
from tests.client.sse_server import SSEServer, make_certs

EVENTS = [(1, "registered", {"name": "web", "id": "a", "status": "up"}),
          (2, "registered", {"name": "web", "id": "b", "status": "up"}),
          (3, "status", {"name": "web", "id": "a", "status": "unhealthy"})]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(certs):
    srv = SSEServer(EVENTS, certs).start()
    yield srv
    srv.stop()


def trusting(certs) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs.ca))


def first(events, n: int) -> list:
    out = []
    for event in events:
        out.append(event)
        if len(out) == n:
            break
    return out


def test_sync_watch_reads_events_over_tls_with_the_ca_and_the_clients_headers(server, certs):
    with Registry(server.url, transport=SyncTransport(ssl_context=trusting(certs)), discover_members=False,
                  headers={"X-Manifest-Test": "sync"}) as reg:
        events = first(reg.watch("web", since=1), 2)
    assert [(e.revision, e.kind, e.instance.id) for e in events] == [(2, "registered", "b"), (3, "status", "a")]
    (watch,) = server.watches
    assert watch["tls"] is True and watch["X-Manifest-Test"] == "sync" and watch["Last-Event-ID"] == "1"
    assert watch["Accept"] == "text/event-stream"


def test_sync_watch_without_the_ca_fails_with_a_tls_error(server):
    with Registry(server.url, discover_members=False) as reg, pytest.raises(TLSError) as info:
        first(reg.watch(), 1)
    assert "certificate verify failed" in str(info.value) and server.url in str(info.value)
    assert isinstance(info.value, ConnectionFailed) and not info.value.retriable and not info.value.sent
    assert server.watches == []  # the request never got past the handshake


async def test_async_watch_reads_events_over_tls_with_the_ca_and_the_clients_headers(server, certs):
    async with AsyncRegistry(server.url, transport=AsyncTransport(ssl_context=trusting(certs)),
                             discover_members=False, headers={"X-Manifest-Test": "async"}) as reg:
        events = []
        stream = reg.watch()
        async for event in stream:
            events.append(event)
            if len(events) == 3:
                break
        await stream.aclose()
    assert [e.revision for e in events] == [1, 2, 3]
    (watch,) = server.watches
    assert watch["tls"] is True and watch["X-Manifest-Test"] == "async" and "Last-Event-ID" not in watch


async def test_async_watch_without_the_ca_fails_with_a_tls_error(server):
    async with AsyncRegistry(server.url, discover_members=False) as reg:
        with pytest.raises(TLSError, match="certificate verify failed"):
            async for _ in reg.watch():
                break
    assert server.watches == []


def test_ordinary_requests_use_the_same_tls_settings(server, certs):
    with Registry(server.url, transport=SyncTransport(ssl_context=trusting(certs)), discover_members=False) as reg:
        assert list(reg.discover("web")) == []
    with Registry(server.url, discover_members=False, retries=0) as reg, pytest.raises(TLSError):
        reg.discover("web")
