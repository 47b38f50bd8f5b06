"""Membership changes that must be refused, and replacing a dead node (docs/operations.md).

Refused: a change that would leave no reachable majority, a second change
while one is under way, the last voter's removal, unknown members, a node
that is not waiting to join or has another address, and malformed input (a
4xx naming the field). A refusal changes nothing: the voters are the same
before and after.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

from tests.support.cluster import Cluster, wait_until
from tests.support.http import call

pytestmark = pytest.mark.cluster


def voters(node) -> set[str]:
    return {m["raft"] for m in node.get("/v1/cluster").body["members"]}


def error(r) -> tuple[int, str, str | None]:
    return r.status, r.body["error"]["code"], r.body["error"].get("field")


def test_changes_that_would_lose_quorum_or_make_no_sense_are_refused_and_change_nothing(tmp_path):
    with Cluster(tmp_path, size=3) as cluster:
        leader = cluster.leader()
        follower = next(n for n in cluster.nodes if n is not leader)
        before = voters(leader)
        # Malformed input: 400 naming the field, on the leader or a follower alike.
        for node in (leader, follower):
            assert error(node.call("POST", "/v1/cluster/members", {"api": "http://127.0.0.1:1"})) == \
                (400, "required", "raft")
            assert error(node.call("POST", "/v1/cluster/members", {"raft": "nope", "api": "http://x:1"}))[::2] == \
                (400, "raft")
            assert error(node.call("POST", "/v1/cluster/members", {"raft": "127.0.0.1:9", "api": "ftp://x"}))[::2] \
                == (400, "api")
            assert error(node.call("POST", "/v1/cluster/members", {"raft": "127.0.0.1:9", "api": "http://x:1",
                                                                    "extra": 1}))[0] == 400
            assert error(node.call("DELETE", "/v1/cluster/members/no%20such"))[::2] == (400, "node")
            assert error(node.call("DELETE", "/v1/cluster/members/n9")) == (404, "unknown_member", "node")
            assert error(node.call("POST", "/v1/cluster/members", {"raft": follower.raft, "api": follower.url})) \
                == (409, "already_a_member", "raft")
        # A running member is not waiting to join; a node answering for another address is refused too.
        extra = cluster.new_node("n4", tmp_path, join=False)
        extra.peers = []
        extra.start()
        wait_until(lambda: extra.health().status == 200, 20, what="a separate one-node cluster")
        assert error(leader.call("POST", "/v1/cluster/members", {"raft": extra.raft, "api": extra.url})) == \
            (409, "not_joining", "raft")
        joiner = cluster.new_node("n5", tmp_path)
        joiner.start()
        wait_until(lambda: joiner.health().status == 503, 20, what="n5 waiting to join")
        assert error(leader.call("POST", "/v1/cluster/members", {"raft": "127.0.0.1:1", "api": joiner.url})) == \
            (409, "raft_mismatch", "raft")
        # One follower down: 2 of 3 reachable. Adding would need 3 of 4; removing the live
        # follower would need 2 of 2.
        dead = next(n for n in cluster.nodes[:3] if n is not leader and n is not follower)
        dead.kill()
        r = wait_until(lambda: (x := leader.call("POST", "/v1/cluster/members", {"raft": joiner.raft,
                                                                                 "api": joiner.url}))
                       .status == 409 and x.body["error"]["code"] == "would_lose_quorum" and x, 10,
                       what="add refused without quorum")
        assert "majority" in r.body["error"]["message"]
        assert error(follower.call("DELETE", f"/v1/cluster/members/{follower.id}"))[:2] == \
            (409, "would_lose_quorum")
        assert voters(leader) == before and voters(follower) == before
        assert joiner.health().status == 503  # still waiting, never added
        w = call(follower.url, "POST", "/v1/services", {"name": "web", "id": "w1"})
        assert w.status == 201  # the refusals left the cluster as it was


def test_the_last_voter_is_never_removed(tmp_path):
    with Cluster(tmp_path, size=1) as cluster:
        (only,) = cluster.nodes
        assert error(only.call("DELETE", f"/v1/cluster/members/{only.id}")) == (409, "last_member", "node")
        assert voters(only) == {only.raft}


class SilentAPI:
    """Accepts connections and never answers: a join target that keeps a change under way."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


def test_a_second_change_while_one_is_under_way_is_refused(tmp_path):
    with Cluster(tmp_path, size=3) as cluster:
        leader = cluster.leader()
        silent = SilentAPI()
        try:
            first = {}
            t = threading.Thread(target=lambda: first.update(r=leader.call(
                "POST", "/v1/cluster/members", {"raft": "127.0.0.1:1", "api": silent.url}, timeout=30)))
            t.start()
            wait_until(lambda: silent.held, 10, what="the first change reaching its new node")
            follower = next(n for n in cluster.nodes if n is not leader)
            for node in (leader, follower):  # a follower forwards it to the leader, which refuses
                assert error(node.call("DELETE", f"/v1/cluster/members/{follower.id}"))[:2] == \
                    (409, "membership_change_in_progress")
            t.join(30)
            assert first["r"].status == 503  # the new node never answered: nothing was appended
            assert voters(leader) == {n.raft for n in cluster.nodes}
        finally:
            silent.close()


def manifest(node, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_")}
    env["MANIFEST_URL"] = node.url
    return subprocess.run([sys.executable, "-m", "manifest_node", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_replacing_a_dead_node_is_remove_then_add_with_a_new_data_dir(tmp_path):
    """docs/operations.md, 'Replacing a dead node', step by step, through the CLI."""
    with Cluster(tmp_path, size=3) as cluster:
        n1, n2, n3 = cluster.nodes
        written = []
        for k in range(30):
            r = call(cluster.nodes[k % 3].url, "POST", "/v1/services", {"name": "web", "id": f"w{k}"})
            assert r.status == 201
            written.append(f"w{k}")
        n3.kill()  # its disk is gone, say
        live = next(n for n in (n1, n2) if n.alive)
        # 1. remove the dead node (the two left are a majority of the two that stay)
        out = manifest(live, "cluster", "remove", n3.id)
        assert out.returncode == 0, out.stderr
        assert n3.raft not in out.stdout and n1.raft in out.stdout
        # 2. start the replacement with --join and an empty data directory
        n4 = cluster.new_node("n4", tmp_path)
        n4.start()
        wait_until(lambda: n4.health().status == 503, 20, what="n4 waiting to join")
        # 3. add it
        out = manifest(live, "cluster", "add", n4.raft, "--api", n4.url)
        assert out.returncode == 0, out.stderr
        assert n4.raft in out.stdout
        wait_until(lambda: n4.health().status == 200, 30, what="n4 caught up")
        w = call(n4.url, "POST", "/v1/services", {"name": "web", "id": "after"})
        assert w.status == 201
        cluster.wait_for_replication(w.body["revision"])
        for node in (n1, n2, n4):
            assert {i["id"] for i in node.get("/v1/services/web").body["instances"]} == {*written, "after"}
            assert voters(node) == {n1.raft, n2.raft, n4.raft}
        # The replacement counts for the majority: with n1 down, n2 and n4 still commit.
        n1.kill()
        w = wait_until(lambda: (x := call(n2.url, "POST", "/v1/services", {"name": "web", "id": "late"}))
                       .status == 201 and x, 20, what="a write with n1 down")
        assert w.status == 201
        out = manifest(n2, "cluster", "add", "127.0.0.1:1")  # --api is required
        assert out.returncode != 0 and "--api" in out.stderr


def test_with_auth_on_only_an_admin_token_changes_membership(tmp_path):
    with Cluster(tmp_path, size=3, auth=True) as cluster:
        follower = cluster.followers()[0]
        joiner = cluster.new_node("n4", tmp_path)
        joiner.start()
        wait_until(lambda: joiner.health().status == 503, 20, what="n4 waiting to join")
        body = {"raft": joiner.raft, "api": joiner.url}
        made = follower.call("POST", "/v1/tokens", {"role": "operator"})
        assert made.status == 201
        assert follower.call("POST", "/v1/cluster/members", body, token=made.body["token"]).status == 403
        assert follower.call("POST", "/v1/cluster/members", body, token=False).status == 401
        assert joiner.health().status == 503
        r = follower.call("POST", "/v1/cluster/members", body)  # the bootstrap admin token, forwarded
        assert r.status == 201, r.body
        wait_until(lambda: joiner.health().status == 200, 30, what="n4 caught up")
        assert cluster.secret not in joiner.log_text() and cluster.token not in joiner.log_text()
