"""Every code apply can return maps to the HTTP error it is meant to be (issue 11, typed results)."""

import pytest

from manifest_node import errors
from manifest_node.fsm.results import Batched, Code, Failed, failed, from_wire, to_wire, Ticked, Written, DONE

INTENDED = {
    Code.NOT_FOUND: (404, "not_found"),
    Code.TOO_MANY_INSTANCES: (429, "too_many_instances"),
    Code.NOT_A_MEMBER: (403, "forbidden"),
    Code.BAD_COMMAND: (400, "bad_command"),
    Code.INVALID: (400, "invalid"),
    Code.REQUIRED: (400, "required"),
    Code.READ_ONLY: (400, "read_only"),
    Code.NOT_OWNER: (403, "not_owner"),
    Code.OUT_OF_SCOPE: (403, "out_of_scope"),
    Code.TOKEN_INVALID: (401, "token_invalid"),
    Code.TOKEN_EXISTS: (409, "token_exists"),
    Code.TOO_MANY_TOKENS: (429, "too_many_tokens"),
    Code.UNKNOWN_FIELD: (400, "unknown_field"),
    Code.UNMET_DEPENDENCY: (409, "unmet_dependency"),
    Code.STALE_GENERATION: (409, "stale_generation"),
    Code.NOT_EMPTY: (409, "registry_not_empty"),
}


def test_the_table_covers_every_code():
    assert set(INTENDED) == set(Code)


@pytest.mark.parametrize("code", list(Code))
def test_each_code_maps_to_its_status(code):
    exc = errors.for_failure(Failed(code, "m", "f", limit="max_instances", max=3))
    assert (exc.status, exc.code) == INTENDED[code]


def test_a_code_from_a_newer_peer_is_an_invalid_input_not_a_crash():
    assert failed("something_new", "m").code is Code.INVALID


@pytest.mark.parametrize("result", [
    Written({"name": "a"}, True), Written({"name": "a"}), Ticked(2, 1), Ticked(stale=True), DONE,
    Written({"name": "a"}, False, ("unmet dependency db",)), Batched((Written({"name": "a"}, True),)),
    Failed(Code.NOT_FOUND, "m", "f"), Failed(Code.TOO_MANY_INSTANCES, "m", None, "max_instances", 3),
])
def test_results_cross_the_wire_unchanged(result):
    assert from_wire(to_wire(result)) == result


def test_the_wire_format_is_the_previous_releases():
    assert to_wire(Written({"id": "x"}, True)) == {"ok": True, "created": True, "record": {"id": "x"}}
    assert to_wire(Failed(Code.NOT_FOUND, "no")) == {"error": "not_found", "message": "no", "field": None}
    assert from_wire({"ok": True, "expired": 1, "removed": 0}) == Ticked(1, 0)
