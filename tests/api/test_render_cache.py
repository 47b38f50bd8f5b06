"""The rendered-list cache keeps the newest rendering per query, within its byte budget."""

from manifest_node.api.render_cache import RenderCache, Rendered


def _r(n: int) -> Rendered:
    return Rendered(b"x" * n, None)


def test_a_newer_view_replaces_the_older_rendering_of_the_same_query():
    cache = RenderCache(max_bytes=1 << 20)
    for view in range(1, 500):
        cache.put(("q", view, False), _r(1000))
    assert len(cache) == 1 and cache.bytes == 1000 + 64
    assert cache.get(("q", 498, False)) is None  # older views are never served again
    assert cache.get(("q", 499, False)).instances == b"x" * 1000


def test_formats_and_queries_are_kept_apart():
    cache = RenderCache(max_bytes=1 << 20)
    cache.put(("q", 1, False), _r(10))
    cache.put(("q", 1, True), _r(20))
    cache.put(("p", 1, False), _r(30))
    assert [len(cache.get(k).instances) for k in (("q", 1, False), ("q", 1, True), ("p", 1, False))] == [10, 20, 30]


def test_the_least_recently_used_query_leaves_first_when_over_budget():
    cache = RenderCache(max_bytes=10_000)
    for q in ("a", "b", "c"):
        cache.put((q, 1, False), _r(3000))
    assert cache.get(("a", 1, False)) is not None  # a is now the most recent
    cache.put(("d", 1, False), _r(3000))
    assert cache.get(("b", 1, False)) is None
    assert all(cache.get((q, 1, False)) is not None for q in ("a", "c", "d"))
    assert cache.bytes <= 10_000


def test_a_rendering_over_half_the_budget_is_not_kept_and_frees_its_older_view():
    cache = RenderCache(max_bytes=10_000)
    cache.put(("q", 1, False), _r(100))
    cache.put(("q", 2, False), _r(6000))
    assert len(cache) == 0 and cache.bytes == 0
    assert cache.get(("q", 2, False)) is None


def test_hits_and_misses_are_counted():
    cache = RenderCache()
    assert cache.get(("q", 1, False)) is None
    cache.put(("q", 1, False), _r(1))
    cache.get(("q", 1, False))
    assert (cache.hits, cache.misses) == (1, 1)
