"""A crash-safe Raft journal for pysyncobj, replacing its FileJournal.

Why our own (docs/durability.md has the details and reproductions):
  * pysyncobj's FileJournal rewrites the whole file in place when it compacts
    (clear, then re-add): a SIGKILL in between leaves a prefix. We write the
    compacted journal to a new file and rename it over the old one.
  * A follower that receives an append whose previous index is below its last
    entry truncates first and re-adds, even when the entries are identical
    (pysyncobj syncobj.py ~991-1006). Raft only allows deleting entries that
    *conflict*. We defer the truncation: re-added identical entries are kept
    as they are, and entries of the current term beyond them are kept too
    (one leader per term, so they are the leader's). Only a real conflict
    truncates. This keeps an acknowledged entry from vanishing from a node
    that the leader counted in its majority.
  * ``fsync=True`` makes every appended entry durable before pysyncobj can
    acknowledge it. Our proposer coalesces many commands into one entry, so
    this is group commit.

Record format: u32 length | u32 crc32 | u64 index | u64 term | command. A torn
or corrupt tail (a crash mid-write) is cut off when the file is opened.
"""

from __future__ import annotations

import os
import struct
import zlib

import msgpack
from pysyncobj.journal import Journal

_HEAD = struct.Struct("<IIQQ")


def _write_atomically(path: str, data: bytes, fsync: bool) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if fsync:
        fsync_dir(os.path.dirname(path) or ".")


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _record(command: bytes, idx: int, term: int) -> bytes:
    body = struct.pack("<QQ", idx, term) + command
    return struct.pack("<II", len(body), zlib.crc32(body)) + body


def read_entries(path: str) -> tuple[list[tuple[bytes, int, int]], int]:
    """Return the valid entries of a journal file and the offset where they end."""
    entries: list[tuple[bytes, int, int]] = []
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return entries, 0
    pos = 0
    while pos + 8 <= len(data):
        length, crc = struct.unpack_from("<II", data, pos)
        body = data[pos + 8:pos + 8 + length]
        if length < 16 or len(body) != length or zlib.crc32(body) != crc:
            break
        idx, term = struct.unpack_from("<QQ", body)
        entries.append((bytes(body[16:]), idx, term))
        pos += 8 + length
    return entries, pos


class DurableJournal(Journal):
    """pysyncobj Journal interface over an append-only, CRC-checked file."""

    def __init__(self, path: str, fsync: bool = False):
        self._path = path
        self._meta_path = path + ".meta"
        self._fsync = fsync
        self._entries, end = read_entries(path)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(self._fd, end)  # drop a torn tail
        self._offsets: list[int] = []
        pos = 0
        for command, _, _ in self._entries:
            self._offsets.append(pos)
            pos += 8 + 16 + len(command)
        self._end = end
        self._pending_cut: int | None = None
        try:
            with open(self._meta_path, "rb") as f:
                self._meta = msgpack.unpackb(f.read(), raw=False)
        except (FileNotFoundError, ValueError, msgpack.UnpackException):
            self._meta = {}
        self._meta_dirty = False

    # ---- deferred truncation ------------------------------------------------
    def _settle(self) -> None:
        """Resolve a deferred truncation before anyone looks at the log."""
        cut = self._pending_cut
        if cut is None:
            return
        self._pending_cut = None
        if cut < len(self._entries) and self._entries[cut][2] != self.getCurrentTerm():
            self._truncate(cut)

    def _truncate(self, pos: int) -> None:
        if pos >= len(self._entries):
            return
        self._end = self._offsets[pos]
        del self._entries[pos:]
        del self._offsets[pos:]
        os.ftruncate(self._fd, self._end)
        if self._fsync:
            os.fdatasync(self._fd)

    # ---- Journal interface ----------------------------------------------------
    def add(self, command, idx, term):
        command = bytes(command)
        cut = self._pending_cut
        if cut is not None and cut < len(self._entries):
            _, old_idx, old_term = self._entries[cut]
            if old_idx == idx and old_term == term:
                self._pending_cut = cut + 1  # identical entry: keep it, write nothing
                return
            self._pending_cut = None
            self._truncate(cut)  # a real conflict
        elif cut is not None:
            self._pending_cut = None
        rec = _record(command, idx, term)
        os.pwrite(self._fd, rec, self._end)
        if self._fsync:
            os.fdatasync(self._fd)
        self._entries.append((command, idx, term))
        self._offsets.append(self._end)
        self._end += len(rec)

    def deleteEntriesFrom(self, entryFrom):
        self._settle()
        self._pending_cut = max(0, entryFrom)

    def deleteEntriesTo(self, entryTo):
        self._settle()
        self._rewrite(self._entries[entryTo:])

    def clear(self):
        self._pending_cut = None
        self._rewrite([])

    def _rewrite(self, entries: list) -> None:
        data = b"".join(_record(c, i, t) for c, i, t in entries)
        _write_atomically(self._path, data, self._fsync)
        os.close(self._fd)
        self._fd = os.open(self._path, os.O_RDWR)
        self._entries = list(entries)
        self._offsets, pos = [], 0
        for c, _, _ in entries:
            self._offsets.append(pos)
            pos += 24 + len(c)
        self._end = pos

    def __getitem__(self, item):
        self._settle()
        return self._entries[item]

    def __len__(self):
        self._settle()
        return len(self._entries)

    def _destroy(self):
        self.flush()
        os.close(self._fd)

    def flush(self):
        if self._meta_dirty:
            self._store_meta()

    def setRaftCommitIndex(self, raftCommitIndex):
        if self._meta.get("commit") != raftCommitIndex:
            self._meta["commit"] = raftCommitIndex
            self._meta_dirty = True

    def getRaftCommitIndex(self):
        return self._meta.get("commit", 1)

    def setCurrentTerm(self, term, votedForNodeId):
        # Raft needs term and vote on disk before any message reflects them.
        self._meta["term"], self._meta["voted"] = term, votedForNodeId
        self._store_meta()

    def getCurrentTerm(self):
        return self._meta.get("term", 0)

    def getVotedForNodeId(self):
        return self._meta.get("voted")

    def onOneSecondTimer(self):
        self.flush()

    def _store_meta(self) -> None:
        _write_atomically(self._meta_path, msgpack.packb(self._meta, use_bin_type=True), self._fsync)
        self._meta_dirty = False
