"""Leader forwarding: the one place a follower talks to the leader's node.

A follower coalesces the writes it receives and sends them as one msgpack
batch to the leader's internal endpoint; the leader stamps and proposes them
and answers with each command's result and the log index that holds them.
Read-index requests for linearizable reads travel the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import aiohttp
import msgpack

from .. import errors

PROPOSE_PATH = "/v1/internal/propose"
READ_INDEX_PATH = "/v1/internal/read-index"
AUTH_HEADER = "X-Manifest-Cluster-Auth"


def sign(secret: str | None, body: bytes) -> str:
    if not secret:
        return ""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str | None, body: bytes, signature: str) -> bool:
    if not secret:
        return True
    return hmac.compare_digest(sign(secret, body), signature or "")


class Forwarder:
    def __init__(self, secret: str | None):
        self._secret = secret
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30),
            auto_decompress=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _post(self, leader_url: str, path: str, payload, timeout: float) -> dict:
        body = msgpack.packb(payload, use_bin_type=True)
        headers = {"Content-Type": "application/msgpack", AUTH_HEADER: sign(self._secret, body)}
        sent = False
        try:
            async with asyncio.timeout(timeout):
                async with self._session.post(leader_url + path, data=body, headers=headers) as resp:
                    sent = True
                    data = await resp.read()
                    if resp.status != 200:
                        raise _remote_error(resp.status, data)
                    return msgpack.unpackb(data, raw=False)
        except (aiohttp.ClientConnectorError, ConnectionRefusedError):
            # Never reached the leader: nothing can have been committed.
            raise errors.NoLeader(f"leader {leader_url} unreachable") from None
        except (aiohttp.ClientError, TimeoutError, asyncio.TimeoutError):
            if not sent and path == READ_INDEX_PATH:
                raise errors.NoLeader(f"leader {leader_url} did not answer") from None
            raise errors.UnknownOutcome(f"lost contact with leader {leader_url}") from None

    async def propose(self, leader_url: str, commands: list, timeout: float) -> dict:
        return await self._post(leader_url, PROPOSE_PATH, {"commands": commands}, timeout)

    async def read_index(self, leader_url: str, timeout: float) -> int:
        return (await self._post(leader_url, READ_INDEX_PATH, {}, timeout))["index"]


def _remote_error(status: int, data: bytes) -> errors.ManifestError:
    try:
        body = msgpack.unpackb(data, raw=False)["error"]
        code, message = body.get("code", "unavailable"), body.get("message", "")
    except Exception:
        code, message = "unavailable", f"leader answered {status}"
    if code == "no_leader":
        return errors.NoLeader(message)  # refused before proposing: nothing committed
    # Anything else may have happened after the commands were proposed.
    return errors.UnknownOutcome(f"leader answered {status}: {message}")
