"""wrk runs: Lua scripts generated per scenario, one process per target node, results merged.

Every script ends with a ``done()`` that prints one line ``WRK_JSON {...}``
with the request count, errors and a grid of latency percentiles (µs), so
nothing parses wrk's human report. A scenario spread over several nodes runs
one wrk per node at the same time (wrk targets one host per process), with the
threads and connections split between them; the runs are then summed, and
their latency distributions merged as a mixture of their percentile grids.

A request generator is a Lua snippet defining ``request()`` (or setting
``wrk.method``/``wrk.body`` for a static request, which wrk builds only once).
``init(args)`` receives ``args[1]`` = a tag unique to the process, then the
process's index, the number of processes and the threads per process (the
globals ``tag``, ``proc``, ``nprocs``, ``tpp``), then ``process_args``; thread
numbers (``tid``) come from ``setup()``. ``run(rate=R)`` adds a ``delay()`` that spaces
each thread's requests to R/(all threads) per second (a token schedule on the
monotonic clock through LuaJIT's ffi, which Debian's wrk is built with), for
paced runs such as the scale test.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field

GRID = [float(q) for q in range(1, 100)] + [99.1, 99.2, 99.3, 99.4, 99.5, 99.6, 99.7, 99.8, 99.9, 99.99]

PRELUDE = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } __ts_t; int clock_gettime(int, __ts_t *); ]]
local __ts = ffi.new("__ts_t")
function clock_ms(which)  -- 0: realtime, 1: monotonic
  ffi.C.clock_gettime(which, __ts)
  return tonumber(__ts.tv_sec) * 1000 + tonumber(__ts.tv_nsec) / 1e6
end
local __threads = {}
function setup(thread)
  thread:set("tid", #__threads)
  table.insert(__threads, thread)
end
tag, proc, nprocs, tpp = "p", 0, 1, 1
function init(args)
  tag = args[1] or "p"
  proc, nprocs, tpp = tonumber(args[2] or 0), tonumber(args[3] or 1), tonumber(args[4] or 1)
  if __init then __init(args) end
end
"""

DONE = """
function done(summary, latency, requests)
  local grid = {%(grid)s}
  local parts = {}
  for i, q in ipairs(grid) do
    parts[i] = string.format("[%%g,%%.0f]", q, latency:percentile(q))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%%d,"duration_us":%%d,"bytes":%%d,' ..
    '"errors":{"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d},' ..
    '"latency":{"min":%%.0f,"max":%%.0f,"mean":%%.3f,"stdev":%%.3f,"percentiles":[%%s]}}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev, table.concat(parts, ",")))
end
""" % {"grid": ",".join(f"{q:g}" for q in GRID)}

PACING = """
local __interval = 1000 / %(per_thread_rate)f
local __next = nil
function delay()
  local now = clock_ms(1)
  if __next == nil or __next < now - 1000 then __next = now end  -- catch up at most 1 s
  local d = __next - now
  __next = __next + __interval
  if d <= 0 then return 0 end
  return math.floor(d)
end
"""


def lua_string(s: str) -> str:
    return json.dumps(s)  # a JSON string literal is a valid Lua string literal for our ASCII payloads


def script(body: str) -> str:
    return PRELUDE + body + DONE


@dataclass
class WrkResult:
    requests: int = 0
    duration_s: float = 0.0
    errors: dict = field(default_factory=dict)
    latency_us: dict = field(default_factory=dict)  # min, max, mean, p50, p90, p99, p99.9
    processes: int = 0
    grid: list = field(default_factory=list)  # merged [q, µs]
    rps: float = 0.0  # summed over the processes, each over its own duration
    per_process: list = field(default_factory=list)  # requests completed by each process, in URL order
    bytes: int = 0  # response bytes read, headers included

    def to_dict(self) -> dict:
        return {"requests": self.requests, "duration_s": round(self.duration_s, 3), "rps": round(self.rps, 1),
                "errors": self.errors, "error_count": sum(self.errors.values()),
                "latency_ms": {k: round(v / 1000, 3) for k, v in self.latency_us.items()},
                "processes": self.processes,
                "bytes_per_response": round(self.bytes / self.requests) if self.requests else 0}


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def merge_grids(runs: list[dict]) -> list[tuple[float, float]]:
    """Percentile grid of the mixture of several runs, each ``{"requests", "grid": [(q, v), ...]}``
    weighted by its request count (each grid point stands for the mass between it and the previous)."""
    points = []
    for run in runs:
        prev = 0.0
        for q, v in run["grid"]:
            points.append((v, run["requests"] * (q - prev) / 100))
            prev = q
    points.sort()
    total = sum(w for _, w in points) or 1.0
    merged, acc, i = [], 0.0, 0
    for q in GRID:
        while i < len(points) - 1 and acc + points[i][1] < total * q / 100 - 1e-9:
            acc += points[i][1]
            i += 1
        merged.append((q, points[i][0] if points else 0.0))
    return merged


def merge(runs: list[dict]) -> WrkResult:
    res = WrkResult(processes=len(runs), per_process=[r["requests"] for r in runs])
    res.requests = sum(r["requests"] for r in runs)
    res.bytes = sum(r.get("bytes", 0) for r in runs)
    res.duration_s = max((r["duration_us"] for r in runs), default=0) / 1e6
    res.rps = sum(r["requests"] / (r["duration_us"] / 1e6) for r in runs if r["duration_us"])
    res.errors = {k: sum(r["errors"][k] for r in runs) for k in ("connect", "read", "write", "status", "timeout")}
    if res.requests:
        res.grid = merge_grids([{"requests": r["requests"], "grid": r["latency"]["percentiles"]}
                                for r in runs])
        at = dict(res.grid)
        res.latency_us = {
            "min": min(r["latency"]["min"] for r in runs), "max": max(r["latency"]["max"] for r in runs),
            "mean": sum(r["latency"]["mean"] * r["requests"] for r in runs) / res.requests,
            "p50": at[50.0], "p90": at[90.0], "p99": at[99.0], "p99.9": at[99.9],
        }
    return res


def parse(stdout: str) -> dict:
    for line in stdout.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line[len("WRK_JSON "):])
    raise RuntimeError("wrk printed no WRK_JSON line:\n" + stdout[-2000:])


def run(wrk: str, urls: list[str], lua: str, *, threads: int, connections: int, duration: float,
        tag: str, rate: float | None = None, timeout_s: float = 5.0, workdir: str | None = None,
        process_args: list[list[str]] | None = None) -> WrkResult:
    """One wrk per URL, all at once, threads and connections split between them; merged result.

    ``rate``: paced at this many requests/s in all (split evenly over every thread).
    ``process_args``: more script arguments for each process (``args[5]``... in Lua)."""
    n = len(urls)
    per_conn = split(max(connections, n), n)
    t = max(1, threads // n)  # the same thread count in every process (see lua.py)
    t = min(t, min(per_conn))
    if rate:
        lua += PACING % {"per_thread_rate": rate / (n * t)}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", dir=workdir, delete=False) as f:
        f.write(lua)
        path = f.name
    procs = []
    try:
        for i, url in enumerate(urls):
            cmd = [wrk, f"-t{t}", f"-c{per_conn[i]}", f"-d{max(1, round(duration))}s",
                   f"--timeout={timeout_s:g}s", "-s", path, url, "--", f"{tag}n{i}", str(i), str(n), str(t),
                   *(process_args[i] if process_args else [])]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=duration + 60)
            if p.returncode != 0:
                raise RuntimeError(f"wrk exited {p.returncode}: {err.strip()[-500:]}")
            outs.append(parse(out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        os.unlink(path)
    return merge(outs)
