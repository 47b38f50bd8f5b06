"""Federation across regions (issue 18): each region is its own Raft cluster; reads may be served by another.

Writes never cross regions. ``settings`` parses the configuration (pure),
``directory`` keeps each remote region's nodes with their health and
round-trip time, ``prober`` refreshes them in the background, ``forward``
sends a read to a healthy node of a region with failover among its nodes,
``stream`` follows a remote watch, ``merge`` joins ``?region=*`` answers and
``policy`` orders the regions discovery falls back to. ``service`` puts
them together for the API (node/api/federated.py). Nothing here imports
consensus: a remote region is only ever an HTTP endpoint.
"""
