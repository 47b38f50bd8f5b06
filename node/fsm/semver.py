"""Semantic versions and version ranges like ``>=1.2,<2`` (pure)."""

from __future__ import annotations

import functools
import re

# fullmatch() and [0-9]: "$" would accept a trailing newline, and \d other
# scripts' digits. Spaces around a clause are allowed, nothing else.
_SEMVER = re.compile(
    r"v?(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?(?:\.(0|[1-9][0-9]*))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")
_CLAUSE = re.compile(r" *(>=|<=|==|!=|>|<|=|\^|~)? *([^ ]+) *")


@functools.lru_cache(maxsize=4096)  # a fleet runs few distinct versions; every apply parses one
def parse_version(text: str) -> tuple | None:
    """Return a sortable key for a semantic version, or None when it is not one.

    Missing minor/patch count as 0, so ranges may say ``<2`` instead of ``<2.0.0``.
    A pre-release sorts before its release, as SemVer says.
    """
    if not isinstance(text, str) or len(text) > 128:
        return None
    m = _SEMVER.fullmatch(text)
    if not m:
        return None
    major, minor, patch, pre = m.groups()
    pre_key: tuple = (1,)
    if pre:
        pre_key = (0,) + tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (int(major), int(minor or 0), int(patch or 0), pre_key)


def parse_range(text: str) -> list[tuple[str, tuple]] | None:
    """Parse ``>=1.2,<2`` into clauses; None when malformed."""
    clauses = []
    for part in text.split(","):
        m = _CLAUSE.fullmatch(part)
        if not m:
            return None
        op, ver = m.group(1) or "==", m.group(2)
        key = parse_version(ver)
        if key is None:
            return None
        if op == "^":
            clauses += [(">=", key), ("<", (key[0] + 1, 0, 0, (0,)))]
        elif op == "~":
            clauses += [(">=", key), ("<", (key[0], key[1] + 1, 0, (0,)))]
        else:
            clauses.append(("==" if op == "=" else op, key))
    return clauses


def in_range(version: str | None, clauses: list[tuple[str, tuple]]) -> bool:
    key = parse_version(version) if version else None
    if key is None:
        return False
    for op, bound in clauses:
        ok = {
            ">=": key >= bound, "<=": key <= bound, ">": key > bound, "<": key < bound,
            "==": key == bound, "!=": key != bound,
        }[op]
        if not ok:
            return False
    return True
