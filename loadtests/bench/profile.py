"""Sampling profiles of the Manifest nodes during a scenario (``--profile``), with py-spy.

py-spy records each node's process for the scenario's duration (``--nonblocking``:
the node is never paused) into collapsed stacks, ``profiles/<scenario>-<node>.txt``.
``hot_spots`` reads one back: the functions most often on top of the stack
(self time) and the project's own functions most often anywhere on it
(inclusive time), as shares of the samples.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_ENTRY = ("__main__.py", "cli.py", "server.py")  # on every stack: not a hot spot
_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    here = Path(sys.executable).with_name("py-spy")
    return str(here) if here.exists() else shutil.which("py-spy")


def start(pids: dict[str, int], seconds: float, out_dir: Path, key: str) -> list[tuple[subprocess.Popen, Path]]:
    exe = py_spy()
    if exe is None:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for name, pid in pids.items():
        path = out_dir / f"{key}-{name}.txt"
        cmd = [exe, "record", "-p", str(pid), "-d", str(max(1, int(seconds))), "-f", "raw", "-o", str(path),
               "--nonblocking", "--gil", "-r", "200"]
        procs.append((subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), path))
    return procs


def finish(procs: list[tuple[subprocess.Popen, Path]], timeout: float = 30) -> list[Path]:
    out = []
    for p, path in procs:
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
        if path.exists():
            out.append(path)
    return out


def _short(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    file = m["file"]
    for marker in ("/site-packages/", "/lib/python3", "/work/main/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{m['fn']} ({file})"


def hot_spots(path: Path, top: int = 8) -> dict:
    leaf: Counter = Counter()
    ours: Counter = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or not stack:
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f]
        total += n
        if frames:
            leaf[_short(frames[-1])] += n
        seen = set()
        for f in frames:
            m = _FRAME.match(f.strip())
            file = m["file"] if m else ""
            if (file.startswith("node/") or "/node/" in file) and not file.endswith(_ENTRY):
                s = _short(f)
                if s not in seen:
                    seen.add(s)
                    ours[s] += n
    pct = lambda c: [(name, round(100 * k / total, 1)) for name, k in c.most_common(top)]  # noqa: E731
    return {"samples": total, "self": pct(leaf) if total else [], "inclusive_ours": pct(ours) if total else []}
