"""The audit log: every write and every denied request, one JSON object per line.

Fields (docs/security.md, "Audit log"): ``time`` (UTC, ms), ``node``,
``token_id`` and ``role`` (null when auth is off), ``remote``, ``method``,
``path``, ``service``, ``instance``, ``status``, ``outcome`` (``ok``,
``denied``, ``rate_limited``, ``refused``, ``error``) and ``request_id``
(the X-Request-ID the client sent, or one made here and sent back).

Written through a buffer flushed every second and at shut-down, so a write
costs a node a dict and one ``orjson.dumps``, not a system call. Rotation
is by size, as logging's RotatingFileHandler does it: ``audit.log`` becomes
``audit.log.1`` and so on, ``backups`` files kept. A failing disk never
fails a request: the line is counted as lost and the node logs once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os

import orjson

log = logging.getLogger("manifest.audit")

OUTCOMES = ("ok", "denied", "rate_limited", "refused", "error")
_MAX_PATH = 512


def outcome(status: int, code: str | None = None) -> str:
    if status < 400:
        return "ok"
    if status in (401, 403):
        return "denied"
    if status == 429 and code == "rate_limited":
        return "rate_limited"
    return "refused" if status < 500 else "error"


class AuditLog:
    def __init__(self, path: str, max_bytes: int, backups: int, node: str):
        self.path, self.max_bytes, self.backups, self.node = path, max_bytes, backups, node
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.lost = 0
        self._file = None
        self._size = 0
        self._warned = False

    def open(self) -> None:
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self._file = open(self.path, "ab", buffering=256 * 1024)
        self._size = self._file.tell()

    def record(self, *, status: int, code: str | None, token_id: str | None, role: str | None,
               remote: str | None, method: str, path: str, service: str | None, instance: str | None,
               request_id: str) -> None:
        result = outcome(status, code)
        self.counts[result] += 1
        line = orjson.dumps({
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "node": self.node, "token_id": token_id, "role": role, "remote": remote, "method": method,
            "path": path[:_MAX_PATH], "service": service, "instance": instance, "status": status,
            "outcome": result, "request_id": request_id,
        }) + b"\n"
        try:
            if self._file is None:
                self.open()
            if self._size + len(line) > self.max_bytes and self._size:
                self._rotate()
            self._file.write(line)
            self._size += len(line)
        except OSError as exc:
            self._failed(exc)

    def _rotate(self) -> None:
        self._file.close()
        if self.backups:
            for i in range(self.backups - 1, 0, -1):
                older = f"{self.path}.{i}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{i + 1}")
            os.replace(self.path, f"{self.path}.1")
        else:
            os.unlink(self.path)
        self._file = open(self.path, "ab", buffering=256 * 1024)
        self._size = 0

    def flush(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as exc:
                self._failed(exc)

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    def _failed(self, exc: OSError) -> None:
        self.lost += 1
        if not self._warned:
            self._warned = True
            log.error("cannot write the audit log %s: %s; audit lines are being lost (counted in "
                      "manifest_audit_lines_lost_total)", self.path, exc.strerror)
