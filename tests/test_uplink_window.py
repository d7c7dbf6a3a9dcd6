"""The uplink's publish window: a slow PUBACK must not hold back the records behind it.

A real broker cannot be made to delay one PUBACK on demand, so the publisher here is a stand-in
with aiomqtt's `publish` signature whose acknowledgement for one topic waits for the test. The
outbox is the real one on SQLite. Everything else about the uplink runs against a real
mosquitto in tests/test_delivery.py and tests/test_reconnect.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.config import MqttSettings
from agent.outbox import Outbox
from agent.uplink import MAX_INFLIGHT, Uplink


class StallingPublisher:
    """Acknowledges every publish at once, except those on `stalled_topic` (every topic when
    it is "#") until released."""

    def __init__(self, stalled_topic: str) -> None:
        self.stalled_topic = stalled_topic
        self.release = asyncio.Event()
        self.issued: list[str] = []
        self.acked: list[str] = []

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False
    ) -> None:
        self.issued.append(topic)
        if self.stalled_topic in (topic, "#"):
            await self.release.wait()
        await asyncio.sleep(0)
        self.acked.append(topic)


async def wait_until(predicate: object, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.005)


@pytest.fixture
async def uplink_and_box(tmp_path: Path) -> AsyncIterator[tuple[Uplink, Outbox]]:
    """An uplink (never connected: its drain is driven directly) over a real outbox."""
    box = Outbox(tmp_path / "o.sqlite", max_bytes=10**9, max_age=10**6)
    await box.open()
    settings = MqttSettings("127.0.0.1", 1, False, "hub", None, None, None, 60, "5")

    async def ignore(topic: str, payload: bytes) -> None:
        return None

    yield Uplink(settings, "hub", ignore, outbox=box), box
    await box.close()


async def stop(drain: asyncio.Future[None]) -> None:
    drain.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await drain


async def test_records_keep_flowing_while_the_oldest_publish_waits_for_its_puback(
    uplink_and_box: tuple[Uplink, Outbox],
) -> None:
    uplink, box = uplink_and_box
    client = StallingPublisher("hub/up/slow")
    drain = asyncio.ensure_future(uplink._drain(client))  # type: ignore[arg-type]
    try:
        box.add("hub/up/slow", b"first", category="security", dedup_id="slow")
        await wait_until(lambda: client.issued == ["hub/up/slow"])
        # While the first waits for its acknowledgement, later records go out and are retired.
        for n in range(3 * MAX_INFLIGHT):
            box.add(f"hub/up/fast{n}", b"x", category="security", dedup_id=f"fast{n}")
        await wait_until(lambda: len(client.acked) == 3 * MAX_INFLIGHT)
        assert client.acked == [f"hub/up/fast{n}" for n in range(3 * MAX_INFLIGHT)]
        assert uplink.published == 3 * MAX_INFLIGHT
        assert box.waiting >= 1  # the stalled one is still owed
        client.release.set()
        await wait_until(lambda: uplink.published == 3 * MAX_INFLIGHT + 1)
        await box.flush()
        assert box.waiting == 0  # every record acknowledged is deleted
    finally:
        await stop(drain)


async def test_a_lost_session_puts_unacknowledged_records_back_in_order(
    uplink_and_box: tuple[Uplink, Outbox],
) -> None:
    uplink, box = uplink_and_box
    client = StallingPublisher("#")  # nothing is acknowledged
    drain = asyncio.ensure_future(uplink._drain(client))  # type: ignore[arg-type]
    for name in ("a", "b", "c"):
        box.add(f"hub/up/{name}", b"x", category="alert", dedup_id=name)
    await wait_until(lambda: len(client.issued) == 3)
    await stop(drain)
    assert [r.dedup_id for r in box.take(10)] == ["a", "b", "c"]
