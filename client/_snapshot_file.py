"""Reading a backup file offline (``manifest snapshot inspect``, and a check before ``restore``).

The layout is the node's (manifest_node/fsm/backup.py, docs/operations.md
"Backup and restore"): magic, a length-prefixed msgpack header, the state in
length-prefixed chunks ended by an empty one, and a sha256 of everything
before it. The client never imports the node, so the reader is repeated
here; tests/fsm/test_backup.py holds both readers to the same files.
Only the header is decoded: the chunks are hashed and counted, never kept.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import msgpack

__all__ = ["SnapshotFileError", "verify", "verify_file", "file_chunks"]

MAGIC = b"MNFSNAP\0"
VERSION = 1
_U32 = struct.Struct(">I")
_MAX_HEADER = 64 * 1024
_MAX_CHUNK = 16 * 1024 * 1024


class SnapshotFileError(ValueError):
    """Not a complete, intact backup file of a version this client reads; the message says which."""


class _Stream:
    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces: Iterator[bytes] = iter(pieces)
        self._buf = bytearray()
        self.size = 0
        self.digest = hashlib.sha256()

    def take(self, n: int, what: str, hashed: bool = True) -> bytes:
        while len(self._buf) < n:
            piece = next(self._pieces, None)
            if piece is None:
                if self.size == 0:
                    raise SnapshotFileError("the file is empty")
                raise SnapshotFileError(f"truncated: the file ends inside its {what}")
            self.size += len(piece)
            self._buf += piece
        out = bytes(self._buf[:n])
        del self._buf[:n]
        if hashed:
            self.digest.update(out)
        return out

    def at_end(self) -> bool:
        if self._buf:
            return False
        for piece in self._pieces:
            if piece:
                self._buf += piece
                self.size += len(piece)
                return False
        return True


def verify(pieces: Iterable[bytes]) -> tuple[dict[str, Any], int]:
    """(header, file size) once every byte was checked; SnapshotFileError naming the first problem."""
    stream = _Stream(pieces)
    head = stream.take(len(MAGIC) + _U32.size, "magic number")
    if head[:len(MAGIC)] != MAGIC:
        raise SnapshotFileError("not a Manifest backup file (bad magic)")
    n = _U32.unpack(head[len(MAGIC):])[0]
    if not 0 < n <= _MAX_HEADER:
        raise SnapshotFileError(f"header length {n} is out of range: the file is damaged")
    header = _header(stream.take(n, "header"))
    while True:
        n = _U32.unpack(stream.take(_U32.size, "state"))[0]
        if n == 0:
            break
        if n > _MAX_CHUNK:
            raise SnapshotFileError(f"chunk length {n} is out of range: the file is damaged")
        stream.take(n, "state")
    if stream.take(32, "checksum", hashed=False) != stream.digest.digest():
        raise SnapshotFileError("checksum mismatch: the file is damaged")
    if not stream.at_end():
        raise SnapshotFileError("bytes follow the checksum: not a single backup file")
    return header, stream.size


def _header(raw: bytes) -> dict[str, Any]:
    try:
        header = msgpack.unpackb(raw, raw=False)
    except Exception:  # msgpack raises several unrelated types
        raise SnapshotFileError("the header is not readable: the file is damaged") from None
    if not isinstance(header, dict):
        raise SnapshotFileError("the header is not a map: the file is damaged")
    if header.get("version") != VERSION:
        raise SnapshotFileError(f"unsupported backup file version {header.get('version')!r} "
                                f"(this client reads version {VERSION})")
    for key in ("index", "term", "created_ms", "revision"):
        if type(header.get(key)) is not int:
            raise SnapshotFileError(f"the header lacks {key}: the file is damaged")
    if not isinstance(header.get("counts"), dict):
        raise SnapshotFileError("the header lacks counts: the file is damaged")
    return header


def file_chunks(f: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    while True:
        piece = f.read(size)
        if not piece:
            return
        yield piece


def verify_file(path: str) -> tuple[dict[str, Any], int]:
    with open(path, "rb") as f:
        return verify(file_chunks(f))
