"""The crash-safe journal and the start-up repair of a dump newer than the journal."""

import contextlib
import errno
import os
import time

import msgpack
import pytest

from manifest_node.consensus.journal import CorruptFile, DurableJournal, read_entries
from manifest_node.consensus.snapshot import pack_dump, read_dump, reconcile


def entries(n, term=1, start=1):
    return [(f"cmd{i}".encode(), i, term) for i in range(start, start + n)]


def open_with(path, items, fsync=False):
    j = DurableJournal(str(path), fsync=fsync)
    for e in items:
        j.add(*e)
    return j


def test_entries_survive_reopen_and_a_torn_tail_is_cut(tmp_path):
    path = tmp_path / "j"
    j = open_with(path, entries(5), fsync=True)
    j._destroy()
    with open(path, "ab") as f:
        f.write(b"\x10\x00\x00\x00garbage")  # a record cut short by a crash
    j = DurableJournal(str(path))
    assert list(j[:]) == entries(5)
    j.add(b"cmd6", 6, 1)
    j._destroy()
    assert read_entries(str(path))[0] == entries(6)


def test_corrupt_record_ends_the_journal(tmp_path):
    path = tmp_path / "j"
    open_with(path, entries(3))._destroy()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # flip a bit in the last command
    path.write_bytes(bytes(data))
    assert read_entries(str(path))[0] == entries(2)


def test_identical_reappend_after_truncation_keeps_entries(tmp_path):
    j = open_with(tmp_path / "j", entries(5))
    j.setCurrentTerm(1, None)
    # pysyncobj: an append with prevLogIdx=2 carrying entries 3..4 again.
    j.deleteEntriesFrom(2)
    j.add(*entries(5)[2])
    j.add(*entries(5)[3])
    # Entry 5 (same term as the leader's) is kept: Raft deletes only conflicts.
    assert len(j) == 5 and j[-1] == entries(5)[4]
    j._destroy()
    assert len(read_entries(str(tmp_path / "j"))[0]) == 5


def test_conflicting_entry_truncates(tmp_path):
    j = open_with(tmp_path / "j", entries(5))
    j.setCurrentTerm(2, None)
    j.deleteEntriesFrom(2)
    j.add(b"new3", 3, 2)
    assert [e[1:] for e in j[:]] == [(1, 1), (2, 1), (3, 2)]
    j._destroy()
    assert [e[1:] for e in read_entries(str(tmp_path / "j"))[0]] == [(1, 1), (2, 1), (3, 2)]


def test_stale_tail_of_an_older_term_is_truncated(tmp_path):
    j = open_with(tmp_path / "j", entries(3) + entries(2, term=1, start=4))
    j.setCurrentTerm(2, None)  # entries 4..5 came from a leader of term 1
    j.deleteEntriesFrom(3)
    assert len(j) == 3


def test_compaction_rewrites_atomically(tmp_path):
    path = tmp_path / "j"
    j = open_with(path, entries(10))
    j.deleteEntriesTo(7)
    assert [e[1] for e in j[:]] == [8, 9, 10]
    j.add(b"cmd11", 11, 1)
    j._destroy()
    assert [e[1] for e in read_entries(str(path))[0]] == [8, 9, 10, 11]
    assert not (tmp_path / "j.tmp").exists()


def test_meta_round_trip(tmp_path):
    j = DurableJournal(str(tmp_path / "j"))
    j.setCurrentTerm(7, "127.0.0.1:1")
    j.setRaftCommitIndex(42)
    j.onOneSecondTimer()
    j._destroy()
    j = DurableJournal(str(tmp_path / "j"))
    assert (j.getCurrentTerm(), j.getVotedForNodeId(), j.getRaftCommitIndex()) == (7, "127.0.0.1:1", 42)


@pytest.mark.parametrize("damage", [
    b"", b"\xc1", b"garbage", msgpack.packb([7, "127.0.0.1:1"]), msgpack.packb({"term": "7"}),
    msgpack.packb({"term": 7, "voted": 3}), msgpack.packb({"term": 7, "voted": None})[:-3],
])
def test_a_damaged_meta_file_stops_the_journal_instead_of_resetting_term_and_vote(tmp_path, damage):
    """Issue 10.2: a damaged meta used to read as term 0, no vote: a second vote in a term."""
    path = tmp_path / "j"
    j = open_with(path, entries(3))
    j.setCurrentTerm(7, "127.0.0.1:1")
    j._destroy()
    journal_before = path.read_bytes()
    (tmp_path / "j.meta").write_bytes(damage)
    with pytest.raises(CorruptFile) as err:
        DurableJournal(str(path))
    assert err.value.path == str(tmp_path / "j.meta") and "j.meta" in str(err.value)
    assert (tmp_path / "j.meta").read_bytes() == damage and path.read_bytes() == journal_before


def test_an_unreadable_meta_file_stops_the_journal(tmp_path):
    (tmp_path / "j.meta").mkdir()  # EISDIR: unreadable even for root
    with pytest.raises(CorruptFile, match="unreadable"):
        DurableJournal(str(tmp_path / "j"))


def test_a_damaged_snapshot_is_refused_with_its_name(tmp_path):
    path = tmp_path / "raft.snapshot"
    assert read_dump(str(path)) is None
    write_dump(path, entries(2)[0], entries(2)[1])
    whole = path.read_bytes()
    for damage in (whole[:-5], b"junk", msgpack.packb([1, 2]), msgpack.packb({"format": 1, "state": b""}),
                   msgpack.packb({"format": 99})):
        path.write_bytes(damage)
        with pytest.raises(CorruptFile) as err:
            read_dump(str(path))
        assert err.value.path == str(path)
    path.write_bytes(whole)
    assert read_dump(str(path))["last"] == list(entries(2)[1])


def write_dump(path, prev, last):
    path.write_bytes(pack_dump({"format": 1, "prev": list(prev), "last": list(last), "cluster": []}, b""))


def test_reconcile_cuts_a_journal_that_starts_before_the_dump(tmp_path):
    jpath, dpath = tmp_path / "j", tmp_path / "d"
    open_with(jpath, entries(10))._destroy()
    write_dump(dpath, entries(10)[5], entries(10)[6])  # the dump stands for entries 6..7
    assert reconcile(str(jpath), str(dpath)) == "cut 5"
    assert [e[1] for e in read_entries(str(jpath))[0]] == [6, 7, 8, 9, 10]
    assert reconcile(str(jpath), str(dpath)) == "consistent"


def test_reconcile_leaves_alone_what_it_cannot_match(tmp_path):
    jpath, dpath = tmp_path / "j", tmp_path / "d"
    assert reconcile(str(jpath), str(dpath)) == "no dump"
    open_with(jpath, entries(3))._destroy()
    write_dump(dpath, (b"x", 50, 3), (b"y", 51, 3))
    assert reconcile(str(jpath), str(dpath)) == "journal does not hold the snapshot's entries"
    assert len(read_entries(str(jpath))[0]) == 3


def test_a_short_write_then_a_full_disk_leaves_no_torn_record(tmp_path, monkeypatch):
    """Issue 10 point 2: pwrite may write part of a record; the rest must not be taken for done."""
    import errno
    import os as _os

    from manifest_node.consensus import journal as journal_mod
    from manifest_node.consensus.disk import DiskHealth

    disk = DiskHealth()
    path = tmp_path / "j"
    j = DurableJournal(str(path), disk=disk)
    j.add(b"cmd1", 1, 1)
    real = _os.pwrite
    calls = []

    def short_then_full(fd, data, offset):
        calls.append(len(data))
        if len(calls) == 1:
            return real(fd, bytes(data)[:5], offset)  # a short write
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_mod.os, "pwrite", short_then_full)
    with pytest.raises(OSError):
        j.add(b"cmd2", 2, 1)
    assert len(calls) == 2, "the rest of a short write must be retried, not dropped"
    assert list(j[:]) == entries(1) and not disk.ok
    assert disk.problems()[0]["file"] == "journal" and "ENOSPC" in disk.problems()[0]["error"]
    assert path.stat().st_size == len(journal_mod._record(b"cmd1", 1, 1))  # cut back to the last good record
    monkeypatch.setattr(journal_mod.os, "pwrite", real)
    j.add(b"cmd2", 2, 1)
    assert disk.ok and list(j[:]) == entries(2)
    j._destroy()
    assert read_entries(str(path))[0] == entries(2)


def test_a_failed_meta_write_changes_neither_term_nor_vote(tmp_path, monkeypatch):
    from manifest_node.consensus import journal as journal_mod
    from manifest_node.consensus.disk import DiskHealth

    disk = DiskHealth()
    j = DurableJournal(str(tmp_path / "j"), disk=disk)
    j.setCurrentTerm(3, "n1")

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_mod, "_write_atomically", full)
    with pytest.raises(OSError):
        j.setCurrentTerm(4, "n2")
    assert (j.getCurrentTerm(), j.getVotedForNodeId()) == (3, "n1") and not disk.ok
    j.setRaftCommitIndex(9)
    j.flush()  # the commit index may wait: no exception into pysyncobj's tick
    monkeypatch.undo()
    j.setCurrentTerm(4, "n2")
    assert disk.ok
    j._destroy()
    reopened = DurableJournal(str(tmp_path / "j"))
    assert (reopened.getCurrentTerm(), reopened.getVotedForNodeId(), reopened.getRaftCommitIndex()) == (4, "n2", 9)
    reopened._destroy()


@pytest.mark.parametrize("rewrite,fail_at", [  # clearing writes no bytes: nothing for os.write to fail
    ("compact", "open"), ("compact", "write"), ("compact", "replace"), ("clear", "open"), ("clear", "replace")])
def test_a_failed_rewrite_leaves_the_journal_whole_and_writable(tmp_path, monkeypatch, fail_at, rewrite):
    """Chaos seed 101: appends failed with ESPIPE and the next start found the journal damaged.

    The rewrite closed its descriptor and opened the path again; when that open
    failed, the journal kept a closed number, which the process then handed to
    a pipe. Whatever step fails, the old file and a live descriptor stay."""
    import manifest_node.consensus.journal as journal_module

    path = tmp_path / "j"
    j = open_with(path, entries(5))
    real = {"open": os.open, "write": os.write, "replace": os.replace}

    def failing(*args, **kwargs):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(journal_module.os, fail_at, failing)
    with pytest.raises(OSError) if rewrite == "clear" else contextlib.nullcontext():
        j.deleteEntriesTo(3) if rewrite == "compact" else j.clear()
    monkeypatch.setattr(journal_module.os, fail_at, real[fail_at])
    held = os.pipe()  # takes the lowest free numbers, as a new connection would
    try:
        j.add(b"cmd6", 6, 1)
    finally:
        os.close(held[0]), os.close(held[1])
    assert [e[1] for e in j[:]] == [1, 2, 3, 4, 5, 6]
    j._destroy()
    assert [e[1] for e in read_entries(str(path))[0]] == [1, 2, 3, 4, 5, 6]
    assert not (tmp_path / "j.tmp").exists()


def test_a_rewrite_keeps_one_live_descriptor(tmp_path):
    path = tmp_path / "j"
    j = open_with(path, entries(5))
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        j.deleteEntriesTo(1)
        j.add(b"x", j[-1][1] + 1, 1)
    assert len(os.listdir("/proc/self/fd")) == before  # no descriptor leaked, none closed twice
    assert os.readlink(f"/proc/self/fd/{j._fd}") == str(path)
    j.clear()
    j.add(b"y", 100, 2)
    j._destroy()
    assert [e[1] for e in read_entries(str(path))[0]] == [100]


def test_stats_give_the_file_size_and_entries_and_compaction_is_dated(tmp_path):
    path = str(tmp_path / "j")
    j = DurableJournal(path)
    for i in range(1, 6):
        j.add(b"cmd%d" % i, i, 1)
    assert j.stats() == (os.path.getsize(path), 5) and j.compacted_at is None
    before = time.time()
    j.deleteEntriesTo(3)
    assert j.stats() == (os.path.getsize(path), 2) and before <= j.compacted_at <= time.time()
    j._destroy()


def test_the_journal_descriptor_is_out_of_reach_of_stale_low_numbers(tmp_path):
    """Chaos seed 101: a stale second close of a recycled low number closed the journal's."""
    from manifest_node.consensus.journal import HIGH_FD

    j = open_with(tmp_path / "j", entries(3))
    assert j._fd >= HIGH_FD
    j.deleteEntriesTo(1)  # a rewrite adopts a new descriptor: also out of reach
    assert j._fd >= HIGH_FD and os.readlink(f"/proc/self/fd/{j._fd}") == str(tmp_path / "j")
    j.add(b"x", 4, 1)
    j._destroy()
    assert [e[1] for e in read_entries(str(tmp_path / "j"))[0]] == [2, 3, 4]
