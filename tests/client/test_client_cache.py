"""Stale-if-error discovery cache."""

from __future__ import annotations


import pytest

from tests.client.mc_fakes import N1, N2, N3, FakeCluster

from manifest_client import ConnectionFailed, Instances, Registry, Unavailable


def make(cluster: FakeCluster, cache: bool = True) -> Registry:
    return Registry([N1, N2, N3], transport=cluster.transport, cache=cache,
                    retry_wait=0.0, retries=0, discover_members=False)


def test_fresh_result_is_not_stale_and_carries_revision():
    cluster = FakeCluster()
    cluster.add("n8n", "a")
    cluster.add("n8n", "b", status="down")
    found = make(cluster).discover("n8n")
    assert isinstance(found, Instances)
    assert [i.id for i in found] == ["a"]
    assert found.stale is False and found.revision == 2


def test_every_endpoint_unreachable_returns_last_list_flagged_stale():
    cluster = FakeCluster()
    cluster.add("n8n", "a")
    reg = make(cluster)
    first = reg.discover("n8n")
    cluster.refused.update({N1, N2, N3})
    again = reg.discover("n8n")
    assert again.stale is True
    assert [i.id for i in again] == ["a"] and again.revision == first.revision
    assert first.stale is False  # the earlier result was not mutated


def test_all_nodes_unavailable_also_serves_stale():
    cluster = FakeCluster()
    cluster.add("n8n", "a")
    reg = make(cluster)
    reg.discover("n8n")
    cluster.unavailable.update({N1, N2, N3})
    assert reg.discover("n8n").stale is True


def test_without_cache_or_without_entry_the_error_is_raised():
    cluster = FakeCluster()
    cluster.add("n8n", "a")
    no_cache = make(cluster, cache=False)
    no_cache.discover("n8n")
    cluster.refused.update({N1, N2, N3})
    with pytest.raises(ConnectionFailed):
        no_cache.discover("n8n")
    with pytest.raises(ConnectionFailed):
        make(cluster).discover("n8n")
    cluster.refused.clear()
    cluster.unavailable.update({N1, N2, N3})
    with pytest.raises(Unavailable):
        make(cluster).discover("n8n")


def test_cache_is_per_query():
    cluster = FakeCluster()
    cluster.add("n8n", "a", tags=["blue"])
    reg = make(cluster)
    reg.discover("n8n", tags=["blue"])
    cluster.refused.update({N1, N2, N3})
    assert reg.discover("n8n", tags=["blue"]).stale is True
    with pytest.raises(ConnectionFailed):
        reg.discover("n8n", tags=["green"])


def test_empty_answer_from_leaderless_node_does_not_replace_cached_list():
    cluster = FakeCluster()
    cluster.add("n8n", "a")
    reg = make(cluster)
    reg.discover("n8n")
    cluster.instances.clear()  # as a lagging, partitioned node would see it
    cluster.leaderless.add(N1)
    kept = reg.discover("n8n")
    assert [i.id for i in kept] == ["a"] and kept.stale is True


def test_empty_answer_from_healthy_node_replaces_cached_list():
    cluster = FakeCluster()
    cluster.add("n8n", "a")
    reg = make(cluster)
    reg.discover("n8n")
    cluster.instances[("n8n", "a")]["status"] = "down"
    empty = reg.discover("n8n")
    assert list(empty) == [] and empty.stale is False
    cluster.refused.update({N1, N2, N3})
    assert list(reg.discover("n8n")) == []  # the cache now holds the empty list


def test_unknown_service_is_an_empty_list():
    cluster = FakeCluster()
    found = make(cluster).discover("nothing")
    assert list(found) == [] and found.stale is False
