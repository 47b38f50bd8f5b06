"""What the HTTP layer may use of a node: the store Protocol, and the status it reports.

``node/api/`` talks to consensus only through this (rqlite's habit: the HTTP
service declares the store interface it needs). ``consensus.store.Store``
implements it over Raft; ``tests/support/fake_store.FakeStore`` over a bare
RegistryState; tests/test_store_protocol.py holds both to these signatures.
Auth, checks and compatibility views (node/auth, node/checks,
node/api/compat) use the same Protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, TypeVar

from .config import NodeConfig
from .fsm.registry import RegistryState
from .fsm.results import Result

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NodeStatus:
    role: str  # leader | follower | candidate
    leader_api: str | None
    term: int
    commit: int
    applied: int
    revision: int
    last_contact_ms: int | None
    ready: bool
    applied_hash: str | None = None  # divergence chain at ``applied`` (consensus/divergence.py)
    alarms: tuple = ()  # divergence alarms, as dicts
    storage: tuple = ()  # files this node cannot write, as dicts (consensus/disk.py)


@dataclass(frozen=True, slots=True)
class Capture:
    """The whole state as plain values (``RegistryState.capture()``) and the committed entry it stands at."""

    state: dict
    index: int  # Raft index of the last entry applied into ``state``
    term: int


class RegistryStore(Protocol):
    cfg: NodeConfig

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def add_listener(self, fn: Callable, on_restore: Callable | None = None) -> None:
        """``fn(index, events)`` after each applied entry, in log order, on the loop;
        ``on_restore(revision)`` when a snapshot replaced the whole state."""

    async def propose(self, command: list) -> Result:
        """Commit one command; its apply result. Raises errors.Unavailable subclasses."""

    def read(self, fn: Callable[[RegistryState], T]) -> T:
        """``fn(state)`` under the state lock; ``fn`` must not keep references into it."""

    def revision(self) -> int:
        """The registry revision applied here (cheap, no lock: blocking reads poll it)."""

    def service_revision(self, name: str) -> int:
        """The revision of the last change to ``name`` applied here, 0 if never registered."""

    def auth_view(self) -> tuple[dict, int]:
        """(token records by id, registry time in ms) applied here; cheap, no lock: every
        authenticated request calls it. The records dict is replaced, never changed."""

    async def sync(self, linearizable: bool) -> None:
        """Return once reads here reflect every write acknowledged before the call (when asked)."""

    def status(self) -> NodeStatus: ...

    def members(self) -> list[dict]: ...

    async def leader_propose_many(self, commands: list) -> tuple[int, list]:
        """On the leader, for forwarded commands: (log index, per command its Result or error)."""

    async def leader_read_index(self) -> int:
        """On the leader: its commit index, confirmed through the log."""

    async def add_member(self, raft: str, api: str) -> dict:
        """Add a voter (a node started with --join), one change at a time
        (consensus/membership_change.py): ``{"members", "leader"}``. Errors: 409
        membership_change_in_progress / would_lose_quorum / already_a_member, ..."""

    async def remove_member(self, node: str) -> dict:
        """Remove a voter named by id or Raft address; the leader hands over first. Same answer."""

    def accept_join(self, raft: str, members: list) -> dict:
        """On a --join node, from the leader: connect to ``members``; ``{"id", "api", "raft"}``."""

    async def capture(self) -> Capture:
        """The state at a linearizable point (every write acknowledged before the call), for a backup."""
