"""Bad input on the node-to-node endpoints is a 400 and changes nothing (issue 10: the same classes elsewhere)."""

import dataclasses

import msgpack
import pytest

from manifest_node.config import NodeConfig
from manifest_node.peer_protocol import AUTH_HEADER, sign
from manifest_node.fsm import commands as C
from tests.support.fake_store import FakeStore

SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture
def store():
    return FakeStore(NodeConfig(max_body=4096, cluster_secret=SECRET))


async def propose(client, commands):
    # Signed: what a peer holding the secret (or a bug in one) could send.
    raw = msgpack.packb({"commands": commands})
    return await client.post("/v1/internal/propose", data=raw,
                             headers={"Content-Type": "application/msgpack", AUTH_HEADER: sign(SECRET, raw)})


@pytest.mark.parametrize("commands", [
    [[[1], {"name": "web", "id": "a"}]],  # an unhashable command type
    [[{"x": 1}]],
    [[True, {"name": "web", "id": "a"}]],  # True == REGISTER, but is not a command type
    [[1.0, {"name": "web", "id": "a"}]],
    [[None]],
], ids=["list", "map", "bool", "float", "nil"])
async def test_command_types_must_be_integers(client, store, commands):
    r = await propose(client, commands)
    assert r.status == 400, await r.read()
    assert store.index == 0 and store.fsm.revision == 0


@pytest.mark.parametrize("member", [
    C.member("n2", "http://evil:8500\r\nX-Injected: 1", "127.0.0.1:9001"),
    C.member("n2", "http://h:1\n", "127.0.0.1:9001"),
    C.member("n2\n", "http://h:1", "127.0.0.1:9001"),
    C.member("n2", "http://h:1", "127.0.0.1:9001\x00"),
    C.member("n2", "javascript:alert(1)", "127.0.0.1:9001"),
    [C.MEMBER, "n2", 5, "127.0.0.1:9001"],
    [C.MEMBER, "n2", "http://h:1"],
], ids=["crlf", "newline", "id", "nul", "scheme", "not-a-string", "short"])
async def test_member_announcements_must_be_clean(client, store, member):
    r = await propose(client, [member])
    assert r.status == 400, await r.read()
    assert store.index == 0 and store.fsm.members == {}
    r = await client.get("/v1/services")
    assert r.status == 200  # and reads keep working


async def test_a_leader_url_with_line_breaks_in_the_state_is_not_sent_as_a_header(client, store, monkeypatch):
    """Whatever reached the state some other way must not break every read."""
    bad = "http://leader:8500\r\nX-Injected: 1"
    monkeypatch.setattr(store, "status", lambda: dataclasses.replace(FakeStore.status(store), leader_api=bad))
    r = await client.get("/v1/services")
    assert r.status == 200 and "X-Injected" not in r.headers
    assert r.headers["X-Manifest-Leader"] == ""
