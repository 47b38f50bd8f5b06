"""Deregister on SIGTERM/SIGINT without taking the signal away from anyone else.

The guard runs its callback once, then passes the signal on to the handler
that was installed before it: a Python callable is called, ``SIG_IGN`` stays
ignored, and the default action is carried out by re-raising the signal with
the default disposition (so SIGTERM still terminates, SIGINT still interrupts).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["SignalGuard"]

log = logging.getLogger("manifest_client")

_DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SignalGuard:
    """Calls ``callback`` on the first SIGTERM/SIGINT, then chains to the previous handler."""

    def __init__(self, callback: Callable[[], None], signals: tuple[int, ...] = _DEFAULT_SIGNALS) -> None:
        self._callback = callback
        self._signals = signals
        self._previous: dict[int, Any] = {}
        self._active = False

    def install(self) -> bool:
        """Install the handlers; returns ``False`` (and does nothing) off the main thread."""
        if threading.current_thread() is not threading.main_thread():
            log.debug("not installing signal handlers: not on the main thread")
            return False
        for signum in self._signals:
            self._previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._handle)
        self._active = True
        return True

    def uninstall(self) -> None:
        """Stop reacting; restore the previous handlers where ours is still on top."""
        self._active = False
        if threading.current_thread() is not threading.main_thread():
            return  # our handler stays in place but only passes signals on
        for signum, previous in self._previous.items():
            # Bound methods compare equal, never identical: use ==.
            if signal.getsignal(signum) == self._handle:
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._active:
            self._active = False
            try:
                self._callback()
            except Exception:  # a failed deregistration must not swallow the signal
                log.exception("deregistration on signal %s failed", signum)
        self._chain(signum, frame)

    def _chain(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
