"""``python -m tests.chaos``: a chaos run from the command line (see docs/chaos.md).

    python -m tests.chaos --minutes 10 --seed 7        # random faults every 5 s
    python -m tests.chaos --short --seed 7             # the CI schedule
    python -m tests.chaos --check /tmp/chaos-runs/...  # judge a saved run again
    python -m tests.chaos --cleanup [--force]          # remove leftovers of dead runs

Exit status 0 when no checker found a violation, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, help="length of the fault phase (random schedule)")
    p.add_argument("--seconds", type=float, help="same, in seconds")
    p.add_argument("--seed", type=int, help="replay a run: the same seed gives the same fault schedule")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between random faults (default 5)")
    p.add_argument("--short", action="store_true", help="play the CI schedule instead of random faults")
    p.add_argument("--mode", choices=["auto", "netns", "proxy"], default="auto",
                   help="netns (default when root) or the loopback proxy fallback")
    p.add_argument("--out", help="folder for histories and logs (default /tmp/chaos-runs/seed-N-TIME)")
    p.add_argument("--check", metavar="DIR", help="run the checkers again on a saved run")
    p.add_argument("--cleanup", action="store_true", help="release namespaces/processes of dead runs")
    p.add_argument("--force", action="store_true", help="with --cleanup: also of live runs")
    p.add_argument("--notes", action="store_true", help="print every checker's notes too")
    p.add_argument("--trace-apply", action="store_true",
                   help="nodes trace every state-machine apply (nodes/nI.trace.jsonl; see tests.chaos.trace)")
    p.add_argument("--self-test", action="store_true",
                   help="also prove the checkers fail on stale local reads and mutated copies of the run")
    args = p.parse_args(argv)

    from .cleanup import cleanup_orphans

    if args.cleanup:
        for line in cleanup_orphans(force=args.force) or ["nothing to clean up"]:
            print(line)
        return 0
    from .report import notes, summary
    from .runner import ChaosRun, RunConfig, run_checks

    if args.check:
        from .history import RunData

        data = RunData.load(args.check)
        results = run_checks(data)
        print(summary(data, results, args.check))
        if args.notes:
            print(notes(results))
        return 0 if all(r.ok for r in results) else 1

    # SIGTERM/SIGHUP unwind like Ctrl-C, so finally blocks and atexit release everything.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(143))
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    if args.short:
        duration, schedule = 50.0, "short"
    else:
        duration, schedule = (args.seconds or (args.minutes or 1.0) * 60), "random"
    out = args.out or f"/tmp/chaos-runs/seed-{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    if os.path.exists(os.path.join(out, "nodes")):
        print(f"{out} already holds a run (its nodes would start from that data); choose another --out")
        return 2
    print(f"chaos run: seed {seed} (replay with --seed {seed}), {duration:.0f}s of {schedule} faults, "
          f"histories in {out}", flush=True)
    cfg = RunConfig(seed=seed, duration=duration, schedule=schedule, interval=args.interval, out_dir=out,
                    mode=args.mode, lin_budget=120.0, trace_apply=args.trace_apply)
    data, results = ChaosRun(cfg).execute()
    text = summary(data, results, out)
    print(text)
    if args.self_test:
        from .selftest import selftest

        missed = selftest(data)
        text += "\n\nself-test: " + ("every checker caught its injected violation" if not missed
                                      else "MISSED " + "; ".join(missed))
        print(text.rsplit("\n", 1)[1])
        if missed:
            results[-1].violations += [f"self-test: {m}" for m in missed]
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text + "\n\n" + notes(results) + "\n")
    if args.notes:
        print(notes(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
