"""The one name node/server.py imports from node/mesh/: the xDS server, without importing gRPC first."""

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
