"""Cluster membership (admin tokens only): ``registry.membership.add(raft, api)`` and ``remove(node)``.

Like :mod:`._tokens`, one object serves both clients: a value for
:class:`Registry`, an awaitable for :class:`AsyncRegistry`. Neither is
sent twice: the server refuses a second change while one is uncommitted, so
a blind retry would read as a conflict, or remove a node it already removed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._client import Call, ClientCore, Kind, Op, json_object, segment

__all__ = ["Membership"]


def _call(method: str, path: str, body: Any = None) -> Op[dict[str, Any]]:
    response = yield Call(method, path, body=body, kind=Kind.UNSAFE)
    return json_object(response)


class Membership:
    def __init__(self, core: ClientCore, run: Callable[[Op[Any]], Any]) -> None:
        self._core, self._run = core, run

    def add(self, raft: str, api: str) -> Any:
        """Add the node started with ``--join`` at Raft address ``raft``, API ``api``: ``{"members", "leader"}``."""
        return self._run(_call("POST", "/v1/cluster/members", {"raft": raft, "api": api}))

    def remove(self, node: str) -> Any:
        """Remove a voter by id or Raft address (the leader hands over first): ``{"members", "leader"}``."""
        return self._run(_call("DELETE", f"/v1/cluster/members/{segment(node)}"))
