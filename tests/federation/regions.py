"""In-process regions for the federation API tests: each one an app on a fake store behind a real loopback server."""

from __future__ import annotations

from manifest_node.api.app import create_app
from manifest_node.config import NodeConfig
from tests.support.fake_store import FakeStore

FAST = {"federation_probe_interval": 0.1, "federation_timeout": 0.5, "federation_deadline": 1.0}
TOKEN = "federation-token-of-32-bytes-xyz"


async def region(aiohttp_server, name: str, federate=(), **settings):
    """(server, store) of one region's node; ``federate`` lists the others it reads from."""
    cfg = NodeConfig(region=name, federate=tuple(federate), insecure=True, **{**FAST, **settings}).validate()
    store = FakeStore(cfg)
    return await aiohttp_server(create_app(store, cfg)), store


def url(server) -> str:
    return str(server.make_url("")).rstrip("/")


def instance(name: str, iid: str, **extra) -> dict:
    return {"name": name, "id": iid, "address": "10.0.0.1", "port": 80, "ttl": 30, **extra}


async def register(client, record: dict, headers=None) -> None:
    resp = await client.post("/v1/services", json=record, headers=headers or {})
    assert resp.status in (200, 201), await resp.text()
