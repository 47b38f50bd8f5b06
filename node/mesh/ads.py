"""The Aggregated Discovery Service: every xDS stream of this node, and the pushes to them.

Each stream has a reader task (requests -> Subscriptions.on_request) and the
handler's own loop, which sends what lands in the stream's outbox, in order.
Changes come from the store's applied-entry listener, on the event loop: the
services they touch are collected for ``COALESCE`` seconds (an entry of a
batch, and the entries applied right after it, become one push) and then every
stream gets what changed for it. A client too slow to take its responses
(``MAX_PENDING`` queued) loses its stream; on reconnecting it gets the whole
current state again, which is what xDS clients expect. A request naming more
than ``stream.MAX_NAMES`` resources of one type ends its stream with
RESOURCE_EXHAUSTED (gRPC's maximum_concurrent_rpcs, server.py, bounds the
streams). A node that is not
ready (GET /v1/health would say 503) takes no new stream; the streams it
has go on with its applied state, as its local reads do.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc

from .stream import Subscriptions, TooManyNames

log = logging.getLogger("manifest.mesh")

COALESCE = 0.002  # seconds
MAX_PENDING = 64  # responses queued for one stream before it is closed
_END = None


class _Stream:
    __slots__ = ("subs", "outbox", "closed", "status")

    def __init__(self, subs: Subscriptions):
        self.subs = subs
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.closed = False
        self.status: tuple[grpc.StatusCode, str] | None = None  # how the stream ends, when not OK

    def send(self, responses: list, metrics) -> None:
        if self.closed:
            return
        for response in responses:
            metrics.pushed(response.type_url)
            self.outbox.put_nowait(response)
        if self.outbox.qsize() > MAX_PENDING:
            log.warning("xDS client too slow: closing its stream", extra={"client": self.subs.node_id,
                                                                          "peer": self.subs.peer})
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.outbox.put_nowait(_END)


class AdsServicer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
    def __init__(self, catalog, metrics, ready=lambda: True):
        self._catalog = catalog
        self._ready = ready
        self._metrics = metrics
        self._streams: set[_Stream] = set()
        self._dirty: set[str] | None = set()
        self._flush_at: asyncio.TimerHandle | None = None
        self.closed = False

    # ---- changes, from the store's listener (on the loop) --------------------
    def on_events(self, index, events) -> None:
        if not events or self.closed or not self._streams:
            return
        if self._dirty is not None:
            self._dirty.update(ev.record["name"] for ev in events)
        self._schedule()

    def on_restore(self, revision: int) -> None:
        self._catalog.reset()
        self._dirty = None  # everything may have changed
        if not self.closed:
            self._schedule()

    def _schedule(self) -> None:
        if self._flush_at is None:
            self._flush_at = asyncio.get_running_loop().call_later(COALESCE, self._flush)

    def _flush(self) -> None:
        self._flush_at = None
        dirty, self._dirty = self._dirty, set()
        for stream in list(self._streams):
            try:
                stream.send(stream.subs.on_change(dirty), self._metrics)
            except Exception:  # a bug must not stop the other streams' pushes
                log.exception("xDS push failed; closing the stream")
                stream.close()

    def close(self) -> None:
        """Shutting down: end every stream (clients reconnect to another node)."""
        self.closed = True
        if self._flush_at is not None:
            self._flush_at.cancel()
        for stream in list(self._streams):
            stream.close()

    # ---- the RPCs -------------------------------------------------------------
    async def StreamAggregatedResources(self, request_iterator, context):
        if self.closed:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "this node is shutting down")
        if not self._ready():
            # A node with no leader, or still catching up, could hand out an old or empty
            # catalog to a client that has a good one: it asks another server, or keeps its own.
            await context.abort(grpc.StatusCode.UNAVAILABLE, "this node is not ready (no leader, or catching up)")
        stream = _Stream(Subscriptions(self._catalog, context.peer(), self._metrics.nacked))
        self._streams.add(stream)
        self._metrics.streams.inc()
        reader = asyncio.get_running_loop().create_task(self._read(request_iterator, stream))
        try:
            while True:
                response = await stream.outbox.get()
                if response is _END:
                    if stream.status is not None:
                        await context.abort(*stream.status)
                    return
                yield response
        finally:
            stream.closed = True
            self._streams.discard(stream)
            self._metrics.streams.dec()
            reader.cancel()

    async def _read(self, request_iterator, stream: _Stream) -> None:
        try:
            async for request in request_iterator:
                stream.send(stream.subs.on_request(request), self._metrics)
        except asyncio.CancelledError:
            raise
        except grpc.RpcError:
            pass  # the client went away
        except TooManyNames as exc:
            log.warning("xDS request with too many resource names; ending its stream",
                        extra={"client": stream.subs.node_id, "peer": stream.subs.peer})
            stream.status = (grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except Exception:
            log.exception("xDS request failed; closing the stream")
        stream.close()

    async def DeltaAggregatedResources(self, request_iterator, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED,
                            "Manifest serves state-of-the-world xDS only (StreamAggregatedResources)")
