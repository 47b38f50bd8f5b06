"""Issue 10.2, start-up: a data directory the node cannot use stops it with exit 2 and one line.

Each test starts a real ``manifest node`` process; one that does not exit by
itself within the deadline counts as a failure (it started on bad data).
"""

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile

import msgpack
import pytest

from tests.support.cluster import free_port, wait_until
from tests.support.http import call

SECRET = "startup-test-secret-0123456789"


def node_cmd(data_dir, *prefix: str) -> list[str]:
    return [*prefix, sys.executable, "-m", "manifest_node", "node", "--api", f"127.0.0.1:{free_port()}",
            "--raft", f"127.0.0.1:{free_port()}", "--data-dir", str(data_dir)]


def env() -> dict:
    out = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_")}
    out["MANIFEST_CLUSTER_SECRET"] = SECRET
    return out


def refused(data_dir, *prefix: str) -> str:
    """Run a node on ``data_dir``: it must exit 2 with one line of output. Returns that line."""
    proc = subprocess.Popen(node_cmd(data_dir, *prefix), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env())
    try:
        out = proc.communicate(timeout=30)[0].decode()
    except subprocess.TimeoutExpired:
        proc.kill()
        out = proc.communicate()[0].decode()
        raise AssertionError(f"the node started on a bad data directory:\n{out[-2000:]}") from None
    lines = out.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, (proc.returncode, out[-3000:])
    return lines[0]


def test_a_data_dir_under_a_regular_file(tmp_path):
    (tmp_path / "file").write_text("")
    line = refused(tmp_path / "file" / "data")
    assert line.startswith("Error: data_dir: ") and "file/data" in line


@pytest.fixture
def read_only_mount(tmp_path):
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a read-only tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("mount is not permitted here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_a_read_only_file_system(read_only_mount):
    line = refused(read_only_mount)
    assert "data_dir" in line and "not writable" in line and "Read-only file system" in line


def test_a_directory_mode_0500_as_a_non_root_user():
    # Root writes through 0500: run the node as nobody when the tests run as root,
    # in a folder nobody can reach (pytest's tmp_path is private to root).
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root")
        prefix = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    top = tempfile.mkdtemp(prefix="manifest-0500-")
    try:
        os.chmod(top, 0o755)
        data = os.path.join(top, "data")
        os.mkdir(data)
        if prefix:
            os.chown(data, 65534, 65534)
        os.chmod(data, 0o500)
        line = refused(data, *prefix)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    assert "data_dir" in line and "not writable" in line and "Permission denied" in line


def test_a_damaged_meta_file_stops_the_node_and_is_left_alone(tmp_path):
    """The meta file holds Raft's term and vote: before the fix it was silently read as empty."""
    data = tmp_path / "data"
    data.mkdir()
    meta = data / "raft.journal.meta"
    meta.write_bytes(msgpack.packb({"term": 9, "voted": "127.0.0.1:1"})[:-4])  # torn
    line = refused(data)
    assert "raft.journal.meta" in line and "refusing to start" in line
    assert meta.read_bytes() == msgpack.packb({"term": 9, "voted": "127.0.0.1:1"})[:-4]


def test_a_damaged_snapshot_stops_the_node(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "raft.snapshot").write_bytes(b"\x85\xa6format\x01")  # a map cut short
    line = refused(data)
    assert "raft.snapshot" in line and "refusing to start" in line


def test_the_node_keeps_its_files_to_itself(tmp_path):
    data = tmp_path / "data"
    # A 1 s compaction period: the node's compaction window (30 % of it) comes round at once.
    proc = subprocess.Popen([*node_cmd(data), "--compaction-entries", "2", "--compaction-interval", "1"], env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = None
    try:
        url = "http://" + proc.args[proc.args.index("--api") + 1]
        wait_until(lambda: call(url, "GET", "/v1/health", timeout=0.5).status == 200, 20, what="node ready")
        for i in range(5):
            assert call(url, "POST", "/v1/services", {"name": "web", "id": f"w{i}"}).status == 201
        wait_until(lambda: (data / "raft.snapshot").exists(), 20, what="a snapshot")
    finally:
        proc.terminate()
        proc.wait(15)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()}
    assert {"raft.journal", "raft.journal.meta", "raft.snapshot"} <= set(modes)
    assert all(mode == 0o600 for mode in modes.values()), modes


@pytest.mark.parametrize("which", ["api", "raft"])
def test_an_address_already_in_use_stops_the_node_with_its_name(tmp_path, which):
    # pysyncobj retried a taken Raft port forever and silently, so the node hung
    # with its API never listening; a taken API port ended in a traceback.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        cmd = node_cmd(tmp_path / "data")
        cmd[cmd.index(f"--{which}") + 1] = taken
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env())
        try:
            out = proc.communicate(timeout=30)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"the node kept running without its {which} port:\n"
                                 f"{proc.communicate()[0].decode()[-2000:]}") from None
    name = "API" if which == "api" else "Raft"
    assert proc.returncode == 2, out[-3000:]
    assert f"Error: cannot listen on the {name} address {taken}: " in out, out[-3000:]
    assert "Traceback" not in out and "Unclosed" not in out, out[-3000:]


@pytest.mark.parametrize("kind", [socket.SOCK_DGRAM, socket.SOCK_STREAM], ids=["udp", "tcp"])
def test_a_taken_dns_port_stops_the_node_with_the_setting_named(tmp_path, kind):
    with socket.socket(socket.AF_INET, kind) as holder:
        holder.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            holder.listen()
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        proc = subprocess.run(node_cmd(tmp_path / "data") + ["--dns", taken], capture_output=True, text=True,
                              env=env(), timeout=30)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert f"Error: cannot listen on the DNS address {taken} (dns): " in out, out[-3000:]
    assert "Traceback" not in out and "Unclosed" not in out, out[-3000:]
