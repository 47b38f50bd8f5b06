"""The narrow interface the HTTP layer needs from the node (rqlite's Store habit).

``manifest_node.consensus.store.Store`` implements it over pysyncobj; the API
tests implement it over a bare RegistryState. Handlers must use nothing else.
"""

from __future__ import annotations

from typing import Callable, Protocol, TypeVar

from ..config import NodeConfig
from ..fsm.registry import RegistryState

T = TypeVar("T")


class RegistryStore(Protocol):
    cfg: NodeConfig
    fsm: RegistryState  # read only through read(), except single int attributes

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def add_listener(self, fn: Callable, on_restore: Callable | None = None) -> None: ...

    async def propose(self, command: list) -> dict:
        """Commit a command; return its FSM result. Raises errors.Unavailable subclasses."""

    def read(self, fn: Callable[[RegistryState], T]) -> T: ...

    async def sync(self, linearizable: bool) -> None:
        """Wait until reads here reflect every acknowledged write (when asked)."""

    def status(self): ...
    def members(self) -> list[dict]: ...

    async def leader_propose_many(self, commands: list) -> tuple[int, list]: ...
    async def leader_read_index(self) -> int: ...
