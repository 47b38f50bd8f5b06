"""``Registry``: the blocking client.  A thin driver of the shared ops over a sync transport."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from . import _ops
from ._credentials import Credentials
from ._membership import Membership
from ._tokens import Tokens
from . import _ops_features as _features
from ._client import ClientCore, Op
from ._drive import drive
from ._errors import ManifestError, error_from_response
from ._http import Request, Response
from ._live import ServiceView, follow, local_filter
from ._models import Check, Graph, Impact, ClusterInfo, Health, Instance, Instances
from ._pick import Picker, Strategy
from ._transport import SyncTransport
from ._watch import WatchEvent, WatchSession
from .heartbeat import Registration

__all__ = ["Registry", "SyncTransportLike"]

T = TypeVar("T")


class SyncTransportLike(Protocol):
    """What :class:`Registry` needs from a transport."""

    def handle_request(self, request: Request) -> Response: ...  # noqa: D102

    def close(self) -> None: ...  # noqa: D102


class _HandleClient:
    """A :class:`Registration`'s narrow view of its registry: its own three calls."""

    def __init__(self, core: ClientCore, run: Callable[[Op[Any]], Any]) -> None:
        self._core, self._run = core, run

    def register(self, instance: Instance, *, timeout: float | None = None,
                 rounds: int | None = None) -> Instance:
        return self._run(_ops.register(self._core, instance, timeout=timeout, rounds=rounds))

    def heartbeat(self, name: str, id: str, status: str, *, generation: int | None = None,
                  load: float | None = None, timeout: float | None = None,
                  rounds: int | None = None) -> Instance | None:
        return self._run(_ops.heartbeat(self._core, name, id, status, generation=generation, load=load,
                                             timeout=timeout, rounds=rounds))

    def deregister(self, name: str, id: str, generation: int | None = None) -> None:
        self._run(_ops.deregister(self._core, name, id, generation))


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
        token: bearer token for every request; default: env ``MANIFEST_TOKEN``.
        cacert: PEM bundle of the CAs to trust for ``https://`` endpoints;
            default: env ``MANIFEST_CACERT``, else the system's.
        client_cert, client_key: certificate (and key) to show a node that
            requires one (mTLS); default: env ``MANIFEST_CLIENT_CERT`` / ``_KEY``.
            A ``transport`` passed in keeps its own TLS settings.
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
        self._transport: SyncTransportLike = transport or SyncTransport(ssl_context=creds.ssl_context())
        #: Token administration (an admin token needed): create, list, rotate, revoke.
        self.tokens = Tokens(self._core, self._run)
        #: Cluster membership (an admin token needed): add a --join node, remove a voter.
        self.membership = Membership(self._core, self._run)
        if live and not hasattr(self._transport, "handle_stream"):
            raise TypeError("live=True needs a transport with handle_stream(request)")
        self._picker = Picker()
        self._live = live
        self._views: dict[str, ServiceView] = {}
        self._views_lock = threading.Lock()
        self._closed = threading.Event()

    def _run(self, op: Op[T]) -> T:
        return drive(self._core, op, self._transport.handle_request, time.sleep)

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
    ) -> Registration:
        """Register this process and keep it alive with background heartbeats.

        Returns a :class:`Registration` (a context manager) once the registry
        has accepted the record; raises :class:`ManifestError` if it did not.
        ``id`` defaults to ``f"{name}-<12 hex digits>"``.  See
        :mod:`manifest_client.heartbeat` for the heartbeat behaviour.
        """
        instance = _ops.new_instance(
            name, id, port=port, address=address, version=version,
            interfaces=dict(interfaces or {}), tags=list(tags), metadata=dict(metadata or {}),
            dependencies=list(dependencies), ttl=ttl, weight=weight,
            check=check if check is None or isinstance(check, Check) else Check.from_dict(check),
        )
        handle = Registration(
            _HandleClient(self._core, self._run), instance,
            health_check=health_check, load=load, heartbeat=heartbeat, deregister_on_exit=deregister_on_exit, handle_signals=handle_signals,
        )
        return handle.start()

    def register_instance(self, instance: Instance | Mapping[str, Any], *, strict: bool | None = None) -> Instance:
        """Register or update one record once, without heartbeats.

        With an ``id`` the call is idempotent and fails over; without one the
        server generates the id and the request is never sent twice.
        """
        if not isinstance(instance, Instance):
            instance = Instance.from_dict(instance)
        return self._run(_ops.register(self._core, instance, strict))

    def heartbeat(self, name: str, id: str, status: str = "up", *, generation: int | None = None,
                  load: float | None = None, metadata: Mapping[str, str | None] | None = None) -> Instance | None:
        """Send one heartbeat (``up`` or ``unhealthy``); ``NotFound`` means register again."""
        return self._run(_ops.heartbeat(self._core, name, id, status, generation=generation, load=load,
                                             metadata=metadata))

    def heartbeat_many(self, items) -> list[dict]:
        """Heartbeats for many instances in one request: ``[(name, id[, status]), ...]``.

        One result dict per item, in order; ``ok`` False with ``error`` ``not_found``
        means that instance must register again. Any number of items: sent 250 per request."""
        return self._run(_ops.heartbeat_many(self._core, items))

    def deregister(self, name: str, id: str, generation: int | None = None) -> None:
        """Remove an instance; ``NotFound`` if it is unknown, ``Conflict`` if ``generation`` is stale."""
        self._run(_ops.deregister(self._core, name, id, generation))

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
        region: str | None = None,
        failover: bool | str = False,
    ) -> Instances:
        """Instances of ``name`` (by default only ``up`` ones), filtered by the server.

        ``tags`` must all match; ``version`` is a range such as ``">=1.2,<2"``;
        ``metadata`` entries must match exactly; ``status=None`` returns every
        status.  An unknown service gives an empty list.  ``region`` asks another
        region (``"*"``: all, each instance with ``extra["region"]``); ``failover=True``
        (or ``"nearest"``) lets the node answer from another region when this one has no
        instance (docs/federation.md).
        """
        if self._live and not region and not failover:  # live views follow this region only
            local = local_filter(tags, version, status)
            view = self._view(name) if local is not None else None
            if view is not None:
                return view.select(local[0], local[1], metadata or {})
        op = _ops.discover(self._core, name, tags=tags, version=version, metadata=metadata, status=status,
                           region=region, failover=failover)
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
        session = self._core.watch_session(name, initial.revision,
                                           on_break=lambda: setattr(view, "streaming", False),
                                           on_connect=lambda: setattr(view, "streaming", True))
        events = self._watch(session)
        threading.Thread(target=follow, args=(view, events, self._closed, lambda: self._forget(name, view)),
                         name=f"manifest-live-{name}", daemon=True).start()
        return view

    def _forget(self, name: str, view: ServiceView) -> None:
        # The watch gave up (every node refused it): the next discover() asks the server.
        with self._views_lock:
            if self._views.get(name) is view:
                del self._views[name]

    def list_instances(
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
        """All instances (every status unless ``status`` is given), following pagination."""
        return self._run(_ops.list_instances(
            self._core, service=service, status=status, tags=tags, version=version,
            metadata=metadata, depends_on=depends_on, include_removed=include_removed, region=region,
        ))

    def register_many(self, instances: Sequence[Instance | Mapping[str, Any]], *,
                      strict: bool | None = None) -> list[Instance]:
        """Register up to 500 instances as one committed command: all of them, or none (an error).

        Each record comes back with its ``generation`` (and ``warnings``); no heartbeats are sent."""
        return self._run(_features.register_many(self._core, list(instances), strict))

    def drain(self, name: str, id: str, *, deadline: float | None = None,
              generation: int | None = None) -> Instance:
        """Drain an instance: out of ``pick`` and default discovery, removed after ``deadline`` seconds."""
        return self._run(_features.drain(self._core, name, id, deadline, generation))

    def undrain(self, name: str, id: str, *, generation: int | None = None) -> Instance:
        """End draining."""
        return self._run(_features.undrain(self._core, name, id, generation))

    def maintenance(self, name: str, id: str, on: bool = True, *, reason: str | None = None) -> Instance:
        """Put an instance in maintenance (never expired meanwhile) with a reason, or end it (``on=False``)."""
        return self._run(_features.maintenance(self._core, name, id, on, reason))

    def choose(self, name: str, strategy: Strategy = "round_robin", *,
               tags: str | Iterable[str] | None = None, version: str | None = None,
               metadata: Mapping[str, str] | None = None,
               status: str | Iterable[str] | None = None) -> Instance:
        """Ask the registry to pick one instance (the rules of :meth:`pick`); ``NotFound`` if none qualifies."""
        return self._run(_features.choose(self._core, name, strategy, tags=tags, version=version,
                                                  metadata=metadata, status=status))

    def graph(self) -> Graph:
        """The dependency graph: services, declared dependencies (satisfied or not), cycles."""
        return self._run(_features.graph(self._core))

    def impact(self, name: str, id: str | None = None) -> Impact:
        """Every service that transitively depends on ``name`` (or on its instance ``id``)."""
        return self._run(_features.impact(self._core, name, id))

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
        with the full list). Stop by breaking out of the loop or closing the
        client. Raises only when every endpoint refused the watch for a reason
        retrying cannot fix (:class:`Unauthorized`, :class:`TLSError` ...).
        """
        return self._watch(self._core.watch_session(name, since))

    def _watch(self, session: WatchSession) -> Iterator[WatchEvent]:
        handle_stream = getattr(self._transport, "handle_stream", None)
        if handle_stream is None:
            raise TypeError(f"{type(self._transport).__name__} has no handle_stream(request): it cannot watch")
        return self._events(session, handle_stream)

    def _events(self, session: WatchSession, handle_stream: Callable[[Request], Response]) -> Iterator[WatchEvent]:
        while not self._closed.is_set():
            for endpoint in session.endpoints():
                error = None
                try:
                    response = handle_stream(session.request(endpoint))
                    try:
                        if response.status != 200:
                            raise error_from_response(response.status, response.read(), response.headers, endpoint)
                        session.connected(endpoint)
                        for line in response.iter_lines():
                            event = session.feed(line)
                            if event is not None:
                                yield event
                    finally:
                        response.close()
                except ManifestError as exc:
                    error = exc  # refused, reset, stalled, 503...: the next node resumes
                if self._closed.is_set():
                    return
                time.sleep(session.broke(endpoint, error))

    def close(self) -> None:
        """Close idle connections, and end watches and live views."""
        self._closed.set()
        self._transport.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
