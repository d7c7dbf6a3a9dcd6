"""Cancel a task and wait until it has ended, even where Python 3.11 swallows the cancellation.

On 3.11 `asyncio.wait_for` returns its result instead of raising CancelledError when the awaited
future completes in the same turn of the loop as the cancel (fixed in 3.12). aiomqtt waits for
every PUBACK and SUBACK through `wait_for`, so a task cancelled just as the broker answers goes
on running: a hub stopping during a reconnect would wait for an uplink task that never ends
(the consent kill loop met the same race in its own client, tests/test_consent_crash.py). The
cancel is therefore repeated until the task is done.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any], *, every: float = 0.1) -> None:
    """Cancel `task`, again every `every` seconds while it runs on, and return once it ended,
    as `task.cancel(); await task` would: an exception the task ended with is raised here."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=every)
    with contextlib.suppress(asyncio.CancelledError):
        task.result()
