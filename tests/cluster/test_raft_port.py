"""What a stranger can do to the Raft port (issue 10, point 4; docs/security.md).

With a cluster secret, every message must be a valid Fernet token before it
is unpickled, and a claimed length is checked before anything is buffered.
"""

from __future__ import annotations

import os
import pickle
import socket
import struct
import zlib

from tests.support.cluster import Cluster, wait_until


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_huge_claimed_length_is_refused_before_it_is_buffered(tmp_path):
    with Cluster(tmp_path, size=1) as cluster:
        node = cluster.nodes[0]
        before = rss_kb(node.proc.pid)
        sock = socket.create_connection(("127.0.0.1", node.raft_port), timeout=5)
        sock.sendall(struct.pack("i", 1 << 30))  # "a 1 GiB message follows"
        chunk = b"\0" * (1 << 20)
        sent = 0
        try:
            while sent < 16 << 20:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # closed on us: what should happen
        sock.settimeout(5)
        try:
            closed = sock.recv(1) == b""
        except ConnectionResetError:
            closed = True
        finally:
            sock.close()
        assert closed, "the node kept a connection that announced 1 GiB"
        assert node.health().status == 200
        assert rss_kb(node.proc.pid) - before < 8 * 1024  # upstream grew by the 16 MB it was sent


class _Marker:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_sent_to_a_node_with_a_secret_runs_nothing(tmp_path):
    with Cluster(tmp_path, size=1) as cluster:
        node = cluster.nodes[0]
        marker = str(tmp_path / "pwned")
        payload = zlib.compress(pickle.dumps(_Marker(marker)))
        with socket.create_connection(("127.0.0.1", node.raft_port), timeout=5) as sock:
            sock.sendall(struct.pack("i", len(payload)) + payload)
            try:
                answer = sock.recv(1)  # the node hangs up once the token fails to verify
            except ConnectionResetError:
                answer = b""
        assert answer == b"" and not os.path.exists(marker)
        wait_until(lambda: node.health().status == 200, 5, what="the node still serving")


def test_a_raft_port_on_a_loopback_address_listens_on_that_address_only(tmp_path):
    """pysyncobj listened on 0.0.0.0 whatever --raft said: a node told to keep Raft on 127.0.0.1
    (where a secret is optional) was reachable from every network of the host. 127.0.0.2 is
    another address of the same host, so a connection there shows it without leaving loopback."""
    with Cluster(tmp_path, size=1) as cluster:
        node = cluster.nodes[0]
        socket.create_connection(("127.0.0.1", node.raft_port), timeout=5).close()
        try:
            socket.create_connection(("127.0.0.2", node.raft_port), timeout=5).close()
        except ConnectionRefusedError:
            pass
        else:
            raise AssertionError("the Raft port answered on 127.0.0.2, an address --raft did not name")
