"""The HTTP half of forwarding: signed msgpack POSTs to the leader's internal endpoints.

Which failures prove that nothing committed matters to the caller: a
connection that was never made, or a ``no_leader`` answer (the leader refused
before proposing), is ``NoLeader`` and may be sent again; a request that may
have reached a leader and got no clear answer is ``UnknownOutcome``. A
leader that does not read our forwarding format (another release, refusing
before it proposes) is ``Unavailable`` ``leader_incompatible``: nothing
committed, and sending it again to the same leader cannot help.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import msgpack

from .. import errors
from ..peer_protocol import (AUTH_HEADER, FORWARD_FORMAT, FORWARD_FORMAT_HEADER, PROPOSE_PATH, READ_INDEX_PATH,
                             decode_outcomes, sign)


class LeaderClient:
    def __init__(self, secret: str | None, ssl_context=None):
        self._secret = secret
        self._ssl = ssl_context  # https:// leaders: verified against the peer CA, our certificate shown
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30, ssl=self._ssl or True),
            auto_decompress=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def propose(self, leader_url: str, commands: list, timeout: float) -> tuple[int, list]:
        """(log index, per command its Result or the Unavailable error it ended in)."""
        reply = await self._post(leader_url, PROPOSE_PATH, {"commands": commands}, timeout)
        try:
            outcomes = decode_outcomes(reply["results"])
        except (KeyError, TypeError, ValueError):
            raise errors.UnknownOutcome(f"leader {leader_url} answered no readable results") from None
        if len(outcomes) != len(commands):
            raise errors.UnknownOutcome(f"leader {leader_url} answered {len(outcomes)} of {len(commands)}")
        return reply["index"], outcomes

    async def read_index(self, leader_url: str, timeout: float) -> int:
        return (await self._post(leader_url, READ_INDEX_PATH, {}, timeout))["index"]

    def _headers(self, body: bytes) -> dict:
        return {"Content-Type": "application/msgpack", "Accept": "application/msgpack",
                AUTH_HEADER: sign(self._secret, body), FORWARD_FORMAT_HEADER: str(FORWARD_FORMAT)}

    async def call(self, url: str, path: str, payload: dict, timeout: float) -> dict:
        """A signed request whose 4xx/503 answer is passed on as the same error
        (membership changes: the leader's refusal is the caller's answer)."""
        body = msgpack.packb(payload, use_bin_type=True)
        headers = self._headers(body)
        try:
            async with asyncio.timeout(timeout):
                async with self._session.post(url + path, data=body, headers=headers) as resp:
                    data = await resp.read()
                    answer = _answer(resp.status, data)
                    if resp.status == 200:
                        return answer
        except (aiohttp.ClientConnectorError, ConnectionRefusedError):
            raise errors.Unavailable(f"{url} is unreachable", code="node_unreachable") from None
        except (aiohttp.ClientError, OSError, TimeoutError, asyncio.TimeoutError):
            raise errors.UnknownOutcome(f"lost contact with {url}; check GET /v1/cluster") from None
        err = answer.get("error") if isinstance(answer.get("error"), dict) else {}
        if _refused_format(resp.status, err):
            raise incompatible(url, err.get("message", ""))
        cls = errors.NoLeader if err.get("code") == "no_leader" else _PASSED_ON.get(resp.status, errors.UnknownOutcome)
        raise cls(f"{url}: {err.get('message', '')}", err.get("field"), code=err.get("code"))

    async def _post(self, leader_url: str, path: str, payload, timeout: float) -> dict:
        body = msgpack.packb(payload, use_bin_type=True)
        headers = self._headers(body)
        sent = False
        try:
            async with asyncio.timeout(timeout):
                async with self._session.post(leader_url + path, data=body, headers=headers) as resp:
                    sent = True
                    data = await resp.read()
                    if resp.status != 200:
                        raise _remote_error(resp.status, data, leader_url)
                    reply = msgpack.unpackb(data, raw=False)
        except (aiohttp.ClientConnectorError, ConnectionRefusedError):
            # Never reached the leader: nothing can have been committed.
            raise errors.NoLeader(f"leader {leader_url} unreachable") from None
        except (aiohttp.ClientError, OSError, TimeoutError, asyncio.TimeoutError, ValueError):
            # Lost, reset or cut short (a leader killed while it answers; TLS errors are
            # OSErrors, an incomplete body a msgpack ValueError): the commands may have committed.
            if not sent and path == READ_INDEX_PATH:
                raise errors.NoLeader(f"leader {leader_url} did not answer") from None
            raise errors.UnknownOutcome(f"lost contact with leader {leader_url}") from None
        if not isinstance(reply, dict):
            raise errors.UnknownOutcome(f"leader {leader_url} answered something unreadable")
        return reply


_PASSED_ON = {400: errors.InvalidInput, 404: errors.NotFound, 409: errors.Conflict, 503: errors.Unavailable}


def _answer(status: int, data: bytes) -> dict:
    try:
        return msgpack.unpackb(data, raw=False)
    except Exception:
        try:
            return json.loads(data)
        except ValueError:
            return {"error": {"code": "unavailable", "message": f"answered {status}"}}


def incompatible(url: str, message: str) -> errors.Unavailable:
    """The leader refused our forwarding format before proposing: a 503 that says nothing committed."""
    return errors.Unavailable(f"leader {url} does not read forwarding format {FORWARD_FORMAT} "
                              f"(it runs another release): {message}", code="leader_incompatible")


def _refused_format(status: int, err: dict) -> bool:
    return status == 400 and err.get("field") == FORWARD_FORMAT_HEADER


def _remote_error(status: int, data: bytes, url: str = "") -> errors.ManifestError:
    # msgpack as asked for, or JSON: what an error middleware or a proxy may answer instead.
    body = _answer(status, data)
    err = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
    code = err.get("code") if isinstance(err.get("code"), str) else "unavailable"
    message = err.get("message") if isinstance(err.get("message"), str) else f"leader answered {status}"
    if _refused_format(status, err):
        return incompatible(url, message)
    if code == "no_leader":
        return errors.NoLeader(message)  # refused before proposing: nothing committed
    if status == 500:
        # A bug on the leader: not an outage to retry through (the outcome is unknown too).
        return errors.InternalError(f"the leader failed: {message}")
    # Anything else may have happened after the commands were proposed.
    return errors.UnknownOutcome(f"leader answered {status}: {message}")
