"""An EZSP command path with no serial link, for the CBKE frames: the host side is what bellows'
EZSP object offers the hub (`ezsp.<frameName>(**kwargs)` returning the response values as a
list, `add_callback`/`remove_callback` for callbacks), the NCP side is EzspCbkeHandlers. Every
request, response and callback crosses as bytes through bellows' own schemas
(bellows.types.serialize_dict / deserialize_dict with the negotiated version's COMMANDS), as on
the wire; only ASH and the UART are missing (the EZSP NCP emulator provides those).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import bellows.types as t

from hal.cbke_math.ncp import EZSP_FRAMES, EzspCbkeHandlers


class LoopbackEzsp:
    def __init__(self, handlers: EzspCbkeHandlers, commands: dict[str, Any]) -> None:
        self.handlers = handlers
        self.commands = commands
        self._callbacks: dict[int, Callable[..., None]] = {}
        self.sent: list[str] = []  # frame names, in order

    def __getattr__(self, name: str) -> Any:
        if name not in EZSP_FRAMES:
            raise AttributeError(f"loopback NCP does not answer {name}")
        return functools.partial(self._command, name)

    async def _command(self, name: str, *args: Any, **kwargs: Any) -> list[Any]:
        _id, tx_schema, rx_schema = self.commands[name]
        request = t.serialize_dict(args, kwargs, tx_schema)
        self.sent.append(name)
        decoded, rest = t.deserialize_dict(request, tx_schema)
        assert rest == b""
        reply = self.handlers.handle(name, decoded)
        response = t.serialize_dict((), reply.response, rx_schema)
        loop = asyncio.get_running_loop()
        for callback_name, values in reply.callbacks:
            cb_schema = self.commands[callback_name][2]
            frame = t.serialize_dict((), values, cb_schema)
            loop.call_soon(self._deliver, callback_name, frame, cb_schema)
        result, rest = t.deserialize_dict(response, rx_schema)
        assert rest == b""
        return list(result.values())

    def _deliver(self, name: str, frame: bytes, schema: dict[str, Any]) -> None:
        result, _ = t.deserialize_dict(frame, schema)
        for callback in list(self._callbacks.values()):
            callback(name, list(result.values()))

    def add_callback(self, callback: Callable[..., None]) -> int:
        callback_id = id(callback)
        self._callbacks[callback_id] = callback
        return callback_id

    def remove_callback(self, callback_id: int) -> Callable[..., None]:
        return self._callbacks.pop(callback_id)
