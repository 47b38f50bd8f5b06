"""The CI chaos run: every fault kind on a real cluster, then every checker, then the self-test.

The nodes run as production should (ChaosCluster's default): auth on, every
client request with a token, and mTLS between clients and nodes and between
the nodes themselves, with a CA made for the run.

About 70-90 s. The seed is printed; replay a failure with
``CHAOS_SEED=<seed> pytest tests/chaos/test_chaos_short.py -s`` or
``python -m tests.chaos --short --seed <seed>`` and read the histories in the
folder the summary names. ``CHAOS_MODE=proxy`` forces the no-namespace fallback.
"""

import os

import pytest

from tests.chaos.report import notes, summary
from tests.chaos.runner import ChaosRun, RunConfig
from tests.chaos.selftest import selftest

pytestmark = pytest.mark.cluster

SEED = int(os.environ.get("CHAOS_SEED", "5"))
MODE = os.environ.get("CHAOS_MODE", "auto")  # netns when possible; "proxy" forces the fallback
TRACE = os.environ.get("CHAOS_TRACE_APPLY") == "1"  # nodes trace every apply (python -m tests.chaos.trace)


def test_short_chaos_run_has_no_violations_and_the_checkers_can_fail(tmp_path):
    out = str(tmp_path / f"chaos-seed-{SEED}")
    print(f"\nchaos seed {SEED} (replay: CHAOS_SEED={SEED} pytest {__file__} -s), histories in {out}")
    # refuse_limit 2.0: the 1.5 s of the long runs + slack for a loaded CI machine. clock_sign +1:
    # the clock fault sets a fast clock, the direction that used to expire and remove instances early.
    cfg = RunConfig(seed=SEED, duration=50.0, schedule="short", out_dir=out, mode=MODE, refuse_limit=2.0,
                    clock_sign=1, trace_apply=TRACE)
    data, results = ChaosRun(cfg).execute()
    text = summary(data, results, out)
    print(text)
    assert all(r.ok for r in results), f"seed {SEED}\n{text}\n\n{notes(results)}"
    assert not selftest(data), f"seed {SEED}: the checkers missed injected violations: {selftest(data)}"
    kinds = {f["kind"] for f in data.faults}
    assert {"kill", "kill-leader", "pause", "isolate-leader", "split", "bridge", "loss", "delay",
            "clock", "disk"} <= kinds, kinds
