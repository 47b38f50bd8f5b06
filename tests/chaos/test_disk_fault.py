"""The chaos ``disk`` fault: its modes in turn, and what the shim makes each of them do.

No node runs here: the shim is loaded into a small Python process that writes
and fsyncs a file in the faulty folder, the way the journal does.
"""

from __future__ import annotations

import errno
import random
import subprocess
import sys
from types import SimpleNamespace

import pytest

from tests.chaos.faults import Disk
from tests.support.faultfs import Faults, build

WRITER = """
import os, sys, time
fd = os.open(os.path.join(sys.argv[1], "journal"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
for step, call in (("write", lambda: os.write(fd, b"x" * 64)), ("fsync", lambda: os.fsync(fd))):
    started = time.monotonic()
    try:
        call()
        print(step, "ok", round(time.monotonic() - started, 3))
    except OSError as exc:
        print(step, exc.errno, 0)
"""


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    return build(tmp_path_factory.mktemp("shim"))


def run_writer(shim, tmp_path, mode: str) -> dict[str, tuple[str, float]]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    faults = Faults(shim, str(data), tmp_path / "control")
    faults.set(mode)
    out = subprocess.run([sys.executable, "-c", WRITER, str(data)], env=faults.environ,
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return {step: (result, float(took)) for step, result, took in (line.split() for line in out.splitlines())}


@pytest.mark.parametrize("mode,err", [("eio", errno.EIO), ("erofs", errno.EROFS), ("enospc", errno.ENOSPC)])
def test_each_failing_mode_fails_writes_and_fsyncs_with_its_errno(shim, tmp_path, mode, err):
    got = run_writer(shim, tmp_path, mode)
    assert got["write"][0] == str(err) and got["fsync"][0] == str(err), got


def test_no_mode_and_slow_let_the_calls_through(shim, tmp_path):
    assert [r for r, _ in run_writer(shim, tmp_path, "").values()] == ["ok", "ok"]
    slow = run_writer(shim, tmp_path, "slow:200")
    assert slow["write"][0] == "ok" and slow["fsync"][0] == "ok"
    assert slow["fsync"][1] >= 0.19  # a lower bound only: the shim sleeps at least that long


def test_a_run_takes_every_mode_in_turn_from_a_seeded_start():
    env = SimpleNamespace(rng=random.Random(7))
    drawn = [Disk.next_mode(env) for _ in range(8)]
    assert set(drawn[:4]) == set(Disk.MODES) and "enospc" in Disk.MODES
    assert drawn[4:] == drawn[:4]
    again = SimpleNamespace(rng=random.Random(7))
    assert [Disk.next_mode(again) for _ in range(8)] == drawn  # replayable from the seed
    starts = {Disk.next_mode(SimpleNamespace(rng=random.Random(seed))) for seed in range(40)}
    assert len(starts) > 1  # the seed picks where the turn starts


def test_the_fault_records_its_mode_and_clears_it():
    class FakeNode:
        id, alive, paused, modes = "n2", True, False, []

        def disk_fault(self, mode):
            self.modes.append(mode)

    node = FakeNode()
    env = SimpleNamespace(rng=random.Random(1), cluster=SimpleNamespace(nodes=[node], leader=lambda: node))
    fault = Disk(who="leader", mode="enospc")
    fault.start(env)
    fault.stop(env)
    assert fault.detail == {"node": "n2", "mode": "enospc"} and node.modes == ["enospc", ""]
