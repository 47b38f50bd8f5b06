"""The crash-safe journal and the start-up repair of a dump newer than the journal."""

import msgpack

from manifest_node.consensus.journal import DurableJournal, read_entries
from manifest_node.consensus.snapshot import reconcile


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


def write_dump(path, prev, last):
    path.write_bytes(msgpack.packb({"format": 1, "state": b"", "prev": list(prev), "last": list(last),
                                    "cluster": []}, use_bin_type=True))


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
