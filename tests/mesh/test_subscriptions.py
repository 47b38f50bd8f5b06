"""One ADS stream's protocol rules (node/mesh/stream.py) over a real FSM in a fake store, no sockets."""

from __future__ import annotations

import pytest
from envoy.service.discovery.v3 import discovery_pb2
from google.rpc import status_pb2

from manifest_node.fsm import commands as C
from manifest_node.fsm.validation import validate_registration
from manifest_node.mesh import resources as res
from manifest_node.mesh.catalog import Catalog
from manifest_node.mesh.stream import MAX_NAMES, Subscriptions, TooManyNames
from tests.support.ads import decode, endpoints
from tests.support.fake_store import FakeStore


def register(store, name: str, iid: str, port: int, **kw) -> None:
    store.apply(C.register(validate_registration({"name": name, "id": iid, "address": "10.0.0.1",
                                                   "port": port, **kw})))


def request(type_url, names=(), response=None, error=None) -> discovery_pb2.DiscoveryRequest:
    req = discovery_pb2.DiscoveryRequest(type_url=type_url, resource_names=list(names))
    req.node.id = "unit"
    if response is not None:
        req.version_info, req.response_nonce = (response.version_info if error is None else ""), response.nonce
    if error is not None:
        req.error_detail.CopyFrom(status_pb2.Status(code=3, message=error))
    return req


def setup(*services):
    store = FakeStore()
    for i, name in enumerate(services):
        register(store, name, f"{name}-1", 7000 + i)
    nacks = []
    return store, Subscriptions(Catalog(store), "unit-peer", nacks.append), nacks


def test_every_first_request_is_answered_with_what_exists():
    store, subs, _ = setup("a")
    (eds,) = subs.on_request(request(res.ENDPOINT, ["a", "nope", "Bad/Name"]))
    assert set(decode(eds)) == {"a", "nope"}  # a service with no instance yet: no endpoints
    assert endpoints(decode(eds)["nope"]) == {}
    (lds,) = subs.on_request(request(res.LISTENER, ["a:80"]))
    assert set(decode(lds)) == {"a:80"}


def test_ack_records_the_version_and_sends_nothing_more():
    store, subs, _ = setup("a")
    (first,) = subs.on_request(request(res.ENDPOINT, ["a"]))
    assert subs.on_request(request(res.ENDPOINT, ["a"], first)) == []
    assert subs.types[res.ENDPOINT].acked == first.version_info


def test_nack_is_reported_and_not_answered():
    store, subs, nacks = setup("a")
    (first,) = subs.on_request(request(res.ENDPOINT, ["a"]))
    assert subs.on_request(request(res.ENDPOINT, ["a"], first, error="no")) == []
    assert nacks == [res.ENDPOINT] and subs.types[res.ENDPOINT].acked is None
    assert subs.on_change({"a"}) == []  # nothing changed: the refused version is not sent again
    register(store, "a", "a-2", 7100)
    (pushed,) = subs.on_change({"a"})
    assert len(endpoints(decode(pushed)["a"])) == 2 and pushed.version_info != first.version_info


def test_stale_nonces_are_ignored():
    store, subs, _ = setup("a", "b")
    (first,) = subs.on_request(request(res.ENDPOINT, ["a"]))
    register(store, "a", "a-2", 7100)
    (second,) = subs.on_change({"a"})
    assert subs.on_request(request(res.ENDPOINT, ["a", "b"], first)) == []  # answers an older response
    (third,) = subs.on_request(request(res.ENDPOINT, ["a", "b"], second))
    assert set(decode(third)) == {"b"}  # EDS: only what was added


def test_changes_reach_only_the_subscribers_of_the_service():
    store, subs, _ = setup("a", "b")
    subs.on_request(request(res.ENDPOINT, ["a"]))
    register(store, "b", "b-2", 7100)
    assert subs.on_change({"b"}) == []
    store.apply(C.deregister("a", "a-1"))
    (pushed,) = subs.on_change({"a"})
    assert endpoints(decode(pushed)["a"]) == {}


def test_full_state_types_resend_the_whole_set_and_unsubscribing_forgets():
    store, subs, _ = setup("a", "b")
    (first,) = subs.on_request(request(res.CLUSTER, ["a"]))
    (second,) = subs.on_request(request(res.CLUSTER, ["a", "b"], first))
    assert set(decode(second)) == {"a", "b"}
    assert subs.on_request(request(res.CLUSTER, ["b"], second)) == []
    assert set(subs.types[res.CLUSTER].sent) == {"b"}


def test_wildcard_cds_follows_the_set_of_services():
    store, subs, _ = setup("a")
    (first,) = subs.on_request(request(res.CLUSTER, []))
    assert set(decode(first)) == {"a"}
    assert subs.on_request(request(res.CLUSTER, [], first)) == []  # still wildcard, nothing new
    register(store, "b", "b-1", 7100)
    (pushed,) = subs.on_change({"b"})
    assert set(decode(pushed)) == {"a", "b"}
    store.apply(C.deregister("a", "a-1"))
    (pushed,) = subs.on_change({"a"})
    assert set(decode(pushed)) == {"b"}
    assert subs.on_change({"a"}) == [] and subs.on_change(None) == []  # said once
    # "*" is wildcard too, and names alongside it are kept.
    _, explicit, _ = setup("a")
    (answer,) = explicit.on_request(request(res.CLUSTER, ["*", "later"]))
    assert set(decode(answer)) == {"a", "later"}


def test_a_change_the_endpoints_do_not_show_pushes_nothing():
    store, subs, _ = setup("a")
    (first,) = subs.on_request(request(res.ENDPOINT, ["a"]))
    register(store, "a", "a-idle", 7100, weight=0)  # not an endpoint: the same assignment
    assert subs.on_change({"a"}) == []
    register(store, "a", "a-idle", 7100, weight=1)
    (pushed,) = subs.on_change({"a"})
    assert len(endpoints(decode(pushed)["a"])) == 2


def test_a_restored_state_is_compared_with_what_each_stream_has():
    store, subs, _ = setup("a", "b")
    (first,) = subs.on_request(request(res.ENDPOINT, ["a", "b"]))
    subs._catalog.reset()
    assert subs.on_change(None) == []  # nothing differs
    register(store, "b", "b-2", 7100)
    (pushed,) = subs.on_change(None)
    assert set(decode(pushed)) == {"b"}


def test_types_not_served_are_ignored():
    _, subs, _ = setup("a")
    assert subs.on_request(request(res.PREFIX + "envoy.extensions.transport_sockets.tls.v3.Secret", ["x"])) == []


def test_a_request_naming_more_than_max_names_is_refused_before_any_lookup():
    store, subs, _ = setup("a")
    reads = []
    store_read = store.read
    store.read = lambda fn: reads.append(fn) or store_read(fn)
    with pytest.raises(TooManyNames, match=f"at most {MAX_NAMES}"):
        subs.on_request(request(res.ENDPOINT, [f"s{i}" for i in range(MAX_NAMES + 1)]))
    assert reads == [] and res.ENDPOINT not in subs.types  # nothing was read, nothing subscribed
    (eds,) = subs.on_request(request(res.ENDPOINT, ["a"]))  # a store read per name from here on
    assert set(decode(eds)) == {"a"} and len(reads) == 1
