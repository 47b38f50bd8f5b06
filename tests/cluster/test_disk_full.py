"""A full disk never loses an acknowledged write (issue 10, point 2).

The audit: on a 2 MB tmpfs, writes were acknowledged while the journal took
torn records, and after a restart six acknowledged instances were gone.
Here each node's data directory is its own small tmpfs, filled up by a file
the test can delete again.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.support.cluster import Cluster, wait_until
from tests.support.http import call

PAD = "x" * 900  # about 1.1 KB per registration, as in the audit


def mount_tmpfs(path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("mount is not permitted here")


@pytest.fixture
def small_disks(tmp_path):
    mounts = []

    def make(name: str, size: str = "2m"):
        path = tmp_path / name
        mount_tmpfs(path, size)
        mounts.append(path)
        return path

    yield make
    for path in mounts:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder, leave: int) -> str:
    """Fill the file system of ``folder`` up to ``leave`` free bytes with one file."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    filler = os.path.join(folder, "filler")
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def register(url: str, i: int):
    return call(url, "POST", "/v1/services",
                {"name": "disk", "id": f"i{i}", "port": 1000 + i % 50000, "ttl": 3600, "metadata": {"pad": PAD}},
                timeout=5)


def test_a_full_disk_acknowledges_nothing_it_cannot_keep_and_recovers(tmp_path, small_disks):
    disk = small_disks("n1")
    cluster = Cluster(tmp_path, size=1)
    cluster.nodes[0].data_dir = str(disk / "data")
    node = cluster.nodes[0]
    try:
        cluster.start()
        filler = fill(disk, leave=200_000)
        acked, refused = [], []
        for i in range(2000):
            r = register(node.url, i)
            (acked if r.status in (200, 201) else refused).append((i, r.status, r.body))
            if len(refused) >= 5:
                break
        assert acked and refused, "the disk never filled up"
        assert all(status == 503 and body["error"]["code"] == "storage_unavailable"
                   for _, status, body in refused), refused[:2]
        h = node.health()
        assert h.status == 503 and any(p["file"] == "journal" and "ENOSPC" in p["error"] for p in h.body["storage"])
        metrics = call(node.url, "GET", "/metrics").raw.decode()
        assert 'manifest_storage_ok{file="journal"} 0.0' in metrics

        os.unlink(filler)
        wait_until(lambda: register(node.url, 100_000).status in (200, 201), 20, what="writes to work again")
        acked.append((100_000, 201, None))
        wait_until(lambda: node.health().status == 200, 10, what="the node to be ready again")
        assert node.health().body["storage"] == []
        assert node.log_text().count("cannot write the journal") == 1  # one line per state change

        assert node.terminate() == 0
        node.start()
        cluster.wait_ready()
        missing = [i for i, _, _ in acked if call(node.url, "GET", f"/v1/services/disk/i{i}").status != 200]
        assert missing == [], f"{len(missing)} acknowledged writes lost, first {missing[:5]}"
        never = [i for i, _, _ in refused if call(node.url, "GET", f"/v1/services/disk/i{i}").status == 200]
        assert never == [], "a refused write was applied after all"
    finally:
        cluster.stop()


def test_a_leader_whose_disk_fills_steps_down_and_the_cluster_goes_on(tmp_path, small_disks):
    cluster = Cluster(tmp_path)
    for node in cluster.nodes:
        node.data_dir = str(small_disks(node.id, "8m") / "data")
    try:
        cluster.start()
        leader = cluster.leader()
        filler = fill(os.path.dirname(leader.data_dir), leave=100_000)
        acked = []
        for i in range(600):
            r = register(cluster.nodes[i % 3].url, i)
            if r.status in (200, 201):
                acked.append(i)
        assert len(acked) > 400, "the cluster stopped taking writes"
        new = cluster.leader()
        assert new is not leader, "the node with the full disk still leads"
        h = leader.health()
        assert h.status == 503 and h.body["storage"][0]["file"] in ("journal", "meta")
        assert "stepping down: this node cannot write its journal" in leader.log_text()

        os.unlink(filler)
        wait_until(lambda: leader.health().status == 200, 30, what="the node to recover once space is back")
        cluster.wait_for_replication()
        for node in cluster.nodes:
            missing = [i for i in acked if call(node.url, "GET", f"/v1/services/disk/i{i}").status != 200]
            assert missing == [], f"{node.id} lacks {len(missing)} acknowledged writes"
    finally:
        cluster.stop()

