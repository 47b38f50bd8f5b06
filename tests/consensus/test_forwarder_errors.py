"""What a follower makes of the leader's error answers (issue 10, point 8)."""

import msgpack
import pytest
from aiohttp import web

from manifest_node import errors
from manifest_node.consensus.leader_client import LeaderClient
from manifest_node.peer_protocol import PROPOSE_PATH


def leader_answering(status: int, code: str):
    async def propose(request):
        body = {"error": {"code": code, "message": f"{code} on the leader (request id r1)"}}
        return web.Response(status=status, body=msgpack.packb(body), content_type="application/msgpack")

    app = web.Application()
    app.router.add_post(PROPOSE_PATH, propose)
    return app


@pytest.mark.parametrize("status,code,expected", [
    (500, "internal", errors.InternalError),  # a bug: not retriable, not an outage
    (503, "no_leader", errors.NoLeader),
    (503, "unknown_outcome", errors.UnknownOutcome),
])
async def test_leader_errors(aiohttp_server, status, code, expected):
    server = await aiohttp_server(leader_answering(status, code))
    fwd = LeaderClient(None)
    await fwd.start()
    try:
        with pytest.raises(errors.ManifestError) as info:
            await fwd.propose(str(server.make_url("")).rstrip("/"), [[6]], timeout=2)
    finally:
        await fwd.close()
    assert type(info.value) is expected
    assert info.value.retriable is (status == 503)
    assert "r1" in info.value.message


def leader_dying_mid_answer(how: str):
    async def propose(request):
        await request.read()
        if how == "reset":  # the leader process killed while it answers
            resp = web.StreamResponse(status=200, headers={"Content-Length": "1000"})
            await resp.prepare(request)
            await resp.write(b"\x82\xa5index")
            request.transport.abort()
            return resp
        # a body cut short: 200 with msgpack that is not whole
        return web.Response(status=200, body=msgpack.packb({"index": 7, "results": [1, 2, 3]})[:-2],
                            content_type="application/msgpack")

    app = web.Application()
    app.router.add_post(PROPOSE_PATH, propose)
    return app


@pytest.mark.parametrize("how", ["reset", "truncated"])
async def test_a_leader_lost_mid_answer_is_an_unknown_outcome_not_a_bug(aiohttp_server, how):
    """Chaos seed 404: writes forwarded to a leader killed mid-answer came back 500 internal."""
    server = await aiohttp_server(leader_dying_mid_answer(how))
    fwd = LeaderClient(None)
    await fwd.start()
    try:
        with pytest.raises(errors.ManifestError) as info:
            await fwd.propose(str(server.make_url("")).rstrip("/"), [[6]], timeout=2)
    finally:
        await fwd.close()
    assert type(info.value) is errors.UnknownOutcome
