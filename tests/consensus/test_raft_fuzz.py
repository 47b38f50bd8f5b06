"""Random faults on in-process pysyncobj clusters (raftfuzz.py): no divergence, no lost write.

A failure prints the seed; replay it with
``PYTHONHASHSEED=<printed> .venv/bin/python -m tests.consensus.raftfuzz --first SEED --seeds 1``
(set iteration order inside pysyncobj follows the hash seed).
"""

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from .raftfuzz import run

HASH_SEED = os.environ.get("PYTHONHASHSEED", "random")
ROOT = Path(__file__).resolve().parents[2]


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


def test_short_fuzz_with_membership_changes():
    # In a child with a hash seed of our choosing, printed on failure: with PYTHONHASHSEED=random a
    # failure here (seen twice under load, 2026-12-03) could not be replayed.
    hash_seed = HASH_SEED if HASH_SEED.isdigit() else str(random.randrange(2 ** 32))
    replay = f"PYTHONHASHSEED={hash_seed} {sys.executable} -m tests.consensus.raftfuzz_members --first 0 --seeds 6"
    out = subprocess.run([sys.executable, "-m", "tests.consensus.raftfuzz_members", "--first", "0", "--seeds", "6"],
                         cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": hash_seed}, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0 and "0 of 6 seeds found problems" in out.stdout, (
        f"replay: {replay}\n{out.stdout[-3000:]}{out.stderr[-2000:]}")
