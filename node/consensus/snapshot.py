"""Snapshots (pysyncobj "full dumps") as versioned msgpack, and start-up repair.

pysyncobj calls the serializer on its tick thread with the state machine at
exactly the last applied entry, passing the two entries the dump stands for.
The file is one msgpack map ``{"sum", "format", "last", "prev", "cluster",
"applied_hash", "state", "checksum"}``: ``state`` is ``RegistryState.snapshot()``,
``checksum`` a blake2b of ``state`` and ``sum`` a blake2b of every other field
(``checksum`` included), so every byte of the file is verified before it is
used (docs/durability.md, "Corruption"). It stays format 1, a superset of
what the previous release wrote, because that release must still read it
after a downgrade (it checks ``checksum`` and ignores ``sum``).

``reconcile`` fixes the one ordering pysyncobj does not survive: a dump newer
than the head of the journal (the node died between writing the dump and
compacting the journal). pysyncobj would then clear the *whole* journal
(syncobj.py ~1489-1495) and lose every entry after the dump; we cut the
journal's head instead, keeping those entries.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import logging
import os
import signal
import threading
import time
import traceback
import warnings

import msgpack
from .pysyncobj.config import SERIALIZER_STATE

from ..fsm.registry import RegistryState, pack_snapshot
from ..memory import gc_paused
from .disk import DiskHealth
from .divergence import AppliedHash
from .journal import CorruptFile, DurableJournal, fields_sum, fsync_dir, read_entries

FORMAT = 1
# The forms read without a sum, by their exact keys: release 98703f3's (its state checksum must
# verify) and the pilot's (c21bc1d and before: no checksum at all, read as it always was, because
# docs/operations.md "Upgrades" promises its data directories are read as they are).
_OLD_KEYS = frozenset({"format", "last", "prev", "cluster", "applied_hash", "state", "checksum"})
_PILOT_KEYS = frozenset({"format", "last", "prev", "cluster", "state"})
log = logging.getLogger("manifest.snapshot")
WRITER_NICENESS = 10  # added to the node's own by the forked snapshot writer


class StatePoint:
    """The Raft index and term the state machine stands at, written under the state lock.

    pysyncobj advances ``raftLastApplied`` only after ``apply`` returned and
    the lock is released, so a reader holding the lock cannot take it from
    there: a backup (``Store.capture``) would name an index one short of
    the state it holds. Both ways the state changes set this instead: an
    applied entry (adapter.py) and an installed snapshot (below)."""

    __slots__ = ("index", "term")

    def __init__(self) -> None:
        self.index, self.term = 0, 0


def _entry(raw) -> tuple[bytes, int, int]:
    # pysyncobj compares these with journal entries, which are tuples.
    return (bytes(raw[0]), int(raw[1]), int(raw[2]))


def read_dump(path: str) -> dict | None:
    """The dump's outer record, None when there is none; CorruptFile when it cannot be read.

    Checks the framing (a torn or foreign file), the sum over every field
    but the state, and the state blob's checksum (a flipped bit anywhere),
    not the blob's content: decoding that costs seconds at 100,000 instances
    and happens on restore. A file without a sum is read only in the exact
    forms earlier releases wrote (their key sets; the previous release's with
    a state checksum that verifies); their other fields were never
    checksummed, the pilot's state neither. A new file cannot
    pass for one: ``sum`` is its first key, so no flip or cut removes it and
    leaves a valid map (a smaller map count leaves bytes after it)."""
    try:
        with open(path, "rb") as f:
            raw = msgpack.unpackb(f.read(), raw=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CorruptFile(path, f"unreadable: {exc.strerror}") from None
    except Exception as exc:  # msgpack raises several unrelated types
        raise CorruptFile(path, f"not a snapshot: {exc}") from None
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise CorruptFile(path, "not a snapshot")
    pilot = "sum" not in raw and set(raw) == _PILOT_KEYS
    if "sum" in raw:
        if raw["sum"] != record_sum(raw):
            raise CorruptFile(path, "the snapshot's fields do not match their checksum")
    elif not pilot and set(raw) != _OLD_KEYS:
        raise CorruptFile(path, "the snapshot has no checksum over its fields and is not in a known older form")
    if raw.get("format") != FORMAT:
        raise CorruptFile(path, f"unsupported snapshot format {raw.get('format')!r}")
    if not isinstance(raw.get("state"), bytes) or not all(
            isinstance(raw.get(k), list) and len(raw[k]) == 3 for k in ("last", "prev")):
        raise CorruptFile(path, "snapshot record lacks its state or entries")
    if not pilot and raw.get("checksum") != state_checksum(raw["state"]):
        raise CorruptFile(path, "the snapshot's state does not match its checksum")
    return raw


def state_checksum(state: bytes) -> bytes:
    return hashlib.blake2b(state, digest_size=16).digest()


def record_sum(raw: dict) -> bytes:
    """blake2b of every field but ``sum`` and ``state`` (which ``checksum`` covers: hashing
    a large state once is enough), keys sorted so the packing is canonical."""
    return fields_sum(raw, ("sum", "state"))


def pack_dump(fields: dict, state: bytes) -> bytes:
    """A snapshot file's bytes: ``fields`` (format, last, prev, cluster, ...) and the state, checksummed."""
    body = {**fields, "state": state, "checksum": state_checksum(state)}
    return msgpack.packb({"sum": record_sum(body), **body}, use_bin_type=True)


class SnapshotHooks:
    """The serializer/deserializer/checker trio handed to SyncObjConf.

    pysyncobj calls ``serialize`` on its tick thread, the thread that also
    sends Raft heartbeats. Packing and writing 100,000 instances there took
    ~1 s, long enough for followers to call an election at every snapshot;
    copying the state under the lock for a worker thread to pack still held
    the lock for 72 ms at 100,000 instances and 1.4 s at a million, and the
    worker's packing then fought the node's two threads for the GIL for
    another 0.6 s (issue 16: a 600 ms p99 and an election in the scale run).
    So ``serialize`` forks, holding the state lock only for the fork itself:
    the child's memory is the state at exactly the last applied entry, and
    the child captures, packs and writes it to ``raft.snapshot.part`` on a
    core of its own, without the parent's GIL, then exits. The *checker*,
    which pysyncobj polls on the tick thread, reaps the child, moves the
    finished file into place and only then reports success, which is when
    pysyncobj compacts the journal. Until then the previous snapshot, or
    none for a node's first, stays in place (the fork renames nothing when
    it is given a checker, PATCHES.md "writer renames"). The child never renames
    anything and dies with the thread that forked it (``PR_SET_PDEATHSIG``),
    so no dump can appear behind a parent that is gone (docs/durability.md,
    pitfall 1). Installing a snapshot from the leader also runs on the tick
    thread, so the checker cannot race it; an install while the child packs
    makes its file stale: the child is killed and the file dropped.

    The child touches every object it packs, so the kernel copies the pages
    that hold them: while it runs, the machine holds up to a second copy of
    the state (docs/durability.md, "Limits").
    """

    def __init__(self, fsm: RegistryState, lock: threading.Lock, fsync: bool, on_restore,
                 hashes: AppliedHash | None = None, disk: DiskHealth | None = None,
                 point: StatePoint | None = None):
        self._fsm, self._lock, self._fsync, self._on_restore = fsm, lock, fsync, on_restore
        self.point = point if point is not None else StatePoint()
        self._hashes = hashes if hashes is not None else AppliedHash()
        self._disk = disk if disk is not None else DiskHealth()
        self._status = SERIALIZER_STATE.NOT_SERIALIZING
        self._child: int | None = None  # the pid of the process writing the part file
        self._pending: tuple[str, str, int] | None = None  # (part, final, generation) being written
        self._generation = 0  # bumped by every install
        # For /metrics (node/metrics_store.py): plain ints, each with one writer (the tick thread).
        self.written = 0  # snapshots this process wrote and put in place
        self.failures = 0  # attempts whose file could not be written
        self.failing = False  # the latest attempt failed (cleared by the next success)
        self.installs = 0  # snapshots loaded: the node's own at start, or one sent by the leader

    def serialize(self, filename: str, data) -> None:
        last, prev, cluster = data
        meta = {"format": FORMAT, "last": list(last), "prev": list(prev),
                # A replica has no node of its own (None): its snapshot names the voters only,
                # or loading it would add a peer called "None" (membership is dynamic).
                "cluster": sorted(str(getattr(n, "address", n)) for n in cluster if n is not None),
                # The divergence chain at this state, so an installing node continues it.
                "applied_hash": [self._hashes.index, self._hashes.digest]}
        # pysyncobj passes its ".tmp" name and, given a checker, leaves the rename to us (PATCHES.md).
        final = filename[:-len(".tmp")] if filename.endswith(".tmp") else filename
        part = final + ".part"
        parent = os.getpid()
        try:
            with self._lock, warnings.catch_warnings():
                # Python warns of fork in a threaded process; the child runs no thread, takes no
                # lock and calls nothing that another thread could have held locked: it only
                # packs the state, writes a file and exits.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError as exc:  # no memory or processes left: the journal keeps growing meanwhile
            log.error("cannot fork the snapshot writer: %s; retrying at the next compaction", exc)
            self._count(False)
            self._status = SERIALIZER_STATE.FAILED
            return
        if pid == 0:
            _write_and_exit(self._fsm, part, meta, self._fsync, parent)
        self._child, self._pending = pid, (part, final, self._generation)
        self._status = SERIALIZER_STATE.SERIALIZING

    def check(self) -> int:
        """pysyncobj's serializeChecker, on its tick thread: SUCCESS or FAILED once per snapshot."""
        if self._status == SERIALIZER_STATE.SERIALIZING:
            code = self._reap(os.WNOHANG)
            if code is None:
                return SERIALIZER_STATE.SERIALIZING
            part, final, generation = self._pending
            self._pending = None
            stale = generation != self._generation
            if code == 0 and not stale:
                os.replace(part, final)
                if self._fsync:
                    fsync_dir(os.path.dirname(final) or ".")
                self._disk.succeeded("snapshot")
                self._count(True)
                self._status = SERIALIZER_STATE.SUCCESS
            else:
                if not stale:  # a stale file (an install meanwhile) is no failure
                    self._count(False)
                    if 0 < code < _CRASHED:
                        self._disk.failed("snapshot", OSError(code, os.strerror(code)))
                    else:
                        log.error("the snapshot writer ended with %s", _how(code))
                if os.path.exists(part):
                    os.unlink(part)
                self._status = SERIALIZER_STATE.FAILED
        status = self._status
        if status in (SERIALIZER_STATE.SUCCESS, SERIALIZER_STATE.FAILED):
            self._status = SERIALIZER_STATE.NOT_SERIALIZING
        return status

    def _reap(self, flags: int) -> int | None:
        """The child's exit code (negative: the signal that ended it), None while it runs."""
        try:
            pid, status = os.waitpid(self._child, flags)
        except ChildProcessError:  # reaped by someone else: its outcome is unknown
            pid, status = self._child, _CRASHED << 8
        if pid == 0:
            return None
        self._child = None
        return os.waitstatus_to_exitcode(status)

    def _count(self, ok: bool) -> None:
        if ok:
            self.written += 1
        else:
            self.failures += 1
        self.failing = not ok

    def wait(self, timeout: float = 30.0) -> None:
        """Tests and shutdown: let a snapshot being written finish (the checker still reaps it)."""
        deadline = time.monotonic() + timeout
        while self._child is not None and time.monotonic() < deadline:
            try:
                if os.waitid(os.P_PID, self._child, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return
            except ChildProcessError:
                return
            time.sleep(0.01)

    def deserialize(self, filename: str):
        self._generation += 1  # a snapshot being written now describes a state we are leaving
        if self._child is not None:
            try:
                os.kill(self._child, signal.SIGKILL)  # its file is stale; the checker reaps it
            except ProcessLookupError:
                pass
        raw = read_dump(filename)
        if raw is None:
            raise FileNotFoundError(filename)
        with self._lock, gc_paused():
            self._fsm.restore(raw["state"])
            revision = self._fsm.revision
            self.point.index, self.point.term = int(raw["last"][1]), int(raw["last"][2])
        self.installs += 1
        index, digest = raw.get("applied_hash") or (raw["last"][1], None)  # older snapshots: unknown
        self._hashes.reset(int(index), bytes(digest) if digest is not None else None)
        log.info("state restored from a snapshot", extra={"index": raw["last"][1], "revision": revision})
        self._on_restore(revision)
        return _entry(raw["last"]), _entry(raw["prev"]), tuple(raw["cluster"])


_CRASHED = 255  # the child's exit code for anything but an OSError
_PR_SET_PDEATHSIG = 1
try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child looks nothing up
except (OSError, AttributeError):  # not Linux: a child can outlive its parent; only .part is at risk
    _PRCTL = None


def _how(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"exit code {code}"


def write_dump(path: str, captured: dict, meta: dict, fsync: bool) -> None:
    """Pack and write a snapshot file; a partial one is removed (OSError is raised)."""
    blob = pack_dump(meta, pack_snapshot(captured))
    try:
        with open(path, "wb") as f:
            f.write(blob)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    except OSError:
        try:
            os.unlink(path)  # a partial snapshot must never be taken for one
        except OSError:
            pass
        raise


def _write_and_exit(fsm: RegistryState, part: str, meta: dict, fsync: bool, parent: int) -> None:
    """The forked child: capture, pack and write ``part``, then exit (0, an errno, or 255)."""
    code = _CRASHED
    try:
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before that took effect
            os._exit(code)
        gc.disable()  # a collection would touch, and so copy, every page of the parent's heap
        # Below the nodes in the CPU's queue: on a machine with fewer free cores than busy
        # processes, a writer at the node's own priority starved a follower's tick thread past
        # its election timeout (an election in the unbatched scale run, two writers running).
        os.nice(WRITER_NICENESS)
        # A signal sent to this process alone must not reach the parent's event loop through the
        # wake-up descriptor the two share (asyncio's signal handling), nor run its handlers.
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        write_dump(part, fsm.capture(), meta, fsync)
        code = 0
    except OSError as exc:
        code = exc.errno if exc.errno and 0 < exc.errno < _CRASHED else _CRASHED
    except BaseException:
        traceback.print_exc()  # a bug: its trace to the node's stderr; the parent logs the exit code
    finally:
        os._exit(code)


def reconcile(journal_path: str, dump_path: str) -> str:
    """Make the journal start at the dump's entries when it holds them. Returns what it did."""
    dump = read_dump(dump_path)
    if dump is None:
        return "no dump"
    prev, last = _entry(dump["prev"]), _entry(dump["last"])
    entries, _ = read_entries(journal_path)
    if len(entries) >= 2 and entries[0] == prev and entries[1] == last:
        return "consistent"
    for pos in range(len(entries) - 1):
        if entries[pos] == prev and entries[pos + 1] == last:
            journal = DurableJournal(journal_path)
            journal.deleteEntriesTo(pos)
            journal._destroy()
            log.warning("journal started before the snapshot at index %d; cut %d entries "
                        "instead of letting pysyncobj clear it", last[1], pos)
            return f"cut {pos}"
    return "journal does not hold the snapshot's entries"
