"""A bug is a 500 ``internal``, logged once; 503 stays for real unavailability (issue 10, point 8).

Unexpected exceptions used to be answered 503 with Retry-After, so a bug
looked like a retriable outage and clients retried it.
"""

import logging

import aiohttp
import pytest

from manifest_node.api.app import create_app
from manifest_node.config import NodeConfig
from tests.support.fake_store import FakeStore


class BrokenStore(FakeStore):
    """A store with a bug: every write and every read raises."""

    async def propose(self, command):
        raise RuntimeError("the store has a bug")

    def read(self, fn):
        raise KeyError("also broken")


@pytest.fixture
async def broken(aiohttp_client):
    store = BrokenStore(NodeConfig())
    return await aiohttp_client(create_app(store, store.cfg))


def internal_records(caplog):
    return [r for r in caplog.records if r.name == "manifest.api" and r.levelno >= logging.ERROR]


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/v1/services", {"name": "web", "id": "w1"}),
    ("PUT", "/v1/services/web/w1/heartbeat", None),
    ("DELETE", "/v1/services/web/w1", None),
    ("GET", "/v1/services", None),
    ("GET", "/v1/services/web", None),
    ("GET", "/v1/services/web/w1", None),
])
async def test_an_exception_is_a_500_without_retry_after_logged_once(broken, caplog, method, path, body):
    caplog.set_level(logging.INFO)
    r = await broken.request(method, path, json=body)
    assert r.status == 500
    assert "Retry-After" not in r.headers
    err = (await r.json())["error"]
    assert err["code"] == "internal" and err["request_id"] and err["request_id"] in err["message"]
    assert r.headers["X-Request-ID"] == err["request_id"]
    records = internal_records(caplog)
    assert len(records) == 1
    assert records[0].exc_info is not None and records[0].request_id == err["request_id"]
    assert "bug" not in err["message"] and "broken" not in err["message"]  # no internals to clients


async def test_a_clients_request_id_is_kept_when_it_is_a_plain_token(broken, caplog):
    r = await broken.post("/v1/services", json={"name": "web"}, headers={"X-Request-ID": "abc-123.4_5"})
    assert (await r.json())["error"]["request_id"] == "abc-123.4_5"
    r = await broken.post("/v1/services", json={"name": "web"}, headers={"X-Request-ID": "x" * 200})
    assert (await r.json())["error"]["request_id"] != "x" * 200
    r = await broken.post("/v1/services", json={"name": "web"}, headers={"X-Request-ID": "a b"})
    assert (await r.json())["error"]["request_id"] != "a b"


async def test_no_leader_is_still_503_with_retry_after(client, store):
    store.available = False
    r = await client.post("/v1/services", json={"name": "web", "id": "w1"})
    assert r.status == 503 and r.headers["Retry-After"] == "1"
    assert (await r.json())["error"]["code"] == "no_leader"


async def test_bad_input_is_not_logged_as_an_error(client, caplog):
    caplog.set_level(logging.INFO)
    r = await client.post("/v1/services", json={"name": "Bad Name"})
    assert r.status == 400 and internal_records(caplog) == []


async def test_a_watch_that_fails_mid_stream_is_ended_not_answered_twice(aiohttp_client, caplog):
    from manifest_node.fsm import commands as C

    store = BrokenStore(NodeConfig(watch_history=1))
    client = await aiohttp_client(create_app(store, store.cfg))
    for i in range(3):
        store.apply(C.register({"name": "web", "id": f"w{i}"}))
    r = await client.get("/v1/watch?since=0")  # older than the history: a reset, which reads the state
    assert r.status == 200
    first = await r.content.readline()
    assert first == b"retry: 1000\n"
    with pytest.raises(aiohttp.ClientPayloadError):  # the node cut the stream short, no second answer
        await r.content.read()
    assert len(internal_records(caplog)) == 1
