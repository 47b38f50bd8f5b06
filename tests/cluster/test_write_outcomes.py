"""Issue 17, point 7: a write's outcome is ok, failed or unknown, never a failure after it committed.

A proxy in front of the leader forwards the write, lets the node apply it and
loses the answer; what the client does next is the point. Nothing here is
faked on the node's side: the node is a real one, of a real 3-node cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from manifest_client import Conflict, NotFound, OutcomeUnknown, Registry
from tests.support.answer_drop import AnswerDropProxy, drop_first, hiding_members
from tests.support.http import call

pytestmark = pytest.mark.cluster

ENV = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_")} | {"NO_COLOR": "1"}
EXIT_NOT_FOUND, EXIT_UNKNOWN = 1, 5


def manifest(url: str, *args: str) -> subprocess.CompletedProcess:
    # The proxy hides /v1/cluster (hiding_members): the retry goes through it too.
    done = subprocess.run([sys.executable, "-m", "manifest_node", "--url", url, "--json", *args],
                          capture_output=True, text=True, env=ENV, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def present(node, name: str, iid: str) -> bool:
    return node.get(f"/v1/services/{name}/{iid}?consistency=linearizable").status == 200


def register(node, name: str, iid: str) -> None:
    assert call(node.url, "POST", "/v1/services", {"name": name, "id": iid, "ttl": 60}).status == 201


def port(node) -> int:
    return int(node.url.rpartition(":")[2])


def register_generation(node, name: str, iid: str) -> int:
    r = call(node.url, "POST", "/v1/services", {"name": name, "id": iid, "ttl": 60})
    assert r.status in (200, 201), r.body
    return r.body["generation"]


def test_a_delete_whose_answer_is_lost_and_whose_retry_finds_nothing_succeeded(cluster):
    leader = cluster.leader()
    register(leader, "web", "w1")
    with AnswerDropProxy(port(leader), hiding_members(drop_first("DELETE", "/v1/services/"))) as proxy:
        done = manifest(proxy.url, "deregister", "web", "w1")
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert json.loads(done.stdout) == {"deregistered": {"name": "web", "id": "w1"}}
    assert [a for m, _, a in proxy.seen if m == "DELETE"] == ["drop", "pass"]  # the retry saw 404
    assert not present(leader, "web", "w1")


def test_a_delete_whose_answer_is_lost_and_whose_retry_cannot_be_sent_is_unknown_not_failed(cluster):
    leader = cluster.leader()
    register(leader, "web", "w2")
    with AnswerDropProxy(port(leader), hiding_members(drop_first("DELETE", "/v1/services/", then="close"))) as proxy:
        done = manifest(proxy.url, "deregister", "web", "w2")
    assert done.returncode == EXIT_UNKNOWN, (done.returncode, done.stdout, done.stderr)
    assert "may have been applied" in done.stderr and "manifest get web w2" in done.stderr, done.stderr
    assert not present(leader, "web", "w2")  # it was: 'failed' would have been a lie


def test_an_unknown_instance_is_still_a_plain_not_found(cluster):
    leader = cluster.leader()
    with AnswerDropProxy(port(leader), hiding_members(lambda m, p: "pass")) as proxy:
        done = manifest(proxy.url, "deregister", "web", "never")
    assert done.returncode == EXIT_NOT_FOUND, (done.stdout, done.stderr)


def test_the_library_says_unknown_and_keeps_the_cause(cluster):
    leader = cluster.leader()
    register(leader, "api", "a1")
    with AnswerDropProxy(port(leader), drop_first("DELETE", "/v1/services/", then="close")) as proxy:
        reg = Registry([proxy.url], discover_members=False, retry_wait=0.0)
        with pytest.raises(OutcomeUnknown) as caught:
            reg.deregister("api", "a1")
    assert caught.value.retriable and caught.value.cause is not None
    assert "may have been applied" in str(caught.value)


def test_a_register_without_id_whose_answer_is_lost_is_unknown_and_never_sent_twice(cluster):
    leader = cluster.leader()
    with AnswerDropProxy(port(leader), drop_first("POST", "/v1/services")) as proxy:
        reg = Registry([proxy.url], discover_members=False, retry_wait=0.0)
        with pytest.raises(OutcomeUnknown):
            reg.register_instance({"name": "anon", "address": "10.0.0.1", "port": 80, "ttl": 60})
    assert [a for m, _, a in proxy.seen if m == "POST"] == ["drop"]
    body = leader.get("/v1/services/anon?consistency=linearizable").body
    assert len(body["instances"]) == 1  # applied once, as the unknown outcome allowed


def test_idempotent_writes_whose_answer_is_lost_are_retried_to_a_definite_answer(cluster):
    leader = cluster.leader()
    with AnswerDropProxy(port(leader), drop_first("POST", "/v1/services")) as proxy:
        reg = Registry([proxy.url], discover_members=False, retry_wait=0.0)
        record = reg.register_instance({"name": "db", "id": "d1", "address": "10.0.0.2", "port": 5432, "ttl": 60})
    assert record.id == "d1" and present(leader, "db", "d1")
    assert [a for m, _, a in proxy.seen if m == "POST"] == ["drop", "pass"]
    with AnswerDropProxy(port(leader), drop_first("PUT", "/v1/services/db/d1/heartbeat")) as proxy:
        reg = Registry([proxy.url], discover_members=False, retry_wait=0.0)
        reg.heartbeat("db", "d1")
    assert [a for m, _, a in proxy.seen if m == "PUT"] == ["drop", "pass"]
    with AnswerDropProxy(port(leader), lambda m, p: "pass") as proxy:
        with pytest.raises(NotFound):  # nothing was sent before: a 404 is a 404
            Registry([proxy.url], discover_members=False).deregister("db", "nope")


def fenced_delete(cluster, name: str, iid: str):
    """A delete fenced by the registration's generation, whose answer is lost; before the retry the
    instance registers again (it restarted: a new generation), so the server refuses the retry with
    409 ``stale_generation``. The first attempt was applied: failure would be a lie, success a guess."""
    leader = cluster.leader()
    old = register_generation(leader, name, iid)
    restarted = []
    plan = drop_first("DELETE", "/v1/services/",
                      meanwhile=lambda: restarted.append(register_generation(leader, name, iid)))
    return leader, old, restarted, plan


def test_a_fenced_delete_whose_answer_is_lost_and_whose_retry_is_refused_is_unknown(cluster):
    leader, old, restarted, plan = fenced_delete(cluster, "fenced", "f1")
    with AnswerDropProxy(port(leader), plan) as proxy:
        reg = Registry([proxy.url], discover_members=False, retry_wait=0.0)
        with pytest.raises(OutcomeUnknown) as caught:
            reg.deregister("fenced", "f1", generation=old)
    assert [a for m, _, a in proxy.seen if m == "DELETE"] == ["drop", "pass"]
    cause = caught.value.cause
    assert isinstance(cause, Conflict) and cause.status == 409 and cause.code == "stale_generation", cause
    assert "may have been applied" in str(caught.value) and "a retry was refused" in str(caught.value)
    # What happened: the delete was applied, then the restarted registrant registered anew.
    assert restarted and restarted[0] > old
    assert leader.get("/v1/services/fenced/f1?consistency=linearizable").body["generation"] == restarted[0]


def test_the_cli_exits_5_when_a_lost_answers_retry_is_refused(cluster):
    leader, old, restarted, plan = fenced_delete(cluster, "fenced", "f2")
    with AnswerDropProxy(port(leader), hiding_members(plan)) as proxy:
        done = manifest(proxy.url, "deregister", "fenced", "f2", "--generation", str(old))
    assert done.returncode == EXIT_UNKNOWN, (done.returncode, done.stdout, done.stderr)
    assert "may have been applied" in done.stderr and "stale_generation" not in done.stdout, done.stderr
    assert "manifest get fenced f2" in done.stderr, done.stderr
    assert restarted and [a for m, _, a in proxy.seen if m == "DELETE"] == ["drop", "pass"]


def test_a_batch_registration_whose_answer_is_lost_is_retried_to_ok_or_is_unknown(cluster):
    leader = cluster.leader()
    batch = [{"name": "batch", "id": f"b{i}", "address": "10.0.0.3", "port": 9000 + i, "ttl": 60} for i in range(5)]
    with AnswerDropProxy(port(leader), drop_first("POST", "/v1/services/batch")) as proxy:
        reg = Registry([proxy.url], discover_members=False, retry_wait=0.0)
        records = reg.register_many(batch)
    assert sorted(r.id for r in records) == [f"b{i}" for i in range(5)]
    assert [a for m, p, a in proxy.seen if p == "/v1/services/batch"] == ["drop", "pass"]
    assert all(present(leader, "batch", f"b{i}") for i in range(5))

    # Ids chosen by the client: a lost answer may be retried; with no retry possible it is unknown.
    anon = [{"name": "batch", "address": "10.0.0.4", "port": 9100 + i, "ttl": 60} for i in range(3)]
    with AnswerDropProxy(port(leader), drop_first("POST", "/v1/services/batch", then="close")) as proxy:
        reg = Registry([proxy.url], discover_members=False, retry_wait=0.0)
        with pytest.raises(OutcomeUnknown) as caught:
            reg.register_many(anon)
    assert caught.value.cause is not None and "may have been applied" in str(caught.value)
    ports = {i["port"] for i in leader.get("/v1/services/batch?consistency=linearizable").body["instances"]}
    assert {9100, 9101, 9102} <= ports  # it was applied, all of it


def test_a_batch_heartbeat_whose_answer_is_lost_is_retried_to_a_definite_answer(cluster):
    leader = cluster.leader()
    register(leader, "hb", "h1")
    with AnswerDropProxy(port(leader), drop_first("POST", "/v1/heartbeats")) as proxy:
        reg = Registry([proxy.url], discover_members=False, retry_wait=0.0)
        results = reg.heartbeat_many([("hb", "h1"), ("hb", "gone")])
    assert [a for m, p, a in proxy.seen if p == "/v1/heartbeats"] == ["drop", "pass"]
    assert [(r["id"], r["ok"]) for r in results] == [("h1", True), ("gone", False)]
    assert results[1]["error"] == "not_found"
