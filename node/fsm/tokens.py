"""API tokens and instance ownership: replicated state, applied deterministically.

A token is stored as a salted SHA-256 hash, never as its secret: the node that
receives ``POST /v1/tokens`` draws the secret and the salt, hashes, and
proposes only the hash (node/auth/tokens.py). Apply checks the fields alike on
every node; expiry compares with the envelope's leader stamp (registry wall
time), so no node's own clock decides when a token stops working.

Ownership: a service token's registration binds the instance to the token's
id (``owners``); another token may heartbeat, re-register or deregister that
instance only if it was made with ``any_owner``. The binding goes when the
instance is removed, however that happens (``forget``).

``records`` is replaced, never mutated, so the HTTP layer may read it without
the state lock (copy-on-write, like ``RegistryState.members``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from . import commands
from .results import DONE, Code, Result, failed
from .validation import is_text

ROLES = ("read", "service", "operator", "admin")
COMMANDS = frozenset({commands.TOKEN_PUT, commands.TOKEN_ROTATE, commands.TOKEN_REVOKE, commands.SCOPED})
MAX_TOKENS = 10_000  # the whole table is in every node's memory and every snapshot
MAX_PATTERNS = 32
MAX_DESCRIPTION = 256
SALT_BYTES, HASH_BYTES = 16, 32
TOKEN_ID_RE = re.compile(r"[0-9a-f]{16}")
# A service-name glob: the name alphabet plus * and ?; no [classes], which fnmatch would read.
PATTERN_RE = re.compile(r"[a-z0-9._*?-]{1,64}")
_SCOPABLE = (commands.REGISTER, commands.HEARTBEAT, commands.DEREGISTER, commands.BATCH, commands.DRAIN)
_PUT_FIELDS = frozenset({"role", "services", "any_owner", "description", "salt", "hash", "ttl_ms"})


def is_token_id(value) -> bool:
    return type(value) is str and TOKEN_ID_RE.fullmatch(value) is not None


def is_pattern(value) -> bool:
    return type(value) is str and PATTERN_RE.fullmatch(value) is not None


def matches(name: str, patterns) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    role: str
    services: tuple[str, ...]
    any_owner: bool
    description: str
    salt: bytes
    hash: bytes
    created_ms: int
    expires_ms: int | None
    rotated_ms: int | None = None

    def expired(self, now_ms: int) -> bool:
        return self.expires_ms is not None and now_ms >= self.expires_ms

    def to_wire(self) -> list:
        return [self.id, self.role, list(self.services), self.any_owner, self.description, self.salt,
                self.hash, self.created_ms, self.expires_ms, self.rotated_ms]

    @classmethod
    def from_wire(cls, w: list) -> "TokenRecord":
        return cls(w[0], w[1], tuple(w[2]), bool(w[3]), w[4], bytes(w[5]), bytes(w[6]), w[7], w[8], w[9])


def _bad(message: str, field: str | None = None) -> Result:
    return failed(Code.INVALID, message, field)


def _check_put(fields) -> Result | None:
    """The refusal for a malformed TOKEN_PUT, or None."""
    if not isinstance(fields, dict) or set(fields) - _PUT_FIELDS:
        return _bad("token fields must be a map of known fields")
    role, services = fields.get("role"), fields.get("services", [])
    if role not in ROLES:
        return _bad(f"role must be one of {', '.join(ROLES)}", "role")
    if not isinstance(services, list) or len(services) > MAX_PATTERNS or not all(map(is_pattern, services)):
        return _bad(f"services must be up to {MAX_PATTERNS} patterns matching {PATTERN_RE.pattern}", "services")
    if (role == "service") != bool(services):
        return _bad("a service token needs services patterns, and only a service token takes them", "services")
    description = fields.get("description", "")
    if not is_text(description) or len(description) > MAX_DESCRIPTION:
        return _bad(f"description must be text of at most {MAX_DESCRIPTION} characters", "description")
    ttl = fields.get("ttl_ms")
    if ttl is not None and (type(ttl) is not int or not 0 < ttl < 10 ** 13):
        return _bad("ttl must be a positive number of seconds", "ttl")
    if type(fields.get("any_owner", False)) is not bool:
        return _bad("any_owner must be a boolean", "any_owner")
    return _check_hash(fields.get("salt"), fields.get("hash"))


def _check_hash(salt, digest) -> Result | None:
    if type(salt) is not bytes or len(salt) != SALT_BYTES or type(digest) is not bytes or len(digest) != HASH_BYTES:
        return _bad("salt and hash must be bytes of the right length", "hash")
    return None


def _key(command: list) -> tuple[str, str] | tuple[None, None]:
    """(name, id) a scoped command is about, or (None, None) when it is too malformed to say."""
    if command[0] == commands.REGISTER:
        fields = command[1] if len(command) > 1 else None
        key = (fields.get("name"), fields.get("id")) if isinstance(fields, dict) else (None, None)
    else:
        key = tuple(command[1:3]) if len(command) >= 3 else (None, None)
    return key if all(type(k) is str for k in key) else (None, None)


def _batch_keys(command: list) -> list[tuple[str, str]] | None:
    """(name, id) of every registration in a BATCH, or None when it is too malformed to say."""
    items = command[1] if len(command) > 1 else None
    if not isinstance(items, list) or not items:
        return None
    keys = [(f.get("name"), f.get("id")) if isinstance(f, dict) else (None, None) for f in items]
    return None if any(not all(type(k) is str for k in key) for key in keys) else keys


class TokenState:
    """Tokens by id and instance owners. Not thread-safe; apply's caller serializes."""

    def __init__(self) -> None:
        self.records: dict[str, TokenRecord] = {}
        self.owners: dict[tuple[str, str], str] = {}  # (service, instance id) -> token id

    def apply(self, cmd: list, now: int, dispatch) -> Result:
        """Apply one token command; ``dispatch(command)`` applies a scoped command's inner one."""
        kind = cmd[0]
        if kind == commands.TOKEN_PUT:
            return self._put(cmd[1], cmd[2], now)
        if kind == commands.TOKEN_ROTATE:
            return self._rotate(cmd[1], cmd[2], cmd[3], now)
        if kind == commands.TOKEN_REVOKE:
            return self._revoke(cmd[1])
        return self._scoped(cmd[1], cmd[2], cmd[3], cmd[4], now, dispatch)

    def _put(self, token_id, fields, now: int) -> Result:
        if not is_token_id(token_id):
            return _bad("token id must be 16 hex digits", "id")
        refused = _check_put(fields)
        if refused is not None:
            return refused
        if token_id in self.records:
            return failed(Code.TOKEN_EXISTS, f"token {token_id} exists", "id")
        if len(self.records) >= MAX_TOKENS:
            return failed(Code.TOO_MANY_TOKENS, f"the registry holds its maximum of {MAX_TOKENS} tokens; "
                          "revoke unused ones", limit="max_tokens", max=MAX_TOKENS)
        ttl = fields.get("ttl_ms")
        record = TokenRecord(token_id, fields["role"], tuple(fields.get("services", ())),
                             fields.get("any_owner", False), fields.get("description", ""), fields["salt"],
                             fields["hash"], now, None if ttl is None else now + ttl)
        self.records = {**self.records, token_id: record}
        return DONE

    def _rotate(self, token_id, salt, digest, now: int) -> Result:
        record = self.records.get(token_id) if type(token_id) is str else None
        if record is None:
            return failed(Code.NOT_FOUND, f"no token {token_id}", "id")
        refused = _check_hash(salt, digest)
        if refused is not None:
            return refused
        fresh = TokenRecord(record.id, record.role, record.services, record.any_owner, record.description,
                            salt, digest, record.created_ms, record.expires_ms, now)
        self.records = {**self.records, token_id: fresh}
        return DONE

    def _revoke(self, token_id) -> Result:
        if type(token_id) is not str or token_id not in self.records:
            return failed(Code.NOT_FOUND, f"no token {token_id}", "id")
        self.records = {k: v for k, v in self.records.items() if k != token_id}
        return DONE

    def _scoped(self, principal, patterns, any_owner, inner, now: int, dispatch) -> Result:
        if type(principal) is not str or not principal or len(principal) > 200:
            raise ValueError("malformed principal")
        if not isinstance(patterns, list) or not all(map(is_pattern, patterns)) or type(any_owner) is not bool:
            raise ValueError("malformed scope")
        if not isinstance(inner, list) or not inner or inner[0] not in _SCOPABLE:
            raise ValueError("a scoped command is a register, batch, heartbeat, deregister or drain")
        if is_token_id(principal):
            # A replicated token: its record decides, as it stands when the command applies.
            record = self.records.get(principal)
            if record is None or record.expired(now):
                return failed(Code.TOKEN_INVALID, "the token was revoked or has expired")
            patterns, any_owner = record.services, record.any_owner
        keys = _batch_keys(inner) if inner[0] == commands.BATCH else [_key(inner)]
        if keys is None or any(name is None for name, _ in keys):
            return dispatch(inner)  # malformed: the registry refuses it, naming the field
        # A batch is all or none here too: one item out of scope or owned by
        # another token refuses every item, naming the first.
        for at, (name, instance_id) in enumerate(keys):
            where = f"instances[{at}]." if inner[0] == commands.BATCH else ""
            if not matches(name, patterns):
                return failed(Code.OUT_OF_SCOPE, f"the token may not act for service {name!r}", where + "name")
            owner = self.owners.get((name, instance_id))
            if owner is not None and owner != principal and not any_owner:
                return failed(Code.NOT_OWNER, f"{name}/{instance_id} was registered by another token", where + "id")
        result = dispatch(inner)
        if result.ok:
            if inner[0] in (commands.REGISTER, commands.BATCH):
                for key in keys:
                    self.owners[key] = principal
            elif inner[0] == commands.DEREGISTER:
                self.owners.pop(keys[0], None)
        return result

    def forget(self, events) -> None:
        """Drop the owners of instances an envelope removed (deregistered or reaped)."""
        if self.owners:
            for ev in events:
                if ev.kind == "deregistered":
                    self.owners.pop((ev.record["name"], ev.record["id"]), None)

    # ---- snapshot ----------------------------------------------------------
    def capture(self) -> dict:
        return {"records": [r.to_wire() for _, r in sorted(self.records.items())],
                "owners": [[n, i, t] for (n, i), t in sorted(self.owners.items())]}

    def restore(self, raw: dict | None) -> None:
        """From ``capture()``'s shape; None (a snapshot older than tokens) is no tokens."""
        raw = raw or {}
        self.records = {w[0]: TokenRecord.from_wire(w) for w in raw.get("records", ())}
        self.owners = {(n, i): t for n, i, t in raw.get("owners", ())}

    def digest_view(self) -> tuple:
        return (self.capture()["records"], sorted(self.owners.items()))
