"""Long lists are built a chunk of records at a time, the state lock released in between (api/list_read.py)."""

import threading

import pytest

from manifest_node.api import list_read
from manifest_node.fsm import commands as C
from manifest_node.fsm.query import Query, run
from manifest_node.fsm.registry import RegistryState


class Store:
    """Store.read's shape; ``between(n)`` runs outside the lock before the n-th read (0-based)."""

    def __init__(self, state, between=None):
        self.state, self.lock, self.reads, self.between = state, threading.Lock(), 0, between

    def read(self, fn):
        if self.between is not None:
            self.between(self.reads)
        self.reads += 1
        with self.lock:
            return fn(self.state)


def registry(n: int, name: str = "web") -> RegistryState:
    state = RegistryState()
    state.apply(C.encode(1000, 1, [C.register({"name": name, "id": f"i{i:05d}", "tags": ["t"]}) for i in range(n)]))
    return state


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(list_read, "CHUNK", 10)


def test_a_long_list_takes_the_lock_once_per_chunk_and_equals_one_read_in_one_go():
    state = registry(35)
    state.apply(C.encode(1001, 1, [C.register({"name": "db", "id": "d1"})]))
    for q in (Query(name="web"), Query(), Query(name="web", limit=25), Query(tags=("t",))):
        store = Store(state)
        listed = list_read.read_list(store, q)
        assert (listed.records, listed.more) == run(state, q) and listed.revision == state.revision
        assert store.reads == 1 + -(-len(run(state, q)[0]) // 10)  # the keys, then each chunk


def test_a_short_list_is_one_read():
    store = Store(registry(10))
    assert len(list_read.read_list(store, Query(name="web")).records) == 10 and store.reads == 1


def test_a_change_between_chunks_starts_the_read_again_so_the_list_is_one_moment():
    state = registry(35)

    def between(n):
        if n == 2:  # after the keys and the first chunk were read, before the second
            state.apply(C.encode(2000, 1, [C.deregister("web", "i00003"), C.deregister("web", "i00030")]))

    store = Store(state, between)
    listed = list_read.read_list(store, Query(name="web"))
    assert [r["id"] for r in listed.records] == [f"i{i:05d}" for i in range(35) if i not in (3, 30)]
    assert listed.revision == state.revision
    assert store.reads == 3 + 1 + 4  # keys, a chunk, the chunk that found a change; keys and four chunks


def test_a_list_that_keeps_changing_is_built_in_one_go_at_the_last_attempt():
    state = registry(35)
    ts = [3000]

    def between(n):
        ts[0] += 1
        state.apply(C.encode(ts[0], 1, [C.register({"name": "web", "id": f"new{n:03d}"})]))

    store = Store(state, between)
    listed = list_read.read_list(store, Query(name="web"))
    # Three attempts of two reads each (the keys, a chunk that found the list changed), then one.
    assert store.reads == 2 * (list_read.ATTEMPTS - 1) + 1
    assert [r["id"] for r in listed.records] == sorted(iid for (svc, iid) in state.instances if svc == "web")
    assert len(listed.records) == 35 + store.reads and listed.revision == state.revision


def test_a_select_that_says_done_builds_no_records():
    store = Store(registry(35))
    listed = list_read.read_list(store, Query(name="web"), select=lambda s: ("cached", True))
    assert (listed.head, listed.records, store.reads) == ("cached", None, 1)


@pytest.mark.parametrize("n", [0, 1, 15, 16, 2_000, 2_001, 2_015, 2_016, 4_016, 70_000, 70_001])
def test_an_array_serialized_in_chunks_is_byte_for_byte_one_serialized_whole(n):
    import msgpack
    import orjson

    from manifest_node.api import codec
    items = [{"i": i, "s": "x" * (i % 5)} for i in range(n)]
    assert codec.dumps_array(items, False) == orjson.dumps(items)
    assert codec.dumps_array(items, True) == msgpack.packb(items, use_bin_type=True)
