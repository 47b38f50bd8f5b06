"""Random faults on an in-process SimNet, judged index by index.

A seeded schedule of crashes, pauses, isolations, slow links and broken
connections runs against real pysyncobj nodes (raftsim.py) while writes are
submitted; log compaction is frequent so snapshots travel too. Afterwards
every node must have applied the same command at every index, every
acknowledged write must be applied everywhere, and no node may have rolled
its replicated state back past what it had applied.

    .venv/bin/python -m tests.consensus.raftfuzz --seeds 200 [--nodes 5]
"""

from __future__ import annotations

import argparse
import pathlib
import random
import tempfile

from .raftsim import SimNet, acknowledged, divergences


# Fast timeouts and frequent compaction, so elections and snapshot installs happen often.
SIM_CONF = dict(logCompactionMinEntries=8, logCompactionMinTime=0.5, raftMinTimeout=0.3, raftMaxTimeout=0.6,
                leaderFallbackTimeout=1.0, appendEntriesPeriod=0.05)


def count_down(tables, on_expired) -> None:
    """One step off every fault's remaining length; ``on_expired(table, key)`` when one ends."""
    for table in tables:
        for key in list(table):
            table[key] -= 1
            if table[key] <= 0:
                del table[key]
                on_expired(table, key)


def write_sometimes(net: SimNet, rng: random.Random, seed: int, step: int, outcomes: list) -> None:
    if rng.random() < 0.3:
        live = [a for a in net.addrs if a not in net.down]
        target = rng.choice(live)
        command = f"s{seed}-w{step}"
        outcomes.append((command, net.write(target, command)))


def tick_and_deliver(net: SimNet, rng: random.Random, stopped=()) -> None:
    """Every running node ticks; most queued links deliver a few messages."""
    for a in net.addrs:
        if a not in net.down and a not in stopped:
            net.nodes[a].doTick(0.0)
    for (src, dst) in list(net.queues):
        if (src, dst) not in net.held and rng.random() < 0.8:
            net.deliver(src, dst, rng.randint(1, 4))


def lost_writes(addr: str, node, outcomes: list) -> list[str]:
    applied = {c for _, c in node.log}
    lost = [c for c, o in outcomes if acknowledged(o) and c not in applied]
    return [f"{addr} lacks {len(lost)} acknowledged writes, first {lost[0]}"] if lost else []


def run(seed: int, tmp: pathlib.Path, nodes: int = 3, steps: int = 1500) -> list[str]:
    rng = random.Random(seed)
    net = SimNet(tmp, n=nodes, seed=seed, **SIM_CONF)
    outcomes: list[tuple[str, list]] = []
    paused: dict[str, int] = {}  # addr -> steps left
    held: dict[tuple[str, str], int] = {}  # link -> steps left
    crashed: dict[str, int] = {}
    isolated: dict[str, int] = {}
    try:
        for step in range(steps):
            net.clock.now += 0.02
            # faults begin
            r = rng.random()
            addr = rng.choice(net.addrs)
            if r < 0.004 and not crashed and addr not in paused:
                net.crash(addr)
                crashed[addr] = rng.randint(10, 80)
            elif r < 0.010 and addr not in crashed:
                paused[addr] = rng.randint(10, 120)
            elif r < 0.020:
                other = rng.choice([a for a in net.addrs if a != addr])
                held[(addr, other)] = rng.randint(5, 150)
            elif r < 0.025:
                other = rng.choice([a for a in net.addrs if a != addr])
                net.queues.pop((addr, other), None)  # the connection broke
            elif r < 0.029 and not isolated:
                isolated[addr] = rng.randint(20, 150)
                net.isolate(addr)
            # faults end
            def expired(table, key):
                if table is crashed:
                    net.start(key)
                elif table is isolated:
                    net.cut.clear()

            count_down((paused, held, crashed, isolated), expired)
            net.held = set(held) | {(s, d) for (s, d) in net.queues if d in paused}
            write_sometimes(net, rng, seed, step, outcomes)
            tick_and_deliver(net, rng, stopped=paused)
        # heal and settle
        for addr in list(crashed):
            net.start(addr)
        paused.clear()
        net.heal()
        net.run(10.0, dt=0.02)
        problems = divergences(net) + replicated_divergences(net)
        for addr, node in net.nodes.items():
            problems += lost_writes(addr, node, outcomes)
        return problems
    finally:
        net.close()


def replicated_divergences(net: SimNet) -> list[str]:
    """The replicated state (what snapshots carry) must agree index by index too."""
    seen: dict[int, tuple[str, object]] = {}
    out = []
    for addr, node in net.nodes.items():
        for index, command in node.log:
            first = seen.setdefault(index, (addr, command))
            if first[1] != command:
                out.append(f"state index {index}: {first[0]} has {first[1]!r}, {addr} has {command!r}")
    return out


def cli(run, summary=lambda: "") -> None:
    """Run seeds from the command line; ``summary()`` adds to the last line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    bad = 0
    for seed in range(args.first, args.first + args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                problems = run(seed, pathlib.Path(tmp), args.nodes, args.steps)
            except Exception as exc:  # a node crashed on a message: as bad as a divergence
                problems = [f"{type(exc).__name__}: {exc}"]
        if problems:
            bad += 1
            print(f"seed {seed}: {len(problems)} problems; {problems[0]}")
    print(f"{bad} of {args.seeds} seeds found problems{summary()}")
    if bad:
        raise SystemExit(1)


def main() -> None:
    cli(run)


if __name__ == "__main__":
    main()
