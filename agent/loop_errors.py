"""The event loop's handler for errors in callbacks: one known harmless race made quiet.

aiomqtt asks the loop to watch paho's socket for writing with `call_soon_threadsafe(add_writer,
fd, ...)`. When the connection closes between that request and its turn (a broker restart, a
hub stopping mid-burst), `add_writer` meets a closed descriptor and the loop logs an ERROR with a
traceback, though nothing is lost: the connection was going away and the uplink reconnects and
sends again. On a hub run unattended that traceback reads like a fault, so it becomes one DEBUG
line; every other error in a callback still goes to the loop's default handler.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import Any

LOGGER = logging.getLogger(__name__)


def quiet_closed_socket_races(loop: asyncio.AbstractEventLoop) -> None:
    watchers = (loop.add_writer, loop.add_reader, loop.remove_writer, loop.remove_reader)

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        callback = getattr(context.get("handle"), "_callback", None)
        if isinstance(exc, OSError) and exc.errno == errno.EBADF and callback in watchers:
            LOGGER.debug("a socket closed before the loop could watch it: %s", exc)
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
