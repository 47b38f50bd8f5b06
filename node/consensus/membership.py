"""Who the other nodes are: Raft addresses, node ids and API URLs, from the replicated MEMBER map.

Every node announces ``(id, api, raft)`` with a MEMBER command (clock.py's
Ticker, until the registry holds it); followers forward writes to the API URL
the map gives for the leader's Raft address. Which addresses are voters is
Raft's current configuration (``cluster()``, changed by
membership_change.py), not the --peer flags.
"""

from __future__ import annotations

import threading

from ..config import NodeConfig
from ..fsm import commands
from ..fsm.registry import RegistryState


class Membership:
    def __init__(self, cfg: NodeConfig, fsm: RegistryState, lock: threading.Lock, cluster=None):
        self._cfg, self._fsm, self._lock = cfg, fsm, lock
        self._cluster = cluster  # () -> Raft addresses of the voters now; empty before Raft runs
        self._own_raft = None if cfg.replica else cfg.raft  # a replica has no Raft address of its own
        self._members_seen: dict | None = None
        self._api_by_raft: dict[str, str] = {}

    def api_url_of(self, raft_addr: str | None) -> str | None:
        if raft_addr is None:
            return None
        if raft_addr == self._own_raft:
            return self._cfg.api_url
        members = self._fsm.members  # replaced, never mutated, on every change
        if members is not self._members_seen:
            self._api_by_raft = {m["raft"]: m["api"] for m in members.values()}
            self._members_seen = members
        return self._api_by_raft.get(raft_addr)

    def id_of(self, raft_addr: str | None) -> str | None:
        if raft_addr is None:
            return None
        if raft_addr == self._own_raft:
            return self._cfg.id
        for node_id, member in self._fsm.members.items():
            if member["raft"] == raft_addr:
                return node_id
        return None

    def voters(self) -> set[str]:
        cfg = self._cfg
        live = self._cluster() if self._cluster is not None else ()
        if live:
            return set(live)
        return set(cfg.peer) if cfg.replica else {cfg.raft, *cfg.peer}

    def peer_apis(self):
        """(node id, API URL) of every other voter the registry knows."""
        voters = self.voters()
        for node_id, member in self._fsm.members.items():
            if node_id != self._cfg.id and member["raft"] in voters:
                yield node_id, member["api"]

    def resolve(self, node: str) -> str | None:
        """The Raft address of a voter named by its id or its Raft address."""
        voters = self.voters()
        if node in voters:
            return node
        if node == self._cfg.id and self._own_raft in voters:
            return self._own_raft
        with self._lock:
            member = self._fsm.members.get(node)
        return member["raft"] if member is not None and member["raft"] in voters else None

    def view(self, role: str, leader_raft: str | None, diverged) -> list[dict]:
        """Every configured member as this node sees it (``GET /v1/cluster``)."""
        cfg = self._cfg
        with self._lock:
            known = {m["raft"]: (node_id, m["api"]) for node_id, m in self._fsm.members.items()}
        out = []
        if cfg.replica:
            out.append({"id": cfg.id, "api": cfg.api_url, "raft": None, "role": "replica", "self": True,
                        "diverged": False})
        for raft in sorted(self.voters()):
            node_id, api = known.get(raft, (None, None))
            if raft == self._own_raft:
                node_id, api, member_role = cfg.id, cfg.api_url, role
            else:
                member_role = "leader" if raft == leader_raft else ("follower" if leader_raft else "unknown")
            out.append({"id": node_id, "api": api, "raft": raft, "role": member_role,
                        "self": raft == self._own_raft, "diverged": node_id in diverged})
        return out

    def knows_itself(self) -> bool:
        """True once the registry maps this node's Raft address to its API (replicas have none)."""
        if self._cfg.replica:
            return True
        with self._lock:
            me = self._fsm.members.get(self._cfg.id)
        return me == {"api": self._cfg.api_url, "raft": self._cfg.raft}

    def self_command(self) -> list:
        return commands.member(self._cfg.id, self._cfg.api_url, self._cfg.raft)
