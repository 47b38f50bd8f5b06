"""A gRPC client that resolves ``xds:///SERVICE`` through a bootstrap file, calling without pause.

    GRPC_XDS_BOOTSTRAP=bootstrap.json python -m tests.support.xds_caller SERVICE [--every 0.005]

gRPC's own xDS resolver and load balancer (nothing of Manifest's): each call's
answer (the backend's id, tests/support/grpc_backends.py) is printed as
``ok <CLOCK_MONOTONIC seconds> <id>``, a failure as ``err <seconds> <code>``,
one line each, flushed, until stdin closes or the process is ended. The
environment variable must be set before grpc loads, hence a process of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time


def bootstrap(path: str, xds_address: str, node_id: str = "xds-test-client", tls: dict | None = None) -> str:
    """Write gRPC's xDS bootstrap file: one ADS server (Manifest's xDS address), plaintext, or
    TLS with ``tls`` as the creds' config (ca_certificate_file, certificate_file, private_key_file)."""
    creds = {"type": "tls", "config": tls} if tls is not None else {"type": "insecure"}
    with open(path, "w") as f:
        json.dump({"xds_servers": [{"server_uri": xds_address, "channel_creds": [creds],
                                    "server_features": ["xds_v3"]}],
                   "node": {"id": node_id, "locality": {"zone": "test"}}}, f)
    return path


class Caller:
    """The caller as a subprocess of a test: ``calls`` fills with (monotonic s, id or None) as they end."""

    def __init__(self, service: str, bootstrap_path: str, every: float = 0.005):
        env = {**os.environ, "GRPC_XDS_BOOTSTRAP": bootstrap_path}
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.xds_caller", service, "--every", str(every)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env, cwd=root)
        self.calls: list[tuple[float, str | None]] = []
        self.errors: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            kind, at, what = line.split(maxsplit=2)
            what = what.strip()
            if kind == "err":
                self.errors.append(what)
            self.calls.append((float(at), what if kind == "ok" else None))

    def since(self, t: float) -> list[str | None]:
        """What each call that ended after monotonic time ``t`` reached (None: failed)."""
        return [who for at, who in list(self.calls) if at > t]

    def first_after(self, t: float, ident: str) -> float | None:
        """When the first call after ``t`` that reached ``ident`` ended."""
        return next((at for at, who in list(self.calls) if at > t and who == ident), None)

    def close(self) -> str:
        """Stop the caller; its stderr (gRPC's own complaints, for failure messages)."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.stderr.read()[-4000:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("service")
    parser.add_argument("--every", type=float, default=0.005, help="seconds between calls")
    args = parser.parse_args()
    if not os.environ.get("GRPC_XDS_BOOTSTRAP"):
        sys.exit("GRPC_XDS_BOOTSTRAP is not set")
    import grpc  # after the environment is in place

    from .grpc_backends import METHOD

    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    channel = grpc.insecure_channel(f"xds:///{args.service}")
    who = channel.unary_unary(METHOD)  # no serializers: bytes in, bytes out
    while not stop.is_set():
        try:
            answer = who(b"", timeout=2.0, wait_for_ready=True)
            line = f"ok {time.monotonic():.6f} {answer.decode()}"
        except grpc.RpcError as exc:
            line = f"err {time.monotonic():.6f} {exc.code().name}"
        print(line, flush=True)
        if args.every:
            time.sleep(args.every)
    channel.close()


if __name__ == "__main__":
    main()
