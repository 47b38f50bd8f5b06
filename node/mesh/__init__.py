"""The xDS feed: Envoy's v3 discovery API (LDS, RDS, CDS, EDS over ADS) from this node's state.

    resources.py   registry records -> Envoy protos (pure)
    catalog.py     the resources of this node's applied state, cached per service revision
    stream.py      one ADS stream's subscriptions, versions, nonces, ACK/NACK (no I/O)
    ads.py         the gRPC servicer: streams, and pushes from the store's listener
    server.py      gRPC's asyncio server on the node's loop, TLS, metrics
    launch.py      what node/server.py calls: the server, or why it cannot run

Needs the ``mesh`` extra (grpcio, xds-protos); docs/mesh.md.
"""

