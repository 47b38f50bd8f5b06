"""CPU time spent by the servers under test, per request.

Throughput on a shared 2-core machine moves with whatever else runs on it;
the CPU a server burns per request moves much less, because time spent
waiting for a core is not counted. So every scenario also reports
``cpu_us_per_req``: user + system CPU of all the system's processes (every
thread, Raft included) during the run, divided by the requests answered.
"""

from __future__ import annotations

import os

_TICK = os.sysconf("SC_CLK_TCK")


def seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / _TICK


def per_request(before: float, after: float, requests: int, duration_s: float) -> dict:
    used = max(0.0, after - before)
    return {"cpu_s": round(used, 3),
            "cpu_us_per_req": round(used / requests * 1e6, 1) if requests else None,
            "cpu_cores": round(used / duration_s, 2) if duration_s else None}
