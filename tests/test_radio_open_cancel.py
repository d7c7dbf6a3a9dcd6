"""A radio open cancelled at any moment leaves no thread behind, so the process can still exit.

zigpy's device database runs in an aiosqlite thread and bellows' serial link in an event-loop
thread of its own; neither is a daemon, and neither library stops its thread when the open is
cancelled half-way (only after an exception). A thread left behind keeps the interpreter waiting
at exit for ever: a hub told to stop while it was retrying a missing dongle hung until systemd
killed it. An open is cancelled by the supervisor's stop and by its open deadline.

Two ways of cancelling: at the moment each library thread has just started (bellows' thread is
left running every time without the fix), and at moments spread over a whole attempt (a database
cut off while it loads is held in a reference cycle with the application, so its thread outlives
the attempt).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hal.radio import RadioSettings, open_radio

SWEEP_POINTS = 12


def lingering_threads() -> list[str]:
    """Threads the interpreter waits for at exit. asyncio's executor threads are left out:
    asyncio.run shuts its executor down itself."""
    return [
        t.name
        for t in threading.enumerate()
        if t is not threading.main_thread() and not t.daemon and not t.name.startswith("asyncio_")
    ]


def thread_started(marker: str) -> Callable[[], bool]:
    return lambda: any(marker in t.name for t in threading.enumerate())


def seconds_passed(seconds: float) -> Callable[[], bool]:
    begun = time.monotonic()
    return lambda: time.monotonic() - begun >= seconds


@pytest.fixture
def silent_pty() -> Iterator[str]:
    """A serial end that opens but never answers: bellows connects, then waits for a reset."""
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


def settings_for(kind: str, tmp_path: Path, pty: str) -> RadioSettings:
    if kind == "missing port":
        return RadioSettings(type="ezsp", path=str(tmp_path / "ttyUSB-not-here"))
    if kind == "silent pty":
        return RadioSettings(type="ezsp", path=pty)
    return RadioSettings(type="virtual", channel=15)


async def cancel_open(settings: RadioSettings, state: Path, when: Callable[[], bool]) -> str:
    """Open the radio, cancel it once `when()` holds (or it has ended), and say how it ended."""
    task = asyncio.ensure_future(open_radio(settings, state))
    async with asyncio.timeout(10):
        while not when() and not task.done():  # noqa: ASYNC110 - polling another thread's state
            await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    if task.cancelled():
        return "cancelled"
    if task.exception() is not None:
        return f"failed: {task.exception()!r}"
    await task.result().shutdown()  # finished before the cancel: closed as a caller would
    return "opened"


async def no_thread_left(within: float = 3.0) -> list[str]:
    deadline = time.monotonic() + within
    while lingering_threads() and time.monotonic() < deadline:  # noqa: ASYNC110 - other threads
        await asyncio.sleep(0.02)
    return lingering_threads()


@pytest.mark.parametrize(
    ("kind", "marker"),
    [
        ("missing port", "_connection_worker_thread"),  # aiosqlite's thread: the database
        ("missing port", "bellows.thread"),  # bellows' serial thread
        ("silent pty", "bellows.thread"),
        ("virtual", "_connection_worker_thread"),
    ],
)
async def test_cancelled_as_a_library_thread_starts(
    tmp_path: Path, silent_pty: str, kind: str, marker: str
) -> None:
    assert lingering_threads() == []
    settings = settings_for(kind, tmp_path, silent_pty)
    ended = await cancel_open(settings, tmp_path, thread_started(marker))
    assert ended == "cancelled", "the cancel landed while the thread was starting"
    assert await no_thread_left() == [], f"{kind}: cancelled as {marker} started"


@pytest.mark.parametrize("kind", ["missing port", "silent pty", "virtual"])
async def test_cancelled_at_moments_across_an_attempt(
    tmp_path: Path, silent_pty: str, kind: str
) -> None:
    settings = settings_for(kind, tmp_path, silent_pty)
    # The length of one attempt, up to the first half second (a silent pty waits ~7 s for bellows'
    # reset timeouts; its threads all start in the first milliseconds).
    started = time.monotonic()
    ended = await cancel_open(settings, tmp_path, seconds_passed(0.5))
    span = time.monotonic() - started
    assert ended in ("cancelled", "opened") or ended.startswith("failed")
    assert await no_thread_left() == []
    for point in range(SWEEP_POINTS):
        at = span * (point + 0.5) / SWEEP_POINTS
        ended = await cancel_open(settings, tmp_path, seconds_passed(at))
        assert await no_thread_left() == [], f"{kind}: cancelled {at * 1000:.0f} ms in ({ended})"
