"""cancel_and_wait ends a task whose cancellation Python 3.11's asyncio.wait_for swallowed."""

from __future__ import annotations

import asyncio
import sys

import pytest

from agent.cancel import cancel_and_wait


async def _victim(answer: asyncio.Future[None], after: asyncio.Event) -> None:
    # As aiomqtt waits for a PUBACK; then goes on, as the uplink does after a publish.
    await asyncio.wait_for(answer, timeout=10)
    after.set()
    await asyncio.sleep(3600)


async def _waiting_victim() -> tuple[asyncio.Task[None], asyncio.Future[None], asyncio.Event]:
    """A task waiting inside wait_for for an answer that has not come yet."""
    answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    after = asyncio.Event()
    task = asyncio.ensure_future(_victim(answer, after))
    await asyncio.sleep(0)
    return task, answer, after


async def test_the_race_swallows_a_plain_cancel_on_python_3_11() -> None:
    task, answer, after = await _waiting_victim()
    answer.set_result(None)  # the answer and the cancel in the same turn of the loop
    task.cancel()
    await asyncio.sleep(0.05)
    try:
        if sys.version_info < (3, 12):
            # The race this module exists for: the cancel was lost and the task ran on.
            assert after.is_set() and not task.done()
        else:
            assert task.cancelled() and not after.is_set()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_cancel_and_wait_ends_the_task_even_so() -> None:
    task, answer, after = await _waiting_victim()
    answer.set_result(None)  # the same race, met by cancel_and_wait's first cancel
    async with asyncio.timeout(5):
        await cancel_and_wait(task, every=0.01)
    assert task.cancelled()
    if sys.version_info < (3, 12):
        assert after.is_set()  # the first cancel was swallowed: it took another


async def test_cancel_and_wait_on_a_task_that_failed_or_ended() -> None:
    async def fails() -> None:
        raise ValueError("its own error")

    failed = asyncio.ensure_future(fails())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="its own error"):  # as `await task` would raise it
        await cancel_and_wait(failed)
    done = asyncio.ensure_future(asyncio.sleep(0))
    await done
    await cancel_and_wait(done)
    assert done.done() and not done.cancelled()
