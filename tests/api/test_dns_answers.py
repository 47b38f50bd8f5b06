"""The DNS answers (node/dns.py ``Answers``) on a fake store: names, types, statuses, truncation, bad input.

No sockets here: ``respond`` takes and returns wire bytes, parsed back with
dnspython. The real server, over UDP and TCP with ``dig``, is
tests/compat/test_dns.py.
"""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
from hypothesis import given, settings, strategies as st

from manifest_node.dns import Answers
from manifest_node.fsm import commands as C
from manifest_node.fsm.validation import validate_registration
from tests.support.fake_store import FakeStore


def store_with(*records) -> FakeStore:
    store = FakeStore()
    for record in records:
        store.apply(C.register(validate_registration(record)))
    return store


def web(i: int, **kw) -> dict:
    return {"name": "web", "id": f"w{i}", "address": f"10.0.0.{i}", "port": 8000 + i, **kw}


def ask(answers: Answers, name: str, rdtype: str = "A", udp: bool = True, **kw) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **kw)
    return dns.message.from_wire(answers.respond(query.to_wire(), udp=udp))


def addresses(reply) -> list[str]:
    return [rd.address for rrset in reply.answer for rd in rrset]


def test_a_records_are_the_up_instances_only():
    store = store_with(web(1), web(2), web(3))
    store.apply(C.heartbeat("web", "w3", "unhealthy"))
    reply = ask(Answers(store, "consul", 0), "web.service.consul")
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
    assert sorted(addresses(reply)) == ["10.0.0.1", "10.0.0.2"]
    assert all(rrset.ttl == 0 for rrset in reply.answer)


def test_tags_select_in_both_spellings_and_the_ttl_is_the_setting():
    store = store_with(web(1, tags=["blue"]), web(2, tags=["green"]))
    answers = Answers(store, "Example.Internal.", 7)
    assert addresses(ask(answers, "blue.web.service.example.internal")) == ["10.0.0.1"]
    assert addresses(ask(answers, "BLUE.Web.Service.Example.Internal")) == ["10.0.0.1"]  # names are case-blind
    srv = ask(answers, "_web._green.service.example.internal", "SRV")
    assert [rd.port for rd in srv.answer[0]] == [8002] and srv.answer[0].ttl == 7
    assert ask(answers, "red.web.service.example.internal").rcode() == dns.rcode.NXDOMAIN


def test_srv_names_a_target_whose_address_comes_alongside():
    store = store_with(web(1), {"name": "db", "id": "d1", "address": "db1.example.org", "port": 5432},
                       {"name": "v6", "id": "x", "address": "fd00::5", "port": 9})
    answers = Answers(store, "consul", 0)
    reply = ask(answers, "web.service.consul", "SRV")
    (srv,) = reply.answer[0]
    assert (srv.port, srv.weight, srv.target.to_text()) == (8001, 1, "0a000001.addr.dc1.consul.")
    assert [rd.address for rrset in reply.additional for rd in rrset] == ["10.0.0.1"]
    assert addresses(ask(answers, srv.target.to_text())) == ["10.0.0.1"]  # the target resolves too
    assert ask(answers, "db.service.consul", "SRV").answer[0][0].target.to_text() == "db1.example.org."
    assert ask(answers, "v6.service.consul", "AAAA").answer[0][0].address == "fd00::5"
    # The name exists but has no record of that type: NOERROR, empty, with the SOA.
    empty = ask(answers, "v6.service.consul", "A")
    assert empty.rcode() == dns.rcode.NOERROR and not empty.answer and empty.authority


def test_srv_weight_is_the_instance_weight():
    answers = Answers(store_with(web(1, weight=5), web(2, weight=0)), "consul", 0)
    srv = ask(answers, "web.service.consul", "SRV", udp=False)
    assert sorted((rd.port, rd.weight) for rd in srv.answer[0]) == [(8001, 5), (8002, 0)]


def test_unknown_gone_and_foreign_names():
    store = store_with(web(1))
    answers = Answers(store, "consul", 0)
    assert ask(answers, "nope.service.consul").rcode() == dns.rcode.NXDOMAIN
    assert ask(answers, "web.node.consul").rcode() == dns.rcode.NXDOMAIN
    assert ask(answers, "web.service.example.com").rcode() == dns.rcode.REFUSED  # no recursion
    store.apply(C.deregister("web", "w1"))
    reply = ask(answers, "web.service.consul")
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.authority  # negative answers carry the SOA


def test_each_answer_comes_in_a_fresh_random_order():
    answers = Answers(store_with(*(web(i) for i in range(1, 9))), "consul", 0)
    orders = set()
    for _ in range(50):  # 8! orders: fifty identical ones would be a one in 10^180 draw
        orders.add(tuple(addresses(ask(answers, "web.service.consul"))))
        if len(orders) > 1:
            break
    assert len(orders) > 1


def test_udp_truncates_past_the_clients_size_and_tcp_does_not():
    answers = Answers(store_with(*(web(i) for i in range(1, 201))), "consul", 0)
    plain = ask(answers, "web.service.consul")  # no EDNS: 512 bytes
    assert plain.flags & dns.flags.TC and len(addresses(plain)) < 200
    edns = ask(answers, "web.service.consul", use_edns=0, payload=4096)
    assert len(addresses(edns)) == 64 and edns.flags & dns.flags.TC  # UDP's cap: TC sends it to TCP
    full = ask(answers, "web.service.consul", udp=False)
    assert not full.flags & dns.flags.TC and len(set(addresses(full))) == 200
    few = Answers(store_with(*(web(i) for i in range(1, 11))), "consul", 0)
    assert not ask(few, "web.service.consul", use_edns=0, payload=1232).flags & dns.flags.TC


def test_malformed_queries_get_formerr_or_silence_never_an_exception():
    answers = Answers(store_with(web(1)), "consul", 0)
    assert answers.respond(b"") is None and answers.respond(b"\x01\x02") is None
    reply = dns.message.from_wire(answers.respond(b"\x12\x34" + b"\x00" * 10 + b"\xff" * 20))
    assert reply.id == 0x1234 and reply.rcode() == dns.rcode.FORMERR
    two = dns.message.make_query("web.service.consul", "A")
    two.question.append(two.question[0])
    assert dns.message.from_wire(answers.respond(two.to_wire())).rcode() == dns.rcode.FORMERR
    notify = dns.message.make_query("web.service.consul", "SOA")
    notify.set_opcode(4)
    assert dns.message.from_wire(answers.respond(notify.to_wire())).rcode() == dns.rcode.NOTIMP


_VALID = [dns.message.make_query(name, kind).to_wire()
          for name in ("web.service.consul", "blue.web.service.consul", "0a000001.addr.dc1.consul")
          for kind in ("A", "AAAA", "SRV", "ANY", "TXT")]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_VALID), st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=6),
       st.integers(0, 80), st.booleans())
def test_mutated_queries_never_raise(wire, flips, cut, udp):
    answers = Answers(store_with(web(1, tags=["blue"])), "consul", 0)
    data = bytearray(wire)
    for at, value in flips:
        if at < len(data):
            data[at] = value
    answers.respond(bytes(data[:len(data) - cut % max(1, len(data))]), udp=udp)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data):
    Answers(store_with(web(1)), "consul", 0).respond(data, udp=len(data) % 2 == 0)


def test_kept_renderings_carry_each_querys_id_and_follow_changes():
    store = store_with(web(1), web(2))
    answers = Answers(store, "consul", 0)
    for i in range(30):  # past the kept renderings: later answers are copies with the new id
        query = dns.message.make_query("web.service.consul", "A", id=1000 + i)
        reply = dns.message.from_wire(answers.respond(query.to_wire()))
        assert reply.id == 1000 + i and sorted(addresses(reply)) == ["10.0.0.1", "10.0.0.2"]
        assert reply.question[0].name.to_text() == "web.service.consul."
    store.apply(C.heartbeat("web", "w2", "unhealthy"))
    assert addresses(ask(answers, "web.service.consul")) == ["10.0.0.1"]
    store.apply(C.deregister("web", "w1"))
    assert ask(answers, "web.service.consul").rcode() == dns.rcode.NXDOMAIN
    store.apply(C.register(validate_registration(web(3))))
    assert addresses(ask(answers, "web.service.consul")) == ["10.0.0.3"]


def test_a_response_is_never_answered():
    # Found by test_mutated_queries_never_raise: a packet with QR set made respond raise.
    reply = dns.message.make_response(dns.message.make_query("web.service.consul", "A"))
    assert Answers(store_with(web(1)), "consul", 0).respond(reply.to_wire()) is None
