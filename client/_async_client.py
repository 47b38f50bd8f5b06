"""``AsyncRegistry``: the asyncio client.  The same ops as ``Registry``, awaited over aiohttp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import aiohttp

from . import _ops
from ._client import Call, ClientCore, Op
from ._errors import ConnectionFailed, ManifestError
from ._models import ClusterInfo, Health, Instance, Instances
from ._pick import Picker, Strategy
from ._stream import async_lines
from ._sync_client import drive, new_instance
from ._live import ServiceView, local_filter
from ._watch import WatchEvent, WatchSession
from ._transport import AsyncTransport, Request, Response, SyncTransport
from .heartbeat import AsyncRegistration

__all__ = ["AsyncRegistry", "AsyncTransportLike"]

T = TypeVar("T")


class AsyncTransportLike(Protocol):
    """What :class:`AsyncRegistry` needs from a transport."""

    async def handle_async_request(self, request: Request) -> Response: ...  # noqa: D102

    async def aclose(self) -> None: ...  # noqa: D102


class AsyncRegistry:
    """Asyncio client for a Manifest registry; same arguments as :class:`Registry`.

    Every method of :class:`Registry` exists here as a coroutine, except
    :meth:`register`, which returns an :class:`AsyncRegistration` to use with
    ``async with`` (or to ``await``).  Close the client with :meth:`aclose`
    or ``async with AsyncRegistry() as reg``.
    """

    def __init__(
        self,
        endpoints: str | Sequence[str] | None = None,
        *,
        timeout: float = 5.0,
        retries: int = 1,
        cache: bool = False,
        discover_members: bool = True,
        headers: Mapping[str, str] | None = None,
        consistency: str | None = None,
        transport: AsyncTransportLike | None = None,
        retry_wait: float = 0.25,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        live: bool = False,
    ) -> None:
        self._core = ClientCore(
            endpoints, timeout=timeout, retries=retries, cache=cache,
            discover_members=discover_members, headers=headers, consistency=consistency,
            retry_wait=retry_wait, backoff_base=backoff_base, backoff_max=backoff_max,
        )
        self._transport: AsyncTransportLike = transport or AsyncTransport()
        self._picker = Picker()
        self._live = live
        self._views: dict[str, ServiceView] = {}
        self._view_tasks: list[asyncio.Task] = []

    async def _attempt(self, call: Call) -> Response:
        attempts = self._core.attempts(call)
        while (step := attempts.next()) is not None:
            endpoint, delay = step
            if delay:
                await asyncio.sleep(delay)
            try:
                response = await self._transport.handle_async_request(self._core.build(call, endpoint))
            except ConnectionFailed as exc:
                attempts.failed(endpoint, exc)
                continue
            answer = attempts.answered(endpoint, response)
            if answer is not None:
                return answer
        raise attempts.exhausted()

    async def _send(self, call: Call) -> Response:
        if self._core.should_refresh(call):
            await self._run(_ops.refresh_members(self._core, call))
        return await self._attempt(call)

    async def _run(self, op: Op[T]) -> T:
        try:
            call = next(op)
            while True:
                try:
                    response = await self._send(call)
                except ManifestError as exc:
                    call = op.throw(exc)
                else:
                    call = op.send(response)
        except StopIteration as stop:
            result: T = stop.value
            return result

    def _deregister_blocking(self, name: str, id: str, *, timeout: float) -> None:
        # Used from signal handlers, which cannot await.
        transport: Any = self._transport
        temporary = None
        if not hasattr(transport, "handle_request"):
            transport = temporary = SyncTransport()
        try:
            drive(self._core, transport, _ops.deregister(self._core, name, id, timeout=timeout, rounds=1))
        finally:
            if temporary is not None:
                temporary.close()

    @property
    def endpoints(self) -> list[str]:
        """Every endpoint the client knows: seeds and discovered members."""
        return self._core.pool.endpoints

    @property
    def leader(self) -> str | None:
        """The leader's URL as last reported by the registry, if known."""
        return self._core.pool.leader

    def register(
        self,
        name: str,
        *,
        id: str | None = None,
        port: int | None = None,
        address: str | None = None,
        version: str | None = None,
        interfaces: Mapping[str, str] | None = None,
        tags: Iterable[str] = (),
        metadata: Mapping[str, str] | None = None,
        dependencies: Iterable[str] = (),
        ttl: float | None = None,
        health_check: Callable[[], Any] | None = None,
        heartbeat: bool = True,
        deregister_on_exit: bool = True,
        handle_signals: bool = True,
    ) -> AsyncRegistration:
        """A handle that registers on ``async with`` (or ``await``) and heartbeats in a task.

        Arguments as for :meth:`Registry.register`; ``health_check`` may also be
        a coroutine function.
        """
        instance = new_instance(
            name, id, port=port, address=address, version=version,
            interfaces=dict(interfaces or {}), tags=list(tags), metadata=dict(metadata or {}),
            dependencies=list(dependencies), ttl=ttl,
        )
        return AsyncRegistration(
            self, instance, health_check=health_check, heartbeat=heartbeat,
            deregister_on_exit=deregister_on_exit, handle_signals=handle_signals,
        )

    async def register_instance(self, instance: Instance | Mapping[str, Any]) -> Instance:
        """Register or update one record once (see :meth:`Registry.register_instance`)."""
        if not isinstance(instance, Instance):
            instance = Instance.from_dict(instance)
        return await self._run(_ops.register(self._core, instance))

    async def heartbeat(self, name: str, id: str, status: str = "up") -> Instance | None:
        """Send one heartbeat; ``NotFound`` means register again."""
        return await self._run(_ops.heartbeat(self._core, name, id, status))

    async def heartbeat_many(self, items) -> list[dict]:
        """Heartbeats for many instances in one request (see ``Registry.heartbeat_many``)."""
        return await self._run(_ops.heartbeat_many(self._core, items))

    async def deregister(self, name: str, id: str) -> None:
        """Remove an instance; ``NotFound`` if it is unknown."""
        await self._run(_ops.deregister(self._core, name, id))

    async def get(self, name: str, id: str) -> Instance:
        """One instance; ``NotFound`` if unknown."""
        return await self._run(_ops.get(self._core, name, id))

    async def discover(
        self,
        name: str,
        *,
        tags: str | Iterable[str] | None = None,
        version: str | None = None,
        metadata: Mapping[str, str] | None = None,
        status: str | Iterable[str] | None = "up",
    ) -> Instances:
        """Instances of ``name`` (see :meth:`Registry.discover`, including ``live``)."""
        if self._live:
            local = local_filter(tags, version, status)
            view = await self._view(name) if local is not None else None
            if view is not None:
                return view.select(local[0], local[1], metadata or {})
        op = _ops.discover(self._core, name, tags=tags, version=version, metadata=metadata, status=status)
        return await self._run(op)

    async def list_instances(
        self,
        *,
        service: str | None = None,
        status: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        version: str | None = None,
        metadata: Mapping[str, str] | None = None,
        depends_on: str | None = None,
    ) -> Instances:
        """All instances, filtered (see :meth:`Registry.list_instances`)."""
        return await self._run(_ops.list_instances(
            self._core, service=service, status=status, tags=tags, version=version,
            metadata=metadata, depends_on=depends_on,
        ))

    def pick(self, instances: Sequence[Instance], strategy: Strategy = "round_robin") -> Instance:
        """Choose one of ``instances`` (see :meth:`Registry.pick`)."""
        return self._picker.pick(instances, strategy)

    async def cluster(self) -> ClusterInfo:
        """Members, roles, leader and term, as the answering node sees them."""
        return await self._run(_ops.cluster(self._core))

    async def health(self, endpoint: str | None = None) -> Health:
        """Readiness of ``endpoint``, or of the first node that answers."""
        return await self._run(_ops.health(self._core, endpoint))

    async def health_all(self) -> list[Health]:
        """Readiness of every known node."""
        return await self._run(_ops.health_all(self._core))

    async def metrics(self, endpoint: str | None = None) -> str:
        """Prometheus text from ``endpoint``, or from the first node that answers."""
        return await self._run(_ops.metrics(self._core, endpoint))

    async def watch(self, name: str | None = None, since: int | None = None) -> AsyncIterator[WatchEvent]:
        """Async twin of :meth:`Registry.watch`: every change after ``since``, resuming across nodes."""
        async for event in self._watch(WatchSession(self._core.pool, name=name, since=since)):
            yield event

    async def _view(self, name: str) -> ServiceView | None:
        view = self._views.get(name)
        if view is not None:
            return view
        try:
            initial = await self.list_instances(service=name, status=None)
        except ManifestError:
            return None
        if name in self._views:  # another discover() created it while we listed
            return self._views[name]
        view = self._views[name] = ServiceView(initial)
        session = WatchSession(self._core.pool, name=name, since=initial.revision,
                               on_break=lambda: setattr(view, "streaming", False),
                               on_connect=lambda: setattr(view, "streaming", True))

        async def follow() -> None:
            async for event in self._watch(session):
                view.apply(event)

        self._view_tasks.append(asyncio.get_running_loop().create_task(follow()))
        return view

    async def _watch(self, session: WatchSession) -> AsyncIterator[WatchEvent]:
        async with aiohttp.ClientSession() as http:
            while True:
                for endpoint in session.endpoints() or [None]:
                    if endpoint is not None:
                        try:
                            async for line in async_lines(http, endpoint, session.target(),
                                                          {**self._core.headers, **session.headers()},
                                                          self._core.timeout):
                                event = session.feed(line)
                                if event is not None:
                                    yield event
                        except ManifestError:
                            pass  # refused, reset, 503...: try the next node
                    await asyncio.sleep(session.broke(endpoint))

    async def aclose(self) -> None:
        """Close the HTTP session and stop live views."""
        for task in self._view_tasks:
            task.cancel()
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncRegistry:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
