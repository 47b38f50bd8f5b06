"""Query parameters, parsed once into typed values (rqlite's query_params.go habit)."""

from __future__ import annotations

import base64
import enum
import re
from dataclasses import dataclass

from multidict import MultiMapping

from .. import errors
from ..fsm import model
from ..fsm.query import Query
from ..fsm.semver import parse_range
from ..fsm.validation import is_id, is_name, is_text

MAX_LIMIT = 10_000
MAX_WAIT = 600.0
# ASCII digits only: str.isdigit() and \d also take other scripts' digits
# (and isdigit() takes '²', which int() then refuses).
_UINT = re.compile(r"[0-9]{1,18}")
_DURATION = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,9})?)(ms|s|m)?")
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,400}")
_LIST_KEYS = {"status", "tag", "version", "depends_on", "limit", "cursor", "consistency",
              "index", "wait", "include", "pick"}
PICKS = ("least_loaded", "weighted", "random", "round_robin")
_BOOL = {"true": True, "1": True, "false": False, "0": False}


class Consistency(enum.Enum):
    LOCAL = "local"
    LINEARIZABLE = "linearizable"


@dataclass(frozen=True, slots=True)
class ReadParams:
    consistency: Consistency = Consistency.LOCAL
    index: int | None = None  # blocking read: wait until the result's index exceeds this
    wait: float | None = None  # seconds

    @property
    def linearizable(self) -> bool:
        return self.consistency is Consistency.LINEARIZABLE


def _one(q: MultiMapping, key: str) -> str | None:
    values = q.getall(key, [])
    if len(values) > 1:
        raise errors.InvalidInput(f"{key} may be given once", key)
    return values[0] if values else None


def parse_uint(text: str, field: str, what: str = "a non-negative integer") -> int:
    """A non-negative integer of ASCII digits, or InvalidInput naming ``field``."""
    if not _UINT.fullmatch(text):
        raise errors.InvalidInput(f"{field} must be {what}", field)
    return int(text)


def parse_duration(text: str, field: str) -> float:
    m = _DURATION.fullmatch(text)
    if not m:
        raise errors.InvalidInput(f"{field} must be a duration like 30s, 500ms or 5m", field)
    value = float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]
    if value > MAX_WAIT:
        raise errors.InvalidInput(f"{field} is at most {MAX_WAIT:g}s", field)
    return value


def read_params(q: MultiMapping) -> ReadParams:
    raw = _one(q, "consistency")
    try:
        consistency = Consistency(raw) if raw is not None else Consistency.LOCAL
    except ValueError:
        raise errors.InvalidInput("consistency must be local or linearizable", "consistency") from None
    index = wait = None
    if (raw_index := _one(q, "index")) is not None:
        index = parse_uint(raw_index, "index")
    if (raw_wait := _one(q, "wait")) is not None:
        wait = parse_duration(raw_wait, "wait")
        if index is None:
            raise errors.InvalidInput("wait needs index", "wait")
    return ReadParams(consistency, index, wait)


def encode_cursor(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}/{key[1]}".encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> tuple[str, str]:
    # b64decode skips characters outside its alphabet: check them first.
    if not _CURSOR.fullmatch(text):
        raise errors.InvalidInput("cursor is not one this server issued", "cursor")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        name, _, iid = raw.partition("/")
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidInput("cursor is not one this server issued", "cursor") from None
    if not is_name(name) or not is_id(iid):
        raise errors.InvalidInput("cursor is not one this server issued", "cursor")
    return name, iid


def list_query(q: MultiMapping, name: str | None = None) -> Query:
    for key in q:
        if key not in _LIST_KEYS and not key.startswith("meta."):
            raise errors.InvalidInput(f"unknown query parameter {key!r}", key, code="unknown_field")
    statuses = tuple(q.getall("status", []))
    for s in statuses:
        if s not in model.STATUSES:
            raise errors.InvalidInput(f"status must be one of {', '.join(model.STATUSES)}", "status")
    tags = tuple(q.getall("tag", []))
    if any(not t or not is_text(t) for t in tags):
        raise errors.InvalidInput("tag must be a non-empty string without control characters", "tag")
    version = None
    if (raw := _one(q, "version")) is not None:
        clauses = parse_range(raw)
        if clauses is None:
            raise errors.InvalidInput("version must be a range like >=1.2,<2", "version")
        version = tuple(clauses)
    meta = []
    for key in q:
        if key.startswith("meta."):
            if len(key) == 5:
                raise errors.InvalidInput("meta.KEY needs a key", key)
            if not is_text(key):
                raise errors.InvalidInput("metadata keys hold no control characters", key)
            meta.append((key[5:], _one(q, key)))
    depends_on = _one(q, "depends_on")
    if depends_on is not None and not is_name(depends_on):
        raise errors.InvalidInput("depends_on must be a service name", "depends_on")
    limit = None
    if (raw := _one(q, "limit")) is not None:
        what = f"an integer in 1..{MAX_LIMIT}"
        limit = parse_uint(raw, "limit", what)
        if not 1 <= limit <= MAX_LIMIT:
            raise errors.InvalidInput(f"limit must be {what}", "limit")
    after = _decode_cursor(raw) if (raw := _one(q, "cursor")) is not None else None
    include = _one(q, "include")
    if include not in (None, "removed"):
        raise errors.InvalidInput("include must be removed", "include")
    if include and (limit is not None or after is not None):
        raise errors.Unsupported("include=removed does not paginate: leave out limit and cursor", "include")
    return Query(name=name, statuses=statuses, tags=tags, version=version,
                 meta=tuple(sorted(set(meta))), depends_on=depends_on, limit=limit, after=after,
                 include_removed=include is not None)


def pick_strategy(q: MultiMapping) -> str | None:
    raw = _one(q, "pick")
    if raw is not None and raw not in PICKS:
        raise errors.InvalidInput(f"pick must be one of {', '.join(PICKS)}", "pick")
    return raw


def flag(q: MultiMapping, key: str, default: bool) -> bool:
    raw = _one(q, key)
    if raw is None:
        return default
    if raw not in _BOOL:
        raise errors.InvalidInput(f"{key} must be true or false", key)
    return _BOOL[raw]


def only(q: MultiMapping, allowed: tuple[str, ...]) -> None:
    """Refuse query parameters a write does not take."""
    for key in q:
        if key not in allowed:
            raise errors.InvalidInput(f"unknown query parameter {key!r}", key, code="unknown_field")


def generation(q: MultiMapping, body: dict | None) -> int | None:
    """The registration's generation from ``?generation=`` or the body (not both, unless equal)."""
    from_query = _one(q, "generation")
    value = None if from_query is None else parse_uint(from_query, "generation", "a positive integer")
    in_body = (body or {}).get("generation")
    if in_body is not None:
        if type(in_body) is not int or in_body < 1:
            raise errors.InvalidInput("generation must be a positive integer", "generation")
        if value is not None and value != in_body:
            raise errors.InvalidInput("generation differs between the query and the body", "generation")
        value = in_body
    if value is not None and not 1 <= value < 2**62:
        raise errors.InvalidInput("generation must be a positive integer", "generation")
    return value
