"""What the soak samples of one node without asking it: /proc of its process and its data directory."""

from __future__ import annotations

import os
from pathlib import Path

MB = 1 << 20


def process(pid: int) -> dict | None:
    """RSS (MB), open file descriptors and threads of ``pid``; None when it is gone."""
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        fields = {}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields[key] = value.split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if fields.get("State", ["Z"])[0] == "Z":
        return None
    return {"rss_mb": round(int(fields["VmRSS"][0]) / 1024, 2), "fds": fds, "threads": int(fields["Threads"][0])}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # compaction renames, snapshots replace: a file may go between listing and stat
        return 0


def data_dir(path: str) -> dict:
    """Journal, snapshot and audit log sizes (MB) and the number of snapshot files in a node's data dir."""
    d = Path(path)
    names = os.listdir(d) if d.is_dir() else []
    journal = sum(_size(d / n) for n in names if n.startswith("raft.journal"))
    snaps = [n for n in names if n.startswith("raft.snapshot")]
    audit = sum(_size(d / n) for n in names if n.startswith("audit.log"))
    return {"journal_mb": round(journal / MB, 3), "snapshot_count": len(snaps),
            "snapshot_mb": round(_size(d / "raft.snapshot") / MB, 3), "audit_mb": round(audit / MB, 3)}
