"""gRPC test servers with no protobufs: each answers ``/test.Echo/Who`` with its own id, as raw bytes.

For the xDS tests and the push-latency script: registered as instances of a
service, they show which instance a real gRPC client's call reached.
"""

from __future__ import annotations

from concurrent import futures

import grpc

from .cluster import free_port

METHOD = "/test.Echo/Who"


class Backend:
    def __init__(self, ident: str):
        self.id = ident
        self.port = free_port()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        answer = ident.encode()
        # No (de)serializers: the request and the answer are the bytes on the wire.
        handler = grpc.unary_unary_rpc_method_handler(lambda request, context: answer)
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", {"Who": handler}),))
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")

    def __enter__(self) -> "Backend":
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.stop(grace=None)
