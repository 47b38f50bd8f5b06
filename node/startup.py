"""Checks before a node starts: a data directory it can write, state files it can read.

Each failure is a ``StartupError`` whose message is one line naming the
setting or the file; ``manifest node`` prints it and exits 2, as it does for
a bad setting (docs/operations.md). Without these checks the same faults
surfaced as a traceback from inside pysyncobj's constructor, or worse, a
damaged meta file was read as "term 0, no vote" (journal.read_meta).
"""

from __future__ import annotations

import os
import stat

from .consensus.journal import CorruptFile, read_entries, read_meta
from .consensus.recovery import set_aside
from .consensus.snapshot import read_dump
from .errors import StartupError  # noqa: F401 - re-exported for cli.py

# The node's own files: the registry, Raft's term and vote. Nobody else needs them.
UMASK = 0o077
_PROBE = ".manifest-write-probe"




def check_data_dir(data_dir: str, recover: bool = False) -> list[str]:
    """Raise StartupError unless the node can run on ``data_dir``; return warnings.

    ``recover``: instead of refusing, set damaged state aside (recovery.py)
    and start empty, to catch up from the leader."""
    try:
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"data_dir: cannot create {data_dir}: {exc.strerror}") from None
    _check_writable(data_dir)
    journal = os.path.join(data_dir, "raft.journal")
    if os.path.exists(journal):
        try:
            open(journal, "r+b").close()
        except OSError as exc:
            raise StartupError(f"data_dir: cannot open {journal} for writing: {exc.strerror}") from None
    warnings = []
    try:
        read_meta(journal + ".meta")
        read_dump(os.path.join(data_dir, "raft.snapshot"))
        read_entries(journal)
    except CorruptFile as exc:
        if not recover:
            raise StartupError(f"refusing to start, a state file is damaged: {exc}; start once with "
                               "--recover to set it aside and rejoin from the leader "
                               "(docs/operations.md, 'Damaged state files')") from None
        warnings.append(f"--recover: {exc}; " + set_aside(data_dir))
    mode = stat.S_IMODE(os.stat(data_dir).st_mode)
    if mode & 0o077:
        warnings.append(f"data_dir {data_dir} is accessible to other users (mode {mode:04o}); chmod 700 it")
    return warnings


def _check_writable(data_dir: str) -> None:
    # A real write, not os.access(): root passes access() on a 0500 directory,
    # and only a write tells a full or read-only file system apart.
    probe = os.path.join(data_dir, _PROBE)
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StartupError(f"data_dir: {data_dir} is not writable: {exc.strerror}") from None
