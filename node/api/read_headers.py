"""The X-Manifest-* headers of read responses, from the node's status at most once a millisecond."""

from __future__ import annotations

from time import monotonic

from ..fsm.validation import is_text
from . import codec


class ReadHeaders:
    """``headers(index, as_msgpack)``: Content-Type and the contract's three read headers.

    ``Store.status()`` builds a fresh status object on every call, a few
    microseconds, as much as the rest of a cached read. Leader and last
    contact are millisecond-grained (and the Raft status behind them changes
    only on a Raft tick), so the reads answered within one millisecond share
    one status: the same values a fresh one would give, to the millisecond.
    """

    __slots__ = ("_store", "_ms", "_leader", "_contact")

    def __init__(self, store):
        self._store = store
        self._ms = -1
        self._leader = self._contact = ""

    def __call__(self, index: int, as_msgpack: bool = False) -> dict:
        ms = int(monotonic() * 1000)
        if ms != self._ms:
            st = self._store.status()
            leader = st.leader_api or ""
            # A header value with a line break would fail every read (or split the header).
            self._leader = leader if is_text(leader) else ""
            self._contact = str(st.last_contact_ms if st.last_contact_ms is not None else -1)
            self._ms = ms
        return {"Content-Type": codec.MSGPACK if as_msgpack else codec.JSON, "X-Manifest-Index": str(index),
                "X-Manifest-Leader": self._leader, "X-Manifest-Last-Contact": self._contact}
