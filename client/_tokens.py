"""Token administration (admin tokens only): ``registry.tokens.create(...)``, ``list()``, ``rotate(id)``, ``revoke(id)``.

The same object serves both clients: each method returns what the client's
runner returns, a value for :class:`Registry` and an awaitable for
:class:`AsyncRegistry` (``await reg.tokens.list()``). A created or rotated
token's secret is in the answer's ``token`` field, shown this once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._client import Call, ClientCore, Kind, Op, json_object, segment

__all__ = ["Tokens"]


def _call(method: str, path: str, body: Any = None, kind: Kind = Kind.READ) -> Op[dict[str, Any]]:
    response = yield Call(method, path, body=body, kind=kind)
    return json_object(response)


class Tokens:
    def __init__(self, core: ClientCore, run: Callable[[Op[Any]], Any]) -> None:
        self._core, self._run = core, run

    def create(self, role: str, *, services: Iterable[str] = (), ttl: str | float | None = None,
               description: str | None = None, any_owner: bool = False) -> Any:
        """A new token: ``{"id", "token", "role", ...}``. ``ttl``: seconds or ``"90d"``/``"12h"``/``"30m"``.

        Never sent twice: a retry could make a second token."""
        body: dict[str, Any] = {"role": role}
        if services:
            body["services"] = list(services)
        if ttl is not None:
            body["ttl"] = ttl
        if description:
            body["description"] = description
        if any_owner:
            body["any_owner"] = True
        return self._run(_call("POST", "/v1/tokens", body, Kind.UNSAFE))

    def list(self) -> Any:
        """Every token's metadata (never a secret): ``{"tokens": [...]}``."""
        return self._run(_call("GET", "/v1/tokens"))

    def rotate(self, token_id: str) -> Any:
        """A new secret for the same id, role and services; the old one stops working."""
        return self._run(_call("POST", f"/v1/tokens/{segment(token_id)}/rotate", kind=Kind.UNSAFE))

    def revoke(self, token_id: str) -> Any:
        """Revoke a token on every node; ``NotFound`` if there is none with this id."""
        return self._run(_call("DELETE", f"/v1/tokens/{segment(token_id)}", kind=Kind.IDEMPOTENT))
