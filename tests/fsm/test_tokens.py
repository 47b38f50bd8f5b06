"""Tokens and instance ownership in the state machine (issue 12): deterministic, never raising."""

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from manifest_node.fsm import commands as C
from manifest_node.fsm.registry import RegistryState
from manifest_node.fsm.results import Code, Done, Failed, Ticked, Written

T1, T2 = "00000000000000a1", "00000000000000a2"
SALT, HASH = b"s" * 16, b"h" * 32


def put(token_id=T1, **fields):
    base = {"role": "service", "services": ["orders*"], "salt": SALT, "hash": HASH}
    return C.token_put(token_id, {**base, **fields})


def apply(state, *cmds, ts=1_000):
    return state.apply(C.encode(ts, 1, list(cmds))).results


def reg(name="orders", iid="o1"):
    return C.register({"name": name, "id": iid, "ttl": 30})


def test_a_token_is_stored_with_its_hash_and_expiry_from_the_leader_stamp():
    s = RegistryState()
    assert apply(s, put(ttl_ms=5_000), ts=10_000)[0].ok
    rec = s.tokens.records[T1]
    assert (rec.role, rec.services, rec.hash, rec.created_ms, rec.expires_ms) == (
        "service", ("orders*",), HASH, 10_000, 15_000)
    assert not rec.expired(14_999) and rec.expired(15_000)


def test_bad_token_fields_are_refused_naming_the_field():
    s = RegistryState()
    cases = [({"role": "root"}, "role"), ({"services": []}, "services"), ({"services": ["A[b]"]}, "services"),
             ({"ttl_ms": -1}, "ttl"), ({"salt": b"x"}, "hash"), ({"description": "a\nb"}, "description")]
    for fields, field in cases:
        (result,) = apply(s, put(**fields))
        assert (result.code, result.field) == (Code.INVALID, field), fields
    (result,) = apply(s, C.token_put("nothex", {"role": "read", "salt": SALT, "hash": HASH}))
    assert result.field == "id"
    assert s.tokens.records == {}


def test_rotate_keeps_the_id_and_role_and_revoke_removes_the_token():
    s = RegistryState()
    apply(s, put())
    assert apply(s, C.token_rotate(T1, b"t" * 16, b"g" * 32), ts=2_000)[0].ok
    rec = s.tokens.records[T1]
    assert (rec.role, rec.hash, rec.rotated_ms) == ("service", b"g" * 32, 2_000)
    assert apply(s, C.token_put(T1, {"role": "read", "salt": SALT, "hash": HASH}))[0].code is Code.TOKEN_EXISTS
    assert apply(s, C.token_revoke(T1))[0].ok and T1 not in s.tokens.records
    assert apply(s, C.token_revoke(T1))[0].code is Code.NOT_FOUND


def test_a_scoped_write_is_refused_outside_its_patterns_and_for_another_tokens_instance():
    s = RegistryState()
    apply(s, put(T1), put(T2))
    assert apply(s, C.scoped(T1, [], False, reg("billing")))[0].code is Code.OUT_OF_SCOPE
    assert apply(s, C.scoped(T1, [], False, reg()))[0].ok
    assert s.tokens.owners == {("orders", "o1"): T1}
    for cmd in (C.deregister("orders", "o1"), C.heartbeat("orders", "o1"), reg()):
        assert apply(s, C.scoped(T2, [], False, cmd))[0].code is Code.NOT_OWNER
    assert ("orders", "o1") in s.instances
    assert apply(s, C.scoped(T1, [], False, C.deregister("orders", "o1")))[0].ok
    assert s.tokens.owners == {} and s.instances == {}


def test_a_token_made_with_any_owner_may_act_on_others_instances():
    s = RegistryState()
    apply(s, put(T1), put(T2, any_owner=True), C.scoped(T1, [], False, reg()))
    assert apply(s, C.scoped(T2, [], False, C.deregister("orders", "o1")))[0].ok


def test_a_revoked_or_expired_token_writes_nothing_even_if_the_check_before_passed():
    s = RegistryState()
    apply(s, put(T1, ttl_ms=1_000), put(T2), ts=1_000)
    assert apply(s, C.scoped(T1, [], False, reg()), ts=2_000)[0].code is Code.TOKEN_INVALID
    apply(s, C.token_revoke(T2))
    assert apply(s, C.scoped(T2, [], False, reg()))[0].code is Code.TOKEN_INVALID
    assert s.instances == {}


def test_owners_go_with_the_instance_whoever_removes_it():
    s = RegistryState()
    apply(s, put(T1), C.scoped(T1, [], False, reg()))
    apply(s, C.deregister("orders", "o1"))  # an operator's, unscoped
    assert s.tokens.owners == {}


def test_a_certificate_principal_is_scoped_by_the_patterns_it_carries():
    s = RegistryState()
    assert apply(s, C.scoped("cert:orders-a", ["orders"], False, reg("billing")))[0].code is Code.OUT_OF_SCOPE
    assert apply(s, C.scoped("cert:orders-a", ["orders"], False, reg()))[0].ok


def test_snapshots_carry_tokens_and_owners_and_the_previous_format_still_restores():
    s = RegistryState()
    apply(s, put(T1, ttl_ms=9_000), C.scoped(T1, [], False, reg()))
    copy = RegistryState()
    copy.restore(s.snapshot())
    assert copy.digest_view() == s.digest_view()
    old = msgpack.unpackb(s.snapshot(), raw=False)
    old["format"] = 2
    del old["tokens"]
    legacy = RegistryState()
    legacy.restore(msgpack.packb(old, use_bin_type=True))
    assert legacy.tokens.records == {} and ("orders", "o1") in legacy.instances


def _envelopes():
    cmd_types = st.sampled_from(sorted(C.NAMES) + [0, 99, -1])
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 63, 2 ** 63 - 1), st.text(max_size=20),
                     st.binary(max_size=40), st.floats(allow_nan=True))
    value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
        st.text(max_size=8), inner, max_size=5), max_leaves=20)
    command = st.builds(lambda t, rest: [t, *rest], cmd_types, st.lists(value, max_size=6))
    scoped = st.builds(lambda p, c: C.scoped(p, ["*"], False, c), st.sampled_from([T1, "cert:x"]), command)
    cmds = st.lists(st.one_of(command, scoped), max_size=6)
    return st.builds(lambda ts, term, cs: C.encode(ts, term, cs), st.integers(0, 2 ** 40),
                     st.integers(0, 5), cmds)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=200), _envelopes(),
                 st.builds(lambda v: msgpack.packb(v, use_bin_type=True),
                           st.recursive(st.integers(-2 ** 63, 2 ** 64 - 1) | st.text() | st.binary(),
                                        lambda i: st.lists(i), max_leaves=10))))
def test_apply_never_raises_on_arbitrary_bytes_msgpack_or_commands(data):
    s = RegistryState()
    apply(s, put(T1))
    out = s.apply(data)
    assert all(isinstance(r, (Failed, Written, Ticked, Done)) for r in out.results)
    copy = RegistryState()
    copy.restore(s.snapshot())  # whatever it did, the state still snapshots and restores the same
    assert copy.digest_view() == s.digest_view()
