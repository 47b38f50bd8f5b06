"""Caps on instances, in total and per service, decided in apply (issue 10, point 10).

The receiving node puts its caps into the REGISTER command, so every node
refuses the same registration whatever its own configuration, and no
interleaving of concurrent registrations can overshoot a cap.
"""

import pytest

from manifest_node.fsm import commands as C
from manifest_node.fsm.registry import RegistryState


def register(s: RegistryState, name: str, iid: str, limits=(5, 3), **fields) -> dict:
    cmd = C.register({"name": name, "id": iid, **fields}, limits=limits)
    return s.apply(C.encode(1000, 1, [cmd])).results[0]


def test_a_new_instance_past_the_per_service_cap_is_refused():
    s = RegistryState()
    for i in range(3):
        assert register(s, "web", f"w{i}").created is True
    out = register(s, "web", "w3")
    assert out.code == "too_many_instances" and out.limit == "max_instances_per_service"
    assert "3" in out.message and "max_instances_per_service" in out.message
    assert ("web", "w3") not in s.instances and s.revision == 3


def test_a_new_instance_past_the_total_cap_is_refused():
    s = RegistryState()
    for i in range(5):
        assert register(s, f"svc{i}", "a").ok
    out = register(s, "svc9", "a")
    assert out.code == "too_many_instances" and out.limit == "max_instances"
    assert len(s.instances) == 5


def test_updates_of_existing_instances_are_always_allowed():
    s = RegistryState()
    for i in range(3):
        register(s, "web", f"w{i}")
    out = register(s, "web", "w1", port=9090, limits=(1, 1))  # even under a lower cap
    assert out.created is False and out.record["port"] == 9090


def test_a_removal_frees_a_slot():
    s = RegistryState()
    for i in range(3):
        register(s, "web", f"w{i}")
    s.apply(C.encode(2000, 1, [C.deregister("web", "w0")]))
    assert register(s, "web", "w3").created is True


def test_commands_without_caps_replay_as_before():
    s = RegistryState()
    for i in range(10):
        assert register(s, "web", f"w{i}", limits=None).ok


@pytest.mark.parametrize("limits", [[5], [5, "3"], [5, -1], [True, 3], "5,3", [5, 3, 1]])
def test_malformed_caps_are_a_bad_command(limits):
    s = RegistryState()
    out = s.apply(C.encode(1000, 1, [[C.REGISTER, {"name": "web", "id": "a"}, limits]])).results[0]
    assert out.code == "bad_command" and s.instances == {}


def test_every_node_decides_alike_after_a_snapshot():
    a = RegistryState()
    for i in range(3):
        register(a, "web", f"w{i}")
    b = RegistryState()
    b.restore(a.snapshot())
    assert register(a, "web", "w9") == register(b, "web", "w9")
    assert a.digest_view() == b.digest_view()
