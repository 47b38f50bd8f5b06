"""``manifest snapshot inspect`` through CliRunner: offline, on files the node's writer made."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from manifest_client.cli import cli
from manifest_node.fsm import backup
from manifest_node.fsm import commands as C
from manifest_node.fsm.registry import RegistryState


def write_backup(path, n=1500, created_ms=None) -> bytes:
    s = RegistryState()
    for start in range(0, n, 500):
        s.apply(C.encode(1000, 1, [C.batch([{"name": f"s{j % 3}", "id": f"i{j}"}
                                            for j in range(start, min(n, start + 500))])]))
    created = int(time.time() * 1000) - 90_000 if created_ms is None else created_ms
    data = b"".join(backup.encode(s.capture(), 77, 4, created, "n2"))
    path.write_bytes(data)
    return data


def test_inspect_shows_counts_index_term_and_age(tmp_path):
    path = tmp_path / "b.snap"
    data = write_backup(path)
    done = CliRunner().invoke(cli, ["--url", "http://127.0.0.1:1", "snapshot", "inspect", str(path)],
                              env={"NO_COLOR": "1"})
    assert done.exit_code == 0, done.output
    assert f"({len(data)} bytes, checksum ok)" in done.output
    assert "index 77, term 4, revision 1500" in done.output and "on node n2" in done.output
    assert "1500 instances in 3 services, 0 tokens" in done.output
    assert "(1.5m ago)" in done.output
    done = CliRunner().invoke(cli, ["--json", "snapshot", "inspect", str(path)])
    info = json.loads(done.output)
    assert info["counts"] == {"instances": 1500, "services": 3, "tokens": 0}
    assert info["index"] == 77 and info["term"] == 4 and info["size"] == len(data)
    assert 89 <= info["age_seconds"] < 600


def test_inspect_refuses_a_damaged_file_with_its_reason(tmp_path):
    path = tmp_path / "b.snap"
    data = write_backup(path, 600)
    for bad, why in ((data[:-10], "truncated"), (b"", "empty"), (b"PK\x03\x04" + data, "bad magic"),
                     (data[:100] + bytes([data[100] ^ 4]) + data[101:], "checksum mismatch")):
        path.write_bytes(bad)
        done = CliRunner().invoke(cli, ["snapshot", "inspect", str(path)])
        assert done.exit_code == 4 and why in done.output, (why, done.output)
        assert "Traceback" not in done.output


def test_restore_refuses_a_damaged_file_before_connecting(tmp_path):
    path = tmp_path / "b.snap"
    path.write_bytes(write_backup(path, 10)[:-1])
    # Port 1 never answers: the refusal must come from the file check, not from a connection error.
    done = CliRunner().invoke(cli, ["--url", "http://127.0.0.1:1", "snapshot", "restore", "--force", str(path)])
    assert done.exit_code == 4 and "truncated" in done.output and "nothing was sent" in done.output
