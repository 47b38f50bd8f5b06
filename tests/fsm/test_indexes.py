"""The secondary indexes agree with a full scan after any sequence of operations, and after restore."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manifest_node.fsm import commands as C
from manifest_node.fsm import graph, query
from manifest_node.fsm.indexes import Indexes
from manifest_node.fsm.query import Query
from manifest_node.fsm.registry import RegistryState

names = st.sampled_from(["web", "db", "cache"])
ids = st.sampled_from(["a", "b", "c"])
tags = st.lists(st.sampled_from(["x", "y", "z"]), max_size=2)
deps = st.lists(st.sampled_from(["db", "db>=2", "cache^1", "web"]), max_size=2)
check = st.sampled_from([None, {"tcp": "127.0.0.1:9"}])
register = st.builds(
    lambda n, i, ttl, t, d, v, ck, w: C.register({"name": n, "id": i, "ttl": ttl, "tags": t, "dependencies": d,
                                                "version": v, "check": ck, "weight": w}),
    names, ids, st.sampled_from([1, 2, 30]), tags, deps, st.sampled_from([None, "1.0.0", "2.1.0"]), check,
    st.sampled_from([0, 1, 2]))
heartbeat = st.builds(lambda n, i, s, load: C.heartbeat(n, i, s, {"load": load} if load is not None else None),
                      names, ids, st.sampled_from([None, "up", "unhealthy"]), st.sampled_from([None, 0.1, 0.9]))
deregister = st.builds(C.deregister, names, ids)
tick = st.builds(lambda g: C.tick(g, {"protect": [500, 1, 30_000, 5_000], "tomb": [10_000, 5]}),
                 st.sampled_from([0, 1000]))
checked = st.builds(lambda n, i, g, s: C.check(n, i, g, s), names, ids, st.integers(1, 12),
                    st.sampled_from(["up", "unhealthy", "down"]))
drain = st.builds(lambda n, i, d, c: C.drain(n, i, {"deadline_ms": d, "cancel": c}), names, ids,
                  st.sampled_from([None, 0, 2000]), st.booleans())
maint = st.builds(lambda n, i, on: C.maintenance(n, i, {"on": on, "reason": "r"}), names, ids, st.booleans())
batch = st.builds(lambda items: C.batch(items, (100, 100)),
                  st.lists(st.builds(lambda n, i, t: {"name": n, "id": i, "tags": t}, names, ids, tags),
                           min_size=1, max_size=3, unique_by=lambda f: (f["name"], f["id"])))
command = st.one_of(register, heartbeat, deregister, tick, checked, drain, maint, batch)
envelope = st.tuples(st.integers(0, 3000), st.lists(command, min_size=1, max_size=3))


def rebuilt(state: RegistryState) -> Indexes:
    fresh = Indexes()
    for inst in state.instances.values():
        fresh.add(inst)
    return fresh


def scan(state, q: Query) -> list:
    keys = sorted(k for k, inst in state.instances.items() if (q.name is None or inst.name == q.name)
                  and (q.after is None or k > q.after) and q.matches(inst))
    return keys if q.limit is None else keys[:q.limit + 1]


QUERIES = [Query(), Query(tags=("x",)), Query(tags=("x", "y")), Query(statuses=("up",)),
           Query(statuses=("down", "draining")), Query(name="web", statuses=("up",)), Query(depends_on="db"),
           Query(name="db", tags=("z",)), Query(statuses=("maintenance", "starting")),
           # pages: walked in order (a filter most pass) or picked from a small candidate set
           Query(limit=1), Query(limit=2, after=("db", "b")), Query(statuses=("up",), limit=1, after=("cache", "c")),
           Query(name="web", limit=1), Query(name="web", limit=1, after=("db", "z")),
           Query(name="db", limit=1, after=("db", "a")), Query(tags=("x",), limit=1, after=("cache", "a"))]


def check_agrees(state: RegistryState) -> None:
    assert state.idx.view() == rebuilt(state).view()
    g = graph.graph(state)  # and the graph reads of them never fail, cycles or not
    assert {e["from"] for e in g["edges"]} <= {n["name"] for n in g["nodes"]}
    for name in ("web", "db", "cache"):
        graph.impact(state, name, "a")
    for q in QUERIES:
        assert query.matching_keys(state, q) == scan(state, q), q


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(envelope, max_size=30), st.data())
def test_indexes_agree_with_a_full_scan_after_random_operations_and_after_restore(steps, data):
    state, ts = RegistryState(), 0
    cut = data.draw(st.integers(0, len(steps)))
    for i, (dt, cmds) in enumerate(steps):
        if i == cut:
            fresh = RegistryState()
            fresh.restore(state.snapshot())
            check_agrees(fresh)
            assert fresh.digest_view() == state.digest_view()
            state = fresh
        ts += dt
        state.apply(C.encode(ts, 1, cmds))
        check_agrees(state)


def test_a_broad_page_walks_the_keys_in_order_and_stops_at_its_end():
    matching_keys = query.matching_keys
    s = RegistryState()
    items = [{"name": f"s{i % 7}", "id": f"i{i:03d}", "ttl": 30} for i in range(300)]
    for start in range(0, 300, 100):
        s.apply(C.encode(1_000, 1, [C.batch(items[start:start + 100], (1000, 1000))]))
    every = sorted(s.instances)
    assert list(s.idx.keys) == every
    assert matching_keys(s, Query(statuses=("up",), limit=10)) == every[:11]
    assert matching_keys(s, Query(limit=10, after=every[50])) == every[51:62]
    assert matching_keys(s, Query()) == every
    # one service holding most of the registry: walked in order from its first key, or after ``after``
    s2 = RegistryState()
    big = [{"name": "big", "id": f"b{i:03d}", "ttl": 30} for i in range(90)] + [{"name": "a", "id": "x", "ttl": 30},
                                                                                 {"name": "z", "id": "y", "ttl": 30}]
    s2.apply(C.encode(1_000, 1, [C.batch(big, (1000, 1000))]))
    mine = sorted(k for k in s2.instances if k[0] == "big")
    assert matching_keys(s2, Query(name="big", limit=5)) == mine[:6]
    assert matching_keys(s2, Query(name="big", limit=5, after=("a", "x"))) == mine[:6]
    assert matching_keys(s2, Query(name="big", limit=5, after=mine[10])) == mine[11:17]
    assert matching_keys(s2, Query(name="big", after=("zz", ""))) == []
    assert matching_keys(s2, Query(name="big")) == mine
