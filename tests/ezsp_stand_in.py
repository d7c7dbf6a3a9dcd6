"""An in-process stand-in for the serial link and the NCP, for the EZSP send path's tests.

A fake only because no dongle runs here: it sits where bellows' ASH gateway sits (the object
whose `send_data` the EZSP protocol handler calls), decodes every host frame with the protocol
handler's own command table and schemas, answers with frames serialized from the same schemas,
and feeds `messageSentHandler` callbacks back through the protocol handler's own `__call__`.
So bellows' real EZSP object, protocol handler and application code run unchanged above it.

Fragments a host sends are reassembled twice: by bellows' own FragmentManager, reading the
groupId as bellows' protocol.py reads an incoming fragment, and by hal.aps_fragments'
Reassembler with the NCP's window, which refuses bad numbering. An unfragmented payload over
the stack's limit is refused with MESSAGE_TOO_LONG, as an NCP refuses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bellows.ezsp
import bellows.types as bt
from bellows.ezsp.fragmentation import FragmentManager

from hal import aps_fragments

HUB_NWK = 0x0000


@dataclass
class Unicast:
    """One sendUnicast the host made, as the NCP decoded it."""

    nwk: int
    aps_frame: bt.EmberApsFrame
    tag: int
    data: bytes
    aps_sequence: int  # what the NCP answered (and put on air)
    at: float = 0.0


@dataclass
class StandInNcp:
    version: int
    window: int = 1
    # status of the messageSentHandler for each unicast (None: never sent, as a lost callback)
    outcome: Callable[[Unicast], bt.sl_Status | None] = lambda _u: bt.sl_Status.OK
    unicasts: list[Unicast] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    delivered: list[bytes] = field(default_factory=list)  # bellows' FragmentManager's output
    checked: list[bytes] = field(default_factory=list)  # the windowed Reassembler's output
    refusals: list[str] = field(default_factory=list)
    max_in_flight: int = 0
    confirm_delay: float = 0.0  # seconds from sendUnicast to its messageSentHandler
    hidden_overhead: int = 0  # header bytes the host cannot know of (a route the NCP adds)
    neighbours: dict[bt.EUI64, int] = field(default_factory=dict)  # the NCP's address knowledge
    extended_timeout: dict[bt.EUI64, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ezsp = bellows.ezsp.EZSP({})
        self.protocol = bellows.ezsp.EZSP._BY_VERSION[self.version](self.ezsp.handle_callback, self)
        self.ezsp._protocol = self.protocol
        self.ezsp._ezsp_version = self.version
        self.ezsp._gw = self
        self.ezsp._ezsp_event.set()  # EZSP "running": version and start-up done
        self._aps_counter = 0x40
        self._unconfirmed: set[int] = set()
        self.fragments = FragmentManager()
        self.reassembler = aps_fragments.Reassembler(timeout_s=10, window=self.window)

    # -- what bellows' Gateway offers the protocol handler ------------------------------------

    async def send_data(self, data: bytes) -> None:
        seq = data[0]
        frame_id, rest = (data[2], data[3:]) if self.version < 8 else self._frame_id(data)
        name, tx_schema, rx_schema = self.protocol.COMMANDS_BY_ID[frame_id]
        self.commands.append(name)
        args, _ = bt.deserialize_dict(rest, tx_schema)
        handler = getattr(self, f"_on_{name}", None)
        if handler is None:
            raise AssertionError(f"the stand-in NCP does not know {name}({args})")
        reply, after = handler(list(args.values()))
        self._to_host(seq, frame_id, bt.serialize_dict(reply, {}, rx_schema))
        if after is not None:  # the radio's time on air, then the APS ack
            asyncio.get_running_loop().call_later(self.confirm_delay, after)

    def _frame_id(self, data: bytes) -> tuple[int, bytes]:
        frame_id, rest = bt.uint16_t.deserialize(data[3:])
        return int(frame_id), rest

    def _to_host(self, seq: int, frame_id: int, payload: bytes) -> None:
        if self.version < 8:
            header = bytes([seq, 0x80, frame_id])
        else:
            header = bytes([seq, 0x80, 0x01]) + bt.uint16_t(frame_id).serialize()
        asyncio.get_running_loop().call_soon(self.protocol, header + payload)

    def _callback(self, name: str, values: list[Any]) -> None:
        """A callback frame, now, under a sequence number no command is waiting on (bellows
        matches a frame to a waiting command by its sequence number alone)."""
        frame_id, _, rx_schema = self.protocol.COMMANDS[name]
        free = next(s for s in range(256) if s not in self.protocol._awaiting)
        header = bytes([free, 0x80, 0x01]) + bt.uint16_t(frame_id).serialize()
        if self.version < 8:
            header = bytes([free, 0x80, frame_id])
        self.protocol(header + bt.serialize_dict(values, {}, rx_schema))

    # -- the commands the send path uses ------------------------------------------------------

    def _on_getConfigurationValue(self, args: list[Any]) -> tuple[list[Any], None]:
        if args[0] == bt.EzspConfigId.CONFIG_FRAGMENT_WINDOW_SIZE:
            return [bt.EzspStatus.SUCCESS, self.window], None
        return [bt.EzspStatus.ERROR_INVALID_ID, 0], None

    def _on_getExtendedTimeout(self, args: list[Any]) -> tuple[list[Any], None]:
        extended = self.extended_timeout.get(args[0], False)
        if self.version >= 14:
            return [bt.sl_Status.OK if extended else bt.sl_Status.FAIL], None
        return [extended], None

    def _on_lookupNodeIdByEui64(self, args: list[Any]) -> tuple[list[Any], None]:
        nwk = self.neighbours.get(args[0], 0xFFFF)
        return ([bt.sl_Status.OK, nwk] if self.version >= 14 else [nwk]), None

    def _on_setExtendedTimeout(self, args: list[Any]) -> tuple[list[Any], None]:
        self.extended_timeout[args[0]] = bool(args[1])
        return ([bt.sl_Status.OK] if self.version >= 14 else []), None

    def _on_sendUnicast(self, args: list[Any]) -> tuple[list[Any], Callable[[], None] | None]:
        _type, nwk, aps_frame, tag, message = args
        fragment = bool(aps_frame.options & bt.EmberApsOption.APS_OPTION_FRAGMENT)
        limit = (
            aps_fragments.max_aps_payload(
                aps_encryption=bool(aps_frame.options & bt.EmberApsOption.APS_OPTION_ENCRYPTION),
                fragment=fragment,
            )
            - self.hidden_overhead
        )
        ok = bt.sl_Status.OK if self.version >= 14 else bt.EmberStatus.SUCCESS
        if len(message) > limit:
            self.refusals.append(f"{len(message)} bytes over the {limit}-byte APS limit")
            too_long = (
                bt.sl_Status.MESSAGE_TOO_LONG
                if self.version >= 14
                else bt.EmberStatus.MESSAGE_TOO_LONG
            )
            return [too_long, 0], None
        if fragment and aps_frame.groupId & 0xFF:
            sequence = int(aps_frame.sequence)  # a later block keeps the message's APS counter
        else:
            self._aps_counter = (self._aps_counter + 1) % 256
            sequence = self._aps_counter
        unicast = Unicast(int(nwk), aps_frame, int(tag), bytes(message), sequence)
        unicast.at = asyncio.get_running_loop().time()
        self.unicasts.append(unicast)
        position = len(self.unicasts) - 1
        self._unconfirmed.add(position)
        self.max_in_flight = max(self.max_in_flight, len(self._unconfirmed))
        if fragment:
            self._receive_fragment(unicast)
        return [ok, sequence], lambda: self._sent(position, unicast)

    def _receive_fragment(self, u: Unicast) -> None:
        frame = u.aps_frame
        # as bellows' protocol.py reads an incoming fragment's groupId
        count, index = (frame.groupId >> 8) & 0xFF, frame.groupId & 0xFF
        complete, data, _, _ = self.fragments.handle_incoming_fragment(
            HUB_NWK, u.aps_sequence, frame.profileId, frame.clusterId, count, index, u.data
        )
        if complete:
            assert data is not None
            self.delivered.append(data)
        key = (HUB_NWK, u.aps_sequence, int(frame.profileId), int(frame.clusterId))
        got = self.reassembler.receive(key, int(frame.groupId), u.data, now=u.at)
        if got.outcome == "refused":
            self.refusals.append(got.reason)
        elif got.outcome == "complete":
            assert got.payload is not None
            self.checked.append(got.payload)

    def _sent(self, position: int, u: Unicast) -> None:
        status = self.outcome(u)
        if status is None:
            return  # the callback is lost: the host must time out
        self._unconfirmed.discard(position)
        message_type = bt.EmberOutgoingMessageType.OUTGOING_DIRECT
        if self.version >= 14:
            values = [status, message_type, u.nwk, u.aps_frame, u.tag, b""]
        else:
            ember = (
                bt.EmberStatus.SUCCESS
                if status == bt.sl_Status.OK
                else bt.EmberStatus.DELIVERY_FAILED
            )
            values = [message_type, u.nwk, u.aps_frame, u.tag, ember, b""]
        self._callback("messageSentHandler", values)
