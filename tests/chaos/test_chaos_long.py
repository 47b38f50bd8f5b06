"""The long chaos run (10 minutes of random faults every 5 s): slow, not in CI.

Same as ``python -m tests.chaos --minutes 10``; ``CHAOS_SEED`` and
``CHAOS_MINUTES`` pick the run.
"""

import os
import random

import pytest

from tests.chaos.report import notes, summary
from tests.chaos.runner import ChaosRun, RunConfig

pytestmark = [pytest.mark.slow, pytest.mark.cluster, pytest.mark.timeout(3600)]


def test_long_chaos_run(tmp_path):
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 10**6))
    minutes = float(os.environ.get("CHAOS_MINUTES", "10"))
    out = str(tmp_path / f"chaos-seed-{seed}")
    print(f"\nchaos seed {seed}, {minutes} minutes, histories in {out}")
    cfg = RunConfig(seed=seed, duration=minutes * 60, schedule="random", out_dir=out, lin_budget=120.0)
    data, results = ChaosRun(cfg).execute()
    text = summary(data, results, out)
    print(text)
    assert all(r.ok for r in results), f"seed {seed}\n{text}\n\n{notes(results)}"
