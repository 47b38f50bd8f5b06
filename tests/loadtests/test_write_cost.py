"""The per-operation CPU harness (loadtests/write_cost.py): one small real run."""

from __future__ import annotations

import json

from loadtests import write_cost


def test_a_small_run_splits_cpu_by_node_and_counts_entries_per_write(tmp_path):
    out = tmp_path / "cost.json"
    assert write_cost.main(["--seconds", "1", "--load", "100:1", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 4
    for key, row in rows.items():
        assert row["answered"] > 20, key
        assert len(row["nodes"]) == 3 and sum(1 for n in row["nodes"] if n.endswith("leader")) == 1
        assert all(cpu["loop"] >= 0 and cpu["raft+"] >= 0 for cpu in row["nodes"].values())
    read = rows["local read, leader @100/s x1"]
    assert read["entries"] / read["answered"] < 0.2  # reads add no entries; the ticks do, once a second
    for kind in ("heartbeat via the leader", "heartbeat via a follower", "register via the leader"):
        row = rows[f"{kind} @100/s x1"]
        # one write at a time: one entry each (group commit has nothing to group), plus the ticks
        assert 0.8 <= row["entries"] / row["answered"] <= 1.3, (kind, row)
        assert sum(v for cpu in row["nodes"].values() for v in cpu.values()) > 0
