"""Damaged state files (issue 17 point 3): found, never served, set aside on --recover."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manifest_node.consensus.journal import CorruptFile, DurableJournal, read_entries, read_meta
from manifest_node.consensus.recovery import TERM_LEAP, set_aside
from manifest_node.consensus.snapshot import read_dump, state_checksum

ENTRIES = [(f"command {i} ".encode() * (1 + i % 7), i, 1 + i // 10) for i in range(1, 41)]


def journal_bytes(tmp_path) -> bytes:
    path = tmp_path / "j"
    j = DurableJournal(str(path))
    for e in ENTRIES:
        j.add(*e)
    j._destroy()
    return path.read_bytes()


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_damaged_journal_gives_a_true_prefix_or_refuses(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("j")
    original = journal_bytes(tmp)
    damaged = bytearray(original)
    kind = data.draw(st.sampled_from(["flip", "truncate", "both"]))
    if kind in ("flip", "both"):
        for _ in range(data.draw(st.integers(1, 3))):
            bit = data.draw(st.integers(0, len(damaged) * 8 - 1))
            damaged[bit // 8] ^= 1 << (bit % 8)
    if kind in ("truncate", "both"):
        del damaged[data.draw(st.integers(0, len(damaged))):]
    path = tmp / "damaged"
    path.write_bytes(bytes(damaged))
    try:
        entries, end = read_entries(str(path))
    except CorruptFile:
        return  # the node refuses to start: nothing wrong is served
    assert entries == ENTRIES[:len(entries)], "a damaged journal returned entries it never held"


def test_damage_in_the_middle_refuses_and_a_torn_tail_is_cut(tmp_path):
    data = journal_bytes(tmp_path)
    middle = bytearray(data)
    middle[len(data) // 2] ^= 0x40
    (tmp_path / "middle").write_bytes(bytes(middle))
    with pytest.raises(CorruptFile, match="valid records follow"):
        read_entries(str(tmp_path / "middle"))
    (tmp_path / "torn").write_bytes(data[:-5])
    entries, _ = read_entries(str(tmp_path / "torn"))
    assert entries == ENTRIES[:-1]


def test_a_flipped_bit_in_a_snapshots_state_is_found(tmp_path):
    state = b"\x82" + b"s" * 1000
    good = {"format": 1, "last": [5, 5, 1], "prev": [4, 4, 1], "cluster": [], "state": state,
            "checksum": state_checksum(state)}
    (tmp_path / "ok").write_bytes(msgpack.packb(good, use_bin_type=True))
    assert read_dump(str(tmp_path / "ok"))["state"] == state
    bad = {**good, "state": b"\x82" + b"s" * 499 + b"t" + b"s" * 500}
    (tmp_path / "bad").write_bytes(msgpack.packb(bad, use_bin_type=True))
    with pytest.raises(CorruptFile, match="checksum"):
        read_dump(str(tmp_path / "bad"))


def test_recover_sets_state_aside_and_keeps_the_vote(tmp_path):
    j = DurableJournal(str(tmp_path / "raft.journal"))
    j.setCurrentTerm(7, "n2")
    for e in ENTRIES[:3]:
        j.add(*e)
    j._destroy()
    (tmp_path / "raft.snapshot").write_bytes(b"not a snapshot")
    note = set_aside(str(tmp_path))
    assert "term and vote kept" in note
    assert not (tmp_path / "raft.journal").exists() and not (tmp_path / "raft.snapshot").exists()
    meta = read_meta(str(tmp_path / "raft.journal.meta"))
    assert (meta["term"], meta["voted"], meta["commit"]) == (7, "n2", 0)
    assert len(list(tmp_path.glob("damaged-*/raft.snapshot"))) == 1


def test_recover_with_a_damaged_meta_file_leaps_past_any_term_it_voted_in(tmp_path):
    j = DurableJournal(str(tmp_path / "raft.journal"))
    for e in ENTRIES:
        j.add(*e)
    j._destroy()
    (tmp_path / "raft.journal.meta").write_bytes(b"\xff\xfe garbage")
    assert "vote unknown" in set_aside(str(tmp_path))
    meta = read_meta(str(tmp_path / "raft.journal.meta"))
    assert meta["voted"] is None and meta["term"] == ENTRIES[-1][2] + TERM_LEAP
