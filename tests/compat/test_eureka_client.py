"""py-eureka-client, a Eureka client no one here wrote, against a real 3-node Manifest, unchanged.

The EurekaClient registers (JSON), renews on its own heartbeat thread, and
discovers (XML: the full registry, then deltas checked by the hash code);
status overrides and cancel are the library's own eureka_basic calls. What
it registers is the same registry our own API reads, on every node.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
import py_eureka_client.eureka_client as eureka_client
from py_eureka_client import eureka_basic

from tests.support.cluster import wait_until
from tests.support.http import call

pytestmark = pytest.mark.cluster


def quiet(client) -> None:
    """py-eureka-client's heartbeat thread never ends (stop() only cancels a timer that has
    already fired, and a later beat registers again): idle it before this cluster goes."""
    client._EurekaClient__should_register = False
    client._EurekaClient__should_discover = False


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def up_ids(client, app: str) -> set[str]:
    return {i.instanceId for i in client.applications.get_application(app).up_instances}


def test_py_eureka_client_registers_renews_discovers_and_cancels(cluster):
    follower, leader = cluster.followers()[0], cluster.leader()
    # Basic credentials in the server URL, as Eureka clients carry them: accepted (no auth yet).
    server = f"http://user:secret@127.0.0.1:{follower.api_port}/eureka/"
    registrant = eureka_client.EurekaClient(
        eureka_server=server, app_name="orders", instance_id="orders-1", instance_ip="127.0.0.1",
        instance_host="localhost", instance_port=9001, renewal_interval_in_secs=1, duration_in_secs=3,
        metadata={"zone": "a"}, should_discover=False)
    watcher = eureka_client.EurekaClient(eureka_server=f"http://127.0.0.1:{leader.api_port}/eureka/",
                                         should_register=False, renewal_interval_in_secs=1)
    try:
        asyncio.run(registrant.start())
        record = call(leader.url, "GET", "/v1/services/orders/orders-1").body
        assert (record["address"], record["port"], record["ttl"], record["status"]) == ("127.0.0.1", 9001, 3.0, "up")
        assert record["metadata"]["zone"] == "a" and record["interfaces"]["http"] == "http://localhost:9001"

        # Renewals keep it up past its 3 s lease: heartbeats keep arriving, the status stays up.
        def renewed_past_lease():
            now = call(leader.url, "GET", "/v1/services/orders/orders-1").body
            assert now["status"] == "up", now
            return ms(now["last_heartbeat"]) - ms(now["registered_at"]) > 4000

        wait_until(renewed_past_lease, 30, interval=0.2, what="renewals from the client's heartbeat thread")
        asyncio.run(watcher.start())
        assert up_ids(watcher, "ORDERS") == {"orders-1"}
        instance = watcher.applications.get_application("ORDERS").get_instance("orders-1")
        assert (instance.ipAddr, instance.port.port, instance.port.enabled, instance.metadata["zone"]) == (
            "127.0.0.1", 9001, True, "a")

        # A second instance registered through our own API reaches the watcher by its delta fetches.
        assert call(leader.url, "POST", "/v1/services", {"name": "orders", "id": "orders-2", "address": "127.0.0.1",
                                                          "port": 9002, "ttl": 60}).status == 201
        wait_until(lambda: up_ids(watcher, "ORDERS") == {"orders-1", "orders-2"}, 30, interval=0.2,
                   what="the watcher to merge the new instance")

        # Status overrides, through the library's call, read back through Eureka and our API.
        asyncio.run(eureka_basic.status_update(server, "ORDERS", "orders-1", "0", "OUT_OF_SERVICE"))
        assert call(leader.url, "GET", "/v1/services/orders/orders-1").body["status"] == "unhealthy"
        app = asyncio.run(eureka_basic.get_application(server, "ORDERS"))
        assert app.get_instance("orders-1").status == "OUT_OF_SERVICE"
        wait_until(lambda: up_ids(watcher, "ORDERS") == {"orders-2"}, 30, interval=0.2,
                   what="the watcher to see the override")
        asyncio.run(eureka_basic.status_update(server, "ORDERS", "orders-1", "0", "UP"))
        assert call(leader.url, "GET", "/v1/services/orders/orders-1").body["status"] == "up"

        quiet(registrant)
        asyncio.run(eureka_basic.cancel(server, "ORDERS", "orders-1"))
        assert call(leader.url, "GET", "/v1/services/orders/orders-1").status == 404
        wait_until(lambda: up_ids(watcher, "ORDERS") == {"orders-2"}, 30, interval=0.2,
                   what="the watcher to drop the cancelled instance")
        apps = asyncio.run(eureka_basic.get_applications(server))
        assert [a.name for a in apps.applications] == ["ORDERS"] and apps.appsHashcode == "UP_1_"
    finally:
        quiet(registrant)
        quiet(watcher)


def test_a_renewal_of_an_unknown_instance_is_a_404_so_the_client_registers_again(cluster):
    server = f"{cluster.followers()[0].url}/eureka/"
    with pytest.raises(Exception) as err:
        asyncio.run(eureka_basic.send_heartbeat(server, "ORDERS", "never-registered", 0))
    assert getattr(err.value, "code", None) == 404
