"""The node-to-node endpoints."""

import msgpack
import pytest

from manifest_node.api.app import create_app
from manifest_node.config import NodeConfig
from manifest_node.consensus.forwarder import AUTH_HEADER, sign
from manifest_node.fsm import commands as C
from tests.support.fake_store import FakeStore


async def post(client, path, body, secret=None, signature=None):
    raw = msgpack.packb(body)
    sig = signature if signature is not None else sign(secret, raw)
    return await client.post(path, data=raw, headers={"Content-Type": "application/msgpack", AUTH_HEADER: sig})


async def test_forwarded_commands_are_proposed_in_order(client, store):
    cmds = [C.register({"name": "web", "id": "a"}), C.heartbeat("web", "zz")]
    r = await post(client, "/v1/internal/propose", {"commands": cmds})
    reply = msgpack.unpackb(await r.read())
    assert r.status == 200 and reply["index"] == 1
    assert reply["results"][0]["created"] is True and reply["results"][1]["error"] == "not_found"


@pytest.mark.parametrize("body", [{"commands": [C.tick(1000)]}, {"commands": [[42]]}, {"commands": "x"}, {}])
async def test_forbidden_or_malformed_commands_are_refused(client, store, body):
    r = await post(client, "/v1/internal/propose", body)
    assert r.status == 400 and store.fsm.revision == 0 and store.index == 0


async def test_cluster_secret_is_required_when_set(aiohttp_client):
    store = FakeStore(NodeConfig(cluster_secret="s3cret"))
    client = await aiohttp_client(create_app(store, store.cfg))
    body = {"commands": [C.register({"name": "web", "id": "a"})]}
    r = await post(client, "/v1/internal/propose", body, signature="forged")
    assert r.status == 401 and store.index == 0
    r = await post(client, "/v1/internal/propose", body, secret="s3cret")
    assert r.status == 200 and store.fsm.revision == 1
    r = await post(client, "/v1/internal/read-index", {}, secret="s3cret")
    assert msgpack.unpackb(await r.read())["index"] == 1
