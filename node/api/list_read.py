"""Reading a long list of records without holding the state lock for all of it.

Building a record copies an instance's fields: at 100,000 instances one list
held the state lock for 1.7-2.0 s, and pysyncobj's tick thread, which applies
entries under the same lock, sent no appends for as long, so the followers
elected another leader (loadtests.scale, 2026-12-04: the closing
``GET /v1/services/scale?status=up`` on the leader). Here the keys are chosen
under the lock and their records built ``CHUNK`` at a time, the lock released
in between. Anything a reader could see changing in the list (its view
counter, fsm/views.py) starts the read again, so a list still shows one
moment of the registry; the last of ``ATTEMPTS`` builds it in one go.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..fsm import query as fsm_query

CHUNK = 2_000
ATTEMPTS = 4


@dataclass(slots=True)
class Listed:
    head: object  # what ``select`` returned
    records: list | None  # None: ``select`` said no records are needed
    more: tuple | None  # the key to resume after (a page's end)
    revision: int


def read_list(store, q: fsm_query.Query, select=None) -> Listed:
    """The records of query ``q``, as of one moment.

    ``select(state)`` runs under the lock first and returns ``(head, done)``;
    with ``done`` true no records are built (a cached rendering, say)."""
    for attempt in range(ATTEMPTS):
        whole = attempt == ATTEMPTS - 1
        listed, keys, view = store.read(lambda s: _start(s, q, select, whole))
        if listed.records is None or not keys:
            return listed
        built: list = []
        for i in range(0, len(keys), CHUNK):
            part = store.read(lambda s: None if s.changes.key(q.name) != view
                              else fsm_query.records(s, keys[i:i + CHUNK]))
            if part is None:
                break  # the list changed meanwhile: read it again
            built += part
        else:
            listed.records[:0] = built  # before the removed ones, as fsm_query.run orders them
            return listed
    raise AssertionError("the last attempt is built in one go")  # pragma: no cover


def _start(state, q, select, whole: bool):
    head, done = select(state) if select is not None else (None, False)
    view = state.changes.key(q.name)
    if done:
        return Listed(head, None, None, state.revision), (), view
    keys, more = fsm_query.select(state, q)
    removed = fsm_query.removed(state, q)
    if whole or len(keys) <= CHUNK:
        return Listed(head, fsm_query.records(state, keys) + removed, more, state.revision), (), view
    return Listed(head, removed, more, state.revision), keys, view
