"""The fault proxy on loopback: pass, delay, blackhole (held, then delivered) and reset."""

import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.chaos.cluster import ROOT, free_port


@pytest.fixture
def echo_port():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield port
    srv.close()


def _echo(conn):
    with conn:
        try:
            while data := conn.recv(4096):
                conn.sendall(data)
        except OSError:  # the reset test aborts connections on purpose
            pass


@pytest.fixture
def proxy(echo_port):
    proc = subprocess.Popen([sys.executable, "-m", "tests.chaos.proxy"], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    port = free_port()

    def cmd(**kw):
        proc.stdin.write(json.dumps(kw) + "\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ok"

    cmd(op="listen", link="a>b", listen=f"127.0.0.1:{port}", target=f"127.0.0.1:{echo_port}")
    yield port, cmd
    proc.stdin.close()  # end of input stops the proxy
    proc.wait(10)


def roundtrip(sock, payload=b"x"):
    started = time.monotonic()
    sock.sendall(payload)
    assert sock.recv(100) == payload
    return time.monotonic() - started


def test_pass_and_delay(proxy):
    port, cmd = proxy
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        assert roundtrip(s) < 0.1
        cmd(op="set", link="a>b", mode="pass", delay_ms=150)
        assert 0.28 < roundtrip(s) < 1.0  # both directions delayed


def test_blackhole_holds_bytes_until_the_link_passes(proxy):
    port, cmd = proxy
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        roundtrip(s)
        cmd(op="set", link="a>b", mode="blackhole")
        s.sendall(b"held")
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            s.recv(100)
        cmd(op="set", link="a>b", mode="pass")
        s.settimeout(5)
        assert s.recv(100) == b"held"


def test_reset_aborts_connections_and_refuses_new_ones(proxy):
    port, cmd = proxy
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        roundtrip(s)
        cmd(op="set", link="a>b", mode="reset")
        with pytest.raises(OSError):
            s.sendall(b"x")
            time.sleep(0.1)
            if not s.recv(100):
                raise ConnectionResetError
    with pytest.raises(OSError):  # refused while resetting: at connect, send or receive
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s2:
            s2.sendall(b"x")
            if not s2.recv(100):
                raise ConnectionResetError
