"""HTTP calls that say what their outcome means for the history.

A write is ``ok`` on 200/201 (and on a DELETE's 404: the instance was absent),
``fail`` when it certainly had no effect (it never left this process: refused
or timed-out connect; or 503 ``no_leader``), and ``unknown`` otherwise (a
timeout or reset after sending, 503 ``unknown_outcome`` or anything else). A
read is ``ok`` with a value (404 = absent) or ``fail``; reads have no effect.
Any status outside the contract for these calls is flagged as unexpected.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

EXPECTED = {200, 201, 404, 503}

# What every request of the run shows the nodes: a token and, for https, the TLS context
# trusting the run's CA and holding its client certificate (ChaosCluster sets them).
_CREDENTIALS: dict = {"token": None, "context": None}


def configure(token: str | None = None, context: ssl.SSLContext | None = None) -> None:
    _CREDENTIALS.update(token=token, context=context)


def auth_headers() -> dict:
    token = _CREDENTIALS["token"]
    return {"Authorization": f"Bearer {token}"} if token else {}


def connection(url: str, timeout: float) -> http.client.HTTPConnection:
    u = urlsplit(url)
    if u.scheme == "https":
        return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=_CREDENTIALS["context"])
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


@dataclass
class Reply:
    status: int | None  # None: transport error
    body: object = None
    error: str | None = None  # transport error, or the error code of an error body
    sent: bool = True  # False only when the connection was never made

    @property
    def code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("code")
        return self.error


def request(url: str, method: str, path: str, body=None, timeout: float = 3.0,
            connect_timeout: float = 1.0) -> Reply:
    conn = connection(url, connect_timeout)
    try:
        try:
            conn.connect()
        except OSError as exc:
            return Reply(None, error=f"connect: {exc.__class__.__name__}", sent=False)
        conn.sock.settimeout(timeout)
        data = None if body is None else json.dumps(body).encode()
        headers = {**auth_headers(), **({"Content-Type": "application/json"} if data is not None else {})}
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            kind = "timeout" if isinstance(exc, (socket.timeout, TimeoutError)) else exc.__class__.__name__
            return Reply(None, error=kind)
        parsed = None
        if raw and resp.getheader("Content-Type", "").startswith("application/json"):
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
        return Reply(resp.status, parsed)
    finally:
        conn.close()


def write_outcome(r: Reply) -> str:
    if r.status in (200, 201):
        return "ok"
    if r.status is None:
        return "unknown" if r.sent else "fail"
    if r.status == 503 and r.code == "no_leader":
        return "fail"
    return "unknown"


def unexpected(r: Reply, allow_404: bool = True) -> bool:
    """A status the contract does not foresee for our (valid) requests."""
    return r.status is not None and (r.status not in EXPECTED or (r.status == 404 and not allow_404))
