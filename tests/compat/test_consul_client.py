"""py-consul, a Consul client no one here wrote, against a real 3-node Manifest, unchanged.

Each call is the library's own: register with a TTL check, ttl_pass/warn/fail,
health.service(passing=True), catalog.services, a blocking query with
``index=``, deregister. What it registers is the same registry our own API
reads, on every node.
"""

from __future__ import annotations

import threading
import time

import consul
import pytest

from tests.support.cluster import wait_until
from tests.support.http import call

pytestmark = pytest.mark.cluster


def client_for(node) -> consul.Consul:
    return consul.Consul(host="127.0.0.1", port=node.api_port)


def ids(nodes) -> list[str]:
    return sorted(n["Service"]["ID"] for n in nodes)


def test_register_pass_discover_and_deregister_through_py_consul(cluster):
    follower, leader = cluster.followers()[0], cluster.leader()
    c, other = client_for(follower), client_for(leader)
    assert c.agent.service.register("web", service_id="web-1", address="127.0.0.1", port=9001, tags=["blue"],
                                    meta={"team": "search"}, check=consul.Check.ttl("10s")) is True
    assert c.agent.check.ttl_pass("service:web-1", notes="fine") is True

    index, nodes = c.health.service("web", passing=True)
    assert ids(nodes) == ["web-1"]
    service = nodes[0]["Service"]
    assert (service["Address"], service["Port"], service["Tags"], service["Meta"]) == (
        "127.0.0.1", 9001, ["blue"], {"team": "search"})
    assert nodes[0]["Checks"][0]["CheckID"] == "service:web-1" and nodes[0]["Checks"][0]["Status"] == "passing"
    _, services = other.catalog.services()
    assert services == {"web": ["blue"]}
    # The same instance, through our own API, on the leader.
    record = call(leader.url, "GET", "/v1/services/web/web-1").body
    assert (record["address"], record["port"], record["ttl"], record["status"]) == ("127.0.0.1", 9001, 10.0, "up")

    assert c.agent.check.ttl_fail("service:web-1") is True
    assert c.health.service("web", passing=True)[1] == []
    assert [n["Checks"][0]["Status"] for n in c.health.service("web")[1]] == ["critical"]
    assert c.agent.check.ttl_warn("service:web-1") is True
    assert c.agent.check.ttl_pass("service:web-1") is True
    assert ids(c.health.service("web", passing=True)[1]) == ["web-1"]

    assert c.agent.service.deregister("web-1") is True
    assert c.health.service("web")[1] == []
    assert c.agent.service.deregister("web-1") is False  # py-consul's answer to a 404
    assert call(leader.url, "GET", "/v1/services/web/web-1").status == 404


def test_a_blocking_query_returns_when_its_service_changes_and_not_before(cluster):
    follower, leader = cluster.followers()[0], cluster.leader()
    c = client_for(follower)
    assert c.agent.service.register("api", service_id="api-1", address="127.0.0.1", port=9101,
                                    check=consul.Check.ttl("30s"))
    index, nodes = c.health.service("api")
    assert ids(nodes) == ["api-1"]

    started = time.monotonic()
    same_index, _ = c.health.service("api", index=index, wait="1s")
    assert same_index == index and time.monotonic() - started >= 0.9  # held for its wait: nothing changed

    answer = {}

    def block():
        answer["result"] = c.health.service("api", index=index, wait="60s")
        answer["at"] = time.monotonic()

    waiter = threading.Thread(target=block, daemon=True)
    waiter.start()
    client_for(leader).agent.service.register("other", service_id="o-1", port=1, check=consul.Check.ttl("30s"))
    assert client_for(leader).agent.service.register("api", service_id="api-2", address="127.0.0.1", port=9102,
                                                     check=consul.Check.ttl("30s"))
    changed_at = time.monotonic()
    waiter.join(20)
    assert not waiter.is_alive(), "the blocking query did not return after its service changed"
    new_index, nodes = answer["result"]
    assert int(new_index) > int(index) and ids(nodes) == ["api-1", "api-2"]
    assert answer["at"] - changed_at < 10


def test_the_consul_headers_and_agent_endpoints(cluster):
    follower, leader = cluster.followers()[0], cluster.leader()
    c = client_for(follower)
    assert c.agent.service.register("db", service_id="db-1", port=5432, check=consul.Check.ttl("30s"))
    reply = call(follower.url, "GET", "/v1/health/service/db")
    assert reply.headers["x-consul-knownleader"] == "true"
    assert int(reply.headers["x-consul-lastcontact"]) >= 0 and int(reply.headers["x-consul-index"]) >= 1
    assert c.status.leader() == leader.raft
    assert sorted(c.status.peers()) == sorted(n.raft for n in cluster.nodes)
    assert c.agent.self()["Config"]["Datacenter"] == "dc1"
    assert set(c.agent.services()) == {"db-1"}
    _, checks = c.health.checks("db")
    assert [k["CheckID"] for k in checks] == ["service:db-1"]
    _, entries = c.catalog.service("db", consistency="consistent")
    assert [e["ServiceID"] for e in entries] == ["db-1"]
    with pytest.raises(consul.ConsulException) as err:  # a 400 naming the field, nothing registered
        c.agent.service.register("db", service_id="db-2", check=consul.Check.script(["/bin/true"], "10s"))
    assert "Checks[0].Args" in str(err.value)  # py-consul sends its check as Checks[0]
    assert set(c.agent.services()) == {"db-1"}
    # An HTTP check is the leader's probe (issue 13): critical until it passes, then passing.
    health = f"http://127.0.0.1:{leader.api_port}/v1/health"
    assert c.agent.service.register("db", service_id="db-3", port=5433, check=consul.Check.http(health, "1s"))
    wait_until(lambda: "db-3" in ids(c.health.service("db", passing=True)[1]), 20, what="the HTTP check to pass")
    (entry,) = [n for n in c.health.service("db")[1] if n["Service"]["ID"] == "db-3"]
    assert (entry["Checks"][0]["Type"], entry["Checks"][0]["Definition"]["HTTP"]) == ("http", health)


def test_a_ttl_check_that_is_not_passed_goes_critical(cluster):
    c = client_for(cluster.followers()[0])
    assert c.agent.service.register("cron", service_id="cron-1", port=1, check=consul.Check.ttl("1s"))
    wait_until(lambda: [n["Checks"][0]["Status"] for n in c.health.service("cron")[1]] == ["critical"], 20,
               what="the TTL check to expire")
    assert c.health.service("cron", passing=True)[1] == []
    assert c.agent.check.ttl_pass("service:cron-1")
    assert ids(c.health.service("cron", passing=True)[1]) == ["cron-1"]


def test_py_consul_with_tokens_when_auth_is_on(tmp_path):
    """py-consul's ``token=`` (sent as X-Consul-Token) is a Manifest token: roles and service scopes hold."""
    from tests.support.cluster import Cluster

    with Cluster(tmp_path / "auth", auth=True) as cluster:
        leader = cluster.leader()

        def token(role: str, services=None) -> str:
            body = {"role": role, **({"services": services} if services else {})}
            reply = leader.call("POST", "/v1/tokens", body)
            assert reply.status == 201, reply.body
            return reply.body["token"]

        port = cluster.followers()[0].api_port
        service = consul.Consul(host="127.0.0.1", port=port, token=token("service", ["api*"]))
        reader = consul.Consul(host="127.0.0.1", port=port, token=token("read"))
        anonymous = consul.Consul(host="127.0.0.1", port=port)

        assert service.agent.service.register("api", service_id="api-1", address="127.0.0.1", port=9101,
                                              check=consul.Check.ttl("10s")) is True
        assert service.agent.check.ttl_pass("service:api-1") is True
        assert ids(reader.health.service("api", passing=True)[1]) == ["api-1"]
        assert reader.catalog.services()[1] == {"api": []}
        with pytest.raises(consul.ACLPermissionDenied):
            reader.agent.service.register("api", service_id="api-2")  # a read token does not write
        with pytest.raises(consul.ACLPermissionDenied):
            service.agent.service.register("db", service_id="db-1")  # outside the token's patterns
        with pytest.raises(consul.ConsulException):
            anonymous.catalog.services()  # no token: 401
        assert leader.get("/v1/services/db").status == 404
        assert service.agent.service.deregister("api-1") is True
        assert reader.health.service("api")[1] == []
