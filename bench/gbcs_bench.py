"""Frames per second for parse + classify + decide, on one core, over a mixed corpus.

    .venv/bin/python bench/gbcs_bench.py [--rounds N] [--repeats N] [--cpu N]

This is the hub's per-frame work between the radio and the outbox (docs/architecture.md, "Path of a
frame upstream"): parse_frame, classify and decide under the shipped restricted profile, in the
direction each frame travels. The process is pinned to one CPU. Each repeat runs the whole corpus
`rounds` times; the best repeat by wall clock is the figure (every repeat is printed, with its rate
by CPU time too), because on a shared machine the slower repeats measure the neighbours, not the
code. Figures go in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from corpus import build_corpus

from agent.consent import Mode
from agent.policy import Direction, decide, parse_profile
from gbcs.classify import classify
from gbcs.frame import Cra, parse_frame

ROOT = Path(__file__).resolve().parents[1]
GOAL = 100_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="corpus passes per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last)")
    args = parser.parse_args()
    cpu = pin(args.cpu)
    profile = parse_profile((ROOT / "config/restricted-profile.toml").read_text(encoding="utf-8"))
    corpus = build_corpus()
    kinds = Counter(parse_frame(f).framing for f in corpus)
    print(
        f"corpus: {len(corpus)} frames ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})"
    )
    print(f"python {platform.python_version()} on {platform.machine()}, pinned to CPU {cpu}")

    restricted = Mode.RESTRICTED
    down, up, command = Direction.DOWNSTREAM, Direction.UPSTREAM, Cra.COMMAND

    def one_pass() -> int:
        forwarded = 0
        for data in corpus:
            frame = parse_frame(data)
            category = classify(frame)
            direction = down if frame.cra is command else up
            if decide(frame, category, restricted, direction, profile).forwarded:
                forwarded += 1
        return forwarded

    forwarded = one_pass()  # warm-up, and a figure that shows the work is real
    rates, cpu_rates = [], []
    for _ in range(args.repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(args.rounds):
            one_pass()
        elapsed, cpu_elapsed = time.perf_counter() - start, time.process_time() - cpu_start
        rates.append(args.rounds * len(corpus) / elapsed)
        cpu_rates.append(args.rounds * len(corpus) / cpu_elapsed)
    print(f"forwarded in restricted mode: {forwarded} of {len(corpus)} per pass")
    print("repeats, wall clock (frames/s): " + ", ".join(f"{r:,.0f}" for r in rates))
    print("repeats, CPU time   (frames/s): " + ", ".join(f"{r:,.0f}" for r in cpu_rates))
    best = max(rates)
    print(
        f"parse+classify+decide: best {best:,.0f} frames/s wall clock "
        f"(median {statistics.median(rates):,.0f}; best by CPU time {max(cpu_rates):,.0f})"
    )
    print(f"goal {GOAL:,} frames/s: {'met' if best >= GOAL else 'MISSED'}")
    return 0


def pin(cpu: int | None) -> int:
    if not hasattr(os, "sched_setaffinity"):
        return -1
    chosen = cpu if cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {chosen})
    return chosen


if __name__ == "__main__":
    sys.exit(main())
