"""Random faults on in-process pysyncobj clusters (raftfuzz.py): no divergence, no lost write.

A failure prints the seed; replay it with
``PYTHONHASHSEED=<printed> .venv/bin/python -m tests.consensus.raftfuzz --first SEED --seeds 1``
(set iteration order inside pysyncobj follows the hash seed).
"""

import os

import pytest

from . import raftfuzz_members
from .raftfuzz import run

HASH_SEED = os.environ.get("PYTHONHASHSEED", "random")


@pytest.mark.parametrize("nodes,seeds", [(3, range(12)), (5, range(4))])
def test_short_fuzz(tmp_path, nodes, seeds):
    for seed in seeds:
        problems = run(seed, tmp_path / f"s{seed}", nodes)
        assert problems == [], f"seed {seed}, {nodes} nodes, PYTHONHASHSEED={HASH_SEED}: {problems[:3]}"


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("nodes,seeds", [(3, range(300)), (5, range(100))])
def test_long_fuzz(tmp_path, nodes, seeds):
    test_short_fuzz(tmp_path, nodes, seeds)


@pytest.mark.parametrize("nodes,seeds", [(3, range(6))])
def test_short_fuzz_with_membership_changes(tmp_path, nodes, seeds):
    for seed in seeds:
        problems = raftfuzz_members.run(seed, tmp_path / f"m{seed}", nodes)
        assert problems == [], f"seed {seed}, {nodes} nodes, PYTHONHASHSEED={HASH_SEED}: {problems[:3]}"
