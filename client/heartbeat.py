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
from typing import Any

from ._errors import Conflict, ManifestError, NotFound
from ._handle import DEFAULT_TTL, AsyncRegistrationClient, Handle, RegistrationClient
from ._models import Instance
from ._signals import SignalGuard

__all__ = ["Registration", "AsyncRegistration", "RegistrationClient", "AsyncRegistrationClient", "DEFAULT_TTL"]

log = logging.getLogger("manifest_client")


class Registration(Handle):
    """A registered instance whose heartbeats run in a background thread.

    Returned by :meth:`Registry.register`; use it as a context manager, or
    call :meth:`close` yourself.
    """

    def __init__(self, client: RegistrationClient, instance: Instance, **options: Any) -> None:
        super().__init__(instance, **options)
        self._client = client
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
        record: Instance | None = self._client.register(self.instance, **call_opts)
        if status != "up":
            record = self._client.heartbeat(self.name, self.id, status, **call_opts) or record
        self._succeeded(record)

    def _loop(self) -> None:
        delay = self.interval
        while not self._stop.wait(delay):
            delay = self._beat()
            if self.fenced:
                return

    def _beat(self) -> float:
        status = self._check()
        opts = {"timeout": self.request_timeout, "rounds": 1}
        try:
            try:
                record = self._client.heartbeat(self.name, self.id, status, generation=self.generation,
                                                load=self._load_now(), **opts)
            except Conflict as exc:
                if self._is_fenced(exc):
                    return self._fence(exc)
                raise
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
        if (self._deregister_on_exit if deregister is None else deregister) and not self.fenced:
            try:
                self._client.deregister(self.name, self.id, self.generation)
            except (NotFound, Conflict):  # gone, or replaced by a newer registration: not ours to delete
                pass
            except ManifestError as exc:
                log.warning("could not deregister %s/%s: %s", self.name, self.id, exc)

    def _on_signal(self) -> None:
        self.close()

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncRegistration(Handle):
    """A registered instance whose heartbeats run in an asyncio task.

    Returned by :meth:`AsyncRegistry.register`; use ``async with`` or
    ``await`` it (then call :meth:`aclose` yourself).  ``health_check`` may be
    a plain function (called on the event loop, so keep it quick) or a
    coroutine function.
    """

    def __init__(self, client: AsyncRegistrationClient, instance: Instance, **options: Any) -> None:
        super().__init__(instance, **options)
        self._client = client
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
        record: Instance | None = await self._client.register(self.instance, **call_opts)
        if status != "up":
            record = await self._client.heartbeat(self.name, self.id, status, **call_opts) or record
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
            if self.fenced:
                return

    async def _beat(self) -> float:
        status = await self._check()
        opts = {"timeout": self.request_timeout, "rounds": 1}
        try:
            try:
                record = await self._client.heartbeat(self.name, self.id, status, generation=self.generation,
                                                      load=self._load_now(), **opts)
            except Conflict as exc:
                if self._is_fenced(exc):
                    return self._fence(exc)
                raise
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
        if (self._deregister_on_exit if deregister is None else deregister) and not self.fenced:
            try:
                await self._client.deregister(self.name, self.id, self.generation)
            except (NotFound, Conflict):  # gone, or replaced by a newer registration: not ours to delete
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
        if self.fenced:
            return
        try:
            self._client.deregister_blocking(self.name, self.id, timeout=self.request_timeout,
                                             generation=self.generation)
        except (NotFound, Conflict):
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
