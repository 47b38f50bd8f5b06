"""Watch events: what applying a command tells watchers (pure)."""

from __future__ import annotations

from dataclasses import dataclass

# Event kinds of the watch stream (CONTRACT.md, Watch).
REGISTERED, UPDATED, STATUS, DEREGISTERED, EXPIRED = (
    "registered", "updated", "status", "deregistered", "expired")


@dataclass(slots=True)
class Event:
    revision: int
    kind: str
    record: dict
    reason: str | None = None
