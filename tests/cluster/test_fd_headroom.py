"""A node under a low descriptor limit keeps its own files when idle connections pile up (issue 10, point 10).

With RLIMIT_NOFILE at 64, 80 idle connections made every snapshot and meta
write fail with EMFILE. Now connections that would eat into ``fd_headroom``
are closed at once.
"""

import http.client
import json
import os
import socket
import sys

import pytest

from tests.support.cluster import Cluster, wait_until

pytestmark = pytest.mark.cluster

# Generous: a deadline is how long to wait at most, and CI's two shared cores run
# other clusters beside this one (a 10 s deadline failed there once).
DEADLINE = 30

# The node, with its descriptor limit lowered to 64 before it starts.
LOW_FD_LAUNCHER = [sys.executable, "-c",
                   "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)); "
                   "sys.argv = ['manifest_node', *sys.argv[1:]]; runpy.run_module('manifest_node', run_name='__main__')"]


def register(conn: http.client.HTTPConnection, iid: str) -> int:
    conn.request("POST", "/v1/services", json.dumps({"name": "web", "id": iid}),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def metric(conn: http.client.HTTPConnection, line: str) -> float:
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    return next((float(r.split()[-1]) for r in text.splitlines() if r.startswith(line + " ")), 0.0)


def test_idle_connections_cannot_starve_the_nodes_own_files(tmp_path):
    cluster = Cluster(tmp_path, size=1, launcher=LOW_FD_LAUNCHER,
                      extra=["--fd-headroom", "24", "--compaction-entries", "5", "--compaction-interval", "1"])
    cluster.start()
    node = cluster.nodes[0]
    idle: list[socket.socket] = []
    try:
        ours = http.client.HTTPConnection("127.0.0.1", node.api_port, timeout=DEADLINE)
        assert register(ours, "first") == 201
        for _ in range(80):
            idle.append(socket.create_connection(("127.0.0.1", node.api_port), timeout=5))
        # Some were taken, the rest closed at once; none may cost the node its descriptors.
        wait_until(lambda: metric(ours, 'manifest_limit_refusals_total{limit="fd_headroom"}') > 0, DEADLINE,
                   what="connections refused for fd headroom")
        for i in range(30):  # 30 writes: a snapshot every 5 entries, and the meta file each term
            assert register(ours, f"w{i}") == 201
        wait_until(lambda: os.path.exists(os.path.join(node.data_dir, "raft.snapshot")), DEADLINE, what="a snapshot")
        log = node.log_text()
        assert "Too many open files" not in log and "EMFILE" not in log and "Traceback" not in log, log[-3000:]
        for s in idle:
            s.close()
        idle.clear()

        def fresh_connection_served():
            conn = http.client.HTTPConnection("127.0.0.1", node.api_port, timeout=5)
            try:
                conn.request("GET", "/v1/health")
                return conn.getresponse().status == 200
            finally:
                conn.close()

        wait_until(fresh_connection_served, DEADLINE, what="a new connection served once the idle ones left")
    finally:
        for s in idle:
            s.close()
        cluster.stop()
