"""The backup file (``manifest snapshot save``): a versioned, checksummed frame around the FSM snapshot.

Layout (docs/operations.md, "Backup and restore"), all integers big-endian::

    MAGIC (8 bytes, b"MNFSNAP\\0")
    u32 n, then n bytes: the header, a msgpack map
        {"version": 1, "index", "term", "created_ms", "revision", "state_format", "node",
         "counts": {"instances", "services", "tokens"}}
    chunks: u32 n, then n bytes; a chunk of length 0 ends them
    32 bytes: sha256 of every byte before it

The chunks joined are exactly ``registry.pack_snapshot(capture)``: the state
format Raft snapshots already use, not a second one, so restoring is
``RegistryState.restore``. The file is produced chunk by chunk from a capture
(``encode``), never as one bytes object, and read incrementally (``Reader``),
so a writer or reader checks the checksum without holding the file twice.
The length-prefixed chunks make a truncated file detectable before the
checksum is even compared. ``manifest_client/_snapshot_file.py`` reads the
same layout for ``inspect`` (the client never imports the node).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator

import msgpack

from .registry import SNAPSHOT_FORMAT, state_chunks

MAGIC = b"MNFSNAP\0"
VERSION = 1
DIGEST_BYTES = 32
MAX_HEADER = 64 * 1024
MAX_CHUNK = 16 * 1024 * 1024
INSTANCES_PER_CHUNK = 1000
_U32 = struct.Struct(">I")


class BackupError(ValueError):
    """The bytes are not a complete, intact backup file of a version this release reads."""


def counts(captured: dict) -> dict:
    wires = captured["instances"]
    return {"instances": len(wires), "services": len({w[0] for w in wires}),
            "tokens": len((captured.get("tokens") or {}).get("records") or {})}


def encode(captured: dict, index: int, term: int, created_ms: int, node: str) -> Iterator[bytes]:
    """The file, piece by piece: header, the state in chunks of a thousand instances, checksum.

    Joined, the state chunks are the bytes of ``pack_snapshot(captured)``."""
    digest = hashlib.sha256()

    def out(piece: bytes) -> bytes:
        digest.update(piece)
        return piece

    header = msgpack.packb({"version": VERSION, "index": int(index), "term": int(term),
                            "created_ms": int(created_ms), "revision": int(captured["revision"]),
                            "state_format": int(captured.get("format", SNAPSHOT_FORMAT)), "node": node,
                            "counts": counts(captured)}, use_bin_type=True)
    yield out(MAGIC + _U32.pack(len(header)) + header)
    for chunk in state_chunks(captured, INSTANCES_PER_CHUNK):
        yield out(_U32.pack(len(chunk)) + chunk)
    yield out(_U32.pack(0))
    yield digest.digest()


class Reader:
    """Feed a backup file in pieces of any size; ``finish()`` gives (header, state bytes).

    Every problem is a BackupError whose message names it: not a backup,
    an unsupported version, truncated, or a checksum mismatch. ``max_state``
    bounds the state kept in memory."""

    def __init__(self, max_state: int = 1 << 30):
        self._buf = bytearray()
        self._digest = hashlib.sha256()
        self._stage = "magic"
        self._need = len(MAGIC) + _U32.size
        self._max_state = max_state
        self.header: dict | None = None
        self.state = bytearray()
        self.size = 0

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        self._buf += data
        while self._stage != "done" and len(self._buf) >= self._need:
            self._step()
        if self._stage == "done" and self._buf:
            raise BackupError("bytes follow the checksum: not a single backup file")

    def _take(self, n: int, hashed: bool = True) -> bytes:
        piece = bytes(self._buf[:n])
        del self._buf[:n]
        if hashed:
            self._digest.update(piece)
        return piece

    def _step(self) -> None:
        stage = self._stage
        if stage == "magic":
            piece = self._take(self._need)
            if piece[:len(MAGIC)] != MAGIC:
                raise BackupError("not a Manifest backup file (bad magic)")
            n = _U32.unpack(piece[len(MAGIC):])[0]
            if not 0 < n <= MAX_HEADER:
                raise BackupError(f"header length {n} is out of range: the file is damaged")
            self._stage, self._need = "header", n
        elif stage == "header":
            self.header = _parse_header(self._take(self._need))
            self._stage, self._need = "length", _U32.size
        elif stage == "length":
            n = _U32.unpack(self._take(_U32.size))[0]
            if n > MAX_CHUNK:
                raise BackupError(f"chunk length {n} is out of range: the file is damaged")
            if n == 0:
                self._stage, self._need = "digest", DIGEST_BYTES
            else:
                self._stage, self._need = "chunk", n
        elif stage == "chunk":
            if len(self.state) + self._need > self._max_state:
                raise BackupError(f"the state is larger than this node accepts ({self._max_state} bytes)")
            self.state += self._take(self._need)
            self._stage, self._need = "length", _U32.size
        elif stage == "digest":
            if self._take(DIGEST_BYTES, hashed=False) != self._digest.digest():
                raise BackupError("checksum mismatch: the file is damaged")
            self._stage, self._need = "done", 0

    def finish(self) -> tuple[dict, bytes]:
        if self.size == 0:
            raise BackupError("the file is empty")
        if self._stage != "done":
            raise BackupError(f"truncated: the file ends inside its {_STAGE_NAMES[self._stage]}")
        return self.header, bytes(self.state)


_STAGE_NAMES = {"magic": "magic number", "header": "header", "length": "state", "chunk": "state",
                "digest": "checksum"}


def _parse_header(raw: bytes) -> dict:
    try:
        header = msgpack.unpackb(raw, raw=False)
    except Exception:  # msgpack raises several unrelated types
        raise BackupError("the header is not readable: the file is damaged") from None
    if not isinstance(header, dict):
        raise BackupError("the header is not a map: the file is damaged")
    if header.get("version") != VERSION:
        raise BackupError(f"unsupported backup file version {header.get('version')!r} (this release "
                          f"reads version {VERSION})")
    for key in ("index", "term", "created_ms", "revision", "state_format"):
        if type(header.get(key)) is not int:
            raise BackupError(f"the header lacks {key}: the file is damaged")
    if not isinstance(header.get("counts"), dict):
        raise BackupError("the header lacks counts: the file is damaged")
    return header


def read_bytes(data: bytes) -> tuple[dict, bytes]:
    """A whole file in memory (tests, small files)."""
    reader = Reader()
    reader.feed(data)
    return reader.finish()
