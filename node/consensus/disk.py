"""Whether this node can write its state files, and what failed when it cannot.

The journal, the meta file and snapshots report each write here. A node
whose journal or meta writes fail must not acknowledge, vote or lead: its
writes raise back into pysyncobj (which then neither appends, answers nor
votes), the leader steps down (adapter.py), and ``/v1/health`` says why. When
a write succeeds again the problem clears by itself. One log line per change
of state, not per failed write: a full disk fails every write.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from dataclasses import dataclass

log = logging.getLogger("manifest.disk")

FILES = ("journal", "meta", "snapshot")


@dataclass(frozen=True, slots=True)
class Problem:
    file: str  # one of FILES
    error: str  # e.g. "ENOSPC: No space left on device"
    since: float  # unix time

    def as_dict(self) -> dict:
        return {"file": self.file, "error": self.error, "since": round(self.since, 3)}


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{errno.errorcode.get(exc.errno, exc.errno)}: {exc.strerror}"
    if isinstance(exc, SlowDisk):
        return f"slow: {exc}"
    return f"{type(exc).__name__}: {exc}"


class SlowDisk(Exception):
    """Durable writes take longer than the ``slow_fsync`` setting allows."""


class DiskHealth:
    # Consecutive slow fsyncs before the disk counts as slow (one can be a hiccup).
    SLOW_IN_A_ROW = 5

    def __init__(self, slow_fsync: float = 0.1):
        self._lock = threading.Lock()  # the Raft thread and the snapshot worker both report
        self._problems: dict[str, Problem] = {}
        self.errors = {f: 0 for f in FILES}  # failed writes since start, per file
        self._slow_fsync = slow_fsync
        self._slow_run = 0

    def failed(self, file: str, exc: BaseException) -> None:
        # The caller re-raises it into pysyncobj, whose tick loop then logs no traceback (PATCHES.md).
        exc.manifest_disk_reported = True
        with self._lock:
            self.errors[file] += 1
            if file in self._problems:
                return
            self._problems[file] = Problem(file, describe(exc), time.time())
        log.error("cannot write the %s: %s; this node acknowledges nothing it cannot persist "
                  "until writes succeed again", file, describe(exc), extra={"file": file})

    def synced(self, file: str, seconds: float) -> None:
        """A durable write of ``file`` worked and took ``seconds``: a slow disk is a problem too.

        A leader whose every fsync takes 200 ms holds the whole cluster's writes
        to that pace; reporting it makes the node step down to a faster one."""
        if seconds > self._slow_fsync:
            self._slow_run += 1
            if self._slow_run >= self.SLOW_IN_A_ROW:
                self.failed(file, SlowDisk(f"fsync took {seconds * 1000:.0f} ms "
                                           f"(slow_fsync is {self._slow_fsync * 1000:.0f} ms)"))
            return
        self._slow_run = 0
        self.succeeded(file)

    def succeeded(self, file: str) -> None:
        if file not in self._problems:  # the common case, without the lock
            return
        with self._lock:
            problem = self._problems.pop(file, None)
        if problem is not None:
            log.warning("writing the %s works again", file, extra={"file": file,
                                                                   "failed_for_s": round(time.time() - problem.since, 1)})

    def probe(self, folder: str) -> None:
        """While a problem lasts: does a small durable write in ``folder`` work again?

        A follower that cannot write appends nothing, and a node that cannot
        write does not run for leader: without a probe nothing would ever
        try again, and a one-node cluster would stay down after space returns."""
        if not self._problems:
            return
        path = os.path.join(folder, ".manifest-write-probe")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                data = b"\0" * 65536
                done = 0
                while done < len(data):
                    done += os.write(fd, data[done:])
                started = time.monotonic()
                os.fsync(fd)
                took = time.monotonic() - started
            finally:
                os.close(fd)
                os.unlink(path)
        except OSError:
            return
        if took > self._slow_fsync:
            return  # writes work, but the disk is still slow
        self._slow_run = 0
        for file in list(self._problems):
            self.succeeded(file)

    @property
    def ok(self) -> bool:
        """True unless the journal or meta file cannot be written (a failed snapshot is not fatal)."""
        problems = self._problems
        return "journal" not in problems and "meta" not in problems

    def problems(self) -> list[dict]:
        return [p.as_dict() for p in list(self._problems.values())]
