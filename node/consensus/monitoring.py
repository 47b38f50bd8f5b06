"""What /metrics shows of the consensus room: storage files, snapshots, replication lag.

Read at scrape time only (node/metrics_store.py calls ``Store.monitoring()``
from the scrape's executor thread), from values the Raft thread keeps as
plain ints: nothing here adds work to the write path.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FollowerLag:
    follower: str  # node id, or its Raft address while the registry does not name it
    commit: int  # entries the leader committed that the follower does not hold yet
    apply: int | None  # entries committed but not applied there, as it last reported (None: no answer)


@dataclass(frozen=True, slots=True)
class Monitoring:
    journal_bytes: int = 0
    journal_entries: int = 0
    journal_age: float = 0.0  # seconds since the journal last started afresh (see ``_journal_since``)
    snapshot_bytes: int | None = None  # None: no snapshot on disk yet
    snapshot_age: float | None = None
    snapshots_written: int = 0
    snapshot_failures: int = 0
    snapshot_failing: bool = False
    snapshot_installs: int = 0
    last_contact: float | None = None  # seconds since the leader was heard from (0 on the leader)
    followers: tuple[FollowerLag, ...] = ()  # on the leader only


def collect(raft, id_of, apply_lag: dict[str, int], started: float) -> Monitoring:
    """The figures of one RaftNode (``raft``); ``id_of`` names a Raft address, ``started`` is unix time."""
    if raft is None:
        return Monitoring()
    now = time.time()
    journal = raft.journal
    size, entries = journal.stats() if journal is not None else (0, 0)
    try:
        st = os.stat(raft.dump_path)
        snap_bytes, snap_mtime = st.st_size, st.st_mtime
    except OSError:
        snap_bytes = snap_mtime = None
    hooks = raft.snapshots
    status = raft.status
    followers = []
    commit = status.commit
    for address, match in sorted(raft.follower_match().items()):
        name = id_of(address) or address
        followers.append(FollowerLag(name, max(0, commit - match), apply_lag.get(name)))
    contact = 0.0 if status.role == "leader" else (
        max(0.0, time.monotonic() - status.last_contact) if status.last_contact else None)
    return Monitoring(
        journal_bytes=size, journal_entries=entries,
        journal_age=max(0.0, now - _journal_since(journal, snap_mtime, started)),
        snapshot_bytes=snap_bytes,
        snapshot_age=None if snap_mtime is None else max(0.0, now - snap_mtime),
        snapshots_written=hooks.written, snapshot_failures=hooks.failures, snapshot_failing=hooks.failing,
        snapshot_installs=hooks.installs, last_contact=contact, followers=tuple(followers))


def _journal_since(journal, snapshot_mtime: float | None, started: float) -> float:
    """When the journal last started afresh: this process's last compaction; before that
    the snapshot it starts at (compaction follows the snapshot it cut to); with neither,
    this process's start (the journal then holds everything since the cluster began)."""
    if journal is not None and journal.compacted_at is not None:
        return journal.compacted_at
    if snapshot_mtime is not None:
        return snapshot_mtime
    return started
