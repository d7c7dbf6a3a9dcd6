"""The loop's error handler: aiomqtt's closed-socket race is quiet, every other error is not."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from agent.loop_errors import quiet_closed_socket_races


async def test_a_watch_request_for_a_closed_socket_is_one_debug_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    quiet_closed_socket_races(loop)
    left, right = socket.socketpair()
    fd = left.fileno()
    left.close()
    right.close()
    with caplog.at_level(logging.DEBUG):
        # What aiomqtt does from paho's callback, after the socket is already gone.
        loop.call_soon(loop.add_writer, fd, lambda: None)
        await asyncio.sleep(0.01)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("closed before the loop could watch it" in r.message for r in caplog.records)


async def test_any_other_error_in_a_callback_still_reaches_the_default_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    quiet_closed_socket_races(loop)

    def broken() -> None:
        raise OSError(9, "Bad file descriptor")  # the same error, not from a socket watch

    with caplog.at_level(logging.DEBUG):
        loop.call_soon(broken)
        await asyncio.sleep(0.01)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and "Exception in callback" in errors[0].message
