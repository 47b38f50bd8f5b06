"""The GraphQL API at ``/v1/graphql`` (docs/graphql.md): one more view over the store Protocol.

    endpoint.py      ``setup(app, cfg)``: the schema with this node's limits, and its sockets
    schema.py        root fields and their permissions; ``build(...)``, ``sdl()``
    types.py         records, pages, cluster, change events
    services.py      services and the dependency graph: the links a query walks
    resolvers.py     the reads, through params.py and the REST handlers' own functions
    subscriptions.py the ``changes`` stream, from the watch history and ChangeHub
    limits.py        depth, cost and alias limits, checked before a query runs
    view.py          GraphQL over HTTP (POST, GET)
    sockets.py       GraphQL over WebSocket (graphql-transport-ws, graphql-ws), the token in connection_init
    protocols.py     strawberry's protocol handlers, with client messages checked first
"""
