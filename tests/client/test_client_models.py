"""Typed records and endpoint parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import manifest_client
from manifest_client import ClusterInfo, Health, Instance, Instances
from manifest_client._endpoints import (
    DEFAULT_URL,
    EndpointPool,
    normalize_url,
    parse_endpoints,
)

RECORD = {
    "name": "orchestrator", "id": "orchestrator-7f3a", "version": "1.4.2",
    "address": "10.0.0.5", "port": 8080, "interfaces": {"http": "http://10.0.0.5:8080"},
    "tags": ["blue"], "metadata": {"region": "eu"}, "dependencies": ["n8n"], "ttl": 30,
    "status": "up", "registered_at": "2026-11-26T19:31:00.123Z",
    "last_heartbeat": "2026-11-26T19:31:10.456Z", "revision": 1234, "zone": "future-field",
}


def test_instance_round_trip_keeps_every_field():
    inst = Instance.from_dict(RECORD)
    assert inst.registered_at == datetime(2026, 11, 26, 19, 31, 0, 123000, tzinfo=UTC)
    assert inst.extra == {"zone": "future-field"}
    assert inst.endpoint == "http://10.0.0.5:8080"
    assert inst.to_dict() == RECORD


def test_registration_body_leaves_out_server_fields():
    body = Instance.from_dict(RECORD).registration_body()
    assert set(body) == {"name", "id", "version", "address", "port", "interfaces",
                         "tags", "metadata", "dependencies", "ttl"}
    assert Instance(name="x").registration_body() == {"name": "x"}


def test_instances_is_a_list_with_revision_and_stale():
    items = Instances([Instance(name="a")], revision=9)
    stale = items.copy(stale=True)
    assert isinstance(stale, list) and stale.stale and stale.revision == 9
    assert not items.stale and "revision=9" in repr(items)


def test_cluster_info_and_health():
    info = ClusterInfo.from_dict({"members": [{"id": "n1", "api": "http://h:1", "raft": "h:2",
                                               "role": "leader", "match_index": 4}],
                                  "leader": "http://h:1", "term": 3, "commit_index": 7})
    assert info.members[0].role == "leader" and info.members[0].extra == {"match_index": 4}
    assert info.to_dict()["term"] == 3 and info.applied_index is None
    health = Health.from_dict({"status": "ok", "role": "follower", "leader": None, "revision": 5},
                              endpoint="http://h:1", ready=True)
    assert health.ready and health.revision == 5 and health.to_dict()["endpoint"] == "http://h:1"


def test_endpoints_from_string_list_env_and_default(monkeypatch):
    assert parse_endpoints("http://A:1/, h2:2 ,") == ["http://a:1", "http://h2:2"]
    assert parse_endpoints(["http://a:1", "http://a:1"]) == ["http://a:1"]
    monkeypatch.setenv("MANIFEST_URL", "http://e1:1,http://e2:2")
    assert parse_endpoints(None) == ["http://e1:1", "http://e2:2"]
    monkeypatch.delenv("MANIFEST_URL")
    assert parse_endpoints(None) == [DEFAULT_URL]
    with pytest.raises(ValueError):
        parse_endpoints(" , ")
    with pytest.raises(ValueError):
        normalize_url("ftp://x")


def test_pool_keeps_seeds_when_members_change():
    pool = EndpointPool(["http://seed:1"])
    pool.update_members(["http://a:1", "http://b:1"], "http://b:1")
    assert pool.endpoints == ["http://seed:1", "http://a:1", "http://b:1"]
    assert pool.order(prefer_leader=True)[0] == "http://b:1"
    pool.update_members(["http://a:1"], None)
    assert pool.endpoints == ["http://seed:1", "http://a:1"] and pool.leader is None


def test_public_api_is_explicit_and_documented():
    for name in manifest_client.__all__:
        obj = getattr(manifest_client, name)
        if callable(obj):
            assert obj.__doc__, name


def test_watch_session_parses_events_and_tracks_the_resume_point():
    from manifest_client._endpoints import EndpointPool
    from manifest_client._watch import WatchSession

    s = WatchSession(EndpointPool(["http://a:1"]), name="web", since=4)
    assert s.target() == "/v1/watch?name=web" and s.headers()["Last-Event-ID"] == "4"
    lines = ["retry: 1000", "", ": keep-alive", "", "id: 5", "event: expired",
             'data: {"name":"web","id":"w1","status":"down","reason":"ttl"}', ""]
    events = [e for e in map(s.feed, lines) if e is not None]
    assert len(events) == 1 and events[0].revision == 5 and events[0].reason == "ttl"
    assert events[0].instance.status == "down" and s.since == 5
    s.feed("id: 6")
    s.broke("http://a:1")  # half an event is dropped: it is resent after resuming
    assert s.feed("") is None and s.headers()["Last-Event-ID"] == "5"
    reset = [s.feed(x) for x in ["id: 9", "event: reset", 'data: {"instances":[{"name":"web","id":"x"}],"revision":9}', ""]][-1]
    assert reset.kind == "reset" and [i.id for i in reset.instances] == ["x"] and s.since == 9
