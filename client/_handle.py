"""What a registration handle is, apart from its loop: state, timing, and the client it may use.

:class:`RegistrationClient` and :class:`AsyncRegistrationClient` are the
narrow faces of a registry that a handle sees (register, heartbeat and
deregister its own instance); the registries hand each handle a small object
implementing one, never themselves. :class:`Handle` holds the state users
read (``record``, ``status``, ``last_error`` ...) and the timing rules both
``heartbeat.py`` loops follow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from ._models import Instance

__all__ = ["RegistrationClient", "AsyncRegistrationClient", "DEFAULT_TTL", "Handle"]

log = logging.getLogger("manifest_client")

#: TTL used when neither the caller nor the server names one.
DEFAULT_TTL = 30.0


class RegistrationClient(Protocol):
    """What a :class:`Registration` needs from its client: its own three calls.

    ``timeout`` and ``rounds`` override the client's defaults for one call, so
    that a heartbeat fails fast and makes a single pass over the endpoints.
    """

    def register(self, instance: Instance, *, timeout: float | None = None,
                 rounds: int | None = None) -> Instance: ...  # noqa: D102

    def heartbeat(self, name: str, id: str, status: str, *, generation: int | None = None,
                  load: float | None = None, timeout: float | None = None,
                  rounds: int | None = None) -> Instance | None: ...  # noqa: D102

    def deregister(self, name: str, id: str, generation: int | None = None) -> None: ...  # noqa: D102


class AsyncRegistrationClient(Protocol):
    """The same calls for an :class:`AsyncRegistration`, plus a blocking deregister.

    Signal handlers and ``atexit`` cannot await, so ``deregister_blocking``
    must work without the event loop.
    """

    async def register(self, instance: Instance, *, timeout: float | None = None,
                       rounds: int | None = None) -> Instance: ...  # noqa: D102

    async def heartbeat(self, name: str, id: str, status: str, *, generation: int | None = None,
                        load: float | None = None, timeout: float | None = None,
                        rounds: int | None = None) -> Instance | None: ...  # noqa: D102

    async def deregister(self, name: str, id: str, generation: int | None = None) -> None: ...  # noqa: D102

    def deregister_blocking(self, name: str, id: str, *, timeout: float,
                            generation: int | None = None) -> None: ...  # noqa: D102


class Handle:
    """State and timing shared by the sync and async handles."""

    def __init__(
        self,
        instance: Instance,
        *,
        health_check: Callable[[], Any] | None,
        heartbeat: bool,
        deregister_on_exit: bool,
        handle_signals: bool,
        load: Callable[[], float | None] | None = None,
    ) -> None:
        if not instance.id:
            raise ValueError("a heartbeat-managed instance needs an explicit id")
        self.instance = instance
        #: The latest record the registry returned for this instance.
        self.record: Instance = instance
        #: ``time.time()`` of the last successful register or heartbeat.
        self.last_success: float | None = None
        #: Heartbeats that failed in a row since the last success.
        self.consecutive_failures = 0
        #: The error of the last failed heartbeat, if any.
        self.last_error: BaseException | None = None
        #: The status sent with the last heartbeat: ``up`` or ``unhealthy``.
        self.status = "up"
        self._health_check = health_check
        self._load = load
        #: ``True`` once the registry said a newer registration of the same
        #: (name, id) replaced this one: heartbeats stop, and closing deletes nothing.
        self.fenced = False
        self._heartbeat = heartbeat
        self._deregister_on_exit = deregister_on_exit
        self._handle_signals = handle_signals and deregister_on_exit
        self._guard: SignalGuard | None = None
        self._closed = False

    @property
    def name(self) -> str:
        """The service name."""
        return self.instance.name

    @property
    def id(self) -> str:
        """The instance id (sent explicitly, generated if the caller gave none)."""
        return self.instance.id or ""

    @property
    def ttl(self) -> float:
        """Seconds without heartbeat after which the registry marks the instance down."""
        return float(self.instance.ttl or self.record.ttl or DEFAULT_TTL)

    @property
    def interval(self) -> float:
        """Seconds between heartbeats: a third of the TTL."""
        return self.ttl / 3

    @property
    def request_timeout(self) -> float:
        """Per-request timeout for heartbeats: short, so a dead node costs little."""
        return min(2.0, max(0.2, self.ttl / 6), self.interval)

    def _retry_delay(self) -> float:
        return min(self.interval, 0.5 * 2.0 ** (self.consecutive_failures - 1))

    @property
    def generation(self) -> int | None:
        """The generation the registry gave this registration (sent with every heartbeat)."""
        return self.record.generation

    def _load_now(self) -> float | None:
        if self._load is None:
            return None
        try:
            value = self._load()
        except Exception as exc:  # the user's callback must not stop heartbeats
            log.info("load callback of %s/%s raised: %r", self.name, self.id, exc)
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return min(1.0, max(0.0, float(value)))

    def _fence(self, exc: BaseException) -> float:
        self.fenced = True
        self.last_error = exc
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()  # the heartbeat loop ends now, not after another interval
        log.error("%s/%s was registered again by another process (generation %s is stale): "
                  "heartbeats stop", self.name, self.id, self.generation)
        return 0.0

    @staticmethod
    def _is_fenced(exc: BaseException) -> bool:
        return getattr(exc, "code", None) == "stale_generation"

    def _succeeded(self, record: Instance | None) -> float:
        if record is not None:
            self.record = record
        self.last_success = time.time()
        self.consecutive_failures = 0
        self.last_error = None
        return self.interval

    def _failed(self, exc: BaseException) -> float:
        self.consecutive_failures += 1
        self.last_error = exc
        log.warning("heartbeat for %s/%s failed (%d in a row): %s",
                    self.name, self.id, self.consecutive_failures, exc)
        return self._retry_delay()

    def _status_from(self, result: Any) -> str:
        self.status = "up" if result else "unhealthy"
        return self.status

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.name}/{self.id} status={self.status} "
                f"failures={self.consecutive_failures}>")
