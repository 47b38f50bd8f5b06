"""Damaged state files (issue 17 point 3): found, never served, set aside on --recover."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manifest_node.consensus.journal import CorruptFile, DurableJournal, pack_meta, read_entries, read_meta
from manifest_node.consensus.recovery import TERM_LEAP, set_aside
from manifest_node.consensus.snapshot import pack_dump, read_dump, state_checksum

ENTRIES = [(f"command {i} ".encode() * (1 + i % 7), i, 1 + i // 10) for i in range(1, 41)]
RELEASE_DATA = Path(__file__).resolve().parents[1] / "fixtures" / "releases" / "98703f3d9704" / "data"
# A snapshot in the shape SnapshotHooks writes, small enough to fuzz quickly.
FIELDS = {"format": 1, "last": [b"last entry", 41, 3], "prev": [b"prev entry", 40, 3],
          "cluster": ["127.0.0.1:7001", "127.0.0.1:7002"], "applied_hash": [41, b"h" * 16]}
STATE = b"\x82" + b"state of the registry " * 40
META = {"term": 7, "voted": "127.0.0.1:7002", "commit": 41}


def damage(data, original: bytes) -> bytes:
    """1-3 flipped bits, a cut, or both, anywhere in ``original`` (drawn by hypothesis)."""
    damaged = bytearray(original)
    kind = data.draw(st.sampled_from(["flip", "truncate", "both"]))
    if kind in ("flip", "both"):
        for _ in range(data.draw(st.integers(1, 3))):
            bit = data.draw(st.integers(0, len(damaged) * 8 - 1))
            damaged[bit // 8] ^= 1 << (bit % 8)
    if kind in ("truncate", "both"):
        del damaged[data.draw(st.integers(0, len(damaged))):]
    return bytes(damaged)


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
    path = tmp / "damaged"
    path.write_bytes(damage(data, journal_bytes(tmp)))
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


def read_damaged(tmp_path_factory, data, name: str, original: bytes, reader):
    """``reader`` on a damaged copy of ``original``: what it read, or None when it refused in one
    line naming the file (the node refuses to start: nothing wrong is served)."""
    path = tmp_path_factory.mktemp("d") / name
    path.write_bytes(damage(data, original))
    try:
        return reader(str(path))
    except CorruptFile as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return None


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_a_damaged_snapshot_is_refused_or_read_exactly(tmp_path_factory, data):
    original = pack_dump(FIELDS, STATE)
    got = read_damaged(tmp_path_factory, data, "raft.snapshot", original, read_dump)
    assert got is None or got == msgpack.unpackb(original, raw=False), "a damaged snapshot was read as something else"


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_damaged_meta_file_is_refused_or_read_exactly(tmp_path_factory, data):
    got = read_damaged(tmp_path_factory, data, "raft.journal.meta", pack_meta(META), read_meta)
    assert got is None or got == META, "a damaged meta file gave another term, vote or commit index"


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_the_previous_releases_snapshot_never_loads_with_another_state(tmp_path_factory, data):
    """Its fields besides the state were never checksummed (docs/durability.md): the state was."""
    original = (RELEASE_DATA / "raft.snapshot").read_bytes()
    path = tmp_path_factory.mktemp("o") / "raft.snapshot"
    path.write_bytes(damage(data, original))
    try:
        got = read_dump(str(path))
    except CorruptFile:
        return
    assert got["state"] == msgpack.unpackb(original, raw=False)["state"]


def test_every_field_of_a_snapshot_is_checked_not_only_the_state(tmp_path):
    good = msgpack.unpackb(pack_dump(FIELDS, STATE), raw=False)
    assert list(good)[0] == "sum"  # first: no flip or cut can remove it and leave a valid map
    path = tmp_path / "raft.snapshot"
    for changed in ({"last": [b"last entry", 42, 3]}, {"prev": [b"prev entry", 40, 2]},
                    {"cluster": ["127.0.0.1:7001"]}, {"applied_hash": [41, b"i" * 16]}, {"format": 2},
                    {"state": STATE[:-1] + b"!"}):
        path.write_bytes(msgpack.packb({**good, **changed}, use_bin_type=True))
        with pytest.raises(CorruptFile, match="checksum"):
            read_dump(str(path))
    # A flipped bit in the key "sum" leaves a file with no sum: not the old form either.
    renamed = {("sun" if k == "sum" else k): v for k, v in good.items()}
    path.write_bytes(msgpack.packb(renamed, use_bin_type=True))
    with pytest.raises(CorruptFile, match="not in a known older form"):
        read_dump(str(path))
    # Nor is a file without its state checksum (the previous release's always had one).
    path.write_bytes(msgpack.packb({k: v for k, v in good.items() if k not in ("sum", "checksum")}))
    with pytest.raises(CorruptFile, match="not in a known older form"):
        read_dump(str(path))


def test_the_previous_releases_files_still_load_and_only_in_their_exact_form(tmp_path):
    old = read_dump(str(RELEASE_DATA / "raft.snapshot"))
    assert "sum" not in old and old["last"][1] == 23 and old["checksum"] == state_checksum(old["state"])
    assert read_meta(str(RELEASE_DATA / "raft.journal.meta")) == {"term": 1, "voted": "127.77.0.1:7001",
                                                                  "commit": 27}
    path = tmp_path / "raft.snapshot"
    path.write_bytes(msgpack.packb({**old, "extra": 1}, use_bin_type=True))
    with pytest.raises(CorruptFile, match="not in a known older form"):
        read_dump(str(path))
    path.write_bytes(msgpack.packb({**old, "checksum": state_checksum(old["state"] + b"x")}, use_bin_type=True))
    with pytest.raises(CorruptFile, match="state does not match"):
        read_dump(str(path))
    # The pilot's (c21bc1d and before) had no checksum at all; it is read in exactly its form too.
    pilot = {k: old[k] for k in ("format", "last", "prev", "cluster", "state")}
    path.write_bytes(msgpack.packb(pilot, use_bin_type=True))
    assert read_dump(str(path)) == pilot
    path.write_bytes(msgpack.packb({**pilot, "applied_hash": old["applied_hash"]}, use_bin_type=True))
    with pytest.raises(CorruptFile, match="not in a known older form"):
        read_dump(str(path))
    meta = tmp_path / "raft.journal.meta"
    meta.write_bytes(msgpack.packb({"term": 1, "voted": None, "sun": b"x"}, use_bin_type=True))
    with pytest.raises(CorruptFile, match="not in a known older form"):
        read_meta(str(meta))


def test_the_journal_writes_its_meta_with_a_sum_and_refuses_a_changed_term(tmp_path):
    j = DurableJournal(str(tmp_path / "raft.journal"))
    j.setCurrentTerm(9, "127.0.0.1:7003")
    j._destroy()
    meta = tmp_path / "raft.journal.meta"
    raw = msgpack.unpackb(meta.read_bytes(), raw=False)
    assert list(raw)[0] == "sum" and read_meta(str(meta)) == {"term": 9, "voted": "127.0.0.1:7003"}
    # What the previous release does to our file when it votes after a downgrade: keeps the sum.
    meta.write_bytes(msgpack.packb({**raw, "term": 10}, use_bin_type=True))
    with pytest.raises(CorruptFile, match="does not match its checksum"):
        DurableJournal(str(tmp_path / "raft.journal"))


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


KEPT = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "releases").iterdir())


@pytest.mark.parametrize("folder", KEPT, ids=lambda p: p.name)
def test_every_kept_releases_state_files_verify(folder):
    """The pure half of tests/cluster/test_release_fixtures.py: each kept data directory reads back."""
    data = folder / "data"
    meta, dump = read_meta(str(data / "raft.journal.meta")), read_dump(str(data / "raft.snapshot"))
    entries, end = read_entries(str(data / "raft.journal"))
    assert end == (data / "raft.journal").stat().st_size, "the kept journal has a torn tail"
    assert meta["term"] >= 1 and meta["voted"] and entries and entries[-1][1] > dump["last"][1]
    if folder.name == "current":
        assert "sum" in dump and "sum" in msgpack.unpackb((data / "raft.journal.meta").read_bytes())
