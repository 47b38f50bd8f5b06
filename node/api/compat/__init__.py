"""Other registries' protocols as views over the same replicated registry.

Consul's service API (consul*.py), Prometheus service discovery
(prometheus_sd.py) and Eureka's REST API (eureka*.py) use only the store
Protocol and fsm queries, as our own handlers do: every write is a
REGISTER, HEARTBEAT or DEREGISTER command with our validation, every
instance expires on the leader's clock. routes.py declares each route and the
permission it needs; mount.py hands them to node/api/app.py, which wraps them
once at start-up like ours. This package file imports nothing, so that the
modules can import each other through it without a cycle.
"""
