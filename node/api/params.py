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
from ..fsm.validation import ID_RE, NAME_RE

MAX_LIMIT = 10_000
MAX_WAIT = 600.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")
_LIST_KEYS = {"status", "tag", "version", "depends_on", "limit", "cursor", "consistency",
              "index", "wait"}


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


def parse_duration(text: str, field: str) -> float:
    m = _DURATION.match(text.strip())
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
        if not raw_index.isdigit() or len(raw_index) > 18:
            raise errors.InvalidInput("index must be a non-negative integer", "index")
        index = int(raw_index)
    if (raw_wait := _one(q, "wait")) is not None:
        wait = parse_duration(raw_wait, "wait")
        if index is None:
            raise errors.InvalidInput("wait needs index", "wait")
    return ReadParams(consistency, index, wait)


def encode_cursor(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}/{key[1]}".encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        name, _, iid = raw.partition("/")
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidInput("cursor is not one this server issued", "cursor") from None
    if not NAME_RE.match(name) or not ID_RE.match(iid):
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
    if any(not t for t in tags):
        raise errors.InvalidInput("tag must not be empty", "tag")
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
            meta.append((key[5:], _one(q, key)))
    depends_on = _one(q, "depends_on")
    if depends_on is not None and not NAME_RE.match(depends_on):
        raise errors.InvalidInput("depends_on must be a service name", "depends_on")
    limit = None
    if (raw := _one(q, "limit")) is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise errors.InvalidInput(f"limit must be an integer in 1..{MAX_LIMIT}", "limit")
        limit = int(raw)
    after = _decode_cursor(raw) if (raw := _one(q, "cursor")) is not None else None
    return Query(name=name, statuses=statuses, tags=tags, version=version,
                 meta=tuple(sorted(set(meta))), depends_on=depends_on, limit=limit, after=after)
