"""One object for each distinct string list and string map that instances hold, as sys.intern is for strings.

A fleet registers the same tags, dependencies and metadata (team, region,
zone) on thousands of instances, and every decoded command or snapshot record
brought its own copies: at 100,000 instances of the benchmark's record, the
four containers were ~540 bytes of each instance's ~1,450. Instances now
share one: the lists become tuples, so nothing can append to a shared one,
and the maps stay dicts (the JSON renderers want them) that nothing mutates
in place: the registry replaces an instance's map whole, and ``to_record``
copies it.

Each table is bounded: when it fills it starts again, instances keeping what
they hold, so a fleet whose values are all distinct (each instance's own
interface URLs) pays for a table of at most ``LIMIT`` entries, not for one
entry per instance.
"""

from __future__ import annotations

import sys

LIMIT = 8192
_intern = sys.intern
_lists: dict[tuple, tuple] = {}
_maps: dict[tuple, dict] = {}


def strings(items) -> tuple[str, ...]:
    """The shared tuple equal to ``items`` (strings)."""
    value = tuple([_intern(s) for s in items])
    if not value:
        return ()
    found = _lists.get(value)
    if found is None:
        if len(_lists) >= LIMIT:
            _lists.clear()
        _lists[value] = found = value
    return found


def mapping(items: dict) -> dict[str, str]:
    """The shared dict equal to ``items`` (string keys and values); never mutate what it returns."""
    key = tuple([(_intern(k), _intern(v)) for k, v in items.items()])
    found = _maps.get(key)
    if found is None:
        if len(_maps) >= LIMIT:
            _maps.clear()
        _maps[key] = found = dict(key)
    return found
