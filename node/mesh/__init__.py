"""The xDS feed: Envoy's v3 discovery API (LDS, RDS, CDS, EDS over ADS) from this node's state.

    resources.py   registry records -> Envoy protos (pure)
    catalog.py     the resources of this node's applied state, cached per service revision
    stream.py      one ADS stream's subscriptions, versions, nonces, ACK/NACK (no I/O)
    ads.py         the gRPC servicer: streams, and pushes from the store's listener
    server.py      gRPC's asyncio server on the node's loop, TLS, metrics

Needs the ``mesh`` extra (grpcio, xds-protos); docs/mesh.md.
"""

from __future__ import annotations

from ..errors import StartupError


def xds_server(store, cfg, registry):
    """The node's XdsServer; a StartupError naming the extra when its packages are missing."""
    try:
        from .server import XdsServer
    except ImportError as exc:
        raise StartupError(f"xds: the xDS server needs the 'mesh' extra (pip install 'chora-manifest[mesh]'): "
                           f"{exc}") from None
    return XdsServer(store, cfg, registry)
