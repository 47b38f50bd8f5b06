"""A watch-stream consumer in a thread that can reconnect elsewhere (tests only)."""

from __future__ import annotations

import http.client
import json
import threading
from urllib.parse import urlsplit


class Watcher:
    """Collects (id, event, name, instance id) from /v1/watch, resuming by Last-Event-ID."""

    def __init__(self, url: str, since: int | None = 0, name: str | None = None):
        self.url, self.name = url, name
        self.last = since
        self.events: list[tuple] = []
        self.resets: list[int] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._switch = threading.Event()
        self._conn: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Watcher":
        self._thread.start()
        return self

    def move_to(self, url: str) -> None:
        """Drop the current stream and resume on another node."""
        self.url = url
        self._switch.set()
        if self._conn is not None and self._conn.sock is not None:
            self._conn.sock.shutdown(2)

    def stop(self) -> None:
        self._stop.set()
        if self._conn is not None and self._conn.sock is not None:
            try:
                self._conn.sock.shutdown(2)
            except OSError:
                pass
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._switch.clear()
            try:
                self._stream()
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if not (self._stop.is_set() or self._switch.is_set()):
                    self.errors.append(repr(exc))
                    self._stop.wait(0.1)

    def _stream(self) -> None:
        u = urlsplit(self.url)
        self._conn = conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        path = "/v1/watch" + (f"?name={self.name}" if self.name else "")
        headers = {"Last-Event-ID": str(self.last)} if self.last is not None else {}
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            raise ValueError(f"watch answered {resp.status}")
        current: dict = {}
        while not self._stop.is_set():
            line = resp.fp.readline()
            if not line:
                raise OSError("stream closed")
            line = line.decode().rstrip("\n")
            if line == "" and "data" in current:
                rev, kind, data = int(current["id"]), current["event"], json.loads(current["data"])
                if kind == "reset":
                    self.resets.append(rev)
                else:
                    self.events.append((rev, kind, data["name"], data["id"]))
                self.last = rev
                current = {}
            elif line and not line.startswith(":"):
                key, _, value = line.partition(": ")
                current[key] = value
