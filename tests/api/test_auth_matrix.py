"""Every role on every route, with the answer derived from auth/permissions.py (issue 12).

The expected status of each (caller, route) pair comes from the same two
tables the node's routes are guarded with (``ROUTES`` and
``ROLE_PERMISSIONS``): a valid request to a route a caller's role allows
gets the route's success status, one it does not allow gets 403, and a
caller without a valid token gets 401, except on public routes. A route
added to the app without a row in ``ROUTES`` stops the app from starting,
and one without a sample request here fails ``test_every_route_has_a_sample``.
"""

import pytest

from manifest_node.api import app as app_mod
from manifest_node.api.app import create_app
from manifest_node.auth.permissions import P, ROLE_PERMISSIONS, ROUTES, allows
from manifest_node.config import NodeConfig
from manifest_node.fsm import commands as C
from tests.support.auth import BOOTSTRAP, add_token, bearer
from tests.support.fake_store import FakeStore

SECRET = "a-cluster-secret-of-32-bytes-yes"
# "federation": another region's node with the shared federation token (X-Manifest-Federation-Token):
# reads only, whatever the route (permissions.FEDERATION_PERMISSIONS).
CALLERS = ("none", "bad", "read", "service", "operator", "admin", "bootstrap", "federation")
FEDERATION_TOKEN = "a-federation-token-of-32-bytes-x"

# (path to send, JSON body, success status) per route; {spare} is a token the request may rotate or revoke.
SAMPLES = {
    ("GET", "/v1/services/{name}"): ("/v1/services/web", None, 200),
    ("POST", "/v1/services"): ("/v1/services", {"name": "web", "id": "w2"}, 201),
    ("GET", "/v1/services"): ("/v1/services", None, 200),
    ("GET", "/v1/services/{name}/{id}"): ("/v1/services/web/w1", None, 200),
    ("PUT", "/v1/services/{name}/{id}/heartbeat"): ("/v1/services/web/w1/heartbeat", None, 200),
    ("POST", "/v1/heartbeats"): ("/v1/heartbeats", {"heartbeats": [{"name": "web", "id": "w1"}]}, 200),
    ("DELETE", "/v1/services/{name}/{id}"): ("/v1/services/web/w1", None, 200),
    ("POST", "/v1/services/batch"): ("/v1/services/batch", {"instances": [{"name": "web", "id": "w3"},
                                                                          {"name": "web-eu", "id": "e1"}]}, 201),
    ("PUT", "/v1/services/{name}/{id}/drain"): ("/v1/services/web/w1/drain", {"deadline": 60}, 200),
    ("DELETE", "/v1/services/{name}/{id}/drain"): ("/v1/services/web/w1/drain", None, 200),
    ("PUT", "/v1/services/{name}/{id}/maintenance"): ("/v1/services/web/w1/maintenance", {"reason": "disk"}, 200),
    ("DELETE", "/v1/services/{name}/{id}/maintenance"): ("/v1/services/web/w1/maintenance", None, 200),
    ("GET", "/v1/graph"): ("/v1/graph", None, 200),
    ("GET", "/v1/graph/impact/{name}"): ("/v1/graph/impact/web?id=w1", None, 200),
    ("GET", "/v1/health"): ("/v1/health", None, 200),
    ("GET", "/v1/cluster"): ("/v1/cluster", None, 200),
    # The fake store has no Raft: a permitted change reaches it and is refused there (409).
    ("POST", "/v1/cluster/members"): ("/v1/cluster/members", {"raft": "127.0.0.1:9", "api": "http://127.0.0.1:8"},
                                      409),
    ("DELETE", "/v1/cluster/members/{node}"): ("/v1/cluster/members/n1", None, 409),
    ("GET", "/v1/watch"): ("/v1/watch?since=0", None, 200),
    ("GET", "/metrics"): ("/metrics", None, 200),
    ("POST", "/v1/tokens"): ("/v1/tokens", {"role": "read", "ttl": "90d"}, 201),
    ("GET", "/v1/tokens"): ("/v1/tokens", None, 200),
    ("DELETE", "/v1/tokens/{id}"): ("/v1/tokens/{spare}", None, 200),
    ("POST", "/v1/tokens/{id}/rotate"): ("/v1/tokens/{spare}/rotate", None, 200),
    ("GET", "/v1/openapi.json"): ("/v1/openapi.json", None, 200),
    ("GET", "/v1/health/live"): ("/v1/health/live", None, 200),
    ("GET", "/v1/snapshot"): ("/v1/snapshot", None, 200),
    # An empty body is no backup: a caller allowed to restore gets 400, only after its token passed.
    ("POST", "/v1/snapshot/restore"): ("/v1/snapshot/restore", None, 400),
    # Signed with the cluster secret, not a token: unsigned, every caller gets the same 401.
    ("POST", "/v1/internal/propose"): ("/v1/internal/propose", None, 401),
    ("POST", "/v1/internal/read-index"): ("/v1/internal/read-index", None, 401),
    ("POST", "/v1/internal/join"): ("/v1/internal/join", None, 401),
    ("POST", "/v1/internal/membership"): ("/v1/internal/membership", None, 401),
    # GraphQL over HTTP; the WebSocket upgrade, whose token may come in connection_init instead of the
    # upgrade's headers, has its own cases in tests/api/test_graphql_auth.py.
    ("POST", "/v1/graphql"): ("/v1/graphql", {"query": "{ instances { revision } }"}, 200),
    ("GET", "/v1/graphql"): ("/v1/graphql?query=%7Binstances%7Brevision%7D%7D", None, 200),
    ("GET", "/ui"): ("/ui", None, 301),
    ("GET", "/ui/"): ("/ui/", None, 200),
    ("GET", "/ui/{path:.+}"): ("/ui/app.css", None, 200),
}
# The compatibility views (issue 14, permissions.COMPAT_ROUTES), sent with Bearer, which every
# protocol's routes take too; their own clients' credentials are in tests/api/test_compat_consul.py and tests/api/test_auth.py.
_EUREKA_INSTANCE = {"instance": {"instanceId": "w3", "app": "WEB", "ipAddr": "10.0.0.3", "status": "UP",
                                 "port": {"$": 80, "@enabled": "true"}}}
COMPAT_SAMPLES = {
    ("GET", "/v1/health/service/{name}"): ("/v1/health/service/web", None, 200),
    ("GET", "/v1/catalog/service/{name}"): ("/v1/catalog/service/web", None, 200),
    ("GET", "/v1/catalog/services"): ("/v1/catalog/services", None, 200),
    ("GET", "/v1/health/checks/{name}"): ("/v1/health/checks/web", None, 200),
    ("GET", "/v1/catalog/datacenters"): ("/v1/catalog/datacenters", None, 200),
    ("GET", "/v1/agent/services"): ("/v1/agent/services", None, 200),
    ("GET", "/v1/agent/checks"): ("/v1/agent/checks", None, 200),
    ("GET", "/v1/agent/self"): ("/v1/agent/self", None, 200),
    ("GET", "/v1/status/leader"): ("/v1/status/leader", None, 200),
    ("GET", "/v1/status/peers"): ("/v1/status/peers", None, 200),
    ("PUT", "/v1/agent/service/register"): ("/v1/agent/service/register", {"Name": "web", "ID": "w3"}, 200),
    ("PUT", "/v1/agent/service/deregister/{id}"): ("/v1/agent/service/deregister/w1", None, 200),
    ("PUT", "/v1/agent/service/maintenance/{id}"): ("/v1/agent/service/maintenance/w1?enable=true", None, 200),
    ("PUT", "/v1/agent/check/pass/{check_id}"): ("/v1/agent/check/pass/service:w1", None, 200),
    ("PUT", "/v1/agent/check/warn/{check_id}"): ("/v1/agent/check/warn/service:w1", None, 200),
    ("PUT", "/v1/agent/check/fail/{check_id}"): ("/v1/agent/check/fail/service:w1", None, 200),
    ("PUT", "/v1/agent/check/update/{check_id}"): ("/v1/agent/check/update/service:w1", {"Status": "passing"}, 200),
    ("GET", "/v1/sd/prometheus"): ("/v1/sd/prometheus", None, 200),
    ("GET", "/eureka/apps/delta"): ("/eureka/apps/delta", None, 200),
    ("GET", "/eureka/apps/{app}"): ("/eureka/apps/WEB", None, 200),
    ("GET", "/eureka/apps"): ("/eureka/apps", None, 200),
    ("GET", "/eureka/apps/"): ("/eureka/apps/", None, 200),
    ("GET", "/eureka/apps/{app}/{id}"): ("/eureka/apps/WEB/w1", None, 200),
    ("GET", "/eureka/instances/{id}"): ("/eureka/instances/w1", None, 200),
    ("POST", "/eureka/apps/{app}"): ("/eureka/apps/WEB", _EUREKA_INSTANCE, 204),
    ("PUT", "/eureka/apps/{app}/{id}"): ("/eureka/apps/WEB/w1", None, 200),
    ("DELETE", "/eureka/apps/{app}/{id}"): ("/eureka/apps/WEB/w1", None, 200),
    ("PUT", "/eureka/apps/{app}/{id}/status"): ("/eureka/apps/WEB/w1/status?value=OUT_OF_SERVICE", None, 200),
    ("DELETE", "/eureka/apps/{app}/{id}/status"): ("/eureka/apps/WEB/w1/status", None, 200),
}
SAMPLES.update(COMPAT_SAMPLES)


def expected(caller: str, route) -> int:
    rule, success = ROUTES[route], SAMPLES[route][2]
    if rule.permission in (P.PUBLIC, P.INTERNAL):
        return success
    if caller in ("none", "bad"):
        return 401
    role = "admin" if caller == "bootstrap" else caller
    return success if allows(role, rule.permission) else 403


MATRIX = [(caller, route) for route in ROUTES for caller in CALLERS]


def test_the_federation_token_never_writes():
    for route, rule in ROUTES.items():
        if rule.write or rule.permission in (P.METRICS, P.TOKENS, P.SNAPSHOTS, P.MEMBERSHIP):
            assert expected("federation", route) in (401, 403) or rule.permission is P.INTERNAL, route


def test_every_route_has_a_sample_and_every_role_a_row():
    assert set(SAMPLES) == set(ROUTES)
    assert set(CALLERS) >= set(ROLE_PERMISSIONS)
    print(f"\nauth matrix: {len(MATRIX)} cases ({len(CALLERS)} callers x {len(ROUTES)} routes)")


@pytest.fixture
def setup():
    store = FakeStore(NodeConfig(auth=True, bootstrap_token=BOOTSTRAP, cluster_secret=SECRET, audit=False,
                                 federation_token=FEDERATION_TOKEN))
    tokens = {role: add_token(store, role, ["web*"] if role == "service" else ())
              for role in ("read", "service", "operator", "admin")}
    spare, _ = add_token(store, "read")
    service_id = tokens["service"][0]
    store.apply(C.scoped(service_id, ["web*"], False, C.register({"name": "web", "id": "w1"})))
    secrets = {role: token for role, (_, token) in tokens.items()}
    secrets.update(none=None, bad="mnf1.0123456789abcdef.not-the-secret", bootstrap=BOOTSTRAP,
                   federation=FEDERATION_TOKEN)
    return store, secrets, spare


@pytest.mark.parametrize("caller,route", MATRIX, ids=lambda v: v if isinstance(v, str) else " ".join(v))
async def test_auth_matrix(aiohttp_client, setup, caller, route):
    store, secrets, spare = setup
    client = await aiohttp_client(create_app(store, store.cfg))
    path, body, _ = SAMPLES[route]
    headers = {"X-Manifest-Federation-Token": FEDERATION_TOKEN} if caller == "federation" else bearer(secrets[caller])
    resp = await client.request(route[0], path.format(spare=spare), json=body, headers=headers,
                                allow_redirects=False)
    try:
        assert resp.status == expected(caller, route), await resp.text() if route[1] != "/v1/watch" else ""
        if resp.status == 401 and ROUTES[route].permission is not P.INTERNAL:
            assert (await resp.json())["error"]["field"] == "Authorization"
    finally:
        resp.close()


async def test_an_unknown_path_needs_a_token_before_it_is_a_404(aiohttp_client, setup):
    store, secrets, _ = setup
    client = await aiohttp_client(create_app(store, store.cfg))
    assert (await client.get("/v1/nothing")).status == 401
    assert (await client.get("/v1/nothing", headers=bearer(secrets["read"]))).status == 404


def test_a_route_without_a_declared_permission_stops_the_app(monkeypatch):
    async def handler(request):
        raise AssertionError("never served")

    routes = app_mod._routes
    monkeypatch.setattr(app_mod, "_routes", lambda: [*routes(), ("GET", "/v1/undeclared", handler)])
    with pytest.raises(RuntimeError, match="no permission declared"):
        create_app(FakeStore(), NodeConfig())
