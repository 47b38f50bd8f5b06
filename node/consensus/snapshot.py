"""Snapshots (pysyncobj "full dumps") as versioned msgpack, and start-up repair.

pysyncobj calls the serializer on its tick thread with the state machine at
exactly the last applied entry, passing the two entries the dump stands for.
The file is ``{"format", "state", "last", "prev", "cluster"}`` where ``state``
is ``RegistryState.snapshot()``.

``reconcile`` fixes the one ordering pysyncobj does not survive: a dump newer
than the head of the journal (the node died between writing the dump and
compacting the journal). pysyncobj would then clear the *whole* journal
(syncobj.py ~1489-1495) and lose every entry after the dump; we cut the
journal's head instead, keeping those entries.
"""

from __future__ import annotations

import logging
import os
import threading

import msgpack

from ..fsm.registry import RegistryState
from .journal import DurableJournal, read_entries

FORMAT = 1
log = logging.getLogger("manifest.snapshot")


def _entry(raw) -> tuple[bytes, int, int]:
    # pysyncobj compares these with journal entries, which are tuples.
    return (bytes(raw[0]), int(raw[1]), int(raw[2]))


def read_dump(path: str) -> dict | None:
    try:
        with open(path, "rb") as f:
            raw = msgpack.unpackb(f.read(), raw=False)
    except FileNotFoundError:
        return None
    if raw.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported snapshot format {raw.get('format')!r}")
    return raw


class SnapshotHooks:
    """The serializer/deserializer pair handed to SyncObjConf."""

    def __init__(self, fsm: RegistryState, lock: threading.Lock, fsync: bool, on_restore):
        self._fsm, self._lock, self._fsync, self._on_restore = fsm, lock, fsync, on_restore

    def serialize(self, filename: str, data) -> None:
        last, prev, cluster = data
        with self._lock:
            state = self._fsm.snapshot()
        blob = msgpack.packb({
            "format": FORMAT, "state": state, "last": list(last), "prev": list(prev),
            "cluster": sorted(str(getattr(n, "address", n)) for n in cluster),
        }, use_bin_type=True)
        with open(filename, "wb") as f:
            f.write(blob)
            if self._fsync:
                f.flush()
                os.fsync(f.fileno())

    def deserialize(self, filename: str):
        raw = read_dump(filename)
        if raw is None:
            raise FileNotFoundError(filename)
        with self._lock:
            self._fsm.restore(raw["state"])
            revision = self._fsm.revision
        self._on_restore(revision)
        return _entry(raw["last"]), _entry(raw["prev"]), tuple(raw["cluster"])


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
