"""Keeping a registration alive: the handles ``register()`` returns.

A handle registers its instance (always with an explicit id, so retries are
safe), then sends ``PUT .../heartbeat`` every ``ttl / 3`` seconds from a
background thread (:class:`Registration`) or asyncio task
(:class:`AsyncRegistration`).  It

* registers again when a heartbeat answers 404 (the instance expired or the
  registry lost it);
* reports ``unhealthy`` while the user's ``health_check`` returns a falsy value or raises;
* survives the loss of a registry node: each heartbeat uses a short timeout
  and one pass over the endpoints, and a failed beat is retried after 0.5 s,
  1 s, 2 s ... (never later than the normal interval), so an instance with
  ``ttl`` 30 s has about ten chances before it would be marked ``down``;
* deregisters when the ``with`` block ends, at interpreter exit if it was
  never closed, and, unless told not to, on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _ops
from ._errors import ManifestError, NotFound
from ._models import Instance
from ._signals import SignalGuard

if TYPE_CHECKING:
    from ._async_client import AsyncRegistry
    from ._sync_client import Registry

__all__ = ["Registration", "AsyncRegistration", "DEFAULT_TTL"]

log = logging.getLogger("manifest_client")

#: TTL used when neither the caller nor the server names one.
DEFAULT_TTL = 30.0


class _Handle:
    """State and timing shared by the sync and async handles."""

    def __init__(
        self,
        instance: Instance,
        *,
        health_check: Callable[[], Any] | None,
        heartbeat: bool,
        deregister_on_exit: bool,
        handle_signals: bool,
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


class Registration(_Handle):
    """A registered instance whose heartbeats run in a background thread.

    Returned by :meth:`Registry.register`; use it as a context manager, or
    call :meth:`close` yourself.
    """

    def __init__(self, registry: Registry, instance: Instance, **options: Any) -> None:
        super().__init__(instance, **options)
        self._registry = registry
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Registration:
        """Register (raising if that fails), then start heartbeats and signal handling."""
        self._register(self._check())
        if self._heartbeat:
            self._thread = threading.Thread(
                target=self._loop, name=f"manifest-heartbeat-{self.id}", daemon=True
            )
            self._thread.start()
        if self._handle_signals:
            self._guard = SignalGuard(self._on_signal)
            self._guard.install()
        if self._deregister_on_exit:
            atexit.register(self.close)
        return self

    @property
    def running(self) -> bool:
        """Whether the heartbeat thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _check(self) -> str:
        if self._health_check is None:
            return self._status_from(True)
        try:
            return self._status_from(self._health_check())
        except Exception as exc:
            log.info("health check of %s/%s raised: %r", self.name, self.id, exc)
            return self._status_from(False)

    def _register(self, status: str, **call_opts: Any) -> None:
        core = self._registry._core
        record: Instance | None = self._registry._run(_ops.register(core, self.instance, **call_opts))
        if status != "up":
            beat = _ops.heartbeat(core, self.name, self.id, status, **call_opts)
            record = self._registry._run(beat) or record
        self._succeeded(record)

    def _loop(self) -> None:
        delay = self.interval
        while not self._stop.wait(delay):
            delay = self._beat()

    def _beat(self) -> float:
        status = self._check()
        opts = {"timeout": self.request_timeout, "rounds": 1}
        core = self._registry._core
        try:
            try:
                record = self._registry._run(_ops.heartbeat(core, self.name, self.id, status, **opts))
            except NotFound:
                if self._stop.is_set():
                    return 0.0  # closing: a re-registration now would outlive the deregister
                log.info("registry forgot %s/%s; registering again", self.name, self.id)
                self._register(status, **opts)
                return self.interval
        except Exception as exc:  # the thread must outlive any single failure
            return self._failed(exc)
        return self._succeeded(record)

    def close(self, *, deregister: bool | None = None) -> None:
        """Stop heartbeats and (by default) deregister.  Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        atexit.unregister(self.close)
        if self._guard is not None:
            self._guard.uninstall()
        if self._thread is not None and self._thread is not threading.current_thread():
            # Wait for an in-flight beat so that it cannot re-register after we deregister.
            self._thread.join(timeout=self.request_timeout * 4 + 1.0)
        if self._deregister_on_exit if deregister is None else deregister:
            try:
                self._registry._run(_ops.deregister(self._registry._core, self.name, self.id))
            except NotFound:
                pass
            except ManifestError as exc:
                log.warning("could not deregister %s/%s: %s", self.name, self.id, exc)

    def _on_signal(self) -> None:
        self.close()

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncRegistration(_Handle):
    """A registered instance whose heartbeats run in an asyncio task.

    Returned by :meth:`AsyncRegistry.register`; use ``async with`` or
    ``await`` it (then call :meth:`aclose` yourself).  ``health_check`` may be
    a plain function (called on the event loop, so keep it quick) or a
    coroutine function.
    """

    def __init__(self, registry: AsyncRegistry, instance: Instance, **options: Any) -> None:
        super().__init__(instance, **options)
        self._registry = registry
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> AsyncRegistration:
        """Register (raising if that fails), then start heartbeats and signal handling."""
        self._stop = asyncio.Event()
        await self._register(await self._check())
        if self._heartbeat:
            self._task = asyncio.create_task(self._loop(), name=f"manifest-heartbeat-{self.id}")
        if self._handle_signals:
            self._guard = SignalGuard(self._close_blocking)
            self._guard.install()
        if self._deregister_on_exit:
            # The loop is gone by then: deregister with blocking I/O.
            atexit.register(self._close_blocking)
        return self

    @property
    def running(self) -> bool:
        """Whether the heartbeat task is still running."""
        return self._task is not None and not self._task.done()

    async def _check(self) -> str:
        if self._health_check is None:
            return self._status_from(True)
        try:
            result = self._health_check()
            if inspect.isawaitable(result):
                result = await result
            return self._status_from(result)
        except Exception as exc:
            log.info("health check of %s/%s raised: %r", self.name, self.id, exc)
            return self._status_from(False)

    async def _register(self, status: str, **call_opts: Any) -> None:
        core = self._registry._core
        record: Instance | None = await self._registry._run(_ops.register(core, self.instance, **call_opts))
        if status != "up":
            beat = _ops.heartbeat(core, self.name, self.id, status, **call_opts)
            record = await self._registry._run(beat) or record
        self._succeeded(record)

    async def _loop(self) -> None:
        assert self._stop is not None
        delay = self.interval
        while True:
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
                return
            except TimeoutError:
                pass
            delay = await self._beat()

    async def _beat(self) -> float:
        status = await self._check()
        opts = {"timeout": self.request_timeout, "rounds": 1}
        core = self._registry._core
        try:
            try:
                record = await self._registry._run(_ops.heartbeat(core, self.name, self.id, status, **opts))
            except NotFound:
                if self._stop is not None and self._stop.is_set():
                    return 0.0
                log.info("registry forgot %s/%s; registering again", self.name, self.id)
                await self._register(status, **opts)
                return self.interval
        except Exception as exc:  # the task must outlive any single failure
            return self._failed(exc)
        return self._succeeded(record)

    async def aclose(self, *, deregister: bool | None = None) -> None:
        """Stop heartbeats and (by default) deregister.  Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._stop is not None:
            self._stop.set()
        atexit.unregister(self._close_blocking)
        if self._guard is not None:
            self._guard.uninstall()
        if self._task is not None:
            # Let an in-flight beat finish so that it cannot re-register after we deregister.
            done, _ = await asyncio.wait({self._task}, timeout=self.request_timeout * 4 + 1.0)
            if not done:
                self._task.cancel()
        if self._deregister_on_exit if deregister is None else deregister:
            try:
                await self._registry._run(_ops.deregister(self._registry._core, self.name, self.id))
            except NotFound:
                pass
            except ManifestError as exc:
                log.warning("could not deregister %s/%s: %s", self.name, self.id, exc)

    def _close_blocking(self) -> None:
        # Signal handlers and atexit cannot await: stop the task, deregister with blocking I/O.
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._close_blocking)
        if self._guard is not None:
            self._guard.uninstall()
        try:
            if self._stop is not None:
                self._stop.set()
            if self._task is not None:
                self._task.cancel()
        except RuntimeError:
            pass  # the event loop is already closed: the task can no longer run anyway
        try:
            self._registry._deregister_blocking(self.name, self.id, timeout=self.request_timeout)
        except NotFound:
            pass
        except ManifestError as exc:
            log.warning("could not deregister %s/%s: %s", self.name, self.id, exc)

    def __await__(self) -> Any:
        return self.start().__await__()

    async def __aenter__(self) -> AsyncRegistration:
        if self._stop is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
