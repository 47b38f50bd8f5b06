"""Who votes, as this node last knew it: the members file, and whether a --join node is in yet.

pysyncobj applies a membership change when it appends the entry (Raft's
single-server changes), so the set of voters can differ from the --peer list
the node was started with. ``raft.members`` in the data directory holds the
set every time it changes; a restarted node starts from it, not from its
flags, and then follows its snapshot and journal as usual.

A node started with ``--join`` has no peers and must not elect itself (it
would commit a log of its own that the cluster's can never replace cleanly).
It waits: the leader tells it the members' addresses before adding it
(consensus/membership_change.py), and it counts as joined once it applied the
entry adding it, or installed a snapshot whose cluster holds it. The file is
written once it learned the members too (``"joined": false``), so a join node
restarted in between reconnects to them and waits on (found by
tests/consensus/raftfuzz_members.py: it knew nobody and stayed out for ever).
"""

from __future__ import annotations

import json
import logging
import os

log = logging.getLogger("manifest.raft")
FILENAME = "raft.members"


def read(data_dir: str) -> list[str] | None:
    """The Raft addresses of the last known cluster (this node's included), or None."""
    known = read_state(data_dir)
    return None if known is None else known[0]


def read_state(data_dir: str) -> tuple[list[str], bool] | None:
    """(members, joined) as last written, or None when there is no file."""
    path = os.path.join(data_dir, FILENAME)
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        # A torn file cannot happen (written atomically); anything else is
        # damage the operator must see, not a reason to guess a membership.
        raise ValueError(f"{path}: unreadable ({exc}); docs/operations.md, 'Membership changes'") from None
    members = raw.get("members") if isinstance(raw, dict) else None
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise ValueError(f"{path}: expected {{\"members\": [\"host:port\", ...]}}")
    return members, raw.get("joined", True) is not False


def write(data_dir: str, members: list[str], fsync: bool, joined: bool = True) -> None:
    path = os.path.join(data_dir, FILENAME)
    part = path + ".part"
    with open(part, "w", encoding="utf-8") as f:
        # joined false: a --join node that learned the members but is not added
        # yet; restarted, it connects to them and goes on waiting.
        json.dump({"members": sorted(members), **({} if joined else {"joined": False})}, f)
        f.write("\n")
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(part, path)


class JoinState:
    """Whether this node may campaign: not while waiting to be added, nor once removed."""

    def __init__(self, own: str | None, waiting: bool):
        self.own = own
        self.waiting = waiting
        self.removed = False
        self.learned: list[str] | None = None  # peers the leader told us, applied on the tick thread

    def may_campaign(self) -> bool:
        return not self.waiting and not self.removed

    def applied(self, kind: str, address: str) -> None:
        if address != self.own:
            return
        if kind == "add" and self.waiting:
            log.info("this node was added to the cluster")
            self.waiting = False
        elif kind == "rem":
            log.warning("this node was removed from the cluster; it no longer campaigns: stop it "
                        "(docs/operations.md, 'Removing a node')")
            self.removed = True

    def installed(self, cluster) -> None:
        if self.waiting and self.own in cluster:
            log.info("joined the cluster from the leader's snapshot")
            self.waiting = False
