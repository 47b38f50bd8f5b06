"""The audit log read back (allowed and denied writes), its rotation, and the rate limits."""

import json

import pytest

from manifest_node.api.app import create_app
from manifest_node.api.keys import AUTH
from manifest_node.auth.audit import AuditLog
from manifest_node.auth.ratelimit import Limiter
from manifest_node.config import NodeConfig
from tests.support.auth import BOOTSTRAP, add_token, bearer
from tests.support.fake_store import FakeStore

FIELDS = {"time", "node", "token_id", "role", "remote", "method", "path", "service", "instance", "status",
          "outcome", "request_id"}


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_writes_and_denied_requests_are_audited_one_json_line_each(aiohttp_client, tmp_path):
    log = tmp_path / "audit.log"
    store = FakeStore(NodeConfig(id="n7", auth=True, bootstrap_token=BOOTSTRAP, audit_log=str(log)))
    client = await aiohttp_client(create_app(store, store.cfg))
    token_id, token = add_token(store, "service", ["web"])
    _, reader = add_token(store, "read")
    r = await client.post("/v1/services", json={"name": "web", "id": "w1"},
                          headers={**bearer(token), "X-Request-ID": "req-1"})
    assert r.status == 201 and r.headers["X-Request-ID"] == "req-1"
    await client.put("/v1/services/web/w1/heartbeat", headers=bearer(token))
    await client.delete("/v1/services/web/w1", headers=bearer(reader))  # 403
    await client.get("/v1/services")  # 401, a read: denied requests are audited too
    await client.get("/v1/services", headers=bearer(reader))  # an allowed read: not audited
    await client.post("/v1/services", json={"name": "BAD"}, headers=bearer(token))  # 400
    client.app[AUTH].audit.flush()
    got = lines(log)
    assert all(set(line) == FIELDS for line in got)
    assert [(g["method"], g["status"], g["outcome"]) for g in got] == [
        ("POST", 201, "ok"), ("PUT", 200, "ok"), ("DELETE", 403, "denied"), ("GET", 401, "denied"),
        ("POST", 400, "refused")]
    first = got[0]
    assert (first["node"], first["token_id"], first["role"], first["service"], first["instance"],
            first["request_id"], first["path"], first["remote"]) == (
        "n7", token_id, "service", "web", "w1", "req-1", "/v1/services", "127.0.0.1")
    assert first["time"].endswith("Z") and got[3]["token_id"] is None
    assert token.split(".")[2] not in log.read_text()
    metrics = await (await client.get("/metrics", headers=bearer(BOOTSTRAP))).text()
    assert 'manifest_audit_events_total{outcome="denied"} 2.0' in metrics


def test_the_audit_log_rotates_by_size_keeping_its_backups(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(str(path), max_bytes=600, backups=2, node="n1")
    for i in range(20):
        log.record(status=200, code=None, token_id="t", role="admin", remote="127.0.0.1", method="POST",
                   path=f"/v1/services/{i}", service=None, instance=None, request_id=str(i))
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["audit.log", "audit.log.1", "audit.log.2"]
    assert all(p.stat().st_size <= 600 for p in tmp_path.iterdir())
    assert lines(path)[-1]["request_id"] == "19"


def test_a_bucket_refills_at_its_rate_and_says_how_long_to_wait():
    now = [0.0]
    limiter = Limiter(rate=2, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(4)] == [0, 0, 0, 1]
    assert limiter.take("b") == 0  # each caller has its own bucket
    now[0] = 0.5
    assert limiter.take("a") == 0 and limiter.take("a") == 1
    slow = Limiter(rate=0.1, burst=1, clock=lambda: now[0])
    assert slow.take("a") == 0 and slow.take("a") == 10


@pytest.mark.parametrize("auth", [True, False])
async def test_writes_past_the_limit_are_429_with_retry_after_and_change_nothing(aiohttp_client, auth):
    cfg = NodeConfig(auth=auth, bootstrap_token=BOOTSTRAP, audit=False, rate_limit=True, rate_writes=0.5,
                     rate_writes_burst=2, rate_reads=0.5, rate_reads_burst=1)
    store = FakeStore(cfg)
    client = await aiohttp_client(create_app(store, cfg))
    headers = bearer(BOOTSTRAP) if auth else {}
    for i in range(2):
        assert (await client.post("/v1/services", json={"name": "web", "id": f"w{i}"}, headers=headers)).status == 201
    revision = store.fsm.revision
    r = await client.post("/v1/services", json={"name": "web", "id": "w9"}, headers=headers)
    assert r.status == 429 and r.headers["Retry-After"] == "2"
    assert (await r.json())["error"] == {"code": "rate_limited", "limit": "rate_writes",
                                         "message": "too many requests from this caller (rate_writes); retry in 2 s"}
    assert store.fsm.revision == revision and ("web", "w9") not in store.fsm.instances
    assert (await client.get("/v1/services/web", headers=headers)).status == 200  # a cheap read: unlimited
    assert (await client.get("/v1/services", headers=headers)).status == 200
    assert (await client.get("/v1/services", headers=headers)).status == 429  # full lists: their own bucket
    if auth:  # another token has a bucket of its own
        _, other = add_token(store, "admin")
        assert (await client.post("/v1/services", json={"name": "web"}, headers=bearer(other))).status == 201


async def test_rate_limits_are_off_unless_auth_is_on_or_asked_for():
    assert NodeConfig(auth=True).rate_limit_on and not NodeConfig().rate_limit_on
    assert NodeConfig(rate_limit=True).rate_limit_on and not NodeConfig(auth=True, rate_limit=False).rate_limit_on
