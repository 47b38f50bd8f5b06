"""``GET /v1/snapshot`` (a backup file) and ``POST /v1/snapshot/restore`` (replace the state with one).

Save: the store captures the state at a linearizable point (``capture()``:
every write acknowledged before the request is in it, and the Raft index
named in the header is the one the state stands at); the file is then
packed and sent a thousand instances at a time (fsm/backup.py), so the
node never holds the packed file, only the capture.

Restore: the whole upload is read and checked first (framing, version,
checksum, a state this release can restore, counts matching the header),
and only then proposed as one RESTORE command that every node applies
(fsm/restore.py). Any problem is a 400 ``invalid_backup`` naming it, and
nothing is proposed. A registry holding instances refuses with 409
``registry_not_empty`` unless ``?force=true``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import zlib

import msgpack
from aiohttp import web

from .. import errors
from ..fsm import backup
from ..fsm.commands import restore as restore_command
from ..fsm.registry import RESTORABLE
from . import codec, params
from .keys import CONFIG, STORE

log = logging.getLogger("manifest.api")
CONTENT_TYPE = "application/vnd.manifest.snapshot"
# The state a restore accepts (9 MB at 100,000 instances): it is held in memory, decoded, to be checked.
MAX_STATE_BYTES = 256 * 1024 * 1024
# What a follower can forward to the leader (api/internal.py reads at most 16 MiB, msgpack framing included).
_FORWARDABLE = 15 * 1024 * 1024
_READ_CHUNK = 1 << 20


async def save(request: web.Request) -> web.StreamResponse:
    params.only(request.query, ())
    store, cfg = request.app[STORE], request.app[CONFIG]
    cap = await store.capture()
    created_ms = int(time.time() * 1000)
    pieces = backup.encode(cap.state, cap.index, cap.term, created_ms, cfg.id)
    response = web.StreamResponse(headers={
        "Content-Type": CONTENT_TYPE,
        "Content-Disposition": f'attachment; filename="manifest-{cap.index}.snap"',
        "X-Manifest-Index": str(cap.state["revision"]),
        "X-Manifest-Snapshot-Index": str(cap.index)})
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    try:
        while True:
            # Packing a thousand instances takes a few ms; off the loop, so other requests go on meanwhile.
            piece = await loop.run_in_executor(None, next, pieces, None)
            if piece is None:
                break
            await response.write(piece)
        await response.write_eof()
    except ConnectionError:
        # The caller went away: its copy lacks the checksum and no reader takes it for a backup.
        log.info("a backup download was cut off by the client", extra={"index": cap.index})
    return response


async def restore(request: web.Request) -> web.Response:
    params.only(request.query, ("force",))
    force = params.flag(request.query, "force", False)
    store, cfg = request.app[STORE], request.app[CONFIG]
    coding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if coding not in ("", "identity"):
        raise errors.UnsupportedMediaType("send the backup file as it is, without Content-Encoding",
                                          "Content-Encoding")
    header, state = await _read_backup(request, cfg.body_timeout)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, _check_state, header, state)
    held = store.read(lambda s: len(s.instances))
    if held and not force:  # checked again at commit (fsm/restore.py), where it decides
        raise errors.Conflict(f"the registry holds {held} instances; restoring would replace them "
                              "(add ?force=true, or `manifest snapshot restore --force`)", "force",
                              code="registry_not_empty")
    compressed, digest = await loop.run_in_executor(None, _compress, state)
    if store.status().role != "leader" and len(compressed) > _FORWARDABLE:
        raise errors.PayloadTooLarge(f"this backup ({len(compressed)} bytes compressed) is too large to forward "
                                     "to the leader; send it to the leader itself (X-Manifest-Leader)")
    result = await store.propose(restore_command(compressed, digest, force))
    if not result.ok:
        raise errors.for_failure(result)
    body = {"restored": {"index": header["index"], "term": header["term"], "created_ms": header["created_ms"],
                         "revision": header["revision"], "counts": header["counts"]},
            "revision": store.revision()}
    return codec.respond(request, body)


async def _read_backup(request: web.Request, timeout: float) -> tuple[dict, bytes]:
    reader = backup.Reader(MAX_STATE_BYTES)
    try:
        while True:
            try:
                data = await asyncio.wait_for(request.content.readany(), timeout)
            except TimeoutError:
                raise errors.IncompleteBody(f"no part of the body arrived for {timeout:g} s", "body") from None
            if not data:
                break
            reader.feed(data)
        return reader.finish()
    except backup.BackupError as exc:
        raise errors.InvalidInput(f"not a usable backup: {exc}", "body", code="invalid_backup") from None


def _check_state(header: dict, state: bytes) -> None:
    """What restore would trip over, found before anything is proposed."""
    def bad(why: str) -> errors.InvalidInput:
        return errors.InvalidInput(f"not a usable backup: {why}", "body", code="invalid_backup")

    try:
        raw = msgpack.unpackb(state, raw=False)
    except Exception:  # msgpack raises several unrelated types
        raise bad("its state is not readable") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("instances"), list):
        raise bad("its state is not a registry snapshot")
    if raw.get("format") not in RESTORABLE:
        raise bad(f"its state has format {raw.get('format')!r}, which this release cannot restore")
    if len(raw["instances"]) != header["counts"].get("instances"):
        raise bad("its state does not hold the instances its header counts")


def _compress(state: bytes) -> tuple[bytes, bytes]:
    return zlib.compress(state, 6), hashlib.sha256(state).digest()
