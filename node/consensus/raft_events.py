"""What the Raft thread tells the event loop: an entry applied, leadership lost, a snapshot installed.

These run on pysyncobj's tick thread and only hand work over (LoopHandoff);
the event loop does the rest. ``exit_if_stopped`` ends a process whose Raft
thread stopped for good.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("manifest.store")


class RaftEvents:
    def __init__(self, raft, handoff, proposer, clock, applied, leading):
        """``raft``, ``handoff`` and ``proposer`` are getters: those exist only once the store started."""
        self._raft, self._handoff, self._proposer = raft, handoff, proposer
        self._clock, self._applied, self._leading = clock, applied, leading

    def on_applied(self, index: int, outcome) -> None:
        raft = self._raft()  # None while pysyncobj's constructor already applies entries
        fresh = raft is not None and outcome.term is not None and outcome.term == raft.raftCurrentTerm
        if fresh:
            self._clock.observe(outcome.ts_ms)  # fresh: a later term of ours can extrapolate it
        self._handoff()(self._applied_on_loop, index, outcome.events, fresh)

    def on_role(self, old: str, new: str) -> None:
        handoff = self._handoff()
        if old == "leader" and handoff is not None:
            handoff(self._lost_leadership)

    def on_restore(self, revision: int) -> None:
        handoff = self._handoff()
        if handoff is not None:
            handoff(self._applied.on_restore, revision)

    def _lost_leadership(self) -> None:
        proposer = self._proposer()
        if proposer is not None:
            proposer.abandon()

    def _applied_on_loop(self, index: int, events: list, fresh: bool) -> None:
        # Expiries are logged and counted by the leader that decided them, in its
        # own term: a journal replayed at start or entries of an earlier term
        # would repeat what another leader (or this one, before) already counted.
        self._applied.on_applied(index, events, fresh and self._leading())


def exit_if_stopped(raft) -> None:
    """Exit the process if Raft stopped (a snapshot it could not install, or load).

    Its state and log may then disagree, and only a restart from the files
    on disk makes them agree again: a supervisor restarts the node, which
    rejoins from the leader."""
    if raft is not None and raft.fatalError is not None:
        log.critical("Raft stopped, exiting so the node restarts from its files: %s", raft.fatalError)
        logging.shutdown()
        os._exit(3)
