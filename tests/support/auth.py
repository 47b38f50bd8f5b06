"""Tokens for tests: minted into a fake store's state, or created through a node's API."""

from __future__ import annotations

from manifest_node.auth.tokens import mint
from manifest_node.fsm import commands as C

BOOTSTRAP = "bootstrap-admin-token-for-tests-0123456789"


def add_token(store, role: str, services=(), any_owner: bool = False, ttl_ms: int | None = None) -> tuple[str, str]:
    """(id, token) of a new token applied to a FakeStore's state as a node would propose it."""
    minted = mint()
    fields = {"role": role, "services": list(services), "any_owner": any_owner, "salt": minted.salt,
              "hash": minted.hash}
    if ttl_ms is not None:
        fields["ttl_ms"] = ttl_ms
    (result,) = store.apply(C.token_put(minted.id, fields))
    assert result.ok, result
    return minted.id, minted.token


def bearer(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}
