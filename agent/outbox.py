"""The durable outbox: nothing the hub has accepted for the WAN is lost.

Rules of this module:

* A record counts as received only once it is committed to SQLite (WAL, synchronous=FULL) in the
  state directory. Only committed records are published, and a record is deleted only after the
  broker's PUBACK for it. A crash at any instant loses at most the records accepted in the last
  commit window (`window` seconds, 2 ms by default, plus the commit itself): that is the only
  loss window on power loss, and it is the price of not paying one fsync per frame in a burst.
  The window applies only during a burst (a commit ended less than a window ago); a record
  after a quiet spell is committed at once. Every forwarded frame waits for its commit, so the
  window is latency: 50 ms gave a p99 of 57 ms from radio to subscriber at 100 frames/s
  (BENCHMARKS.md).
* Records go out by priority, highest first, and within one priority in the order they were
  accepted. Priorities follow what restricted mode exists to protect: critical alerts, safety and
  security (3), firmware (2), other alerts and command results (1), everything else (0).
* The outbox is bounded by bytes and by age. Over the byte bound, records are dropped lowest
  priority first and, within a priority, oldest first; critical, safety and security go last.
  Records older than the age bound are dropped whatever their priority. Every drop is counted per
  priority and reason, persisted, and reported in health.
* After a crash, records that were published but whose deletion was not yet committed (about a
  second's worth of acknowledgements) are sent again: consumers see a duplicate with the same
  `id`, never a gap.

Theory of operation. `add` is called on the event loop for every accepted frame and only appends
to memory. A writer task wakes at most every `window` seconds and, on a single worker thread
(SQLite and fsync never run on the event loop), inserts the pending records: one statement, its
own transaction. About once a second (every `delete_after` seconds, or DELETE_BATCH
acknowledgements), and whenever a bound applies, the same transaction also deletes the
acknowledged records and applies the bounds. Committed records are handed to the
publisher through per-priority FIFOs in memory; when more than `memory_records` are waiting, the
rest stay on disk and are read back in order as the FIFOs drain (after a restart everything is
read back this way).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple

from agent.state import StateError

LOGGER = logging.getLogger(__name__)

PRIORITY_BY_CATEGORY = {
    "critical_alert": 3,
    "safety": 3,
    "security": 3,
    "firmware": 2,
    "alert": 1,
    "result": 1,
}
PRIORITIES = (3, 2, 1, 0)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    priority INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    dedup_id TEXT NOT NULL,
    accepted_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_order ON outbox (priority, seq);
CREATE INDEX IF NOT EXISTS outbox_age ON outbox (accepted_at);
CREATE TABLE IF NOT EXISTS drops (
    priority INTEGER NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (priority, reason)
);
"""


CHUNK = 500
"""Records per INSERT or DELETE statement (at most INSERT_COLUMNS parameters each: far below
SQLite's limit). Every statement the writer thread runs releases and retakes the GIL, and on a
busy hub each retake is a thread switch with the event loop: a statement per record cost more
than the SQL itself (BENCHMARKS.md)."""
INSERT_COLUMNS = 7

DELETE_AFTER = 1.0
"""Seconds an acknowledged record may stay on disk before its deletion is committed."""
DELETE_BATCH = 2000
"""Acknowledged records that make a deletion due at once."""

Drop = tuple[int, int, str, int]
"""(priority, seq, reason, size) of a record a bound removed."""


def priority_of(category: str) -> int:
    return PRIORITY_BY_CATEGORY.get(category, 0)


class Record(NamedTuple):
    """An accepted record, numbered when accepted. A tuple whose fields are the table's
    columns in order: thousands are made a second, the same object is the INSERT's
    parameters, the publisher's item and the acknowledgement, and a frozen dataclass's
    constructor costs four times as much."""

    seq: int
    priority: int
    topic: str
    payload: bytes
    qos: int
    dedup_id: str
    accepted_at: float

    @property
    def size(self) -> int:
        return len(self.payload) + len(self.topic)


@lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    return (
        "INSERT INTO outbox (seq, priority, topic, payload, qos, dedup_id, accepted_at) VALUES "
        + ",".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows)
    )


def _delete_sql(rows: int) -> str:
    return "DELETE FROM outbox WHERE seq IN (" + ",".join(["?"] * rows) + ")"


def _check_storable(*texts: str) -> None:
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                "not storable: text with a lone surrogate is not valid Unicode"
            ) from None


def _chunks(values: list[Any], size: int) -> list[list[Any]]:
    return [values[at : at + size] for at in range(0, len(values), size)]


class Outbox:
    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int,
        max_age: float,
        window: float = 0.002,
        memory_records: int = 5000,
        clock: Any = time.time,
        delete_after: float = DELETE_AFTER,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.window = window
        self.memory_records = memory_records
        self.clock = clock
        self.delete_after = delete_after
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._db: sqlite3.Connection | None = None
        self._pending: list[Record] = []  # accepted, not yet committed
        self._acked: list[Record] = []  # acknowledged, their deletion not yet committed
        self._first_ack = 0.0  # when the oldest of them was acknowledged
        self._ready: dict[int, deque[Record]] = {p: deque() for p in PRIORITIES}
        self._cursor: dict[int, int] = dict.fromkeys(PRIORITIES, 0)  # last seq read into memory
        self._on_disk_only: Counter[int] = Counter()  # committed, not yet read into memory
        self._inflight: set[int] = set()
        self._dropped_inflight: set[int] = set()
        self._next_age_check = 0.0
        self._next_seq = 1  # the database's is read in open()
        self._synchronous = "FULL"  # the connection's setting: FULL, or NORMAL for deletions
        self._last_commit = time.monotonic()  # when the last transaction with inserts ended
        self.total_bytes = 0
        self.count = 0
        self.drops: Counter[tuple[int, str]] = Counter()
        self.committed = 0
        self.commits = 0
        self.last_commit_error: str | None = None
        self._wake_writer = asyncio.Event()
        self.ready_event = asyncio.Event()
        self.on_ready: Callable[[], None] | None = None  # the publisher's wake-up
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._open_db)
            first = await loop.run_in_executor(self._executor, self._load_state)
        except sqlite3.DatabaseError as exc:
            name = self.path.name
            raise StateError(
                f"state error: {self.path}: the outbox cannot be opened ({exc}); if it is "
                f"damaged, move it aside (with any {name}-wal and {name}-shm) to start with an "
                "empty outbox: the records in it not yet published are then not sent"
            ) from None
        # Records accepted before the database was read were numbered from 1: number them anew.
        self._pending = [r._replace(seq=first + n) for n, r in enumerate(self._pending)]
        self._next_seq = first + len(self._pending)
        await self._fill_from_disk()
        self._writer = loop.create_task(self._write_loop())
        self._writer.add_done_callback(self._writer_ended)

    def _writer_ended(self, task: asyncio.Task[None]) -> None:
        if self._closed or task.cancelled():
            return
        # Never expected: from now on nothing is committed, so nothing goes upstream. Said at
        # error level; health says `failing`, and the watchdog stops so systemd restarts us.
        exc = task.exception()
        self.last_commit_error = f"writer stopped: {exc!r}"
        LOGGER.error("outbox writer stopped: %r; nothing more is committed or sent", exc)

    def _open_db(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        self._db = db

    def _load_state(self) -> int:
        """Reads the counts, sizes and drops; returns the first sequence number never used."""
        db = self._require_db()
        # Sequence numbers are given by add(), not by SQLite, so that a batch is one statement.
        # AUTOINCREMENT keeps the highest ever used in sqlite_sequence (explicit values too),
        # so a number is never reused, even after the table was emptied.
        (used,) = db.execute(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0), "
            "COALESCE((SELECT MAX(seq) FROM outbox), 0))"
        ).fetchone()
        for priority, count, total in db.execute(
            "SELECT priority, COUNT(*), COALESCE(SUM(LENGTH(payload) + LENGTH(topic)), 0) "
            "FROM outbox GROUP BY priority"
        ):
            self._on_disk_only[priority] = count
            self.count += count
            self.total_bytes += total
        for priority, reason, count in db.execute("SELECT priority, reason, count FROM drops"):
            self.drops[(priority, reason)] = count
        return int(used) + 1

    def _require_db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("outbox is not open")
        return self._db

    async def flush(self) -> None:
        """Commit what is pending and acknowledged now, without waiting for the window."""
        await self._commit(delete_all=True)

    async def close(self) -> None:
        """Commit what is pending and acknowledged, then close the database."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._writer.cancel()
            # A writer that failed already said so; its error must not stop the close.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
        with contextlib.suppress(Exception):
            await self._commit(delete_all=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_db)
        self._executor.shutdown(wait=True)

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- the event-loop side ---------------------------------------------------------------------

    def add(
        self, topic: str, payload: bytes, *, category: str, dedup_id: str, qos: int = 1
    ) -> None:
        """Accept a record; it is durable after the next commit (within `window` seconds).

        ValueError for a record SQLite cannot store (text that is not valid Unicode): refused
        here, to its caller, because once pending it would fail every commit after it."""
        if not (topic.isascii() and dedup_id.isascii()):
            _check_storable(topic, dedup_id)
        # Numbered here, not by SQLite, so that a batch is one statement; a failed commit
        # keeps its records, numbers and all, for the next try.
        seq = self._next_seq
        self._next_seq = seq + 1
        self._pending.append(
            Record(seq, priority_of(category), topic, payload, qos, dedup_id, self.clock())
        )
        self._wake_writer.set()

    def take(self, limit: int) -> list[Record]:
        """Up to `limit` committed records, highest priority first, in acceptance order."""
        out: list[Record] = []
        for queue in self._ready.values():  # keyed in PRIORITIES order: highest first
            while queue and len(out) < limit:
                record = queue.popleft()
                self._inflight.add(record.seq)
                out.append(record)
        if not self.has_ready():
            self.ready_event.clear()
        if self._should_read_disk():
            self._wake_writer.set()
        return out

    def release(self, records: Iterable[Record]) -> None:
        """Records whose publish did not complete go back, in acceptance order."""
        back: dict[int, list[Record]] = {}
        for record in records:
            self._inflight.discard(record.seq)
            if record.seq in self._dropped_inflight:
                self._dropped_inflight.discard(record.seq)
                continue
            back.setdefault(record.priority, []).append(record)
        for priority, returned in back.items():
            # Rare (a lost connection): a merge by sequence keeps acceptance order whatever
            # order the publisher gives them back in.
            merged = sorted([*returned, *self._ready[priority]], key=lambda r: r.seq)
            self._ready[priority] = deque(merged)
        if self.has_ready():
            self._signal_ready()

    def ack(self, record: Record) -> None:
        """The broker has the record: it no longer counts, and is deleted from disk within
        `delete_after` seconds or so (sooner in a burst)."""
        self._inflight.discard(record.seq)
        if record.seq in self._dropped_inflight:
            self._dropped_inflight.discard(record.seq)
            return
        self._forget(record.size)
        if not self._acked:
            self._first_ack = time.monotonic()
        self._acked.append(record)
        if len(self._acked) >= DELETE_BATCH:
            self._wake_writer.set()

    def _signal_ready(self) -> None:
        self.ready_event.set()
        if self.on_ready is not None:
            self.on_ready()

    def has_ready(self) -> bool:
        # Asked on every turn of the publisher's loop: no generator, no lookups by key.
        return any(self._ready.values())

    def _ready_count(self) -> int:
        return sum(map(len, self._ready.values()))

    def _should_read_disk(self) -> bool:
        return (
            sum(self._on_disk_only.values()) > 0 and self._ready_count() < self.memory_records // 2
        )

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def waiting(self) -> int:
        """Committed records not yet acknowledged by the broker."""
        return self.count

    def stats(self) -> dict[str, Any]:
        dropped: dict[str, int] = {}
        for (priority, reason), n in sorted(self.drops.items()):
            dropped[f"p{priority}_{reason}"] = n
        return {
            "records": self.count,
            "bytes": self.total_bytes,
            "pending": len(self._pending),
            "max_bytes": self.max_bytes,
            "max_age_s": self.max_age,
            "dropped": dropped,
            "dropped_total": sum(self.drops.values()),
            "writer": "ok" if self.writer_healthy() else f"failing: {self.writer_trouble()}",
        }

    def writer_healthy(self) -> bool:
        return self.last_commit_error is None and (
            self._writer is not None and not self._writer.done()
        )

    def writer_trouble(self) -> str:
        """Why the writer is not healthy, as health and the watchdog both say it."""
        return self.last_commit_error or "not running"

    # -- the writer ------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        backoff = self.window
        while True:
            # Woken by new records or acks; at least once a second so the age bound applies
            # on a quiet hub too.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._wake_writer.wait()
            self._wake_writer.clear()
            # During a burst (the last commit of new records ended less than a window ago) let
            # it gather for one window: one transaction, one fsync, for all of it. After a quiet
            # spell the record goes at once: waiting would only add the window to its latency.
            if time.monotonic() - self._last_commit < self.window:
                await asyncio.sleep(self.window)
            try:
                await self._commit()
                await self._fill_from_disk()
                backoff = self.window
            except Exception as exc:
                # sqlite3.Error (disk full, I/O error) or a bug: either way the writer lives on
                # and retries; health and the watchdog say it is failing meanwhile.
                trouble = f"{type(exc).__name__}: {exc}"
                if trouble != self.last_commit_error:
                    LOGGER.error("outbox commit failed (will retry): %s", trouble)
                self.last_commit_error = trouble
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._wake_writer.set()

    async def _commit(self, *, delete_all: bool = False) -> None:
        records, self._pending = self._pending, []
        # Handed to the thread as ready-made statement parameters (a Record is its row), so the
        # thread runs SQL only: one statement per CHUNK records inserted or deleted, each
        # releasing the GIL for the whole of its work.
        new_bytes = sum(r.size for r in records)
        bounded = self._over_bounds(new_bytes)
        # Deletions wait for a batch: a commit of inserts alone is one statement, and each
        # statement the writer thread runs is a GIL handover with the loop (BENCHMARKS.md).
        # The bounds read the table, so they never run with acknowledged rows still in it.
        acked: list[Record] = []
        if self._acked and (
            delete_all
            or bounded
            or len(self._acked) >= DELETE_BATCH
            or time.monotonic() - self._first_ack >= self.delete_after
        ):
            acked, self._acked = self._acked, []
        if not records and not acked and not bounded:
            return
        inserts = [list(chain.from_iterable(chunk)) for chunk in _chunks(records, CHUNK)]
        # Acknowledgements rarely come as runs of consecutive numbers: records of several
        # priorities interleave, and PUBACKs retire in any order.
        deletions = _chunks([r.seq for r in acked], CHUNK)
        loop = asyncio.get_running_loop()
        try:
            dropped = await loop.run_in_executor(
                self._executor,
                self._commit_in_thread,
                inserts,
                deletions,
                new_bytes,
                bounded,
                bool(records) or bounded,
            )
        except BaseException:
            # Nothing was committed: keep everything for the next try.
            self._pending[:0] = records
            self._acked[:0] = acked
            raise
        self.last_commit_error = None
        if records:  # a deletion-only commit is not a burst: it must not delay the next frame
            self._last_commit = time.monotonic()
        self.commits += 1
        self.committed += len(records)
        self.total_bytes += new_bytes
        self.count += len(records)
        room = self.memory_records - self._ready_count()
        for record in records:
            priority = record.priority
            if self._on_disk_only[priority] or room <= 0:
                self._on_disk_only[priority] += 1
            else:
                self._ready[priority].append(record)
                self._cursor[priority] = record.seq
                room -= 1
        for priority, seq, reason, size in dropped:
            self._drop_from_memory(priority, seq)
            self._forget(size)
            self.drops[(priority, reason)] += 1
        if self.has_ready():
            self._signal_ready()

    def _forget(self, size: int) -> None:
        self.total_bytes -= size
        self.count -= 1

    def _drop_from_memory(self, priority: int, seq: int) -> None:
        queue = self._ready[priority]
        if seq in self._inflight:
            self._dropped_inflight.add(seq)
        elif queue and queue[0].seq == seq:  # the usual case: bounds drop the oldest first
            queue.popleft()
        elif queue and any(r.seq == seq for r in queue):
            self._ready[priority] = deque(r for r in queue if r.seq != seq)
        elif seq > self._cursor[priority]:
            self._on_disk_only[priority] -= 1

    def _over_bounds(self, new_bytes: int = 0) -> bool:
        if self.total_bytes + new_bytes > self.max_bytes:
            return True
        return self.max_age > 0 and self.count > 0 and self.clock() >= self._next_age_check

    def _commit_in_thread(
        self,
        inserts: list[list[object]],
        deletions: list[list[int]],
        new_bytes: int,
        bounded: bool,
        durable: bool,
    ) -> list[Drop]:
        db = self._require_db()
        # A transaction that only deletes acknowledged records is not worth an fsync: if power
        # fails before the next synced commit, those records are sent again (a duplicate with
        # the same id, which consumers already handle), and nothing accepted is lost. It halves
        # the fsyncs at low rates, and a frame no longer waits behind one (BENCHMARKS.md).
        synchronous = "FULL" if durable else "NORMAL"
        if synchronous != self._synchronous:
            db.execute(f"PRAGMA synchronous={synchronous}")
            self._synchronous = synchronous
        if len(inserts) == 1 and not deletions and not bounded:
            # The usual commit: one statement, its own transaction.
            db.execute(_insert_sql(len(inserts[0]) // INSERT_COLUMNS), inserts[0])
            return []
        db.execute("BEGIN IMMEDIATE")
        try:
            for seqs in deletions:
                db.execute(_delete_sql(len(seqs)), seqs)
            for values in inserts:
                db.execute(_insert_sql(len(values) // INSERT_COLUMNS), values)
            dropped = self._apply_bounds(db, new_bytes) if bounded else []
            counts = Counter((priority, reason) for priority, _seq, reason, _size in dropped)
            for (priority, reason), count in counts.items():
                db.execute(
                    "INSERT INTO drops (priority, reason, count) VALUES (?, ?, ?) "
                    "ON CONFLICT (priority, reason) DO UPDATE SET count = count + excluded.count",
                    (priority, reason, count),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return dropped

    def _apply_bounds(self, db: sqlite3.Connection, new_bytes: int) -> list[Drop]:
        """Inside the transaction: which rows the age and byte bounds remove."""
        dropped: list[Drop] = []
        now = self.clock()
        if self.max_age > 0 and now >= self._next_age_check:
            self._next_age_check = now + 1.0
            for priority, seq, size in db.execute(
                "SELECT priority, seq, LENGTH(payload) + LENGTH(topic) FROM outbox "
                "WHERE accepted_at < ? ORDER BY seq",
                (now - self.max_age,),
            ).fetchall():
                dropped.append((priority, seq, "expired", size))
        total = self.total_bytes + new_bytes  # acknowledged records are already forgotten
        total -= sum(size for _p, _s, _r, size in dropped)
        if total > self.max_bytes:
            already = {seq for _p, seq, _r, _z in dropped}
            rows = db.execute(
                "SELECT priority, seq, LENGTH(payload) + LENGTH(topic) FROM outbox "
                "ORDER BY priority ASC, seq ASC"
            )
            for priority, seq, size in rows:
                if total <= self.max_bytes:
                    break
                if seq in already:
                    continue
                dropped.append((priority, seq, "full", size))
                total -= size
        for seqs in _chunks([d[1] for d in dropped], CHUNK):
            db.execute(_delete_sql(len(seqs)), seqs)
        return dropped

    async def _fill_from_disk(self) -> None:
        if not self._should_read_disk():
            return
        room = self.memory_records - self._ready_count()
        loop = asyncio.get_running_loop()
        wanted = {p: min(self._on_disk_only[p], room) for p in PRIORITIES if self._on_disk_only[p]}
        loaded = await loop.run_in_executor(self._executor, self._read_in_thread, wanted)
        for priority, records in loaded.items():
            for record in records:
                self._ready[priority].append(record)
                self._cursor[priority] = record.seq
            self._on_disk_only[priority] -= len(records)
        if self.has_ready():
            self._signal_ready()

    def _read_in_thread(self, wanted: dict[int, int]) -> dict[int, list[Record]]:
        db = self._require_db()
        out: dict[int, list[Record]] = {}
        for priority, limit in wanted.items():
            rows = db.execute(
                "SELECT seq, priority, topic, payload, qos, dedup_id, accepted_at FROM outbox "
                "WHERE priority = ? AND seq > ? ORDER BY seq LIMIT ?",
                (priority, self._cursor[priority], limit),
            ).fetchall()
            out[priority] = [Record(*row) for row in rows]
        return out
