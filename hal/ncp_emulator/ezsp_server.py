"""EZSP on the NCP side: frames in, handlers by command name, responses and callbacks out.

Frames are parsed and built with bellows' own command table for the version served
(`bellows.ezsp.v13.commands.COMMANDS`: id, request schema, response schema) and bellows' types, so
nothing here re-types the EZSP reference. The version negotiation is bellows' own probe: the host
asks `version` in the legacy frame format (EZSP v4: sequence, frame control, one-byte frame id);
the NCP answers with the version it speaks, and from then on the host uses the extended format
(sequence, two bytes of frame control with frame format version 1, a two-byte frame id), which
the NCP recognises by that format version (UG100 3.1).

Commands are answered by handlers registered by name (`register`): `NcpFirmware` registers the
stack's, and other modules may plug theirs in (the CBKE library's commands, for instance). A
command with no handler is answered as a real NCP answers a frame id it does not implement, with
`invalidCommand(ERROR_INVALID_FRAME_ID)` (bellows raises InvalidCommandError), and logged at ERROR
with its name, so a test sees what the host asked that the emulator does not know. Every command
is counted (`counts`), known or not.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any

import bellows.types as t
from bellows.ezsp.v13.commands import COMMANDS

LOGGER = logging.getLogger(__name__)

PROTOCOL_VERSION = 13  # EmberZNet 7.4 (the NCP firmware most EFR32MG21 dongles ship with)
STACK_TYPE = 2  # mesh
STACK_VERSION = 0x7440  # 7.4.4.0, as the nibbles of `version`'s stackVersion
FRAME_FORMAT_VERSION_1 = 0x01  # the high frame-control byte of every extended-format frame
FC_RESPONSE = 0x80  # frame control: a response
FC_ASYNC_CALLBACK = 0x90  # frame control: a response that is an asynchronous callback (UART)

Handler = Callable[[dict[str, Any]], dict[str, Any]]
COMMANDS_BY_ID = {cmd_id: name for name, (cmd_id, _tx, _rx) in COMMANDS.items()}


class UnknownCommand(Exception):
    """A frame id, or a name, the emulator has no handler for."""


class EzspServer:
    """The EZSP layer of the emulated NCP, above bellows' ASH (see link.py)."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.counts: collections.Counter[str] = collections.Counter()
        self.unknown: collections.Counter[str] = collections.Counter()
        self.extended = False  # switched on when the host has negotiated v8+ (UG100 3.1)
        self._ash: Any = None
        self._last_seq = 0
        self._outgoing: asyncio.Queue[bytes] | None = None
        self._writer: asyncio.Task[None] | None = None
        self.on_reset: list[Callable[[], None]] = []

    def register(self, name: str, handler: Handler) -> None:
        if name not in COMMANDS:
            raise ValueError(f"{name!r} is not an EZSP v{PROTOCOL_VERSION} command")
        self.handlers[name] = handler

    # -- the ASH side (bellows' AshProtocol calls these) -----------------------------------------

    def connection_made(self, ash: Any) -> None:
        self._ash = ash
        self._outgoing = asyncio.Queue()
        self._writer = asyncio.get_running_loop().create_task(self._write_frames(ash))

    def connection_lost(self, exc: BaseException | None) -> None:
        self._ash = None
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None

    def eof_received(self) -> None:
        pass

    def error_received(self, code: Any) -> None:
        LOGGER.error("NCP emulator: the host sent an ERROR frame (%s)", code)

    def reset_received(self, code: Any) -> None:  # pragma: no cover - only a host gets RSTACK
        pass

    def ncp_reset(self) -> None:
        """The host sent RST: back to the legacy frame format, callbacks not yet sent dropped."""
        self.extended = False
        if self._outgoing is not None:
            while not self._outgoing.empty():
                self._outgoing.get_nowait()
        for listener in self.on_reset:
            listener()

    def data_received(self, frame: bytes) -> None:
        try:
            self._handle_frame(frame)
        except Exception:
            LOGGER.exception("NCP emulator: failed on frame %s", frame.hex())

    # -- frames -----------------------------------------------------------------------------------

    def _handle_frame(self, frame: bytes) -> None:
        seq = frame[0]
        self._last_seq = seq
        extended = len(frame) >= 5 and frame[2] == FRAME_FORMAT_VERSION_1
        if extended:
            frame_id, params = t.uint16_t.deserialize(frame[3:])
        else:  # the legacy format: only `version` is ever sent this way by a v8+ host
            frame_id, params = frame[2], frame[3:]
        name = COMMANDS_BY_ID.get(frame_id) if (extended or frame_id == 0) else None
        self.counts[name or f"0x{frame_id:04X}"] += 1
        handler = self.handlers.get(name) if name is not None else None
        if name is None or handler is None:
            label = name or f"frame id 0x{frame_id:04X}"
            self.unknown[label] += 1
            LOGGER.error(
                "NCP emulator: unknown EZSP command %s (%s): answered invalidCommand",
                label,
                params.hex(),
            )
            self._respond(
                seq, "invalidCommand", extended, {"status": t.EzspStatus.ERROR_INVALID_FRAME_ID}
            )
            return
        _cmd_id, tx_schema, _rx = COMMANDS[name]
        if isinstance(tx_schema, dict):
            args, rest = t.deserialize_dict(params, tx_schema)
        else:
            parsed, rest = tx_schema.deserialize(params)
            args = parsed.as_dict()
        if rest:
            LOGGER.warning("NCP emulator: %s has %d trailing bytes", name, len(rest))
        LOGGER.debug("NCP emulator: %s %s", name, args)
        try:
            response = handler(args)
            self._respond(seq, name, extended, response)
        except Exception:
            LOGGER.exception("NCP emulator: handler for %s failed: answered invalidCommand", name)
            self._respond(
                seq, "invalidCommand", extended, {"status": t.EzspStatus.ERROR_INVALID_CALL}
            )
            return
        if name == "version":
            self.extended = int(response["protocolVersion"]) >= 8

    def _respond(self, seq: int, name: str, extended: bool, fields: dict[str, Any]) -> None:
        self._queue(seq, FC_RESPONSE, name, extended, fields)

    def callback(self, name: str, **fields: Any) -> None:
        """Send an asynchronous callback (UART hosts get callbacks without polling)."""
        if self._ash is None:
            LOGGER.debug("NCP emulator: %s dropped, no host connected", name)
            return
        # The sequence number of the last command: it is answered already, so the host cannot
        # take a callback for the response to a command still waiting (bellows matches by it).
        self._queue(self._last_seq, FC_ASYNC_CALLBACK, name, self.extended, fields)

    def _queue(
        self, seq: int, control: int, name: str, extended: bool, fields: dict[str, Any]
    ) -> None:
        cmd_id, _tx, rx_schema = COMMANDS[name]
        if isinstance(rx_schema, dict):
            body = t.serialize_dict([], fields, rx_schema)
        else:  # a few responses are one struct (getTokenData's GetTokenDataRsp)
            body = rx_schema(**fields).serialize()
        if extended:
            head = bytes([seq, control, FRAME_FORMAT_VERSION_1]) + t.uint16_t(cmd_id).serialize()
        else:
            head = bytes([seq, control, cmd_id])
        if self._outgoing is not None:
            self._outgoing.put_nowait(head + body)

    async def _write_frames(self, ash: Any) -> None:
        """One DATA frame at a time, in order: bellows' ASH window is one frame (TX_K = 1)."""
        assert self._outgoing is not None
        queue = self._outgoing
        while True:
            frame = await queue.get()
            try:
                await ash.send_data(frame)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the host reset or went away: that frame is lost
                LOGGER.debug("NCP emulator: frame not delivered: %r", exc)

    def dump_counts(self) -> str:
        """Every command the host sent, with counts (known first, then unknown)."""
        lines = [f"{name} {count}" for name, count in sorted(self.counts.items())]
        if self.unknown:
            lines.append(
                "unknown: " + ", ".join(f"{k} {v}" for k, v in sorted(self.unknown.items()))
            )
        return "\n".join(lines)
