"""The soak's fd split (loadtests/soak/probe.py): the load's connections apart from the node's own fds.

Real sockets on loopback, in this process and in a child holding the client
end: a connection counts as the load's only while the given client process
holds its other end open; once the client closes, the server's socket
(CLOSE_WAIT) is the node's own again, so a socket the node forgets to close
cannot hide among the connections.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from loadtests.soak import probe
from tests.support.cluster import wait_until


def _listener() -> socket.socket:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    return srv


def test_a_connection_held_by_the_client_process_is_the_loads():
    srv = _listener()
    port = srv.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    try:
        row = probe.process(os.getpid(), port, os.getpid())
        assert row["http_conns"] == 1
        assert row["fds_own"] == row["fds"] - 1
        client.close()  # the server's end is now CLOSE_WAIT: the node's to close, so its own
        wait_until(lambda: probe.process(os.getpid(), port, os.getpid())["http_conns"] == 0, 10,
                   what="the closed connection left the load's count")
        after = probe.process(os.getpid(), port, os.getpid())
        assert after["fds_own"] == after["fds"]
    finally:
        conn.close()
        srv.close()


def test_only_the_named_client_process_counts():
    srv = _listener()
    port = srv.getsockname()[1]
    child = subprocess.Popen([sys.executable, "-c", (
        "import socket, sys; s = socket.create_connection(('127.0.0.1', %d)); print('up', flush=True); "
        "sys.stdin.read()") % port], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "up"
        conn, _ = srv.accept()
        assert probe.process(os.getpid(), port, child.pid)["http_conns"] == 1
        assert probe.process(os.getpid(), port, os.getpid())["http_conns"] == 0  # we do not hold the other end
        assert probe.process(os.getpid(), port + 1 if port < 65535 else port - 1, child.pid)["http_conns"] == 0
        conn.close()
    finally:
        child.stdin.close()
        child.wait(10)
        srv.close()


def test_without_a_port_there_is_no_split():
    row = probe.process(os.getpid())
    assert set(row) == {"rss_mb", "fds", "threads", "age_min"} and 0 <= row["age_min"] < 60
    assert probe.process(2 ** 22 + 12345) is None  # no such process
