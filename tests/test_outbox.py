"""The outbox on a real SQLite file: durability, order, bounds, recovery. No broker needed here;
tests/test_delivery.py drives it through a real mosquitto."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.outbox import Outbox, Record


class Clock:
    """Wall-clock stand-in so age bounds are testable without waiting days."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def opened(path: Path, **kwargs: object) -> Outbox:
    box = Outbox(path, **{"max_bytes": 10**9, "max_age": 10**6, "window": 0.005, **kwargs})  # type: ignore[arg-type]
    await box.open()
    return box


async def drain(box: Outbox, ack: bool = True) -> list[Record]:
    """Everything committed, in the order the publisher would send it."""
    await box.flush()
    out: list[Record] = []
    for _ in range(1000):
        batch = box.take(64)
        if not batch:
            await box.flush()  # gives the writer a turn to read back from disk
            await asyncio.sleep(0.02)
            batch = box.take(64)
            if not batch:
                break
        out.extend(batch)
        if ack:
            for record in batch:
                box.ack(record)
    await box.flush()
    return out


def rows(path: Path) -> list[tuple[int, int, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT seq, priority, dedup_id FROM outbox ORDER BY seq").fetchall()


async def test_nothing_is_published_before_it_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = await opened(path, window=10.0)  # a long window: the writer will not commit by itself
    box.add("t/up/read", b"x", category="read", dedup_id="a")
    assert box.take(10) == [], "an uncommitted record must not be handed to the publisher"
    assert rows(path) == []
    await box.flush()
    assert [r.dedup_id for r in rows_as_records(path)] == ["a"]
    [record] = box.take(10)
    assert record.dedup_id == "a"
    await box.close()


def rows_as_records(path: Path) -> list[Record]:
    with sqlite3.connect(path) as db:
        return [
            Record(*row)
            for row in db.execute(
                "SELECT seq, priority, topic, payload, qos, dedup_id, accepted_at FROM outbox "
                "ORDER BY seq"
            )
        ]


async def test_priority_first_then_acceptance_order(tmp_path: Path) -> None:
    box = await opened(tmp_path / "o.sqlite")
    accepted = [
        ("read", "r1"), ("safety", "s1"), ("firmware", "f1"), ("read", "r2"),
        ("critical_alert", "c1"), ("alert", "a1"), ("security", "x1"), ("read", "r3"),
    ]  # fmt: skip
    for category, dedup in accepted:
        box.add(f"t/up/{category}", dedup.encode(), category=category, dedup_id=dedup)
    sent = [r.dedup_id for r in await drain(box)]
    assert sent == ["s1", "c1", "x1", "f1", "a1", "r1", "r2", "r3"]
    assert box.count == 0 and box.total_bytes == 0
    assert rows(tmp_path / "o.sqlite") == [], "acknowledged records are deleted"
    await box.close()


async def test_unacknowledged_records_survive_a_restart_in_order(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = await opened(path)
    for i in range(50):
        box.add("t/up/alert", f"{i}".encode(), category="alert", dedup_id=f"a{i}")
    await box.flush()
    first = box.take(10)
    for record in first[:5]:
        box.ack(record)  # five acknowledged; five published but not acknowledged
    await box.close()

    box = await opened(path)
    assert box.count == 45
    sent = [r.dedup_id for r in await drain(box)]
    assert sent == [f"a{i}" for i in range(5, 50)]
    await box.close()


async def test_release_puts_records_back_in_front(tmp_path: Path) -> None:
    box = await opened(tmp_path / "o.sqlite")
    for i in range(6):
        box.add("t", b"p", category="alert", dedup_id=f"a{i}")
    await box.flush()
    taken = box.take(4)
    box.release(taken[2:])
    box.release(taken[:2])
    assert [r.dedup_id for r in box.take(10)] == [f"a{i}" for i in range(6)]
    await box.close()


async def test_byte_bound_drops_lowest_priority_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    payload = b"x" * 1000
    size = len(payload) + len("t/up/read")
    box = await opened(path, max_bytes=size * 10)
    order = ["read", "critical_alert", "read", "firmware", "alert", "security", "read", "safety"]
    for i, category in enumerate(order):
        box.add("t/up/read", payload, category=category, dedup_id=f"{category}-{i}")
    await box.flush()
    assert box.drops == {}
    for i in range(8):  # eight more safety records: 16 records for room of 10
        box.add("t/up/read", payload, category="safety", dedup_id=f"more-{i}")
    await box.flush()
    kept = [r.dedup_id for r in rows_as_records(path)]
    assert len(kept) == 10 and box.count == 10 and box.total_bytes <= size * 10
    # Gone: the three reads, then the alert, then the firmware record, then nothing else.
    assert box.drops == {(0, "full"): 3, (1, "full"): 1, (2, "full"): 1, (3, "full"): 1}
    assert "critical_alert-1" not in kept, "priority 3 goes only when nothing lower is left"
    assert all(not k.startswith(("read", "alert", "firmware")) for k in kept)
    stats = box.stats()
    assert stats["dropped_total"] == 6 and stats["dropped"]["p0_full"] == 3
    await box.close()
    reopened = await opened(path, max_bytes=size * 10)
    assert reopened.drops == box.drops, "drop counts are persisted"
    assert [r.dedup_id for r in await drain(reopened)] == kept
    await reopened.close()


async def test_age_bound_drops_expired_records(tmp_path: Path) -> None:
    clock = Clock()
    box = await opened(tmp_path / "o.sqlite", max_age=3600, clock=clock)
    box.add("t", b"old", category="critical_alert", dedup_id="old")
    await box.flush()
    clock.now += 3000
    box.add("t", b"new", category="read", dedup_id="new")
    await box.flush()
    clock.now += 1000  # "old" is now 4000 s old, "new" 1000 s
    box.add("t", b"newer", category="read", dedup_id="newer")
    await box.flush()
    assert box.drops == {(3, "expired"): 1}
    assert [r.dedup_id for r in await drain(box)] == ["new", "newer"]
    await box.close()


async def test_overflow_beyond_memory_is_read_back_from_disk_in_order(tmp_path: Path) -> None:
    box = await opened(tmp_path / "o.sqlite", memory_records=8)
    for i in range(40):
        box.add("t", b"p", category="alert" if i % 3 else "security", dedup_id=f"{i}")
    await box.flush()
    sent = [int(r.dedup_id) for r in await drain(box)]
    security = [i for i in range(40) if i % 3 == 0]
    alerts = [i for i in range(40) if i % 3]
    assert sorted(sent) == list(range(40))
    # Memory holds only eight, so priority order is kept per batch read back; acceptance order
    # within each priority is kept throughout.
    assert [i for i in sent if i % 3 == 0] == security
    assert [i for i in sent if i % 3] == alerts
    await box.close()


@settings(
    max_examples=int(os.environ.get("HYPOTHESIS_OUTBOX_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.sampled_from(["read", "alert", "firmware", "safety"])),
            st.tuples(st.just("take"), st.integers(1, 5)),
            st.tuples(st.just("ack"), st.integers(0, 4)),
            st.tuples(st.just("release"), st.integers(0, 4)),
            st.tuples(st.just("commit"), st.just(0)),
            st.tuples(st.just("restart"), st.just(0)),
        ),
        max_size=60,
    )
)
def test_every_record_is_delivered_or_counted_as_dropped(tmp_path: Path, ops: list) -> None:  # type: ignore[type-arg]
    """Whatever happens, each accepted record is acknowledged, still waiting, or a counted drop,
    and within one priority nothing overtakes an earlier record."""

    async def scenario() -> None:
        path = tmp_path / f"p{id(ops)}.sqlite"
        path.unlink(missing_ok=True)
        box = await opened(path, max_bytes=400, memory_records=4)
        added: list[tuple[str, int]] = []
        acked: list[Record] = []
        held: list[Record] = []
        n = 0
        for op, arg in ops:
            if op == "add":
                box.add("t", b"0123456789" * 3, category=arg, dedup_id=str(n))
                added.append((str(n), 0))
                n += 1
            elif op == "take":
                held.extend(box.take(arg))
            elif op == "ack" and held:
                record = held.pop(min(arg, len(held) - 1))
                box.ack(record)
                acked.append(record)
            elif op == "release" and held:
                back = held[: arg + 1]
                del held[: arg + 1]
                box.release(back)
            elif op == "commit":
                await box.flush()
            elif op == "restart":
                await box.close()
                box = await opened(path, max_bytes=400, memory_records=4)
                held = []
        box.release(held)
        rest = await drain(box)
        dropped = sum(box.drops.values())
        delivered = {r.dedup_id for r in acked} | {r.dedup_id for r in rest}
        assert delivered <= {d for d, _ in added}
        # Each record is acknowledged once or counted as dropped: no loss, no double count.
        assert len({r.dedup_id for r in acked}) == len(acked)
        assert not {r.dedup_id for r in acked} & {r.dedup_id for r in rest}
        assert len(delivered) + dropped == len(added)
        assert box.count == 0
        for priority in (0, 1, 2, 3):
            ids = [int(r.dedup_id) for r in rest if r.priority == priority]
            assert ids == sorted(ids), "within a priority, acceptance order is kept"
        await box.close()

    asyncio.run(scenario())


async def test_sequence_numbers_are_never_reused_even_after_the_table_was_emptied(
    tmp_path: Path,
) -> None:
    path = tmp_path / "o.sqlite"
    box = await opened(path)
    for n in range(3):
        box.add("t/up/alert", b"x", category="alert", dedup_id=f"a{n}")
    first = await drain(box)
    assert [r.seq for r in first] == [1, 2, 3]
    assert rows(path) == []  # all acknowledged and deleted
    await box.close()
    box = await opened(path)
    box.add("t/up/alert", b"y", category="alert", dedup_id="b")
    [again] = await drain(box)
    assert again.seq == 4
    await box.close()


async def test_records_accepted_before_open_are_numbered_after_those_on_disk(
    tmp_path: Path,
) -> None:
    # A record is numbered when accepted; one accepted before the database was read must not
    # take a number a record still on disk has (the INSERT would fail on the primary key).
    path = tmp_path / "o.sqlite"
    box = await opened(path)
    for n in range(2):
        box.add("t/up/alert", b"x", category="alert", dedup_id=f"old{n}")
    await box.close()  # committed, never published
    box = Outbox(path, max_bytes=10**9, max_age=10**6, window=0.005)
    box.add("t/up/alert", b"y", category="alert", dedup_id="early")
    await box.open()
    box.add("t/up/alert", b"z", category="alert", dedup_id="later")
    records = await drain(box)
    assert [(r.seq, r.dedup_id) for r in records] == [
        (1, "old0"),
        (2, "old1"),
        (3, "early"),
        (4, "later"),
    ]
    await box.close()


async def test_only_acknowledged_records_are_deleted_when_acks_interleave_priorities(
    tmp_path: Path,
) -> None:
    # Sequence numbers are shared by all priorities: acknowledging the security records
    # 1, 3 and 5 must not delete the read records 2 and 4 between them.
    path = tmp_path / "o.sqlite"
    box = await opened(path)
    for n in range(6):
        category = "security" if n % 2 == 0 else "read"
        box.add(f"t/up/{category}", b"x", category=category, dedup_id=f"r{n}")
    await box.flush()
    taken = box.take(3)
    assert [r.seq for r in taken] == [1, 3, 5]
    for record in taken:
        box.ack(record)
    await box.flush()
    assert rows(path) == [(2, 0, "r1"), (4, 0, "r3"), (6, 0, "r5")]
    # A run of consecutive acknowledgements: still only those.
    rest = box.take(2)
    for record in rest:
        box.ack(record)
    await box.flush()
    assert rows(path) == [(6, 0, "r5")]
    await box.close()


async def test_acknowledged_records_leave_the_count_at_once_and_the_disk_in_a_batch(
    tmp_path: Path,
) -> None:
    # A commit of new records alone is one statement; deletions wait for `delete_after`
    # (or DELETE_BATCH acknowledgements) and then go in one transaction.
    path = tmp_path / "o.sqlite"
    box = await opened(path, window=0.001, delete_after=0.3)
    for n in range(10):
        box.add("t/up/alert", b"x", category="alert", dedup_id=f"a{n}")
    await box.flush()
    for record in box.take(10):
        box.ack(record)
    assert box.count == 0 and box.total_bytes == 0 and box.waiting == 0
    box.add("t/up/alert", b"y", category="alert", dedup_id="b")
    await committed_by_writer(box, 11)
    assert len(rows(path)) == 11, "the acknowledged ten are not deleted with the new record"
    async with asyncio.timeout(5):
        while len(rows(path)) > 1:  # noqa: ASYNC110 (the writer's turn after delete_after)
            await asyncio.sleep(0.05)
    assert rows(path) == [(11, 1, "b")]
    await box.close()


async def test_a_crash_before_the_deletion_is_committed_resends_by_the_same_id(
    tmp_path: Path,
) -> None:
    path = tmp_path / "o.sqlite"
    box = await opened(path, delete_after=3600)
    for n in range(4):
        box.add("t/up/alert", b"x", category="alert", dedup_id=f"a{n}")
    await box.flush()
    for record in box.take(2):
        box.ack(record)
    # The process dies here: nothing more is committed. A new one opens the same file.
    after_crash = await opened(path)
    assert after_crash.count == 4
    assert [r.dedup_id for r in await drain(after_crash)] == ["a0", "a1", "a2", "a3"]
    await after_crash.close()
    await box.close()


async def test_bounds_never_count_acknowledged_rows_awaiting_deletion_as_drops(
    tmp_path: Path,
) -> None:
    path = tmp_path / "o.sqlite"
    payload = b"x" * 1000
    size = len(payload) + len("t/up/read")
    box = await opened(path, max_bytes=size * 10, window=0.001, delete_after=3600)
    for n in range(10):
        box.add("t/up/read", payload, category="read", dedup_id=f"old-{n}")
    await committed_by_writer(box, 10)
    for record in box.take(10):
        box.ack(record)  # their rows stay on disk: deletions are not due
    for n in range(10):
        box.add("t/up/read", payload, category="read", dedup_id=f"new-{n}")
    await committed_by_writer(box, 20)
    assert len(rows(path)) == 20 and box.drops == {} and box.count == 10
    box.add("t/up/read", payload, category="read", dedup_id="one-more")
    await committed_by_writer(box, 21)
    # Over the bound by one record: the acknowledged rows are deleted first, and only the
    # oldest waiting record is dropped for room.
    assert box.drops == {(0, "full"): 1}
    kept = [r.dedup_id for r in rows_as_records(path)]
    assert kept == [f"new-{n}" for n in range(1, 10)] + ["one-more"]
    await box.close()


async def committed_by_writer(box: Outbox, records: int) -> None:
    """Wait for the writer's own commits (flush would also delete what is acknowledged)."""
    async with asyncio.timeout(5):
        while box.committed < records:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
