"""Choosing one instance: round robin, random, least loaded."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from manifest_client import Instance, Picker, pick


def instances(*ids: str, **loads: str) -> list[Instance]:
    return [Instance(name="svc", id=i, metadata={"load": loads[i]} if i in loads else {}) for i in ids]


def test_round_robin_rotates_across_calls_and_list_orders():
    picker = Picker()
    group = instances("a", "b", "c")
    chosen = [picker.pick(group if n % 2 else list(reversed(group))).id for n in range(6)]
    assert chosen == ["a", "b", "c", "a", "b", "c"]


def test_round_robin_counts_per_service():
    picker = Picker()
    one = instances("a", "b")
    other = [Instance(name="other", id="x"), Instance(name="other", id="y")]
    assert picker.pick(one).id == "a"
    assert picker.pick(other).id == "x"
    assert picker.pick(one).id == "b"


def test_random_uses_every_instance():
    picker = Picker(rng=random.Random(7))
    counts = Counter(picker.pick(instances("a", "b", "c"), "random").id for _ in range(300))
    assert set(counts) == {"a", "b", "c"}
    assert min(counts.values()) > 50


def test_least_loaded_picks_lowest_numeric_load():
    group = instances("a", "b", "c", "d", a="0.7", b="0.2", c="busy")
    assert {pick(group, "least_loaded").id for _ in range(20)} == {"b"}


def test_least_loaded_without_numeric_loads_falls_back_to_random():
    picker = Picker(rng=random.Random(1))
    group = instances("a", "b", a="nan", b="x")
    assert {picker.pick(group, "least_loaded").id for _ in range(50)} == {"a", "b"}


def test_least_loaded_breaks_ties_between_equal_loads():
    picker = Picker(rng=random.Random(3))
    group = instances("a", "b", "c", a="1", b="1", c="5")
    assert {picker.pick(group, "least_loaded").id for _ in range(50)} == {"a", "b"}


def test_empty_list_and_unknown_strategy_raise():
    with pytest.raises(ValueError):
        pick([])
    with pytest.raises(ValueError):
        pick(instances("a"), "fastest")  # type: ignore[arg-type]
