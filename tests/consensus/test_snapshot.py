"""SnapshotHooks: every snapshot is captured, packed and written by a forked child.

The hooks are driven through the vendored pysyncobj Serializer, as the tick
thread drives them, so its part (it renames nothing: PATCHES.md) is pinned too.
"""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from manifest_node.consensus.pysyncobj.config import SERIALIZER_STATE as S
from manifest_node.consensus.pysyncobj.serializer import Serializer

from manifest_node.consensus import snapshot
from manifest_node.consensus.snapshot import SnapshotHooks, read_dump
from manifest_node.fsm import commands as C
from manifest_node.fsm.registry import RegistryState

ENTRIES = ((b"x", 7, 2), (b"y", 6, 2), ["127.0.0.1:1"])
ROOT = Path(__file__).resolve().parents[2]


def state_with(n: int) -> RegistryState:
    s = RegistryState()
    s.apply(C.encode(1000, 1, [C.register({"name": "web", "id": f"w{i}", "tags": ["a"]}) for i in range(n)]))
    return s


def hooks_for(fsm, restored=None):
    return SnapshotHooks(fsm, threading.Lock(), fsync=False,
                         on_restore=(restored if restored is not None else []).append)


def dump(hooks, final) -> None:
    """What pysyncobj's tick thread does to take a snapshot: its Serializer with our hooks."""
    Serializer(str(final), 2 ** 16, True, hooks.serialize, hooks.deserialize, hooks.check).serialize(
        (None, *ENTRIES), ENTRIES[0][1])


def dumped(path) -> tuple:
    s = RegistryState()
    s.restore(read_dump(path)["state"])
    return s.digest_view()


class Gate:
    """Holds a forked writer until ``set()``: a file, since the child is another process."""

    def __init__(self, path):
        self.path = str(path)

    def set(self):
        open(self.path, "w").close()

    def clear(self):
        if os.path.exists(self.path):
            os.unlink(self.path)

    def wait(self, timeout=10):
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.path) and time.monotonic() < deadline:
            time.sleep(0.01)


def primed(tmp_path, monkeypatch, restored=None):
    """Hooks with a first snapshot in place, whose next writer waits for ``release``."""
    fsm, final = state_with(3), str(tmp_path / "raft.snapshot")
    hooks = hooks_for(fsm, restored)
    dump(hooks, final)
    assert settled(hooks) == S.SUCCESS
    release, original = Gate(tmp_path / "go"), snapshot.write_dump
    monkeypatch.setattr(snapshot, "write_dump", lambda *a: (release.wait(10), original(*a)))
    return fsm, final, hooks, release


def settled(hooks):
    """The checker's answer once the child has exited."""
    hooks.wait(10)
    return hooks.check()


def test_the_first_snapshot_is_written_by_a_child_too(tmp_path, monkeypatch):
    fsm, final = state_with(3), str(tmp_path / "raft.snapshot")
    hooks = hooks_for(fsm)
    release, original = Gate(tmp_path / "go"), snapshot.write_dump
    monkeypatch.setattr(snapshot, "write_dump", lambda *a: (release.wait(10), original(*a)))
    captured_view = fsm.digest_view()
    dump(hooks, final)
    fsm.apply(C.encode(3000, 1, [C.deregister("web", "w0")]))  # after the fork: not in this snapshot
    # Before the fix the first snapshot was packed and written here, under the state lock.
    assert hooks.check() == S.SERIALIZING and hooks._child is not None
    assert not os.path.exists(final) and not os.path.exists(final + ".tmp")  # none until it is whole
    release.set()
    assert [settled(hooks), hooks.check()] == [S.SUCCESS, S.NOT_SERIALIZING]
    assert dumped(final) == captured_view and read_dump(final)["last"] == [b"x", 7, 2]
    assert not os.path.exists(final + ".part") and hooks.written == 1


def test_later_snapshots_are_written_by_a_child_and_moved_into_place_by_the_checker(tmp_path, monkeypatch):
    fsm, final, hooks, release = primed(tmp_path, monkeypatch)
    old = dumped(final)
    fsm.apply(C.encode(2000, 1, [C.register({"name": "web", "id": f"w{i}", "tags": ["a"]}) for i in range(3, 5)]))
    captured_view = fsm.digest_view()
    dump(hooks, final)
    fsm.apply(C.encode(3000, 1, [C.deregister("web", "w0")]))  # after the fork: not in this snapshot
    assert dumped(final) == old
    assert hooks.check() == S.SERIALIZING  # pysyncobj keeps the journal meanwhile
    release.set()
    assert [settled(hooks), hooks.check()] == [S.SUCCESS, S.NOT_SERIALIZING]
    assert dumped(final) == captured_view and not os.path.exists(final + ".part")


def test_a_snapshot_installed_meanwhile_makes_the_one_being_written_stale(tmp_path, monkeypatch):
    restored = []
    fsm, final, hooks, release = primed(tmp_path, monkeypatch, restored)
    installed = dumped(final)
    fsm.apply(C.encode(2000, 1, [C.register({"name": "db", "id": "d1"})]))
    dump(hooks, final)
    child = hooks._child
    hooks.deserialize(final)  # the leader's snapshot, installed on the tick thread: the child is killed
    assert settled(hooks) == S.FAILED and hooks._child is None
    assert dumped(final) == installed and not os.path.exists(final + ".part") and restored
    assert (hooks.failures, hooks.failing) == (0, False)  # stale, not failed
    try:
        os.kill(child, 0)
        raise AssertionError(f"the writer {child} is still running")
    except ProcessLookupError:
        pass


def test_counts_for_metrics_written_failed_and_stale_apart(tmp_path, monkeypatch):
    restored = []
    fsm, final, hooks, release = primed(tmp_path, monkeypatch, restored)
    assert (hooks.written, hooks.failures, hooks.failing) == (1, 0, False)  # the first one
    # A child whose write fails: counted, reported to the disk's health, failing until a snapshot is
    # written again.
    gated = snapshot.write_dump
    monkeypatch.setattr(snapshot, "write_dump", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left")))
    dump(hooks, final)
    assert settled(hooks) == S.FAILED and (hooks.written, hooks.failures, hooks.failing) == (1, 1, True)
    assert [p["file"] for p in hooks._disk.problems()] == ["snapshot"]
    # A stale one (an install meanwhile) is no failure; the install is counted.
    monkeypatch.setattr(snapshot, "write_dump", gated)
    dump(hooks, final)
    hooks.deserialize(final)
    assert settled(hooks) == S.FAILED and (hooks.failures, hooks.installs) == (1, 1)
    release.set()
    dump(hooks, final)
    assert settled(hooks) == S.SUCCESS and (hooks.written, hooks.failures, hooks.failing) == (2, 1, False)
    assert hooks._disk.problems() == []


def test_a_writer_that_crashes_is_a_failure_and_leaves_the_snapshot_in_place(tmp_path, monkeypatch):
    fsm, final, hooks, release = primed(tmp_path, monkeypatch)
    old = dumped(final)
    monkeypatch.setattr(snapshot, "write_dump", lambda *a: 1 / 0)  # a bug in the child
    fsm.apply(C.encode(2000, 1, [C.register({"name": "db", "id": "d1"})]))
    dump(hooks, final)
    assert settled(hooks) == S.FAILED and (hooks.failures, hooks.failing) == (1, True)
    assert dumped(final) == old and not os.path.exists(final + ".part")
    assert hooks._disk.problems() == []  # not the disk's fault


NODE = """
import sys, time
from manifest_node.consensus import snapshot
from tests.consensus.test_snapshot import Gate, dump, hooks_for, settled, state_with

final, gate = sys.argv[1], Gate(sys.argv[2])
hooks = hooks_for(state_with(3))
dump(hooks, final)
settled(hooks)
original = snapshot.write_dump
snapshot.write_dump = lambda *a: (gate.wait(30), original(*a))
dump(hooks, final)  # on the thread that lives on, as pysyncobj's tick thread does
print(hooks._child, flush=True)
time.sleep(60)
"""


def test_the_writer_dies_with_the_node(tmp_path):
    """No dump may appear behind a node that is gone (docs/durability.md, pitfall 1)."""
    final, gate = tmp_path / "raft.snapshot", Gate(tmp_path / "go")
    node = subprocess.Popen([sys.executable, "-c", NODE, str(final), gate.path], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        writer = int(node.stdout.readline())
        node.kill()  # SIGKILL, mid-snapshot: the writer waits at the gate
        node.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and alive(writer):
            time.sleep(0.01)
        assert not alive(writer), "the snapshot writer outlived its node"
        gate.set()
        time.sleep(0.2)
        assert not os.path.exists(str(final) + ".part")
    finally:
        node.kill()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_fork_that_fails_is_a_failed_snapshot_retried_later(tmp_path, monkeypatch):
    fsm, final, hooks, release = primed(tmp_path, monkeypatch)
    release.set()
    monkeypatch.setattr(snapshot.os, "fork", lambda: (_ for _ in ()).throw(OSError(12, "Cannot allocate memory")))
    dump(hooks, final)
    assert hooks.check() == S.FAILED and (hooks.failures, hooks.failing) == (1, True)
    monkeypatch.undo()
    dump(hooks, final)
    assert settled(hooks) == S.SUCCESS and (hooks.written, hooks.failing) == (2, False)


def test_the_writer_runs_below_the_node_in_the_cpu_queue(tmp_path, monkeypatch):
    fsm, final, hooks, release = primed(tmp_path, monkeypatch)
    dump(hooks, final)  # the writer waits at the gate
    def niceness() -> int:
        with open(f"/proc/{hooks._child}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[16])

    want = min(19, os.nice(0) + snapshot.WRITER_NICENESS)
    try:
        deadline = time.monotonic() + 10  # the child lowers itself before it captures, then waits at the gate
        while niceness() != want and time.monotonic() < deadline:
            time.sleep(0.01)
        assert niceness() == want
    finally:
        release.set()
        assert settled(hooks) == S.SUCCESS
