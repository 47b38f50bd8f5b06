"""The forwarding format's version (peer_protocol.py): both ends, and the previous release's way.

A follower names the body format it sends in ``X-Manifest-Forward-Format``.
The previous release sends no header and ignores it, so: no header is format
1; a format the leader does not read is a 400 naming the header, before
anything is proposed; and the follower turns that into a 503 that says
nothing committed, never a 5xx of its own or an unknown outcome.
"""

import msgpack
import pytest
from aiohttp import web

from manifest_node import errors
from manifest_node.api.app import create_app
from manifest_node.config import NodeConfig
from manifest_node.consensus import leader_client
from manifest_node.consensus.leader_client import LeaderClient
from manifest_node.fsm import commands as C
from manifest_node.peer_protocol import (AUTH_HEADER, FORWARD_FORMAT, FORWARD_FORMAT_HEADER, FORWARD_FORMATS,
                                         PROPOSE_PATH, READ_INDEX_PATH, sign)
from tests.support.fake_store import FakeStore

SECRET = "s3cret-s3cret-s3cret"
REGISTER = {"commands": [C.register({"name": "web", "id": "a"})]}


@pytest.fixture
def store():
    return FakeStore(NodeConfig(max_body=4096, cluster_secret=SECRET))


async def post(client, path, body, fmt=None, secret=SECRET):
    raw = msgpack.packb(body)
    headers = {"Content-Type": "application/msgpack", AUTH_HEADER: sign(secret, raw)}
    if fmt is not None:
        headers[FORWARD_FORMAT_HEADER] = fmt
    return await client.post(path, data=raw, headers=headers)


def test_this_release_sends_a_format_it_reads():
    assert FORWARD_FORMAT == 1 and FORWARD_FORMAT in FORWARD_FORMATS


@pytest.mark.parametrize("fmt", [None, "1", " 1 "])
async def test_no_header_is_the_previous_releases_format_and_is_accepted(client, store, fmt):
    r = await post(client, PROPOSE_PATH, REGISTER, fmt)
    assert r.status == 200 and store.fsm.revision == 1
    assert r.headers[FORWARD_FORMAT_HEADER] == str(FORWARD_FORMATS[-1])  # what a later follower may send
    assert msgpack.unpackb(await r.read())["results"][0]["created"] is True


@pytest.mark.parametrize("path", [PROPOSE_PATH, READ_INDEX_PATH])
@pytest.mark.parametrize("fmt,age", [("2", "newer"), ("999999999", "newer"), ("0", "older")])
async def test_a_format_this_leader_does_not_read_is_refused_before_proposing(client, store, path, fmt, age):
    r = await post(client, path, REGISTER if path == PROPOSE_PATH else {}, fmt)
    body = await r.json()
    assert r.status == 400 and body["error"]["code"] == "unsupported", body
    assert body["error"]["field"] == FORWARD_FORMAT_HEADER and age in body["error"]["message"]
    assert "nothing was proposed" in body["error"]["message"]
    assert store.index == 0 and store.fsm.revision == 0


@pytest.mark.parametrize("fmt", ["", "one", "1.0", "-1", "1" * 10, "\u0661"])
async def test_a_malformed_format_is_a_400_naming_the_header(client, store, fmt):
    r = await post(client, PROPOSE_PATH, REGISTER, fmt)
    body = await r.json()
    assert r.status == 400 and body["error"]["field"] == FORWARD_FORMAT_HEADER, body
    assert store.index == 0


async def test_the_signature_is_checked_first(client, store):
    r = await post(client, PROPOSE_PATH, REGISTER, "2", secret="another-secret-entirely")
    assert r.status == 401 and store.index == 0


# ---- the follower's side ---------------------------------------------------------------------

def previous_release_leader(seen: list):
    """A leader as the pinned release is: it reads ``commands`` and never looks at the header."""
    async def propose(request):
        seen.append(request.headers.get(FORWARD_FORMAT_HEADER))
        commands = msgpack.unpackb(await request.read())["commands"]
        body = {"index": 3, "results": [{"ok": True, "revision": 3} for _ in commands]}
        return web.Response(body=msgpack.packb(body), content_type="application/msgpack")

    app = web.Application()
    app.router.add_post(PROPOSE_PATH, propose)
    return app


async def test_a_follower_sends_its_format_and_an_older_leader_takes_it(aiohttp_server):
    seen = []
    server = await aiohttp_server(previous_release_leader(seen))
    fwd = LeaderClient(None)
    await fwd.start()
    try:
        index, outcomes = await fwd.propose(str(server.make_url("")).rstrip("/"), [[6]], timeout=2)
    finally:
        await fwd.close()
    assert seen == [str(FORWARD_FORMAT)] and index == 3 and len(outcomes) == 1


@pytest.mark.parametrize("call", ["propose", "read_index"])
async def test_a_leader_that_does_not_read_the_format_is_a_503_that_committed_nothing(
        aiohttp_server, monkeypatch, store, call):
    """A follower of a later release (format 2) against this release's leader, for real."""
    server = await aiohttp_server(create_app(store, store.cfg))
    monkeypatch.setattr(leader_client, "FORWARD_FORMAT", 2)
    fwd = LeaderClient(SECRET)
    await fwd.start()
    url = str(server.make_url("")).rstrip("/")
    try:
        with pytest.raises(errors.ManifestError) as info:
            if call == "propose":
                await fwd.propose(url, REGISTER["commands"], timeout=2)
            else:
                await fwd.read_index(url, timeout=2)
    finally:
        await fwd.close()
    exc = info.value
    assert type(exc) is errors.Unavailable and exc.code == "leader_incompatible" and exc.status == 503
    assert not isinstance(exc, (errors.UnknownOutcome, errors.NoLeader))  # not retried against the same leader
    assert "format 2" in exc.message and "newer" in exc.message, exc.message
    assert store.index == 0 and store.fsm.revision == 0


async def test_membership_calls_map_the_refusal_the_same_way(aiohttp_server, monkeypatch, store):
    server = await aiohttp_server(create_app(store, store.cfg))
    monkeypatch.setattr(leader_client, "FORWARD_FORMAT", 2)
    fwd = LeaderClient(SECRET)
    await fwd.start()
    try:
        with pytest.raises(errors.Unavailable) as info:
            await fwd.call(str(server.make_url("")).rstrip("/"), PROPOSE_PATH, REGISTER, timeout=2)
    finally:
        await fwd.close()
    assert info.value.code == "leader_incompatible" and store.index == 0


async def test_a_leader_that_stepped_down_is_retried_not_an_unknown_outcome(aiohttp_server, store):
    """Its refusal is rendered as the follower asks (msgpack) or as JSON; either is read. Before,
    the JSON ``no_leader`` of a node that no longer leads was taken for an unknown outcome."""
    async def not_leader(commands):
        raise errors.NoLeader("not the leader")

    store.leader_propose_many = not_leader
    server = await aiohttp_server(create_app(store, store.cfg))
    fwd = LeaderClient(SECRET)
    await fwd.start()
    try:
        with pytest.raises(errors.ManifestError) as info:
            await fwd.propose(str(server.make_url("")).rstrip("/"), REGISTER["commands"], timeout=2)
    finally:
        await fwd.close()
    assert type(info.value) is errors.NoLeader and "not the leader" in info.value.message


@pytest.mark.parametrize("as_json", [True, False])
def test_error_bodies_are_read_in_either_encoding(as_json):
    import json
    body = {"error": {"code": "no_leader", "message": "m"}}
    data = json.dumps(body).encode() if as_json else msgpack.packb(body)
    assert type(leader_client._remote_error(503, data)) is errors.NoLeader
    assert type(leader_client._remote_error(503, b"\xc1 garbage")) is errors.UnknownOutcome
