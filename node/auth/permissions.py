"""The one table of who may do what: each route's permission, and each role's permissions.

``ROUTES`` declares every route of the public API; ``api/app.py`` refuses to
start with a route missing from it (deny by default), and the auth matrix
test (tests/api/test_auth_matrix.py) derives every role's expected answer
on every route from these same two tables.

``kind`` says how a route is counted: writes are audited and rate-limited as
writes, ``expensive`` reads (full lists, watch streams) by their own bucket,
``cheap`` reads not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..fsm.tokens import ROLES


class P(StrEnum):
    PUBLIC = "public"  # no token: health, the dashboard's files, the API description
    INTERNAL = "internal"  # node to node: the cluster signature instead (api/internal.py)
    READ = "services.read"
    WATCH = "services.watch"
    CLUSTER = "cluster.view"
    METRICS = "metrics.read"
    REGISTER = "instances.register"
    HEARTBEAT = "instances.heartbeat"
    DEREGISTER = "instances.deregister"
    DRAIN = "instances.drain"  # a service token drains its own instances (scoped), an operator any
    MAINTENANCE = "instances.maintenance"
    TOKENS = "tokens.manage"
    MEMBERSHIP = "cluster.membership"  # manifest cluster add|remove (api/membership.py)
    SNAPSHOTS = "snapshots"  # manifest snapshot save|restore (api/snapshot.py)


CHEAP, EXPENSIVE, WRITE = "cheap", "expensive", "write"


@dataclass(frozen=True, slots=True)
class Rule:
    permission: P
    kind: str = CHEAP
    # The registry whose API the route emulates (COMPAT_ROUTES): its clients' way of sending a
    # token is accepted too, and the OpenAPI description, which is ours, leaves the route out.
    protocol: str | None = None
    # A WebSocket upgrade without credentials is let through (rate-limited by address): the
    # protocol's own handshake brings the token, and the handler checks it (api/graphql/sockets.py).
    socket_auth: bool = False

    @property
    def write(self) -> bool:
        return self.kind == WRITE


_READING = frozenset({P.READ, P.WATCH, P.CLUSTER})
# Every role may read /v1/cluster: the client learns the other members' URLs there for failover.
ROLE_PERMISSIONS: dict[str, frozenset[P]] = {
    "read": _READING | {P.METRICS},
    "service": _READING | {P.REGISTER, P.HEARTBEAT, P.DEREGISTER, P.DRAIN},
    "operator": _READING | {P.METRICS, P.DEREGISTER, P.DRAIN, P.MAINTENANCE},
    "admin": frozenset(P) - {P.PUBLIC, P.INTERNAL},
}
# Not a token role (nobody can mint it): what the shared federation token of another region
# (X-Manifest-Federation-Token, node/federation/) may do. Reads only, never a write.
FEDERATION_ROLE = "federation"
FEDERATION_PERMISSIONS = _READING
# Roles whose writes are limited to their token's service patterns and own instances.
SCOPED_ROLES = frozenset({"service"})
assert set(ROLE_PERMISSIONS) == set(ROLES)

ROUTES: dict[tuple[str, str], Rule] = {
    ("GET", "/v1/services/{name}"): Rule(P.READ),
    ("POST", "/v1/services"): Rule(P.REGISTER, WRITE),
    ("GET", "/v1/services"): Rule(P.READ, EXPENSIVE),
    ("GET", "/v1/services/{name}/{id}"): Rule(P.READ),
    ("PUT", "/v1/services/{name}/{id}/heartbeat"): Rule(P.HEARTBEAT, WRITE),
    ("POST", "/v1/services/batch"): Rule(P.REGISTER, WRITE),
    ("POST", "/v1/heartbeats"): Rule(P.HEARTBEAT, WRITE),
    ("DELETE", "/v1/services/{name}/{id}"): Rule(P.DEREGISTER, WRITE),
    ("PUT", "/v1/services/{name}/{id}/drain"): Rule(P.DRAIN, WRITE),
    ("DELETE", "/v1/services/{name}/{id}/drain"): Rule(P.DRAIN, WRITE),
    ("PUT", "/v1/services/{name}/{id}/maintenance"): Rule(P.MAINTENANCE, WRITE),
    ("DELETE", "/v1/services/{name}/{id}/maintenance"): Rule(P.MAINTENANCE, WRITE),
    ("GET", "/v1/graph"): Rule(P.READ, EXPENSIVE),
    ("GET", "/v1/graph/impact/{name}"): Rule(P.READ),
    ("GET", "/v1/health"): Rule(P.PUBLIC),
    ("GET", "/v1/health/live"): Rule(P.PUBLIC),
    ("GET", "/v1/cluster"): Rule(P.CLUSTER),
    ("POST", "/v1/cluster/members"): Rule(P.MEMBERSHIP, WRITE),
    ("DELETE", "/v1/cluster/members/{node}"): Rule(P.MEMBERSHIP, WRITE),
    ("GET", "/v1/watch"): Rule(P.WATCH, EXPENSIVE),
    ("GET", "/metrics"): Rule(P.METRICS),
    ("POST", "/v1/tokens"): Rule(P.TOKENS, WRITE),
    ("GET", "/v1/tokens"): Rule(P.TOKENS),
    ("DELETE", "/v1/tokens/{id}"): Rule(P.TOKENS, WRITE),
    ("POST", "/v1/tokens/{id}/rotate"): Rule(P.TOKENS, WRITE),
    ("GET", "/v1/openapi.json"): Rule(P.PUBLIC),
    ("GET", "/v1/snapshot"): Rule(P.SNAPSHOTS, EXPENSIVE),
    ("POST", "/v1/snapshot/restore"): Rule(P.SNAPSHOTS, WRITE),
    ("POST", "/v1/internal/propose"): Rule(P.INTERNAL),
    ("POST", "/v1/internal/read-index"): Rule(P.INTERNAL),
    ("POST", "/v1/internal/join"): Rule(P.INTERNAL),
    ("POST", "/v1/internal/membership"): Rule(P.INTERNAL),
    # GraphQL (api/graphql/): each root field checks its own permission (services.read, cluster.view,
    # services.watch); the route asks for what every GraphQL operation needs at least.
    ("POST", "/v1/graphql"): Rule(P.READ, EXPENSIVE),
    ("GET", "/v1/graphql"): Rule(P.READ, EXPENSIVE, socket_auth=True),
    ("GET", "/ui"): Rule(P.PUBLIC),
    ("GET", "/ui/"): Rule(P.PUBLIC),
    ("GET", "/ui/{path:.+}"): Rule(P.PUBLIC),
}

# ---- The compatibility views (node/api/compat/, issue 14), one block merged into ROUTES ----------
# Their writes are ours under other names (a Consul TTL check passing is a heartbeat, a Eureka
# cancel a deregistration) and need the same permissions; handlers scope them to a service
# token's patterns once they know the service (api/compat/access.py).
CONSUL, EUREKA = "consul", "eureka"  # X-Consul-Token (or Bearer); Basic auth with the token as password
COMPAT_ROUTES: dict[tuple[str, str], Rule] = {
    ("GET", "/v1/health/service/{name}"): Rule(P.READ, CHEAP, CONSUL),
    ("GET", "/v1/catalog/service/{name}"): Rule(P.READ, CHEAP, CONSUL),
    ("GET", "/v1/catalog/services"): Rule(P.READ, EXPENSIVE, CONSUL),
    ("GET", "/v1/health/checks/{name}"): Rule(P.READ, CHEAP, CONSUL),
    ("GET", "/v1/catalog/datacenters"): Rule(P.READ, CHEAP, CONSUL),
    ("GET", "/v1/agent/services"): Rule(P.READ, EXPENSIVE, CONSUL),
    ("GET", "/v1/agent/checks"): Rule(P.READ, EXPENSIVE, CONSUL),
    ("GET", "/v1/agent/self"): Rule(P.CLUSTER, CHEAP, CONSUL),
    ("GET", "/v1/status/leader"): Rule(P.CLUSTER, CHEAP, CONSUL),
    ("GET", "/v1/status/peers"): Rule(P.CLUSTER, CHEAP, CONSUL),
    ("PUT", "/v1/agent/service/register"): Rule(P.REGISTER, WRITE, CONSUL),
    ("PUT", "/v1/agent/service/deregister/{id}"): Rule(P.DEREGISTER, WRITE, CONSUL),
    ("PUT", "/v1/agent/service/maintenance/{id}"): Rule(P.MAINTENANCE, WRITE, CONSUL),
    ("PUT", "/v1/agent/check/pass/{check_id}"): Rule(P.HEARTBEAT, WRITE, CONSUL),
    ("PUT", "/v1/agent/check/warn/{check_id}"): Rule(P.HEARTBEAT, WRITE, CONSUL),
    ("PUT", "/v1/agent/check/fail/{check_id}"): Rule(P.HEARTBEAT, WRITE, CONSUL),
    ("PUT", "/v1/agent/check/update/{check_id}"): Rule(P.HEARTBEAT, WRITE, CONSUL),
    ("GET", "/v1/sd/prometheus"): Rule(P.READ, EXPENSIVE),  # ours: Prometheus sends Bearer
    ("GET", "/eureka/apps/delta"): Rule(P.READ, EXPENSIVE, EUREKA),
    ("GET", "/eureka/apps/{app}"): Rule(P.READ, CHEAP, EUREKA),
    ("GET", "/eureka/apps"): Rule(P.READ, EXPENSIVE, EUREKA),
    ("GET", "/eureka/apps/"): Rule(P.READ, EXPENSIVE, EUREKA),
    ("GET", "/eureka/apps/{app}/{id}"): Rule(P.READ, CHEAP, EUREKA),
    ("GET", "/eureka/instances/{id}"): Rule(P.READ, CHEAP, EUREKA),
    ("POST", "/eureka/apps/{app}"): Rule(P.REGISTER, WRITE, EUREKA),
    ("PUT", "/eureka/apps/{app}/{id}"): Rule(P.HEARTBEAT, WRITE, EUREKA),
    ("DELETE", "/eureka/apps/{app}/{id}"): Rule(P.DEREGISTER, WRITE, EUREKA),
    ("PUT", "/eureka/apps/{app}/{id}/status"): Rule(P.HEARTBEAT, WRITE, EUREKA),
    ("DELETE", "/eureka/apps/{app}/{id}/status"): Rule(P.HEARTBEAT, WRITE, EUREKA),
}
assert not set(COMPAT_ROUTES) & set(ROUTES), "a compatibility route shadows one of ours"
ROUTES.update(COMPAT_ROUTES)

# What no route matched: a token is still needed, so an anonymous caller learns nothing of the routes.
UNMATCHED = Rule(P.READ)


def allows(role: str, permission: P) -> bool:
    if role == FEDERATION_ROLE:
        return permission is P.PUBLIC or permission in FEDERATION_PERMISSIONS
    return permission is P.PUBLIC or permission in ROLE_PERMISSIONS.get(role, ())
