"""Garbage collection for a long-running hub: the start-up heap frozen, young objects in batches.

When the hub is up the process holds a few hundred thousand objects that live as long as it
does: zigpy's cluster, attribute and command tables, the GBCS code tables, the policy, the
asyncio and MQTT machinery. CPython's default collector (a young-generation pass every 700
allocations, an older one every ten of those, a full one when enough has been promoted) walks
them again and again. At a few thousand frames a second that cost 30-40 µs of every frame, and
a full collection paused the event loop for 87 ms, the worst latency measured (BENCHMARKS.md).

`settle()`, called once start-up is complete, moves everything alive into CPython's permanent
generation (`gc.freeze`), which collections no longer walk, and collects the young generation
every `YOUNG_THRESHOLD` allocations: each pass then costs well under a millisecond and the
passes are rarer. Frozen objects are still freed by reference counting when they are dropped;
only a reference cycle among them would outlive its use, and start-up objects are not dropped.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Net allocations between young-generation passes (CPython's default is 700)."""


def settle() -> None:
    """Start-up is over: freeze what exists and collect the young generation in batches."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
