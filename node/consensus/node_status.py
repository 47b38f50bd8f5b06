"""What this node reports about itself: readiness, role, indexes, alarms, storage (NodeStatus).

Ready means: a leader is known, this node applied what it knows is committed,
it agrees with its leader's applied history (no divergence or replaced-entry
alarm: a node that differs serves wrong data) and it can write its files.
"""

from __future__ import annotations

import time

from ..store_protocol import NodeStatus


def node_status(rs, membership, alarms, hashes, revision: int, disk) -> NodeStatus:
    leader_id = membership.id_of(rs.leader)
    sound = alarms.replaced is None and (leader_id is None or leader_id not in alarms.divergence)
    index, digest = hashes.published()
    return NodeStatus(
        role=rs.role,
        leader_api=membership.api_url_of(rs.leader),
        term=rs.term,
        commit=rs.commit,
        applied=max(rs.applied, index),  # the chain may be ahead of the last tick's status
        revision=revision,
        last_contact_ms=0 if rs.role == "leader" else (
            int((time.monotonic() - rs.last_contact) * 1000) if rs.last_contact else None),
        ready=rs.ready and sound and disk.ok,
        applied_hash=digest,
        alarms=tuple(alarms.current()),
        storage=tuple(disk.problems()),
    )
