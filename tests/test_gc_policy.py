"""The collector settings the service applies once it is up (agent/gc_policy.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from agent import gc_policy


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_freezes_the_start_up_heap_and_batches_young_collections(
    restore_gc: None,
) -> None:
    frozen = gc.get_freeze_count()
    alive = [object() for _ in range(1000)]  # noqa: F841 - kept alive across the freeze
    _, middle, old = gc.get_threshold()
    gc_policy.settle()
    assert gc.get_freeze_count() >= frozen + 1000
    assert gc.get_threshold() == (gc_policy.YOUNG_THRESHOLD, middle, old)
    # Cycles made after start-up are still collected.
    before = gc.get_count()[0]
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.get_count()[0] > before
    assert gc.collect() >= 1
