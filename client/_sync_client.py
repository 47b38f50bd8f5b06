"""``Registry``: the blocking client.  A thin driver of the shared ops over a sync transport."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from . import _ops
from ._client import Call, ClientCore, Op
from ._errors import ConnectionFailed, ManifestError
from ._models import ClusterInfo, Health, Instance, Instances
from ._pick import Picker, Strategy
from ._transport import Request, Response, SyncTransport
from ._stream import sync_lines
from ._live import ServiceView, follow, local_filter
from ._watch import WatchEvent, WatchSession
from .heartbeat import Registration

__all__ = ["Registry", "SyncTransportLike", "drive", "new_instance"]

T = TypeVar("T")


class SyncTransportLike(Protocol):
    """What :class:`Registry` needs from a transport."""

    def handle_request(self, request: Request) -> Response: ...  # noqa: D102

    def close(self) -> None: ...  # noqa: D102


def _attempt(core: ClientCore, transport: SyncTransportLike, call: Call) -> Response:
    attempts = core.attempts(call)
    while (step := attempts.next()) is not None:
        endpoint, delay = step
        if delay:
            time.sleep(delay)
        try:
            response = transport.handle_request(core.build(call, endpoint))
        except ConnectionFailed as exc:
            attempts.failed(endpoint, exc)
            continue
        answer = attempts.answered(endpoint, response)
        if answer is not None:
            return answer
    raise attempts.exhausted()


def _send(core: ClientCore, transport: SyncTransportLike, call: Call) -> Response:
    if core.should_refresh(call):
        drive(core, transport, _ops.refresh_members(core, call))
    return _attempt(core, transport, call)


def drive(core: ClientCore, transport: SyncTransportLike, op: Op[T]) -> T:
    """Run one op to completion with blocking I/O."""
    try:
        call = next(op)
        while True:
            try:
                response = _send(core, transport, call)
            except ManifestError as exc:
                call = op.throw(exc)
            else:
                call = op.send(response)
    except StopIteration as stop:
        result: T = stop.value
        return result


def new_instance(name: str, id: str | None, **fields: Any) -> Instance:
    """An :class:`Instance` for ``register()``, with a generated id when none is given."""
    return Instance(name=name, id=id or f"{name}-{uuid.uuid4().hex[:12]}", **fields)


class Registry:
    """Blocking client for a Manifest registry.

    Args:
        endpoints: registry URLs, as a list or a comma-separated string;
            default: env ``MANIFEST_URL``, else ``http://127.0.0.1:8500``.
            One seed is enough: the other members are learnt from ``/v1/cluster``.
        timeout: per-request timeout in seconds.
        retries: extra passes over all endpoints after every one failed (reads
            and idempotent writes only), with a short growing pause between.
        cache: keep discovery results and serve them, flagged ``stale``, when
            no endpoint can answer.
        discover_members: learn the cluster's other nodes from ``/v1/cluster``.
        headers: extra HTTP headers for every request (e.g. authorization).
        consistency: ``"local"`` or ``"linearizable"`` for reads; server default if ``None``.
        transport: anything with ``handle_request(Request) -> Response``;
            default: :class:`SyncTransport`.
        retry_wait, backoff_base, backoff_max: pause before another pass, and the
            back-off (seconds) of an endpoint that failed.
        live: keep each discovered service current from the watch stream and
            answer ``discover`` locally (filters other than ``version``);
            flagged ``stale`` while every node is unreachable.
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
        transport: SyncTransportLike | None = None,
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
        self._transport: SyncTransportLike = transport or SyncTransport()
        self._picker = Picker()
        self._live = live
        self._views: dict[str, ServiceView] = {}
        self._views_lock = threading.Lock()
        self._stop_views = threading.Event()

    def _run(self, op: Op[T]) -> T:
        return drive(self._core, self._transport, op)

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
    ) -> Registration:
        """Register this process and keep it alive with background heartbeats.

        Returns a :class:`Registration` (a context manager) once the registry
        has accepted the record; raises :class:`ManifestError` if it did not.
        ``id`` defaults to ``f"{name}-<12 hex digits>"``.  See
        :mod:`manifest_client.heartbeat` for the heartbeat behaviour.
        """
        instance = new_instance(
            name, id, port=port, address=address, version=version,
            interfaces=dict(interfaces or {}), tags=list(tags), metadata=dict(metadata or {}),
            dependencies=list(dependencies), ttl=ttl,
        )
        handle = Registration(
            self, instance, health_check=health_check, heartbeat=heartbeat,
            deregister_on_exit=deregister_on_exit, handle_signals=handle_signals,
        )
        return handle.start()

    def register_instance(self, instance: Instance | Mapping[str, Any]) -> Instance:
        """Register or update one record once, without heartbeats.

        With an ``id`` the call is idempotent and fails over; without one the
        server generates the id and the request is never sent twice.
        """
        if not isinstance(instance, Instance):
            instance = Instance.from_dict(instance)
        return self._run(_ops.register(self._core, instance))

    def heartbeat(self, name: str, id: str, status: str = "up") -> Instance | None:
        """Send one heartbeat (``up`` or ``unhealthy``); ``NotFound`` means register again."""
        return self._run(_ops.heartbeat(self._core, name, id, status))

    def heartbeat_many(self, items) -> list[dict]:
        """Heartbeats for many instances in one request: ``[(name, id[, status]), ...]``.

        One result dict per item, in order; ``ok`` False with ``error`` ``not_found``
        means that instance must register again. Any number of items: sent 250 per request."""
        return self._run(_ops.heartbeat_many(self._core, items))

    def deregister(self, name: str, id: str) -> None:
        """Remove an instance; ``NotFound`` if it is unknown."""
        self._run(_ops.deregister(self._core, name, id))

    def get(self, name: str, id: str) -> Instance:
        """One instance; ``NotFound`` if unknown."""
        return self._run(_ops.get(self._core, name, id))

    def discover(
        self,
        name: str,
        *,
        tags: str | Iterable[str] | None = None,
        version: str | None = None,
        metadata: Mapping[str, str] | None = None,
        status: str | Iterable[str] | None = "up",
    ) -> Instances:
        """Instances of ``name`` (by default only ``up`` ones), filtered by the server.

        ``tags`` must all match; ``version`` is a range such as ``">=1.2,<2"``;
        ``metadata`` entries must match exactly; ``status=None`` returns every
        status.  An unknown service gives an empty list.
        """
        if self._live:
            local = local_filter(tags, version, status)
            view = self._view(name) if local is not None else None
            if view is not None:
                return view.select(local[0], local[1], metadata or {})
        op = _ops.discover(self._core, name, tags=tags, version=version, metadata=metadata, status=status)
        return self._run(op)

    def _view(self, name: str) -> ServiceView | None:
        """The live view of ``name``, started on first use; None if the registry is unreachable."""
        with self._views_lock:
            view = self._views.get(name)
            if view is not None:
                return view
            try:
                initial = self.list_instances(service=name, status=None)
            except ManifestError:
                return None
            view = self._views[name] = ServiceView(initial)
        session = WatchSession(self._core.pool, name=name, since=initial.revision,
                               on_break=lambda: setattr(view, "streaming", False),
                               on_connect=lambda: setattr(view, "streaming", True))
        threading.Thread(target=follow, args=(view, self._watch(session), self._stop_views),
                         name=f"manifest-live-{name}", daemon=True).start()
        return view

    def list_instances(
        self,
        *,
        service: str | None = None,
        status: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        version: str | None = None,
        metadata: Mapping[str, str] | None = None,
        depends_on: str | None = None,
    ) -> Instances:
        """All instances (every status unless ``status`` is given), following pagination."""
        return self._run(_ops.list_instances(
            self._core, service=service, status=status, tags=tags, version=version,
            metadata=metadata, depends_on=depends_on,
        ))

    def pick(self, instances: Sequence[Instance], strategy: Strategy = "round_robin") -> Instance:
        """Choose one of ``instances`` (``round_robin``, ``random`` or ``least_loaded``)."""
        return self._picker.pick(instances, strategy)

    def cluster(self) -> ClusterInfo:
        """Members, roles, leader and term, as the answering node sees them."""
        return self._run(_ops.cluster(self._core))

    def health(self, endpoint: str | None = None) -> Health:
        """Readiness of ``endpoint``, or of the first node that answers."""
        return self._run(_ops.health(self._core, endpoint))

    def health_all(self) -> list[Health]:
        """Readiness of every known node; unreachable ones have status ``unreachable``."""
        return self._run(_ops.health_all(self._core))

    def metrics(self, endpoint: str | None = None) -> str:
        """Prometheus text from ``endpoint``, or from the first node that answers."""
        return self._run(_ops.metrics(self._core, endpoint))

    def watch(self, name: str | None = None, since: int | None = None) -> Iterator[WatchEvent]:
        """Every change after revision ``since`` (of service ``name``, or all), forever.

        Survives node failures: on a broken stream it reconnects to the next
        endpoint and resumes after the last revision it yielded, so no change
        is skipped or repeated. ``since=None`` starts with the next change;
        ``since=0`` replays the history the node keeps (or a ``reset`` event
        with the full list). Stop by breaking out of the loop.
        """
        return self._watch(WatchSession(self._core.pool, name=name, since=since))

    def _watch(self, session: WatchSession) -> Iterator[WatchEvent]:
        while True:
            for endpoint in session.endpoints() or [None]:
                if endpoint is not None:
                    try:
                        for line in sync_lines(endpoint, session.target(),
                                               {**self._core.headers, **session.headers()}, self._core.timeout):
                            event = session.feed(line)
                            if event is not None:
                                yield event
                    except ManifestError:
                        pass  # refused, reset, 503...: try the next node
                time.sleep(session.broke(endpoint))

    def close(self) -> None:
        """Close idle connections and stop live views."""
        self._stop_views.set()
        self._transport.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
