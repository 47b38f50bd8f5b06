"""SnapshotHooks: the state is captured on the tick thread, packed and written by a worker."""

import os
import threading

from manifest_node.consensus.pysyncobj.config import SERIALIZER_STATE as S

from manifest_node.consensus.snapshot import SnapshotHooks, read_dump
from manifest_node.fsm import commands as C
from manifest_node.fsm.registry import RegistryState

ENTRIES = ((b"x", 7, 2), (b"y", 6, 2), ["127.0.0.1:1"])


def state_with(n: int) -> RegistryState:
    s = RegistryState()
    s.apply(C.encode(1000, 1, [C.register({"name": "web", "id": f"w{i}", "tags": ["a"]}) for i in range(n)]))
    return s


def hooks_for(fsm, restored=None):
    return SnapshotHooks(fsm, threading.Lock(), fsync=False,
                         on_restore=(restored if restored is not None else []).append)


def dumped(path) -> tuple:
    s = RegistryState()
    s.restore(read_dump(path)["state"])
    return s.digest_view()


def primed(tmp_path, restored=None):
    """Hooks with a first snapshot in place, whose next worker waits for ``release``."""
    fsm, final = state_with(3), str(tmp_path / "raft.snapshot")
    hooks = hooks_for(fsm, restored)
    hooks.serialize(final + ".tmp", ENTRIES)
    os.replace(final + ".tmp", final)
    hooks.check()
    release, original = threading.Event(), hooks._write
    hooks._write = lambda path, captured, meta: (release.wait(10), original(path, captured, meta))
    return fsm, final, hooks, release


def test_first_snapshot_is_written_at_once(tmp_path):
    fsm, final = state_with(3), str(tmp_path / "raft.snapshot")
    hooks = hooks_for(fsm)
    hooks.serialize(final + ".tmp", ENTRIES)
    os.replace(final + ".tmp", final)  # what pysyncobj does next
    assert [hooks.check(), hooks.check()] == [S.SUCCESS, S.NOT_SERIALIZING]
    assert dumped(final) == fsm.digest_view() and read_dump(final)["last"] == [b"x", 7, 2]


def test_later_snapshots_are_written_by_a_worker_and_moved_into_place_by_the_checker(tmp_path):
    fsm, final, hooks, release = primed(tmp_path)
    old = dumped(final)
    fsm.apply(C.encode(2000, 1, [C.register({"name": "web", "id": f"w{i}", "tags": ["a"]}) for i in range(3, 5)]))
    captured_view = fsm.digest_view()
    hooks.serialize(final + ".tmp", ENTRIES)
    fsm.apply(C.encode(3000, 1, [C.deregister("web", "w0")]))  # after the capture: not in this snapshot
    os.replace(final + ".tmp", final)  # a no-op: .tmp is a link to the previous snapshot
    assert dumped(final) == old
    assert hooks.check() == S.SERIALIZING  # pysyncobj keeps the journal meanwhile
    release.set()
    hooks.wait(10)
    assert [hooks.check(), hooks.check()] == [S.SUCCESS, S.NOT_SERIALIZING]
    assert dumped(final) == captured_view and not os.path.exists(final + ".part")


def test_a_snapshot_installed_meanwhile_makes_the_one_being_written_stale(tmp_path):
    restored = []
    fsm, final, hooks, release = primed(tmp_path, restored)
    installed = dumped(final)
    fsm.apply(C.encode(2000, 1, [C.register({"name": "db", "id": "d1"})]))
    hooks.serialize(final + ".tmp", ENTRIES)
    os.replace(final + ".tmp", final)
    hooks.deserialize(final)  # the leader's snapshot, installed on the tick thread
    release.set()
    hooks.wait(10)
    assert hooks.check() == S.FAILED
    assert dumped(final) == installed and not os.path.exists(final + ".part") and restored


def test_counts_for_metrics_written_failed_and_stale_apart(tmp_path):
    restored = []
    fsm, final, hooks, release = primed(tmp_path, restored)
    assert (hooks.written, hooks.failures, hooks.failing) == (1, 0, False)  # the first, written at once
    # A worker whose write fails: counted, and failing until a snapshot is written again.
    hooks._write = lambda path, captured, meta: (_ for _ in ()).throw(OSError(28, "No space left on device"))
    hooks.serialize(final + ".tmp", ENTRIES)
    hooks.wait(10)
    assert hooks.check() == S.FAILED and (hooks.written, hooks.failures, hooks.failing) == (1, 1, True)
    # A stale one (an install meanwhile) is no failure; the install is counted.
    original = SnapshotHooks._write.__get__(hooks)
    hooks._write = lambda path, captured, meta: (release.wait(10), original(path, captured, meta))
    hooks.serialize(final + ".tmp", ENTRIES)
    hooks.deserialize(final)
    release.set()
    hooks.wait(10)
    assert hooks.check() == S.FAILED and (hooks.failures, hooks.installs) == (1, 1)
    hooks.serialize(final + ".tmp", ENTRIES)
    hooks.wait(10)
    assert hooks.check() == S.SUCCESS and (hooks.written, hooks.failures, hooks.failing) == (2, 1, False)
