"""The xDS server's life: gRPC's asyncio server on the node's event loop, its TLS, its metrics.

Started after the API listener by node/server.py (as the DNS server is) and
stopped before it; the ADS servicer listens to the store's applied entries
from the start, so no change between its first read and its first push is lost.
TLS: the node's --tls-cert/--tls-key (read at start; a renewed certificate
takes a restart of the xDS listener's node), and with --tls-client-ca, client
certificates as --tls-client-auth says.
"""

from __future__ import annotations

import logging

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc
from prometheus_client import Counter, Gauge

from ..config import NodeConfig
from ..errors import StartupError
from . import resources as res
from .ads import AdsServicer
from .catalog import Catalog

log = logging.getLogger("manifest.mesh")

_SHORT = {res.LISTENER: "lds", res.ROUTE: "rds", res.CLUSTER: "cds", res.ENDPOINT: "eds"}
# A dead client's stream ends within a minute or so instead of never.
_OPTIONS = [("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.max_receive_message_length", 4 << 20)]


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


def server_credentials(cfg: NodeConfig):
    """TLS credentials from the node's certificate files, or None (plaintext: loopback only,
    as NodeConfig.validate ensures)."""
    if not cfg.tls_cert:
        return None
    try:
        chain, key = _read(cfg.tls_cert), _read(cfg.tls_key)
        client_ca = _read(cfg.tls_client_ca) if cfg.tls_client_ca else None
    except OSError as exc:
        raise StartupError(f"xds: cannot read the TLS files (tls_cert/tls_key/tls_client_ca): {exc.strerror}") from None
    return grpc.ssl_server_credentials([(key, chain)], root_certificates=client_ca,
                                       require_client_auth=bool(client_ca) and cfg.tls_client_auth == "required")


class XdsServer:
    def __init__(self, store, cfg: NodeConfig, registry):
        self._store, self._cfg = store, cfg
        self.metrics = XdsMetrics(registry)
        self.servicer = AdsServicer(Catalog(store), self.metrics, ready=lambda: store.status().ready)
        self._server = None
        self.port = None

    async def start(self) -> None:
        host, port = self._cfg.xds_address
        credentials = server_credentials(self._cfg)
        self._store.add_listener(self.servicer.on_events, on_restore=self.servicer.on_restore)
        self._server = grpc.aio.server(options=_OPTIONS)
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
