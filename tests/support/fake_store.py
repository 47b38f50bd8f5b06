"""A RegistryStore (node/store_protocol.py) for API tests: the real FSM, applied synchronously, no Raft."""

from __future__ import annotations

from manifest_node import errors
from manifest_node.config import NodeConfig
from manifest_node.fsm import commands as C
from manifest_node.fsm.registry import RegistryState
from manifest_node.store_protocol import Capture, NodeStatus


class FakeStore:
    def __init__(self, cfg: NodeConfig | None = None):
        self.cfg = cfg or NodeConfig()
        self.fsm = RegistryState()
        self.now_ms = 1_764_000_000_000
        self.term = 1
        self.index = 0
        self.available = True  # False: behave like a node without a leader
        self.proposed: list = []
        self.syncs: list = []
        self._listeners = []
        self._restore_listeners = []

    async def start(self):
        pass

    async def stop(self):
        pass

    def add_listener(self, fn, on_restore=None):
        self._listeners.append(fn)
        if on_restore is not None:
            self._restore_listeners.append(on_restore)

    def restore(self, snapshot: bytes):
        """Replace the state as a follower installing a snapshot would."""
        self.fsm.restore(snapshot)
        for fn in self._restore_listeners:
            fn(self.fsm.revision)

    def apply(self, *commands):
        self.index += 1
        out = self.fsm.apply(C.encode(self.now_ms, self.term, list(commands)))
        for fn in self._listeners:
            fn(self.index, out.events)
        if out.restored:  # as consensus/adapter.py does after a RESTORE
            for fn in self._restore_listeners:
                fn(self.fsm.revision)
        return out.results

    async def propose(self, command):
        if not self.available:
            raise errors.NoLeader("no leader is known; retry shortly")
        self.proposed.append(command)
        return self.apply(command)[0]

    def read(self, fn):
        return fn(self.fsm)

    def revision(self) -> int:
        return self.fsm.revision

    def service_revision(self, name: str) -> int:
        return self.fsm.service_rev.get(name, 0)

    def auth_view(self):
        return self.fsm.tokens.records, self.fsm.clock

    async def sync(self, linearizable):
        self.syncs.append(linearizable)
        if linearizable and not self.available:
            raise errors.NoLeader("no leader is known; retry shortly")

    def status(self):
        return NodeStatus(role="leader" if self.available else "candidate",
                          leader_api="http://leader:8500" if self.available else None,
                          term=self.term, commit=self.index, applied=self.index,
                          revision=self.fsm.revision, last_contact_ms=0, ready=self.available)

    def members(self):
        return [{"id": self.cfg.id, "api": self.cfg.api_url, "raft": self.cfg.raft, "role": "leader",
                 "self": True, "diverged": False}]

    async def leader_propose_many(self, commands):
        results = self.apply(*commands)
        return self.index, results

    async def leader_read_index(self):
        return self.index

    async def add_member(self, raft, api):
        # One node, no Raft: the API layer's validation is what tests reach here.
        raise errors.Conflict("the fake store has no Raft cluster", code="would_lose_quorum")

    async def remove_member(self, node):
        raise errors.Conflict("the last voter cannot be removed", "node", code="last_member")

    def accept_join(self, raft, members):
        raise errors.Conflict("this node is not waiting to join", "raft", code="not_joining")

    async def capture(self):
        await self.sync(True)
        return Capture(self.fsm.capture(), self.index, self.term)
