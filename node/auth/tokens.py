"""Tokens: minting, the credentials in a request, and cheap verification against replicated state.

A token is ``mnf1.<id>.<secret>``: ``id`` (16 hex digits) finds its record,
``secret`` (32 random bytes, base64url) is checked against the record's
salted SHA-256. A slow password hash would add nothing to 256 random bits
but a way to make a node burn CPU on every bad token.

Verification must cost next to nothing on the read path: a verified token is
remembered under a keyed BLAKE2b of it (the key is random per process, so
the cache holds no token and no offline-checkable hash of one). A hit still
looks the record up in the current state, so a revoked or rotated token
stops working as soon as this node applies the command.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..fsm.tokens import SALT_BYTES, TokenRecord, is_token_id

PREFIX = "mnf1"
_CACHE_MAX = 10_000
_MAX_TOKEN = 512  # longer than any token: refused before hashing


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as. ``id`` is a token id, ``bootstrap``, ``cert:<CN>`` or ``-`` (auth off)."""

    id: str
    role: str
    services: tuple[str, ...] = ()
    any_owner: bool = False


ANONYMOUS = Principal("-", "admin")  # auth off: everyone may do everything, as before
BOOTSTRAP = Principal("bootstrap", "admin")


def digest(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode()).digest()


@dataclass(frozen=True, slots=True)
class Minted:
    token: str = field(repr=False)  # the secret never reaches a log through repr
    id: str
    salt: bytes = field(repr=False)
    hash: bytes = field(repr=False)


def mint(token_id: str | None = None) -> Minted:
    """A fresh secret (for ``token_id``, or a new id), its salt and hash: drawn here, never in apply."""
    token_id = token_id or secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = os.urandom(SALT_BYTES)
    return Minted(f"{PREFIX}.{token_id}.{secret}", token_id, salt, digest(salt, secret))


def parse(token: str) -> tuple[str, str] | None:
    """(id, secret) of a token of ours, or None."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or not is_token_id(parts[1]) or not parts[2]:
        return None
    return parts[1], parts[2]


def credentials(headers: Mapping[str, str], *, consul: bool = False, basic: bool = False) -> str | None:
    """The token a request carries, or None.

    ``Authorization: Bearer <token>`` always; with ``consul`` also
    ``X-Consul-Token: <token>`` (and Consul's ``Bearer``); with ``basic``
    ``Authorization: Basic`` with the token as the password (Eureka's clients
    put credentials in the URL, which becomes basic auth), or as the user
    name when the password is empty. The compatibility endpoints turn these on."""
    auth = headers.get("Authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            return value.strip() or None
        if basic and scheme == "basic":
            return _basic(value.strip())
    if consul:
        value = headers.get("X-Consul-Token", "").strip()
        return value or None
    return None


def _basic(value: str) -> str | None:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return password or user or None


class Verifier:
    """token -> Principal, or None. ``view()`` gives (token records, registry time in ms)."""

    def __init__(self, view: Callable[[], tuple[Mapping[str, TokenRecord], int]],
                 bootstrap: str | None = None):
        self._view = view
        self._key = os.urandom(32)
        self._cache: dict[bytes, tuple[TokenRecord, Principal]] = {}
        self._bootstrap = self._keyed(bootstrap) if bootstrap else None

    def _keyed(self, token: str) -> bytes:
        return hashlib.blake2b(token.encode(), key=self._key, digest_size=16).digest()

    def verify(self, token: str) -> Principal | None:
        if len(token) > _MAX_TOKEN:
            return None
        key = self._keyed(token)
        records, now = self._view()
        hit = self._cache.get(key)
        if hit is not None:
            record, principal = hit
            if records.get(record.id) is record and not record.expired(now):
                return principal
            self._cache.pop(key, None)  # revoked, rotated or expired since
        if self._bootstrap is not None and hmac.compare_digest(key, self._bootstrap):
            return BOOTSTRAP
        parsed = parse(token)
        if parsed is None:
            return None
        record = records.get(parsed[0])
        if record is None or record.expired(now):
            return None
        if not hmac.compare_digest(record.hash, digest(record.salt, parsed[1])):
            return None
        principal = Principal(record.id, record.role, record.services, record.any_owner)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()  # rare: as many live tokens as this; verifying again is cheap
        self._cache[key] = (record, principal)
        return principal
