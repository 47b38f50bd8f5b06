"""The xDS server's life: gRPC's asyncio server on the node's event loop, its TLS, its metrics.

Started after the API listener by node/server.py (as the DNS server is) and
stopped before it; the ADS servicer listens to the store's applied entries
from the start, so no change between its first read and its first push is lost.
TLS: the node's --tls-cert/--tls-key, read again for new connections when the
files change (``Certificates``), and with --tls-client-ca, client certificates
as --tls-client-auth says. Plaintext only on loopback (NodeConfig.validate).
"""

from __future__ import annotations

import logging
import os
import ssl

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc
from prometheus_client import Counter, Gauge

from ..config import NodeConfig
from ..errors import StartupError
from . import resources as res
from .ads import AdsServicer
from .catalog import Catalog

log = logging.getLogger("manifest.mesh")

# Open streams per node: each holds a task, its subscriptions and a connection; past this gRPC
# refuses a new one with RESOURCE_EXHAUSTED (a client retries, or goes to another node).
MAX_STREAMS = 1024
_SHORT = {res.LISTENER: "lds", res.ROUTE: "rds", res.CLUSTER: "cds", res.ENDPOINT: "eds"}
# A dead client's stream ends within a minute or so instead of never.
_OPTIONS = [("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.max_receive_message_length", 4 << 20),
            # gRPC binds with SO_REUSEPORT by default: a second node given the same --xds would
            # share the port and take half the clients instead of failing to start.
            ("grpc.so_reuseport", 0)]


class XdsMetrics:
    def __init__(self, registry):
        self.streams = Gauge("manifest_xds_streams", "Open xDS (ADS) streams of this node", registry=registry)
        self._pushes = Counter("manifest_xds_pushes", "xDS responses sent, by resource type",
                               ["type"], registry=registry)
        self._nacks = Counter("manifest_xds_nacks", "xDS responses a client refused (NACK), by resource type",
                              ["type"], registry=registry)

    def pushed(self, type_url: str) -> None:
        self._pushes.labels(_SHORT.get(type_url, "other")).inc()

    def nacked(self, type_url: str) -> None:
        self._nacks.labels(_SHORT.get(type_url, "other")).inc()


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class Certificates:
    """The node's TLS files as gRPC server credentials, read again when one of them changes.

    gRPC asks ``fetch`` before each new connection's handshake: a changed file
    (renewed by whoever renews the API's, which node/tls.py reloads in place)
    is loaded for the connections that follow, open streams keep theirs. A pair
    that does not load (a half-copied key) is logged and the old one kept."""

    def __init__(self, cfg: NodeConfig):
        self._cert, self._key, self._ca = cfg.tls_cert, cfg.tls_key, cfg.tls_client_ca
        self._stamp = self._mtimes()
        self.reloads = 0
        try:
            initial = self._configuration()
        except (OSError, ssl.SSLError) as exc:
            raise StartupError(f"xds: cannot load the TLS files (tls_cert/tls_key/tls_client_ca): {exc}") from None
        self.credentials = grpc.dynamic_ssl_server_credentials(
            initial, self.fetch,
            require_client_authentication=bool(self._ca) and cfg.tls_client_auth == "required")

    def _mtimes(self) -> tuple:
        out = []
        for path in (self._cert, self._key, self._ca):
            try:
                st = os.stat(path) if path else None
                out.append((st.st_mtime_ns, st.st_size, st.st_ino) if st else None)
            except OSError:
                out.append(None)
        return tuple(out)

    def _configuration(self):
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(self._cert, self._key)  # a matching pair?
        chain, key = _read(self._cert), _read(self._key)
        client_ca = _read(self._ca) if self._ca else None
        return grpc.ssl_server_certificate_configuration([(key, chain)], root_certificates=client_ca)

    def fetch(self):
        """A new configuration when a file changed, else None (gRPC keeps the one it has)."""
        stamp = self._mtimes()
        if stamp == self._stamp:
            return None
        self._stamp = stamp  # a broken file is tried again when it changes, not on every connection
        try:
            configuration = self._configuration()
        except (OSError, ssl.SSLError) as exc:
            log.error("xDS TLS files did not load; still serving the previous certificate: %s", exc)
            return None
        self.reloads += 1
        log.info("xDS TLS certificate reloaded", extra={"cert": self._cert})
        return configuration


class XdsServer:
    def __init__(self, store, cfg: NodeConfig, registry):
        self._store, self._cfg = store, cfg
        self.metrics = XdsMetrics(registry)
        self.servicer = AdsServicer(Catalog(store, cfg.region), self.metrics, ready=lambda: store.status().ready)
        self._server = None
        self.port = None

    async def start(self) -> None:
        host, port = self._cfg.xds_address
        credentials = Certificates(self._cfg).credentials if self._cfg.tls_cert else None
        self._store.add_listener(self.servicer.on_events, on_restore=self.servicer.on_restore)
        self._server = grpc.aio.server(options=_OPTIONS, maximum_concurrent_rpcs=MAX_STREAMS)
        ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(self.servicer, self._server)
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if credentials is None:
                self.port = self._server.add_insecure_port(where)
            else:
                self.port = self._server.add_secure_port(where, credentials)
        except RuntimeError as exc:  # grpc's way of saying the port could not be bound
            raise StartupError(f"cannot listen on the xDS address {self._cfg.xds} (xds): {exc}") from None
        await self._server.start()
        log.info("xDS listening", extra={"xds": where, "tls": credentials is not None,
                                         "mtls": bool(self._cfg.tls_client_ca)})

    async def stop(self) -> None:
        self.servicer.close()
        if self._server is not None:
            await self._server.stop(grace=1.0)
