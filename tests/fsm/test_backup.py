"""The backup file format (fsm/backup.py) and the RESTORE command (fsm/restore.py), without a cluster."""

import hashlib
import random
import zlib

import pytest

from manifest_client import _snapshot_file as client_file
from manifest_node.fsm import backup
from manifest_node.fsm import commands as C
from manifest_node.fsm.registry import RegistryState, pack_snapshot
from manifest_node.fsm.results import Code


def apply(state, ts, *cmds, term=1, held=None):
    return state.apply(C.encode(ts, term, list(cmds), held))


def populated(n=2500, services=7) -> RegistryState:
    s = RegistryState()
    for i in range(0, n, 500):
        items = [{"name": f"svc{j % services}", "id": f"i{j}", "ttl": 30, "tags": ["t"], "metadata": {"k": str(j)}}
                 for j in range(i, min(n, i + 500))]
        assert apply(s, 1000 + i, C.batch(items)).results[0].ok
    apply(s, 5000, C.member("n1", "http://127.0.0.1:1", "127.0.0.1:2"))
    return s


def file_of(state: RegistryState, index=42, term=3, created_ms=1_700_000_000_000) -> bytes:
    return b"".join(backup.encode(state.capture(), index, term, created_ms, "n1"))


def test_round_trip_keeps_the_fsm_snapshot_bytes_and_the_header():
    s = populated()
    data = file_of(s)
    header, state = backup.read_bytes(data)
    assert state == pack_snapshot(s.capture())  # the Raft snapshot's own format, not a second one
    assert header["index"] == 42 and header["term"] == 3 and header["revision"] == s.revision
    assert header["counts"] == {"instances": 2500, "services": 7, "tokens": 0}
    copy = RegistryState()
    copy.restore(state)
    assert copy.digest_view() == s.digest_view()


def test_the_file_is_produced_in_pieces_of_bounded_size():
    pieces = list(backup.encode(populated(5000).capture(), 1, 1, 0, "n1"))
    assert len(pieces) >= 5 + 3  # header, map head, five chunks of 1000, end, digest
    assert max(len(p) for p in pieces) < 2 * sum(len(p) for p in pieces) / 5


def test_pieces_of_any_size_read_alike():
    data = file_of(populated(1200))
    rng = random.Random(5)
    reader = backup.Reader()
    at = 0
    while at < len(data):
        step = rng.randint(1, 5000)
        reader.feed(data[at:at + step])
        at += step
    assert reader.finish() == backup.read_bytes(data)


@pytest.mark.parametrize("position", ["magic", "header", "state", "last state byte", "digest"])
def test_a_flipped_byte_anywhere_is_refused(position):
    data = bytearray(file_of(populated(1200)))
    at = {"magic": 2, "header": 20, "state": len(data) // 2, "last state byte": len(data) - 37,
          "digest": len(data) - 1}[position]
    data[at] ^= 0x01
    with pytest.raises(backup.BackupError):
        backup.read_bytes(bytes(data))


def test_every_truncation_is_refused_as_truncated():
    data = file_of(populated(300))
    for cut in [1, 7, 8, 11, 12, 40, len(data) // 3, len(data) - 33, len(data) - 32, len(data) - 1]:
        with pytest.raises(backup.BackupError, match="truncated|bad magic"):
            backup.read_bytes(data[:cut])


def test_empty_random_foreign_and_other_version_files_name_their_problem():
    with pytest.raises(backup.BackupError, match="empty"):
        backup.read_bytes(b"")
    with pytest.raises(backup.BackupError, match="bad magic"):
        backup.read_bytes(random.Random(1).randbytes(10_000))
    with pytest.raises(backup.BackupError, match="bad magic"):
        backup.read_bytes(pack_snapshot(populated(10).capture()))  # a raw Raft snapshot is not a backup
    data = file_of(populated(10)).replace(b"\xa7version\x01", b"\xa7version\x09", 1)
    with pytest.raises(backup.BackupError, match="unsupported backup file version 9"):
        backup.read_bytes(data)
    with pytest.raises(backup.BackupError, match="follow the checksum"):
        backup.read_bytes(file_of(populated(10)) + b"x")


def test_the_client_reads_the_same_files_and_refuses_the_same_damage():
    data = file_of(populated(1200))
    header, size = client_file.verify(iter([data[:1000], data[1000:]]))
    assert header == backup.read_bytes(data)[0] and size == len(data)
    for bad in (b"", data[:-1], data[:100], bytes([data[0] ^ 1]) + data[1:],
                data[:500] + bytes([data[500] ^ 1]) + data[501:]):
        with pytest.raises(client_file.SnapshotFileError):
            client_file.verify(iter([bad]))


# ---- the RESTORE command ------------------------------------------------------------
def restore_cmd(source: RegistryState, force=False) -> list:
    state = pack_snapshot(source.capture())
    return C.restore(zlib.compress(state), hashlib.sha256(state).digest(), force)


def test_restore_into_an_empty_registry_replaces_instances_and_tokens_but_keeps_members():
    source = populated(1200)
    target = RegistryState()
    apply(target, 100, C.member("m1", "http://10.0.0.1:8500", "10.0.0.1:9000"), term=1)
    out = apply(target, 10_000, restore_cmd(source), term=5, held=200)
    assert out.results[0].ok and out.restored
    assert [i.to_wire() for _, i in sorted(target.instances.items())] == \
        [i.to_wire() for _, i in sorted(source.instances.items())]
    assert target.members == {"m1": {"api": "http://10.0.0.1:8500", "raft": "10.0.0.1:9000"}}
    assert target.revision == source.revision and target.epoch == 5 and target.clock == 10_000
    # The held clock continues from the backup's: every instance keeps the ttl it had left.
    held_at_backup = source.held
    apply(target, 10_100, C.noop(), term=5, held=300)
    assert target.held == held_at_backup + 100


def test_a_backup_from_another_cluster_keeps_this_clusters_voters():
    """Snapshots carry the voters (membership changes); a backup must not bring the source's."""
    source = RegistryState(frozenset({"10.9.9.1:9000", "10.9.9.2:9000", "10.9.9.3:9000"}))
    assert apply(source, 100, C.batch([{"name": "svc", "id": f"i{i}", "ttl": 30} for i in range(3)])).results[0].ok
    target = RegistryState(frozenset({"10.0.0.1:9000", "10.0.0.2:9000", "10.0.0.3:9000"}))
    out = apply(target, 10_000, restore_cmd(source), term=5, held=200)
    assert out.results[0].ok and len(target.instances) == 3
    assert target.member_rafts == frozenset({"10.0.0.1:9000", "10.0.0.2:9000", "10.0.0.3:9000"})
    assert not apply(target, 10_001, C.member("x", "http://10.9.9.1:8500", "10.9.9.1:9000")).results[0].ok


def test_restore_without_force_into_a_registry_with_instances_changes_nothing():
    target = populated(600)
    before = target.digest_view()
    out = apply(target, 9000, restore_cmd(populated(10)))
    assert out.results[0].code == Code.NOT_EMPTY and not out.restored
    after = target.digest_view()
    assert (after[0], *after[3:]) == (before[0], *before[3:])  # all but the clocks the envelope moved
    out = apply(target, 9001, restore_cmd(populated(10), force=True))
    assert out.results[0].ok and len(target.instances) == 10
    assert target.revision == before[0] + 1  # never back: watchers and blocking reads see a change


def test_a_damaged_restore_command_fails_alike_everywhere_and_changes_nothing():
    target = RegistryState()
    apply(target, 100, C.batch([{"name": "a", "id": "1"}]), term=1)
    before = (target.revision, [i.to_wire() for i in target.instances.values()], target.members)
    good = restore_cmd(populated(10), force=True)
    for cmd in ([*good[:2], b"\0" * 32, good[3]],  # checksum
                [good[0], good[1][:-5], good[2], good[3]],  # truncated compressed state
                [good[0], zlib.compress(b"not msgpack"), hashlib.sha256(b"not msgpack").digest(), good[3]],
                [C.RESTORE, "text", b"", {}]):
        out = apply(target, 200, cmd, term=1)
        assert out.results[0].code == Code.BAD_COMMAND and not out.restored, cmd[1][:10]
        assert (target.revision, [i.to_wire() for i in target.instances.values()], target.members) == before
