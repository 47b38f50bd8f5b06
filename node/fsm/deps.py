"""Dependency declarations: ``"n8n"``, ``"n8n>=1.2"``, ``"orchestrator^1.4"`` (pure).

A declaration is a service name, optionally followed at once by a version
range in the syntax of the ``version`` filter (semver.parse_range). The raw
string is what the record keeps, so older readers see what they always saw;
the parsed form is cached, since a fleet repeats the same few declarations.
"""

from __future__ import annotations

import functools
import re

from .semver import in_range, parse_range

# The name is what NAME_RE allows; the range starts at its first operator.
_SPEC = re.compile(r"([a-z0-9][a-z0-9._-]{0,62})((?:>=|<=|==|!=|>|<|=|\^|~).{1,200})?")


@functools.lru_cache(maxsize=8192)
def parse(spec: str) -> tuple[str, tuple | None] | None:
    """``(service, clauses or None)``, or None when ``spec`` is not a declaration."""
    if type(spec) is not str:
        return None
    m = _SPEC.fullmatch(spec)
    if m is None:
        return None
    name, rng = m.group(1), m.group(2)
    if rng is None:
        return name, None
    clauses = parse_range(rng)
    return None if clauses is None else (name, tuple(clauses))


def name_of(spec: str) -> str:
    parsed = parse(spec)
    return spec if parsed is None else parsed[0]


def satisfied_by(spec: str, versions) -> bool:
    """Whether any of ``versions`` (of up instances of the named service) meets ``spec``."""
    parsed = parse(spec)
    if parsed is None:
        return False
    clauses = parsed[1]
    if clauses is None:
        return any(True for _ in versions)
    wanted = list(clauses)
    return any(v is not None and in_range(v, wanted) for v in versions)
