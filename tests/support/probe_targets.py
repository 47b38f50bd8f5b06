"""Things for health checks to probe in tests: an HTTP server that records who probed it, and a gRPC one.

``HttpTarget`` answers ``GET`` with ``status`` (settable) and records
``(monotonic time, User-Agent)`` of each probe, so a test can tell which
node probed when (the prober sends ``manifest-check/<node id>``).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HttpTarget:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.status = 200
        self.hits: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                with target._lock:
                    target.hits.append((time.monotonic(), self.headers.get("User-Agent", "")))
                self.send_response(target.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}/health"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def probers(self, since: float = 0.0) -> list[tuple[float, str]]:
        with self._lock:
            return [(t, ua.removeprefix("manifest-check/")) for t, ua in self.hits if t >= since]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class GrpcTarget:
    """A gRPC server with the standard health service; ``set(serving)`` flips its answer."""

    def __init__(self, service: str = "demo.Echo") -> None:
        from concurrent import futures

        import grpc
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc

        self._pb = health_pb2
        self.service = service
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.set(True)

    def set(self, serving: bool) -> None:
        status = self._pb.HealthCheckResponse.SERVING if serving else self._pb.HealthCheckResponse.NOT_SERVING
        self.health.set(self.service, status)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}/{self.service}"

    def close(self) -> None:
        self.server.stop(0)
