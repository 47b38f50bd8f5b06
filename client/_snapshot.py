"""Backup transfers for ``manifest snapshot save|restore``: streamed both ways, checked on the way.

Not through the client core: a backup is megabytes, and the core reads whole
answers into memory and retries. Here ``save`` writes the answer to
``FILE.part`` as it arrives, checking it with the offline reader
(_snapshot_file.py), and renames it to ``FILE`` only when the checksum
matched: a cut connection never leaves a file that looks like a backup.
``restore`` checks the file first (a damaged one is refused without
sending anything), then streams it to the leader, which replicates it
(the node would forward from a follower, but only backups under 15 MiB
compressed fit what nodes forward to each other). Credentials and TLS come
from the same environment as every other command (_credentials.py).
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from ._credentials import Credentials
from ._errors import ConnectionFailed, ManifestError, error_from_response
from ._snapshot_file import file_chunks, verify, verify_file
from ._transport import merge_headers

__all__ = ["save", "restore"]

CONTENT_TYPE = "application/vnd.manifest.snapshot"
# Saving 100,000 instances takes seconds, restoring them longer (every node applies the state).
TRANSFER_TIMEOUT = 300.0
_BLOCK = 1 << 20


def _connect(url: str, creds: Credentials, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.netloc, timeout=timeout, context=creds.ssl_context(), blocksize=_BLOCK)
    else:
        conn = http.client.HTTPConnection(parts.netloc, timeout=timeout, blocksize=_BLOCK)
    try:
        conn.connect()
    except OSError as exc:
        conn.close()
        raise ConnectionFailed(f"cannot connect: {exc}", sent=False, endpoint=url) from None
    conn.sock.settimeout(max(timeout, TRANSFER_TIMEOUT))
    return conn


def _prefix(url: str) -> str:
    return urlsplit(url).path.rstrip("/")


def _first(endpoints: list[str], creds: Credentials, timeout: float) -> tuple[str, http.client.HTTPConnection]:
    last: ManifestError | None = None
    for url in endpoints:
        try:
            return url, _connect(url, creds, timeout)
        except ConnectionFailed as exc:
            last = exc
    raise last or ConnectionFailed("no endpoint given", sent=False)


def _fail(url: str, resp: http.client.HTTPResponse) -> ManifestError:
    return error_from_response(resp.status, resp.read(), merge_headers(resp.getheaders()), url)


def save(endpoints: list[str], creds: Credentials, path: str, timeout: float) -> dict[str, Any]:
    """Write a backup taken by the first reachable endpoint to ``path``; its header and size."""
    url, conn = _first(endpoints, creds, timeout)
    part = path + ".part"
    try:
        conn.request("GET", _prefix(url) + "/v1/snapshot", headers=creds.headers())
        resp = conn.getresponse()
        if resp.status != 200:
            raise _fail(url, resp)
        with open(part, "wb") as out:
            def pieces() -> Iterator[bytes]:
                while piece := resp.read1(_BLOCK):
                    out.write(piece)
                    yield piece

            try:
                header, size = verify(pieces())
            except ValueError as exc:
                raise ManifestError(f"the backup arrived damaged or incomplete ({exc}); nothing was saved",
                                    endpoint=url) from None
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, path)
        return {"endpoint": url, "size": size, **header}
    except OSError as exc:
        raise ConnectionFailed(f"the backup transfer failed: {exc}; nothing was saved", sent=True,
                               endpoint=url) from None
    finally:
        conn.close()
        if os.path.exists(part):
            os.unlink(part)


def _leader(endpoints: list[str], creds: Credentials, timeout: float) -> list[str]:
    """The leader first (from any member's /v1/health), then the endpoints given."""
    for url in endpoints:
        try:
            conn = _connect(url, creds, timeout)
        except ConnectionFailed:
            continue
        try:
            conn.sock.settimeout(timeout)
            conn.request("GET", _prefix(url) + "/v1/health", headers=creds.headers())
            leader = json.loads(conn.getresponse().read() or b"{}").get("leader")
        except (OSError, ValueError, http.client.HTTPException):
            continue
        finally:
            conn.close()
        if isinstance(leader, str) and leader:
            return [leader.rstrip("/")] + [u for u in endpoints if u != leader.rstrip("/")]
    return list(endpoints)


def restore(endpoints: list[str], creds: Credentials, path: str, force: bool, timeout: float) -> dict[str, Any]:
    """Check ``path``, then replace the registry's state with it; the node's answer."""
    header, size = verify_file(path)  # ValueError (SnapshotFileError) before anything is sent
    url, conn = _first(_leader(endpoints, creds, timeout), creds, timeout)
    try:
        with open(path, "rb") as f:
            conn.request("POST", _prefix(url) + "/v1/snapshot/restore" + ("?force=true" if force else ""),
                         body=file_chunks(f, _BLOCK),
                         headers={**creds.headers(), "Content-Type": CONTENT_TYPE, "Content-Length": str(size)})
        resp = conn.getresponse()
        if resp.status != 200:
            raise _fail(url, resp)
        answer: dict[str, Any] = json.loads(resp.read())
        return {"endpoint": url, "file": header, **answer}
    except (OSError, http.client.HTTPException) as exc:
        raise ConnectionFailed(f"the restore request failed: {exc}; check the cluster's state before retrying",
                               sent=True, endpoint=url) from None
    finally:
        conn.close()
