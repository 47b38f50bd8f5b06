"""Everything a chaos run creates is written down first, so it can always be undone.

Each run owns a ``Ledger``: a JSON file in ``/tmp/manifest-chaos/`` naming
its owner process, the processes it started (pid + start time, so a reused
pid is never signalled), its network namespaces, links and bridge. The run
releases its ledger in ``finally`` and at exit; ``python -m tests.chaos
--cleanup`` releases the ledgers of owners that are no longer alive (or all
of them with ``--force``). Releasing is idempotent: missing things are fine.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import threading
import time

STATE_DIR = "/tmp/manifest-chaos"


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: distinguishes a pid from a later reuse of it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _same_process(pid: int, started: str | None) -> bool:
    return started is not None and process_start_time(pid) == started


def run_quiet(args: list[str], timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


class Ledger:
    def __init__(self, name: str):
        os.makedirs(STATE_DIR, exist_ok=True)
        self.path = os.path.join(STATE_DIR, f"{name}.json")
        self._lock = threading.Lock()
        self.data = {"owner": os.getpid(), "owner_started": process_start_time(os.getpid()),
                     "pids": {}, "netns": [], "links": [], "created": time.time()}
        self._save()
        atexit.register(self.release)

    @classmethod
    def load(cls, path: str) -> "Ledger":
        ledger = cls.__new__(cls)
        ledger.path, ledger._lock = path, threading.Lock()
        with open(path) as f:
            ledger.data = json.load(f)
        return ledger

    def _save(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f)
        os.replace(tmp, self.path)

    def add_pid(self, pid: int, what: str) -> None:
        with self._lock:
            self.data["pids"][str(pid)] = [process_start_time(pid), what]
            self._save()

    def drop_pid(self, pid: int) -> None:
        with self._lock:
            self.data["pids"].pop(str(pid), None)
            self._save()

    def add(self, kind: str, name: str) -> None:
        """Record a netns or link *before* creating it."""
        with self._lock:
            if name not in self.data[kind]:
                self.data[kind].append(name)
                self._save()

    def owner_alive(self) -> bool:
        return _same_process(self.data["owner"], self.data.get("owner_started"))

    def release(self) -> list[str]:
        """Kill recorded processes, delete namespaces and links, forget the ledger."""
        done = []
        with self._lock:
            pids = dict(self.data.get("pids", {}))
        for pid_s, (started, what) in pids.items():
            pid = int(pid_s)
            if _same_process(pid, started):
                try:
                    os.kill(pid, signal.SIGKILL)  # works on stopped processes too
                    done.append(f"killed {what} (pid {pid})")
                except ProcessLookupError:
                    pass
                _reap(pid)
        for ns in reversed(self.data.get("netns", [])):
            if run_quiet(["ip", "netns", "del", ns]).returncode == 0:
                done.append(f"deleted netns {ns}")
        for link in reversed(self.data.get("links", [])):
            if run_quiet(["ip", "link", "del", link]).returncode == 0:
                done.append(f"deleted link {link}")
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        with self._lock:
            self.data["pids"], self.data["netns"], self.data["links"] = {}, [], []
        return done


def _reap(pid: int) -> None:
    """Wait (briefly) for a killed child so it does not linger as a zombie."""
    for _ in range(50):
        try:
            got, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child: just wait for it to vanish
            if not os.path.exists(f"/proc/{pid}"):
                return
            got = 0
        if got:
            return
        time.sleep(0.02)


def cleanup_orphans(force: bool = False) -> list[str]:
    """Release ledgers whose owner is gone (every ledger with ``force``)."""
    done = []
    if not os.path.isdir(STATE_DIR):
        return done
    for name in sorted(os.listdir(STATE_DIR)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(STATE_DIR, name)
        try:
            ledger = Ledger.load(path)
        except (OSError, ValueError):
            continue
        if force or not ledger.owner_alive():
            done += [f"{name}: {line}" for line in ledger.release()] or [f"{name}: nothing left"]
    return done
