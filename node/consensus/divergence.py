"""Divergence detection: a rolling hash of what each node applied, compared across nodes.

Raft promises that every node applies the same entry at every index. If a
bug breaks that (issue 19: a node applied entries no majority held), final
states may still converge through a later snapshot while reads and watch
streams served wrong data in between. So, as etcd's corruption check does,
every node keeps ``digest(i) = blake2b(digest(i-1) || i || envelope)`` over
the envelopes it applied, remembers the recent ones by index, publishes the
newest in ``GET /v1/health`` (``applied_index``, ``applied_hash``), and
compares its peers' published digests with its own at the same index.

A snapshot carries the digest at its last index, so a node that installs one
continues the same chain. A snapshot written before this existed has none:
the chain is then unknown (``applied_hash`` null) until the node next
installs a snapshot that has one, and it is compared with nobody meanwhile.

Two alarms, both visible in /v1/health, /v1/cluster, a metric and one
critical log line:
- ``divergence``: a peer's digest differs from ours at an index both applied.
- ``replaced``: the journal replaced an entry this node had already applied
  with a different one (the precise form of pysyncobj's old "truncating
  already-applied" warning, which also fired for identical re-sent entries).
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import logging
import struct
import time
from collections import deque
from dataclasses import dataclass

import aiohttp

log = logging.getLogger("manifest.divergence")

GENESIS = bytes(16)
_INDEX = struct.Struct(">Q")


def chain(previous: bytes, index: int, envelope: bytes) -> bytes:
    return hashlib.blake2b(previous + _INDEX.pack(index) + envelope, digest_size=16).digest()


class AppliedHash:
    """The chain of applied envelopes, written by the Raft thread, read anywhere.

    ``history`` keeps the last ``keep`` (index, digest) pairs so a peer's
    digest can be checked at the index it reported, which is rarely ours.
    """

    def __init__(self, keep: int = 8192):
        self.index = 0
        self.digest: bytes | None = GENESIS
        self._indices: deque[int] = deque(maxlen=keep)
        self._digests: deque[bytes] = deque(maxlen=keep)

    def advance(self, index: int, envelope: bytes) -> None:
        if self.digest is None:
            self.index = index
            return
        digest = chain(self.digest, index, envelope)
        self._indices.append(index)
        self._digests.append(digest)
        self.index, self.digest = index, digest

    def reset(self, index: int, digest: bytes | None) -> None:
        """A snapshot replaced the state: the chain continues from its digest."""
        self._indices.clear()
        self._digests.clear()
        self.index, self.digest = index, digest
        if digest is not None:
            self._indices.append(index)
            self._digests.append(digest)

    def at(self, index: int) -> bytes | None | bool:
        """Our digest over every envelope up to ``index``; False when we cannot tell.

        The digest at an index that carried no envelope of ours (a pysyncobj
        no-op) is that of the last envelope before it."""
        indices = self._indices
        if self.digest is None or not indices or index < indices[0] or index > self.index:
            return False
        try:
            pos = bisect.bisect_right(indices, index) - 1
            return self._digests[pos]
        except IndexError:  # the Raft thread appended meanwhile; ask again next round
            return False

    def published(self) -> tuple[int, str | None]:
        index, digest = self.index, self.digest
        return index, digest.hex() if digest is not None else None


@dataclass(frozen=True, slots=True)
class Alarm:
    kind: str  # "divergence" | "replaced"
    index: int
    peer: str | None  # node id (divergence) or None
    detail: str
    since: float  # unix time

    def as_dict(self) -> dict:
        return {"kind": self.kind, "index": self.index, "peer": self.peer,
                "detail": self.detail, "since": round(self.since, 3)}


class Alarms:
    """The node's current alarms and counts; set from the loop and the Raft thread."""

    def __init__(self):
        self.divergence: dict[str, Alarm] = {}  # peer id -> alarm
        self.replaced: Alarm | None = None  # never cleared: the node's state is suspect
        self.detected = 0  # divergences found, ever
        self.replacements = 0

    def entry_replaced(self, index: int, applied: int) -> None:
        """Raft thread: the journal cut at ``index`` entries up to ``applied`` had applied."""
        self.replacements += 1
        if self.replaced is None:
            self.replaced = Alarm("replaced", index, None,
                                  f"applied entries {index}..{applied} replaced by different ones", time.time())
        log.critical("an applied entry was replaced by a different one: this node's state may "
                     "have diverged from the cluster", extra={"index": index, "applied": applied})

    def current(self) -> list[dict]:
        out = [a.as_dict() for a in self.divergence.values()]
        if self.replaced is not None:
            out.append(self.replaced.as_dict())
        return out


class DivergenceMonitor:
    """Every ``interval`` seconds, compare each peer's published digest with ours.

    ``peers()`` yields (node id, API URL); ``leader_id()`` names the leader,
    whose disagreement with us makes this node not ready (a follower that
    differs from its leader serves wrong data)."""

    def __init__(self, hashes: AppliedHash, alarms: Alarms, peers, interval: float = 5.0, ssl_context=None,
                 commit_index=None):
        self._hashes, self._alarms, self._peers, self._interval = hashes, alarms, peers, interval
        # The same answers give each peer's apply lag (/metrics): our commit index
        # when we asked, less its applied index in the answer. Peer id -> that lag.
        self._commit_index = commit_index
        self.apply_lag: dict[str, int] = {}
        self._ssl = ssl_context
        self._samples: dict[str, tuple[int, str]] = {}  # peer -> (index, hex) not yet checkable
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0),
                                              connector=aiohttp.TCPConnector(ssl=self._ssl or True))
        self._task = asyncio.get_running_loop().create_task(self._run(), name="manifest-divergence")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failed round is retried next period
                log.debug("divergence check failed: %s", exc)

    async def check_once(self) -> None:
        peers = list(self._peers())
        # Committed before we asked, not applied there when it answered: a healthy peer shows 0.
        committed = self._commit_index() if self._commit_index is not None else None
        answers = await asyncio.gather(*(self._fetch(url) for _, url in peers), return_exceptions=True)
        lags = {}
        for (peer, _), answer in zip(peers, answers):
            if isinstance(answer, tuple):
                self._samples[peer] = answer
                if committed is not None:
                    lags[peer] = max(0, committed - answer[0])
        self.apply_lag = lags  # replaced whole: a peer that did not answer has no figure
        for peer, (index, digest) in list(self._samples.items()):
            if self.compare(peer, index, digest):
                del self._samples[peer]

    async def _fetch(self, url: str) -> tuple[int, str] | None:
        async with self._session.get(url + "/v1/health") as resp:
            body = await resp.json(content_type=None)
        index, digest = body.get("applied_index"), body.get("applied_hash")
        if isinstance(index, int) and isinstance(digest, str):
            return index, digest
        return None

    def compare(self, peer: str, index: int, digest: str) -> bool:
        """Check one sample; False while we cannot tell yet (the peer is ahead of us)."""
        ours = self._hashes.at(index)
        if ours is False:
            return index < self._hashes.index  # too old for our history: drop it
        alarms = self._alarms
        if ours.hex() == digest:
            if alarms.divergence.pop(peer, None) is not None:
                log.warning("applied state agrees with the peer again", extra={"peer": peer, "index": index})
            return True
        if peer not in alarms.divergence:
            alarms.detected += 1
            alarms.divergence[peer] = Alarm("divergence", index, peer,
                                            f"ours {ours.hex()}, theirs {digest}", time.time())
            log.critical("applied state differs from a peer's at the same index",
                         extra={"peer": peer, "index": index, "ours": ours.hex(), "theirs": digest})
        return True
