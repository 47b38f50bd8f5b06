"""Issue 13 in the client: typed records, pick rules, the new calls (sync and async) and the CLI commands."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner

from manifest_client import AsyncRegistry, Check, Conflict, Instance, MockTransport, Registry, Response, pick
from manifest_client._pick import Picker
from manifest_client.cli import cli

RECORD = {"name": "api", "id": "a1", "status": "up", "generation": 7, "weight": 2.0, "load": 0.3,
          "check": {"http": "http://x/h", "interval": 5.0}, "ttl": None}
GRAPH = {"nodes": [{"name": "api", "counts": {"up": 1}, "versions": {}, "registered": True, "unmet": 1},
                   {"name": "db", "counts": {}, "versions": {}, "registered": False}],
         "edges": [{"from": "api", "to": "db", "declared": "db>=2", "range": ">=2", "instances": 1,
                    "satisfied": False}], "cycles": [], "revision": 3}
IMPACT = {"service": "db", "id": None, "impacted": [{"name": "api", "depth": 1, "via": ["db"],
                                                     "has_other_provider": False}], "cycles": [], "revision": 3}


class Fake:
    """Canned answers by (method, path); every request kept."""

    def __init__(self):
        self.seen = []

    def __call__(self, request):
        self.seen.append(request)
        path = request.target.split("?")[0]
        if path == "/v1/graph":
            return Response.from_json(200, GRAPH)
        if path.startswith("/v1/graph/impact/"):
            return Response.from_json(200, IMPACT)
        if path == "/v1/services/batch":
            items = request.json()["instances"]
            return Response.from_json(201, {"instances": [{**i, "generation": n + 1, "created": True}
                                                          for n, i in enumerate(items)], "revision": len(items)})
        if request.method == "PUT" and path.endswith("/heartbeat") and request.json().get("generation") == 1:
            return Response.from_json(409, {"error": {"code": "stale_generation", "message": "replaced"}})
        if path.endswith("/drain"):
            return Response.from_json(200, {**RECORD, "status": "draining" if request.method == "PUT" else "up"})
        if path.endswith("/maintenance"):
            return Response.from_json(200, {**RECORD, "status": "maintenance", "maintenance": {"reason": "r"}})
        if path == "/v1/cluster":
            return Response.from_json(200, {"members": []})
        if path == "/v1/services/api" and "include=removed" in request.target:
            return Response.from_json(200, {"instances": [RECORD, {**RECORD, "id": "a0", "removed": {
                "reason": "expired", "at": "2026-01-01T00:00:00.000Z"}}], "revision": 4})
        return Response.from_json(200, RECORD)


def registry(fake):
    return Registry("http://n1:8500", transport=MockTransport(fake), discover_members=False, retries=0)


def test_records_are_typed_and_round_trip():
    inst = Instance.from_dict({**RECORD, "warnings": ["unmet dependency db"], "drain": {"by": "owner"}})
    assert inst.generation == 7 and inst.weight == 2.0 and inst.load == 0.3 and isinstance(inst.check, Check)
    assert inst.warnings == ["unmet dependency db"] and inst.drain == {"by": "owner"}
    assert Instance.from_dict(inst.to_dict()) == inst
    body = Instance(name="api", check=Check(tcp="h:1", interval=3), weight=0).registration_body()
    assert body == {"name": "api", "check": {"tcp": "h:1", "interval": 3}, "weight": 0}


def test_pick_follows_the_registrys_rules():
    up = [Instance(name="s", id="a", status="up", load=0.5), Instance(name="s", id="b", status="up", load=0.2),
          Instance(name="s", id="c", status="draining", load=0.0), Instance(name="s", id="d", status="up",
                                                                            weight=0, load=0.0)]
    assert pick(up, "least_loaded").id == "b"
    assert {Picker(random.Random(1)).pick(up, "random").id for _ in range(30)} <= {"a", "b"}
    weighted = [Instance(name="s", id="x", weight=1), Instance(name="s", id="y", weight=0)]
    assert all(pick(weighted, "weighted").id == "x" for _ in range(20))
    with pytest.raises(ValueError):
        pick([Instance(name="s", id="m", status="maintenance")])


def test_the_new_calls_send_what_the_api_expects():
    fake = Fake()
    with registry(fake) as reg:
        reg.register_instance(Instance(name="api", id="a1"), strict=True)
        assert "strict=true" in fake.seen[-1].target
        records = reg.register_many([{"name": "api"}, Instance(name="db", id="d1")])
        body = fake.seen[-1].json()["instances"]
        assert body[0]["id"].startswith("api-") and [r.generation for r in records] == [1, 2]
        reg.heartbeat("api", "a1", generation=7, load=0.4, metadata={"k": None})
        assert fake.seen[-1].json() == {"status": "up", "generation": 7, "load": 0.4, "metadata": {"k": None}}
        reg.deregister("api", "a1", generation=7)
        assert fake.seen[-1].target.endswith("?generation=7")
        assert reg.drain("api", "a1", deadline=30).status == "draining"
        assert fake.seen[-1].json() == {"deadline": 30}
        assert reg.maintenance("api", "a1", reason="r").maintenance == {"reason": "r"}
        reg.choose("api", "least_loaded", tags=["blue"])
        assert "pick=least_loaded" in fake.seen[-1].target and "tag=blue" in fake.seen[-1].target
        assert reg.graph().edges[0].satisfied is False and reg.impact("db").impacted[0].depth == 1
        removed = reg.list_instances(service="api", include_removed=True)
        assert [i.removed.reason for i in removed if i.removed] == ["expired"]
    with pytest.raises(ValueError):
        registry(Fake()).register_many([{"name": "x"}] * 501)


async def test_the_async_client_has_the_same_calls():
    fake = Fake()
    async with AsyncRegistry("http://n1:8500", transport=MockTransport(fake), discover_members=False) as reg:
        assert len(await reg.register_many([{"name": "api", "id": "a1"}])) == 1
        assert (await reg.graph()).nodes[1].registered is False
        assert (await reg.impact("db")).service == "db"
        assert (await reg.drain("api", "a1")).status == "draining"
        assert (await reg.undrain("api", "a1")).status == "up"
        await reg.heartbeat("api", "a1", generation=7, load=0.1)
        assert fake.seen[-1].json()["load"] == 0.1


def test_a_fenced_handle_stops_and_deletes_nothing():
    fake = Fake()
    with registry(fake) as reg:
        handle = reg.register("api", id="a1", handle_signals=False, heartbeat=False)
        handle.record = Instance(name="api", id="a1", generation=1)  # then another process registered it
        handle._beat()
        assert handle.fenced and isinstance(handle.last_error, Conflict)
        handle.close()
        assert not [r for r in fake.seen if r.method == "DELETE"]


def cli_run(fake, *args):
    return CliRunner().invoke(cli, list(args), obj={"registry_factory": lambda url, timeout: registry(fake)})


def test_cli_graph_tree_impact_and_dot():
    tree = cli_run(Fake(), "graph")
    assert tree.exit_code == 0 and "db>=2  [unmet]" in tree.output
    impact = cli_run(Fake(), "graph", "db", "--impact")
    assert impact.exit_code == 0 and "api" in impact.output and "OTHER PROVIDER" in impact.output
    dot = cli_run(Fake(), "graph", "--dot")
    assert dot.output.startswith("digraph manifest") and '"api" -> "db"' in dot.output
    assert cli_run(Fake(), "graph", "--impact").exit_code == 2


def test_cli_drain_maintenance_pick_register_many_and_get_removed(tmp_path):
    fake = Fake()
    assert "draining" in cli_run(fake, "drain", "api", "a1", "--deadline", "30").output
    assert fake.seen[-1].json() == {"deadline": 30.0}
    assert cli_run(fake, "drain", "api", "a1", "--cancel").exit_code == 0 and fake.seen[-1].method == "DELETE"
    assert "maintenance" in cli_run(fake, "maintenance", "on", "api", "a1", "--reason", "disk").output
    assert cli_run(fake, "maintenance", "off", "api", "a1").exit_code == 0
    assert cli_run(fake, "pick", "api", "--strategy", "weighted").exit_code == 0
    assert "pick=weighted" in fake.seen[-1].target
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps([{"name": "api", "id": "a1"}, {"name": "db", "id": "d1"}]))
    out = cli_run(fake, "register-many", str(path))
    assert out.exit_code == 0 and "d1" in out.output
    out = cli_run(fake, "--json", "get", "api", "--removed")
    assert json.loads(out.output)["instances"][1]["removed"]["reason"] == "expired"
    out = cli_run(fake, "register", "api", "--check-http", "http://x/h", "--check-interval", "5", "--weight", "2")
    assert out.exit_code == 0 and fake.seen[-1].json()["check"] == {"http": "http://x/h", "interval": 5.0}
    assert cli_run(fake, "register", "api", "--check-interval", "5").exit_code == 2
    out = cli_run(fake, "heartbeat", "api", "a1", "--load", "0.5", "--generation", "7", "--meta", "k=")
    assert fake.seen[-1].json() == {"status": "up", "generation": 7, "load": 0.5, "metadata": {"k": None}}
