"""The node-to-node endpoints."""

import msgpack
import pytest

from manifest_node.api.app import create_app
from manifest_node.config import NodeConfig
from manifest_node.peer_protocol import AUTH_HEADER, sign
from manifest_node.fsm import commands as C
from tests.support.fake_store import FakeStore

SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture
def store():
    return FakeStore(NodeConfig(max_body=4096, cluster_secret=SECRET))


async def post(client, path, body, secret=SECRET, signature=None):
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


async def test_cluster_secret_is_required_when_set(client, store):
    body = {"commands": [C.register({"name": "web", "id": "a"})]}
    r = await post(client, "/v1/internal/propose", body, signature="forged")
    assert r.status == 401 and store.index == 0
    r = await post(client, "/v1/internal/propose", body, secret=None)  # unsigned
    assert r.status == 401 and store.index == 0
    r = await post(client, "/v1/internal/propose", body)
    assert r.status == 200 and store.fsm.revision == 1
    r = await post(client, "/v1/internal/read-index", {})
    assert msgpack.unpackb(await r.read())["index"] == 1


@pytest.mark.parametrize("path", ["/v1/internal/propose", "/v1/internal/read-index"])
async def test_without_a_secret_the_internal_endpoints_are_shut(aiohttp_client, path):
    """Issue 10.3: unsigned MEMBER commands used to be accepted by a node without a secret."""
    store = FakeStore(NodeConfig())  # no secret, not --insecure
    client = await aiohttp_client(create_app(store, store.cfg))
    forged = {"commands": [C.member("n1", "http://127.0.0.1:1", store.cfg.raft)]}
    r = await post(client, path, forged, secret=None)
    assert r.status == 403 and (await r.json())["error"]["code"] == "forbidden"
    assert store.index == 0 and store.fsm.members == {}


async def test_insecure_nodes_take_unsigned_requests(aiohttp_client):
    """The documented risk of --insecure (docs/security.md): anyone reaching the API can propose."""
    store = FakeStore(NodeConfig(insecure=True))
    client = await aiohttp_client(create_app(store, store.cfg))
    r = await post(client, "/v1/internal/propose", {"commands": [C.noop()]}, secret=None)
    assert r.status == 200
