"""Instances share one copy of each distinct tags, dependencies, metadata and interfaces (fsm/shared.py)."""

from manifest_node.fsm import commands as C
from manifest_node.fsm import shared
from manifest_node.fsm.events import UPDATED
from manifest_node.fsm.registry import RegistryState

FIELDS = {"tags": ["blue", "canary"], "dependencies": ["db"], "metadata": {"team": "platform", "zone": "b"},
          "interfaces": {"http": "http://10.0.0.5:8080"}}


def registered(state, ts, iid, **fields):
    return state.apply(C.encode(ts, 1, [C.register({"name": "web", "id": iid, **FIELDS, **fields})]))


def containers(inst):
    return inst.tags, inst.dependencies, inst.metadata, inst.interfaces


def test_instances_with_equal_fields_hold_the_same_objects_and_records_still_get_their_own():
    state = RegistryState()
    registered(state, 1000, "a")
    registered(state, 1001, "b")
    a, b = state.instances[("web", "a")], state.instances[("web", "b")]
    assert all(x is y for x, y in zip(containers(a), containers(b)))
    assert isinstance(a.tags, tuple) and isinstance(a.dependencies, tuple)
    record = a.to_record()
    assert record["tags"] == ["blue", "canary"] and record["dependencies"] == ["db"]
    assert record["metadata"] == FIELDS["metadata"] and record["metadata"] is not a.metadata
    record["metadata"]["team"] = "changed"  # a renderer's change to a record reaches no instance
    assert b.metadata["team"] == "platform"


def test_a_metadata_patch_gives_one_instance_a_map_of_its_own():
    state = RegistryState()
    registered(state, 1000, "a")
    registered(state, 1001, "b")
    a, b = state.instances[("web", "a")], state.instances[("web", "b")]
    state.apply(C.encode(1002, 1, [C.heartbeat("web", "a", extras={"metadata": {"zone": "c"}})]))
    assert a.metadata == {"team": "platform", "zone": "c"}
    assert b.metadata == {"team": "platform", "zone": "b"}


def test_the_same_registration_again_changes_nothing_a_watcher_sees_also_after_a_restore():
    state = RegistryState()
    registered(state, 1000, "a")
    gen = state.instances[("web", "a")].generation
    again = registered(state, 1001, "a", generation=gen)
    assert not again.events
    restored = RegistryState()
    restored.restore(state.snapshot())
    inst = restored.instances[("web", "a")]
    assert all(x is y for x, y in zip(containers(inst), containers(state.instances[("web", "a")])))
    assert not registered(restored, 1002, "a", generation=gen).events
    changed = registered(restored, 1003, "a", generation=gen, tags=["blue"])
    assert [e.kind for e in changed.events] == [UPDATED]


def test_a_full_table_starts_again_and_values_stay_equal(monkeypatch):
    monkeypatch.setattr(shared, "LIMIT", 4)
    monkeypatch.setattr(shared, "_lists", {})
    monkeypatch.setattr(shared, "_maps", {})
    held = [shared.strings([f"t{i}"]) for i in range(10)]
    maps = [shared.mapping({"k": f"v{i}"}) for i in range(10)]
    assert len(shared._lists) <= 4 and len(shared._maps) <= 4
    assert held == [(f"t{i}",) for i in range(10)] and maps == [{"k": f"v{i}"} for i in range(10)]
    assert shared.strings(["t9"]) is held[9] and shared.mapping({"k": "v9"}) is maps[9]
    assert shared.strings([]) == () and shared.mapping({}) == {}
