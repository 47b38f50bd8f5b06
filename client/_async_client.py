"""``AsyncRegistry``: the asyncio client.  The same ops as ``Registry``, awaited over aiohttp."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from . import _ops
from ._credentials import Credentials
from ._membership import Membership
from ._tokens import Tokens
from . import _ops_features as _features
from ._client import ClientCore, Op
from ._drive import drive, drive_async
from ._errors import ManifestError, error_from_response
from ._http import Request, Response
from ._live import ServiceView, follow_async, local_filter
from ._models import Check, Graph, Impact, ClusterInfo, Health, Instance, Instances
from ._pick import Picker, Strategy
from ._async_transport import AsyncTransport
from ._transport import SyncTransport
from ._watch import WatchEvent, WatchSession
from .heartbeat import AsyncRegistration

__all__ = ["AsyncRegistry", "AsyncTransportLike"]

T = TypeVar("T")


class AsyncTransportLike(Protocol):
    """What :class:`AsyncRegistry` needs from a transport."""

    async def handle_async_request(self, request: Request) -> Response: ...  # noqa: D102

    async def aclose(self) -> None: ...  # noqa: D102


class _HandleClient:
    """An :class:`AsyncRegistration`'s narrow view of its registry: its own calls."""

    def __init__(self, core: ClientCore, run: Callable[[Op[Any]], Awaitable[Any]],
                 transport: AsyncTransportLike) -> None:
        self._core, self._run, self._transport = core, run, transport

    async def register(self, instance: Instance, *, timeout: float | None = None,
                       rounds: int | None = None) -> Instance:
        return await self._run(_ops.register(self._core, instance, timeout=timeout, rounds=rounds))

    async def heartbeat(self, name: str, id: str, status: str, *, generation: int | None = None,
                  load: float | None = None, timeout: float | None = None,
                        rounds: int | None = None) -> Instance | None:
        return await self._run(_ops.heartbeat(self._core, name, id, status, generation=generation, load=load,
                                             timeout=timeout, rounds=rounds))

    async def deregister(self, name: str, id: str, generation: int | None = None) -> None:
        await self._run(_ops.deregister(self._core, name, id, generation))

    def deregister_blocking(self, name: str, id: str, *, timeout: float, generation: int | None = None) -> None:
        # AsyncTransport and MockTransport can also send without the loop (with
        # the same TLS settings); any other transport gets a plain SyncTransport.
        transport: Any = self._transport
        temporary = None
        if not hasattr(transport, "handle_request"):
            transport = temporary = SyncTransport()
        try:
            op = _ops.deregister(self._core, name, id, generation, timeout=timeout, rounds=1)
            drive(self._core, op, transport.handle_request, time.sleep)
        finally:
            if temporary is not None:
                temporary.close()


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
        token: str | None = None,
        cacert: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
    ) -> None:
        creds = Credentials.resolve(token=token, cacert=cacert, client_cert=client_cert, client_key=client_key)
        self._core = ClientCore(
            endpoints, timeout=timeout, retries=retries, cache=cache,
            discover_members=discover_members, headers={**creds.headers(), **(headers or {})},
            consistency=consistency, retry_wait=retry_wait, backoff_base=backoff_base, backoff_max=backoff_max,
        )
        self._transport: AsyncTransportLike = transport or AsyncTransport(ssl_context=creds.ssl_context())
        #: Token administration (an admin token needed): create, list, rotate, revoke.
        self.tokens = Tokens(self._core, self._run)
        #: Cluster membership (an admin token needed): add a --join node, remove a voter.
        self.membership = Membership(self._core, self._run)
        if live and not hasattr(self._transport, "handle_async_stream"):
            raise TypeError("live=True needs a transport with handle_async_stream(request)")
        self._picker = Picker()
        self._live = live
        self._views: dict[str, ServiceView] = {}
        self._view_tasks: list[asyncio.Task] = []
        self._closed = False

    async def _run(self, op: Op[T]) -> T:
        return await drive_async(self._core, op, self._transport.handle_async_request, asyncio.sleep)

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
        weight: float | None = None,
        check: Check | Mapping[str, Any] | None = None,
        load: Callable[[], float | None] | None = None,
        health_check: Callable[[], Any] | None = None,
        heartbeat: bool = True,
        deregister_on_exit: bool = True,
        handle_signals: bool = True,
    ) -> AsyncRegistration:
        """A handle that registers on ``async with`` (or ``await``) and heartbeats in a task.

        Arguments as for :meth:`Registry.register`; ``health_check`` may also be
        a coroutine function.
        """
        instance = _ops.new_instance(
            name, id, port=port, address=address, version=version,
            interfaces=dict(interfaces or {}), tags=list(tags), metadata=dict(metadata or {}),
            dependencies=list(dependencies), ttl=ttl, weight=weight,
            check=check if check is None or isinstance(check, Check) else Check.from_dict(check),
        )
        return AsyncRegistration(
            _HandleClient(self._core, self._run, self._transport), instance,
            health_check=health_check, load=load, heartbeat=heartbeat,
            deregister_on_exit=deregister_on_exit, handle_signals=handle_signals,
        )

    async def register_instance(self, instance: Instance | Mapping[str, Any], *, strict: bool | None = None) -> Instance:
        """Register or update one record once (see :meth:`Registry.register_instance`)."""
        if not isinstance(instance, Instance):
            instance = Instance.from_dict(instance)
        return await self._run(_ops.register(self._core, instance, strict))

    async def heartbeat(self, name: str, id: str, status: str = "up", *, generation: int | None = None,
                  load: float | None = None, metadata: Mapping[str, str | None] | None = None) -> Instance | None:
        """Send one heartbeat; ``NotFound`` means register again."""
        return await self._run(_ops.heartbeat(self._core, name, id, status, generation=generation, load=load,
                                             metadata=metadata))

    async def heartbeat_many(self, items) -> list[dict]:
        """Heartbeats for many instances in one request (see ``Registry.heartbeat_many``)."""
        return await self._run(_ops.heartbeat_many(self._core, items))

    async def deregister(self, name: str, id: str, generation: int | None = None) -> None:
        """Remove an instance; ``NotFound`` if it is unknown, ``Conflict`` if ``generation`` is stale."""
        await self._run(_ops.deregister(self._core, name, id, generation))

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
        region: str | None = None,
        failover: bool | str = False,
    ) -> Instances:
        """Instances of ``name`` (see :meth:`Registry.discover`, including ``live``)."""
        if self._live and not region and not failover:  # live views follow this region only
            local = local_filter(tags, version, status)
            view = await self._view(name) if local is not None else None
            if view is not None:
                return view.select(local[0], local[1], metadata or {})
        op = _ops.discover(self._core, name, tags=tags, version=version, metadata=metadata, status=status,
                           region=region, failover=failover)
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
        include_removed: bool = False,
        region: str | None = None,
    ) -> Instances:
        """All instances, filtered (see :meth:`Registry.list_instances`)."""
        return await self._run(_ops.list_instances(
            self._core, service=service, status=status, tags=tags, version=version,
            metadata=metadata, depends_on=depends_on, include_removed=include_removed, region=region,
        ))

    async def register_many(self, instances: Sequence[Instance | Mapping[str, Any]], *,
                      strict: bool | None = None) -> list[Instance]:
        """Register up to 500 instances as one committed command: all of them, or none (an error).

        Each record comes back with its ``generation`` (and ``warnings``); no heartbeats are sent."""
        return await self._run(_features.register_many(self._core, list(instances), strict))

    async def drain(self, name: str, id: str, *, deadline: float | None = None,
              generation: int | None = None) -> Instance:
        """Drain an instance: out of ``pick`` and default discovery, removed after ``deadline`` seconds."""
        return await self._run(_features.drain(self._core, name, id, deadline, generation))

    async def undrain(self, name: str, id: str, *, generation: int | None = None) -> Instance:
        """End draining."""
        return await self._run(_features.undrain(self._core, name, id, generation))

    async def maintenance(self, name: str, id: str, on: bool = True, *, reason: str | None = None) -> Instance:
        """Put an instance in maintenance (never expired meanwhile) with a reason, or end it (``on=False``)."""
        return await self._run(_features.maintenance(self._core, name, id, on, reason))

    async def choose(self, name: str, strategy: Strategy = "round_robin", *,
               tags: str | Iterable[str] | None = None, version: str | None = None,
               metadata: Mapping[str, str] | None = None,
               status: str | Iterable[str] | None = None) -> Instance:
        """Ask the registry to pick one instance (the rules of :meth:`pick`); ``NotFound`` if none qualifies."""
        return await self._run(_features.choose(self._core, name, strategy, tags=tags, version=version,
                                                  metadata=metadata, status=status))

    async def graph(self) -> Graph:
        """The dependency graph: services, declared dependencies (satisfied or not), cycles."""
        return await self._run(_features.graph(self._core))

    async def impact(self, name: str, id: str | None = None) -> Impact:
        """Every service that transitively depends on ``name`` (or on its instance ``id``)."""
        return await self._run(_features.impact(self._core, name, id))

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

    def watch(self, name: str | None = None, since: int | None = None) -> AsyncIterator[WatchEvent]:
        """Async twin of :meth:`Registry.watch`: every change after ``since``, resuming across nodes."""
        return self._watch(self._core.watch_session(name, since))

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
        session = self._core.watch_session(name, initial.revision,
                                           on_break=lambda: setattr(view, "streaming", False),
                                           on_connect=lambda: setattr(view, "streaming", True))

        def forget() -> None:
            # The watch gave up (every node refused it): the next discover() asks the server.
            if self._views.get(name) is view:
                del self._views[name]

        self._view_tasks.append(asyncio.get_running_loop().create_task(
            follow_async(view, self._watch(session), forget), name=f"manifest-live-{name}"))
        return view

    def _watch(self, session: WatchSession) -> AsyncIterator[WatchEvent]:
        handle_stream = getattr(self._transport, "handle_async_stream", None)
        if handle_stream is None:
            raise TypeError(f"{type(self._transport).__name__} has no handle_async_stream(request): "
                            "it cannot watch")
        return self._events(session, handle_stream)

    async def _events(self, session: WatchSession,
                      handle_stream: Callable[[Request], Awaitable[Response]]) -> AsyncIterator[WatchEvent]:
        while not self._closed:
            for endpoint in session.endpoints():
                error = None
                try:
                    response = await handle_stream(session.request(endpoint))
                    try:
                        if response.status != 200:
                            body = await response.aread()
                            raise error_from_response(response.status, body, response.headers, endpoint)
                        session.connected(endpoint)
                        async with aclosing(response.aiter_lines()) as lines:
                            async for line in lines:
                                event = session.feed(line)
                                if event is not None:
                                    yield event
                    finally:
                        await response.aclose()
                except ManifestError as exc:
                    error = exc  # refused, reset, stalled, 503...: the next node resumes
                if self._closed:
                    return
                await asyncio.sleep(session.broke(endpoint, error))

    async def aclose(self) -> None:
        """Close the transport, after stopping live views; ends the client's watches."""
        self._closed = True
        for task in self._view_tasks:
            task.cancel()
        await asyncio.gather(*self._view_tasks, return_exceptions=True)
        self._view_tasks = []
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncRegistry:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
