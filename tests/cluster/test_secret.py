"""Issue 10.3 on real nodes: forged leader hints, where the secret travels, where it must not show.

The audit's attack: one unsigned MEMBER command sent to /v1/internal/propose,
naming the leader's id and Raft address with a fake API URL, made a follower
forward every write to the fake server.
"""

import os
import random
import signal
import socket
import subprocess
import sys

import msgpack
import pytest

from manifest_node.peer_protocol import AUTH_HEADER, PROPOSE_PATH, sign
from manifest_node.fsm import commands as C
from tests.support.cluster import Cluster, free_port, wait_until
from tests.support.http import call

pytestmark = pytest.mark.cluster

FAKE_API = "http://127.0.0.1:9"  # discard: nothing answers there


def propose(url: str, *commands, secret: str | None = None):
    raw = msgpack.packb({"commands": list(commands)}, use_bin_type=True)
    return call(url, "POST", PROPOSE_PATH, raw=raw, headers={
        "Content-Type": "application/msgpack", AUTH_HEADER: sign(secret, raw)})


def port_block(n: int) -> int:
    """A base port with ``n`` free ports after it, below the ephemeral range free_port() draws from."""
    for _ in range(200):
        base = random.randrange(20000, 32000, 8)
        socks = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError(f"no block of {n} free ports")


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                out.append(int(entry))
    return out


def proc_file(pid: int, name: str) -> bytes:
    with open(f"/proc/{pid}/{name}", "rb") as f:
        return f.read()


def leader_hint(url: str, auth: dict | None = None) -> str | None:
    return call(url, "GET", "/v1/services", headers=auth).headers.get("x-manifest-leader")


def dev_token(log_path) -> dict:
    """The bootstrap admin token ``manifest dev`` printed (auth is on in dev), as a header."""
    def printed():
        with open(log_path, errors="replace") as f:
            for line in f:
                if "export MANIFEST_TOKEN=" in line:
                    return line.strip().rpartition("=")[2]
    return {"Authorization": f"Bearer {wait_until(printed, 30, what='the dev token line')}"}


def test_a_dev_cluster_has_a_secret_that_no_command_line_shows(tmp_path):
    base = port_block(6)
    urls = [f"http://127.0.0.1:{base + 2 * i}" for i in range(3)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_")}
    with open(tmp_path / "dev.log", "wb") as log:
        parent = subprocess.Popen([sys.executable, "-m", "manifest_node", "dev", "--nodes", "3",
                                   "--api", f"127.0.0.1:{base}", "--data-dir", str(tmp_path / "c"), "--dns", "off"],
                                  stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        def leader():
            for url in urls:
                if call(url, "GET", "/v1/health", timeout=1).body["role"] == "leader":
                    return url
        leader_url = wait_until(leader, 45, what="a leader in the dev cluster")
        auth = dev_token(tmp_path / "dev.log")
        wait_until(lambda: all(leader_hint(u, auth) == leader_url for u in urls), 20, what="leader hints")
        kids = children(parent.pid)
        assert len(kids) == 3
        secrets = set()
        for pid in kids:
            environ = dict(v.split(b"=", 1) for v in proc_file(pid, "environ").split(b"\0") if b"=" in v)
            secrets.add(environ[b"MANIFEST_CLUSTER_SECRET"])
        assert len(secrets) == 1
        secret = secrets.pop()
        assert len(secret) >= 32
        for pid in [parent.pid, *kids]:
            argv = proc_file(pid, "cmdline")
            assert secret not in argv and b"--cluster-secret" not in argv
        # The audit's forgery, unsigned: refused by every node, hints unchanged.
        leader_raft = f"127.0.0.1:{int(leader_url.rpartition(':')[2]) + 1}"
        leader_id = call(leader_url, "GET", "/v1/cluster", headers=auth).body["id"]
        for url in urls:
            assert propose(url, C.member(leader_id, FAKE_API, leader_raft)).status == 401
        follower = next(u for u in urls if u != leader_url)
        assert call(follower, "POST", "/v1/services", {"name": "web", "id": "w1"}, headers=auth).status == 201
        assert leader_hint(follower, auth) == leader_url
        assert call(leader_url, "GET", "/v1/services/web/w1", headers=auth).status == 200
    finally:
        parent.send_signal(signal.SIGTERM)
        try:
            parent.wait(30)
        except subprocess.TimeoutExpired:
            for pid in children(parent.pid):
                os.kill(pid, signal.SIGKILL)
            parent.kill()
            parent.wait(10)


def test_a_single_dev_node_refuses_unsigned_internal_requests(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_")}
    proc = subprocess.Popen([sys.executable, "-m", "manifest_node", "dev", "--api", f"127.0.0.1:{port}",
                             "--raft", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "d"),
                             "--dns", "off"],
                            stdout=open(tmp_path / "dev.log", "wb"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: call(url, "GET", "/v1/health", timeout=0.5).status == 200, 20, what="dev node")
        assert propose(url, C.member("dev", FAKE_API, f"127.0.0.1:{port}")).status == 401
        assert call(url, "GET", "/v1/cluster").status == 401  # dev runs with auth on
        auth = dev_token(tmp_path / "dev.log")
        assert call(url, "GET", "/v1/cluster", headers=auth).body["members"][0]["api"] == url
    finally:
        proc.terminate()
        proc.wait(15)


def test_on_an_insecure_cluster_a_member_outside_the_cluster_is_refused_on_apply(tmp_path):
    with Cluster(tmp_path, secret=None) as cluster:
        leader = cluster.leader()
        follower = next(n for n in cluster.alive() if n is not leader)
        # Moving the leader's id to an address outside the cluster would leave
        # followers unable to find the leader's API: writes to them would fail.
        r = propose(leader.url, C.member(leader.id, FAKE_API, "127.0.0.1:1"))
        assert r.status == 200
        assert msgpack.unpackb(r.raw)["results"][0]["error"] == "not_a_member"
        w = call(follower.url, "POST", "/v1/services", {"name": "web", "id": "w1"})
        assert w.status == 201
        cluster.wait_for_replication(w.body["revision"])
        assert leader_hint(follower.url) == leader.url
        members = {m["raft"]: m["api"] for m in follower.get("/v1/cluster").body["members"]}
        assert members == {n.raft: n.url for n in cluster.nodes}


def test_the_secret_shows_in_no_log_answer_argv_or_data_file(tmp_path):
    with Cluster(tmp_path, extra=["--log-level", "debug"]) as cluster:
        secret = cluster.secret.encode()
        leader = cluster.leader()
        follower = next(n for n in cluster.alive() if n is not leader)
        w = call(follower.url, "POST", "/v1/services", {"name": "web", "id": "w1"})  # forwarded, signed
        assert w.status == 201
        cluster.wait_for_replication(w.body["revision"])
        assert propose(follower.url, C.noop()).status == 401  # a refusal is logged, too
        for node in cluster.nodes:
            for path in ("/v1/cluster", "/v1/health", "/metrics", "/v1/services"):
                assert secret not in node.get(path).raw, (node.id, path)
            assert secret not in proc_file(node.proc.pid, "cmdline")
            assert secret in proc_file(node.proc.pid, "environ")  # where it does travel
    for node in cluster.nodes:
        assert secret not in open(node.log_path, "rb").read(), node.id
        for name in os.listdir(node.data_dir):
            assert secret not in open(os.path.join(node.data_dir, name), "rb").read(), name


def test_the_secret_can_be_rotated_one_node_at_a_time(tmp_path):
    """The procedure docs/security.md gives: every acknowledged write survives it."""
    new = "the-new-cluster-secret-0123456789"
    with Cluster(tmp_path) as cluster:
        written = []

        def write_via(node):
            iid = f"r{len(written)}"
            wait_until(lambda: call(node.url, "POST", "/v1/services", {"name": "rot", "id": iid},
                                    timeout=3).status == 201, 30, what=f"a write via {node.id}")
            written.append(iid)

        first, *rest = reversed(cluster.nodes)
        first.kill()
        first.secret = new
        first.start()
        # Alone with the new secret it cannot join; the old majority carries on.
        assert wait_until(lambda: first.health(), 20, what=f"{first.id} answering").status == 503
        write_via(cluster.nodes[0])
        for node in rest:
            node.kill()
            node.secret = new
            node.start()
            write_via(node)
        cluster.wait_ready(30)
        cluster.wait_for_replication()
        for node in cluster.nodes:
            got = node.get("/v1/services/rot?consistency=linearizable").body["instances"]
            assert sorted(i["id"] for i in got) == sorted(written), node.id
