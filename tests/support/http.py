"""A tiny blocking HTTP helper for tests (standard library only)."""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    headers: dict
    body: object
    raw: bytes


def call(base_url: str, method: str, path: str, body=None, *, headers=None, raw: bytes | None = None,
         timeout: float = 5.0, context: ssl.SSLContext | None = None) -> Reply:
    """``context``: for an https:// ``base_url`` (the CA to trust, a client certificate to show)."""
    u = urlsplit(base_url)
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    hdrs = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        parsed: object = None
        if resp.getheader("Content-Type", "").startswith("application/json") and payload:
            parsed = json.loads(payload)
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed, payload)
    finally:
        conn.close()
