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
or corrupt tail (a crash mid-write) is cut off when the file is opened. Term,
vote and commit index live in ``<journal>.meta``, a msgpack map with a
blake2b ``sum`` over its fields.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import struct
import time
import zlib

import msgpack

from .disk import DiskHealth
from .pysyncobj.journal import Journal

log = logging.getLogger("manifest.journal")

# A record: u32 length | u32 crc32 | u64 index | u64 term | command.
_FRAME = struct.Struct("<II")  # length, crc32 of what follows
_ENTRY = struct.Struct("<QQ")  # index, term
_OVERHEAD = _FRAME.size + _ENTRY.size


def _write_replacing(path: str, data: bytes, fsync: bool) -> int:
    """Write ``data`` to ``path.tmp`` and rename it onto ``path``; return its open descriptor.

    On any failure the temporary file is gone and ``path`` is as it was."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        done = 0
        while done < len(data):
            done += os.write(fd, memoryview(data)[done:])
        if fsync:
            os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return fd


def _write_atomically(path: str, data: bytes, fsync: bool) -> None:
    os.close(_write_replacing(path, data, fsync))
    if fsync:
        fsync_dir(os.path.dirname(path) or ".")


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# The journal's descriptor is moved to a number at or above this one. Chaos seed
# 101: a descriptor the event loop had used for an outgoing connection was
# closed a second time after the journal had been given that number (who
# closes it twice is not found yet: not our code, not pysyncobj's; strace shows
# the loop thread). The kernel hands out the lowest free number, so a stale
# close of a recycled low number can no longer reach the journal.
HIGH_FD = 1024


def _out_of_reach(fd: int) -> int:
    try:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, HIGH_FD)
    except OSError:
        return fd  # RLIMIT_NOFILE below HIGH_FD: keep the number we have
    os.close(fd)
    return high


def _fd_target(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError as exc:
        return f"unknown ({exc.strerror})"


def _record(command: bytes, idx: int, term: int) -> bytes:
    body = _ENTRY.pack(idx, term) + command
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


def read_entries(path: str) -> tuple[list[tuple[bytes, int, int]], int]:
    """Return the valid entries of a journal file and the offset where they end.

    A record that fails its check with nothing valid after it is a torn tail
    (a crash mid-append): the entries before it are the journal. One followed
    by a valid record is damage in the middle, and cutting there would drop
    good entries, acknowledged ones among them: that raises CorruptFile."""
    entries: list[tuple[bytes, int, int]] = []
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return entries, 0
    pos = 0
    while pos + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, pos)
        start = pos + _FRAME.size
        body = data[start:start + length]
        if length < _ENTRY.size or len(body) != length or zlib.crc32(body) != crc:
            after = _next_record(data, pos + 1, entries[-1][1] if entries else 0)
            if after is not None:
                raise CorruptFile(path, f"record at byte {pos} is damaged and valid records follow "
                                        f"(from byte {after}); the journal cannot be trusted")
            break
        idx, term = _ENTRY.unpack_from(body)
        entries.append((bytes(body[_ENTRY.size:]), idx, term))
        pos = start + length
    return entries, pos


def _next_record(data: bytes, start: int, last_idx: int) -> int | None:
    """The offset of a valid record at or after ``start`` that could follow index ``last_idx``."""
    frame, entry = _FRAME.size, _ENTRY.size
    for pos in range(start, len(data) - frame - entry + 1):
        length, crc = _FRAME.unpack_from(data, pos)
        if length < entry or pos + frame + length > len(data):
            continue
        idx, _ = _ENTRY.unpack_from(data, pos + frame)
        if not last_idx < idx <= last_idx + (1 << 32):  # cheap filter before the CRC
            continue
        if zlib.crc32(data[pos + frame:pos + frame + length]) == crc:
            return pos
    return None


class CorruptFile(ValueError):
    """A state file exists but cannot be read back; the node must not start on a guess."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path


# What the meta file held before it had a sum (release 98703f3): term and vote, perhaps the commit
# index, nothing else. It never wrote an empty map: that is what a cut after a flipped map size reads as.
_META_KEYS = frozenset({"term", "voted", "commit"})
_META_NEEDED = frozenset({"term", "voted"})


def fields_sum(record: dict, skip: tuple[str, ...] = ("sum",)) -> bytes:
    """blake2b of a record's fields but ``skip``, keys sorted (a canonical packing): the ``sum``
    of the meta file here and of a snapshot (snapshot.py)."""
    fields = [[k, record[k]] for k in sorted(record) if k not in skip]
    return hashlib.blake2b(msgpack.packb(fields, use_bin_type=True), digest_size=16).digest()


def pack_meta(meta: dict) -> bytes:
    """The meta file's bytes: ``sum`` first, so no flip or cut can drop it and leave a valid map."""
    return msgpack.packb({"sum": fields_sum(meta), **meta}, use_bin_type=True)


def read_meta(path: str) -> dict:
    """Term, vote and commit index from the meta file; ``{}`` only when there is none.

    Reading a damaged file as "term 0, no vote" would let this node vote a
    second time in a term it already voted in (Raft safety), so it raises;
    so does a record whose sum does not match. One without a sum is read
    only in the previous release's exact form (term and vote, perhaps commit). That
    release keeps a sum it does not know when it rewrites the file, so after
    a downgrade and upgrade the sum is stale and the node refuses too
    (docs/durability.md, "Corruption")."""
    try:
        with open(path, "rb") as f:
            meta = msgpack.unpackb(f.read(), raw=False)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CorruptFile(path, f"unreadable: {exc.strerror}") from None
    except Exception as exc:  # msgpack raises several unrelated types
        raise CorruptFile(path, f"not a meta record: {exc}") from None
    if not isinstance(meta, dict) or not all(isinstance(k, str) for k in meta):
        raise CorruptFile(path, "not a meta record")
    if "sum" in meta:
        if meta.pop("sum") != fields_sum(meta):
            raise CorruptFile(path, "the meta record (term, vote, commit index) does not match its checksum "
                                    "(damaged, or rewritten by an older release after a downgrade)")
    elif not _META_NEEDED <= set(meta) <= _META_KEYS:
        raise CorruptFile(path, "the meta record has no checksum and is not in a known older form")
    if not all(type(meta.get(k, 0)) is int for k in ("term", "commit")) \
            or not isinstance(meta.get("voted"), (str, type(None))):
        raise CorruptFile(path, "not a meta record")
    return meta


class DurableJournal(Journal):
    """pysyncobj Journal interface over an append-only, CRC-checked file."""

    def __init__(self, path: str, fsync: bool = False, on_cut=None, disk: DiskHealth | None = None):
        """``on_cut(index)`` hears of every conflict that removes entries from ``index`` on;
        ``disk`` of every write that failed or worked again."""
        self._path = path
        self._on_cut = on_cut
        self._disk = disk if disk is not None else DiskHealth()
        self._meta_path = path + ".meta"
        self._fsync = fsync
        # First, before touching the journal: raises CorruptFile, never guesses a term or vote.
        self._meta = read_meta(self._meta_path)
        self._entries, end = read_entries(path)
        self._fd = _out_of_reach(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.ftruncate(self._fd, end)  # drop a torn tail
        self._offsets: list[int] = []
        pos = 0
        for command, _, _ in self._entries:
            self._offsets.append(pos)
            pos += _OVERHEAD + len(command)
        self._end = end
        self._pending_cut: int | None = None
        self._meta_dirty = False
        self.compacted_at: float | None = None  # unix time of this process's last compaction

    def stats(self) -> tuple[int, int]:
        """(bytes, entries) of the journal file, from any thread: two reads, no settling."""
        return self._end, len(self._entries)

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
        if self._on_cut is not None:
            self._on_cut(self._entries[pos][1])
        try:
            os.ftruncate(self._fd, self._offsets[pos])
            if self._fsync:
                os.fdatasync(self._fd)
        except OSError as exc:
            self._disk.failed("journal", exc)
            raise
        self._end = self._offsets[pos]
        del self._entries[pos:]
        del self._offsets[pos:]

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
        self._write_record(rec)
        self._entries.append((command, idx, term))
        self._offsets.append(self._end)
        self._end += len(rec)

    def _write_record(self, rec: bytes) -> None:
        """All of ``rec`` at the end of the file, or an OSError and the file as it was.

        pwrite may write less than asked (a disk filling up): upstream and our
        first version took a torn record for a whole one, acknowledged the entry,
        and lost it and everything after it at the next start."""
        try:
            done = 0
            while done < len(rec):
                done += os.pwrite(self._fd, memoryview(rec)[done:], self._end + done)
            if self._fsync:
                started = time.monotonic()
                os.fdatasync(self._fd)
                took = time.monotonic() - started
        except OSError as exc:
            self._disk.failed("journal", exc)
            if exc.errno in (errno.ESPIPE, errno.EBADF):
                # Not a disk problem: our descriptor is not our file any more, and
                # truncating it could cut someone else's.
                log.critical("the journal's file descriptor %d no longer refers to %s (it is %s)",
                             self._fd, self._path, _fd_target(self._fd))
                raise
            try:
                os.ftruncate(self._fd, self._end)  # never leave a torn record behind
            except OSError:
                pass  # read_entries cuts a torn tail at the next start anyway
            raise
        if self._fsync:
            self._disk.synced("journal", took)
        else:
            self._disk.succeeded("journal")

    def deleteEntriesFrom(self, entryFrom):
        self._settle()
        self._pending_cut = max(0, entryFrom)

    def deleteEntriesTo(self, entryTo):
        self._settle()
        try:
            self._rewrite(self._entries[entryTo:])
        except OSError as exc:
            # Compaction only saves space: the longer journal stays valid and
            # the snapshot it would start at is already on disk.
            self._disk.failed("journal", exc)

    def clear(self):
        self._pending_cut = None
        self._rewrite([])

    def _rewrite(self, entries: list) -> None:
        """Replace the file by one holding ``entries``; on any failure, the old file and state stay.

        The new file's descriptor is the one written and renamed into place, so
        ``self._fd`` is never a closed number: the first version closed the old
        descriptor and then opened the path again, and an open that failed left
        it pointing at a number the process handed out next (a socket, a pipe:
        appends failed with ESPIPE, or landed in another file)."""
        fd = _write_replacing(self._path, b"".join(_record(c, i, t) for c, i, t in entries), self._fsync)
        if self._fsync:
            try:
                fsync_dir(os.path.dirname(self._path) or ".")
            except OSError:
                pass  # the rename is done; only its durability across a power cut waits
        old, self._fd = self._fd, _out_of_reach(fd)
        self._disk.succeeded("journal")
        self.compacted_at = time.time()
        try:
            os.close(old)
        except OSError:
            pass
        self._entries = list(entries)
        self._offsets, pos = [], 0
        for c, _, _ in entries:
            self._offsets.append(pos)
            pos += _OVERHEAD + len(c)
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
            try:
                self._store_meta(self._meta)
            except OSError:
                pass  # only the commit index waits: it is learnt again from the leader

    def setRaftCommitIndex(self, raftCommitIndex):
        if self._meta.get("commit") != raftCommitIndex:
            self._meta["commit"] = raftCommitIndex
            self._meta_dirty = True

    def getRaftCommitIndex(self):
        return self._meta.get("commit", 1)

    def setCurrentTerm(self, term, votedForNodeId):
        # Raft needs term and vote on disk before any message reflects them;
        # a failed write raises and leaves them as they were.
        self._store_meta({**self._meta, "term": term, "voted": votedForNodeId})

    def getCurrentTerm(self):
        return self._meta.get("term", 0)

    def getVotedForNodeId(self):
        return self._meta.get("voted")

    def onOneSecondTimer(self):
        self.flush()

    def _store_meta(self, meta: dict) -> None:
        try:
            _write_atomically(self._meta_path, pack_meta(meta), self._fsync)
        except OSError as exc:
            self._disk.failed("meta", exc)
            raise
        self._disk.succeeded("meta")
        self._meta = meta
        self._meta_dirty = False
