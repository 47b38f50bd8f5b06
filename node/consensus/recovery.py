"""``--recover``: set a node's damaged Raft state aside so it can rejoin from the leader.

A journal damaged in the middle, or a damaged snapshot or meta file, stops
the node (startup.py): serving or voting on a guess could be wrong. With
``--recover`` the journal and snapshot are moved, whole, into
``data_dir/damaged-<time>/`` (one without the other would not be consistent:
the journal was compacted up to the snapshot) and the node starts empty; the
leader then sends it a snapshot. Its term and vote are kept, so it cannot
vote twice in a term it voted in. When the meta file itself is damaged its
vote is unknown: the node then starts at a term far past any it can have
voted in (one election when it rejoins, never a second vote).
"""

from __future__ import annotations

import os
import time

from .journal import CorruptFile, _write_atomically, pack_meta, read_entries, read_meta

# Terms past the last one seen that a node with an unknown vote skips.
TERM_LEAP = 1000
_FILES = ("raft.journal", "raft.snapshot", "raft.snapshot.part", "raft.snapshot.tmp", "raft.journal.meta")


def set_aside(data_dir: str) -> str:
    """Move the damaged state out of the way; returns what it did, for the log."""
    journal = os.path.join(data_dir, "raft.journal")
    meta_path = journal + ".meta"
    try:
        meta, meta_ok = read_meta(meta_path), True
    except CorruptFile:
        meta, meta_ok = {}, False
    try:
        entries, _ = read_entries(journal)
        last_term = entries[-1][2] if entries else 0
    except CorruptFile:
        last_term = 0
    folder = os.path.join(data_dir, time.strftime("damaged-%Y%m%dT%H%M%S"))
    os.makedirs(folder, exist_ok=True)
    moved = []
    for name in _FILES:
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            os.replace(path, os.path.join(folder, name))
            moved.append(name)
    if meta_ok:
        new = {"term": meta.get("term", 0), "voted": meta.get("voted"), "commit": 0}
    else:
        new = {"term": max(meta.get("term", 0), last_term) + TERM_LEAP, "voted": None, "commit": 0}
    _write_atomically(meta_path, pack_meta(new), True)
    kept = "term and vote kept" if meta_ok else f"vote unknown: starting at term {new['term']}"
    return f"moved {', '.join(moved)} to {folder}; {kept}; the node rejoins from the leader's snapshot"
