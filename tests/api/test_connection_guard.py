"""The connection guard on a real listening socket (issue 10, point 10): caps, fd headroom, timeouts.

Idle and slow-header connections were held 73 s (aiohttp's defaults), and
nothing capped how many a node took.
"""

import asyncio
import itertools
import time

import pytest
from aiohttp import web

from manifest_node.api.app import create_app
from manifest_node.api.connections import ConnectionGuard, GuardedSite
from manifest_node.api.keys import METRICS
from manifest_node.config import NodeConfig
from tests.support.fake_store import FakeStore
from tests.support.raw_http import closed_by_server, read_reply

HEALTH = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"


class Node:
    def __init__(self, site, guard, metrics):
        self.site, self.guard, self.metrics = site, guard, metrics

    async def connect(self):
        return await asyncio.open_connection("127.0.0.1", self.site.port)

    async def ask(self, reader, writer, raw=HEALTH):
        writer.write(raw)
        return await asyncio.wait_for(read_reply(reader), 5)

    def sample(self, name: str, **labels) -> float:
        value = self.metrics.registry.get_sample_value(name, labels or None)
        return 0.0 if value is None else value


@pytest.fixture
async def start():
    runners = []

    async def start(fds=None, **settings):
        store = FakeStore(NodeConfig(**settings))
        app = create_app(store, store.cfg)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        kwargs = {}
        if fds is not None:  # a fake descriptor count: [held, limit]
            ticks = itertools.count(step=10)  # every admission counts again
            kwargs = dict(count_fds=lambda: fds[0], limit_fds=lambda: fds[1], clock=lambda: next(ticks))
        guard = ConnectionGuard(store.cfg, app[METRICS], **kwargs)
        site = GuardedSite(runner, "127.0.0.1", 0, guard)
        await site.start()
        return Node(site, guard, app[METRICS])

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_connections_past_max_connections_are_closed_at_once(start):
    node = await start(max_connections=3)
    held = [await node.connect() for _ in range(3)]
    for reader, writer in held:
        assert (await node.ask(reader, writer)).status == 200
    reader, writer = await node.connect()
    assert await closed_by_server(reader, timeout=2)
    assert node.sample("manifest_limit_refusals_total", limit="max_connections") == 1
    assert node.sample("manifest_http_connections") == 3
    held[0][1].close()  # one leaves: the next one is taken
    deadline = time.monotonic() + 5
    while True:
        reader, writer = await node.connect()
        reply = await asyncio.wait_for(read_reply_or_none(node, reader, writer), 5)
        if reply is not None or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert reply is not None and reply.status == 200


async def read_reply_or_none(node, reader, writer):
    writer.write(HEALTH)
    reply = await read_reply(reader)
    return reply if reply.status is not None else None


async def test_connections_are_refused_when_descriptors_run_short(start):
    fds = [50, 100]
    node = await start(fds=fds, fd_headroom=20)
    reader, writer = await node.connect()
    assert (await node.ask(reader, writer)).status == 200
    fds[0] = 85  # with this connection 86: within 20 of the limit of 100
    reader2, _ = await node.connect()
    assert await closed_by_server(reader2, timeout=2)
    assert node.sample("manifest_limit_refusals_total", limit="fd_headroom") == 1
    assert (await node.ask(reader, writer)).status == 200  # connections already taken keep working
    fds[0] = 60
    reader3, writer3 = await node.connect()
    assert (await node.ask(reader3, writer3)).status == 200


async def test_a_request_head_that_does_not_arrive_in_time_is_closed(start):
    node = await start(header_timeout=0.5, idle_timeout=30)
    reader, writer = await node.connect()
    writer.write(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    started = time.monotonic()
    # Closed by header_timeout (0.5 s), long before idle_timeout (30 s) could:
    # the wide upper bound is for a loaded machine, the lower one load cannot break.
    assert await closed_by_server(reader, timeout=10)
    assert 0.4 < time.monotonic() - started < 10
    assert node.sample("manifest_http_timeouts_total", part="header") == 1


async def test_a_slowloris_trickling_header_lines_is_closed(start):
    node = await start(header_timeout=0.6, idle_timeout=30)
    reader, writer = await node.connect()
    writer.write(b"GET /v1/health HTTP/1.1\r\n")
    started = time.monotonic()
    closed = False
    # A new line every 0.2 s would hold the connection for ever if each line
    # restarted the clock; header_timeout (0.6 s) counts from the first byte.
    for i in itertools.count():
        if reader.at_eof() or time.monotonic() - started > 10:
            closed = reader.at_eof()
            break
        try:
            writer.write(b"X-%d: y\r\n" % i)
            await writer.drain()
        except ConnectionError:
            closed = True
            break
        if await closed_by_server(reader, timeout=0.2):
            closed = True
            break
    assert closed, "a trickled head kept the connection for 10 s"


async def test_an_idle_connection_is_closed_after_idle_timeout(start):
    node = await start(header_timeout=30, idle_timeout=0.5)
    fresh, _ = await node.connect()
    reader, writer = await node.connect()
    assert (await node.ask(reader, writer)).status == 200  # then idle, kept alive
    started = time.monotonic()
    # idle_timeout is 0.5 s and header_timeout 30 s: closed within 10 s can only be the idle timer.
    assert await closed_by_server(fresh, timeout=10) and await closed_by_server(reader, timeout=10)
    assert time.monotonic() - started < 10


async def test_a_long_request_is_not_a_slow_head(start):
    """A blocking read waits longer than header_timeout: its head came whole, in time."""
    node = await start(header_timeout=0.3, idle_timeout=30)
    reader, writer = await node.connect()
    started = time.monotonic()
    reply = await node.ask(reader, writer, b"GET /v1/services?index=0&wait=1s HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.status == 200 and time.monotonic() - started >= 0.9
    assert (await node.ask(reader, writer)).status == 200  # and the connection lives on
