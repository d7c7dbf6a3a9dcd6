"""The one-byte GBCS tunnel header a sleepy GSME uses with the CHF (docs/gbcs-notes.md 5.2).

    01        GET           GSME -> CHF: send me what is queued for me
    02 nn     GET-RESPONSE  CHF -> GSME: nn messages still queued, then one GBCS message or none
    03        PUT           GSME -> CHF: a response or alert follows

Non-sleepy devices (ESME, HCALCS, PPMID) send the GBCS message bare, first byte `DD` or `DF`;
`parse_tunnel_data` returns those as `TunnelKind.BARE`, so callers can feed any tunnel payload
through it. Anything else is not GBCS and raises FrameError.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from gbcs.wire import FrameError

GBCS_TAGS = frozenset({0xDD, 0xDF})


class TunnelKind(IntEnum):
    GET = 0x01
    GET_RESPONSE = 0x02
    PUT = 0x03
    BARE = 0x100  # no header: not a byte on the wire

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


@dataclass(frozen=True, slots=True)
class TunnelData:
    kind: TunnelKind
    queued: int | None  # GET-RESPONSE only: messages still waiting after this one
    message: bytes  # the GBCS message, b"" when there is none (GET, an empty GET-RESPONSE)
    message_offset: int  # where `message` starts in the tunnel payload, for error offsets


def parse_tunnel_data(data: bytes) -> TunnelData:
    if not data:
        raise FrameError(0, "empty tunnel payload")
    first = data[0]
    if first in GBCS_TAGS:
        return TunnelData(TunnelKind.BARE, None, bytes(data), 0)
    if first == TunnelKind.GET:
        if len(data) != 1:
            raise FrameError(1, f"tunnel GET carries no message, but {len(data) - 1} bytes follow")
        return TunnelData(TunnelKind.GET, None, b"", 1)
    if first == TunnelKind.GET_RESPONSE:
        if len(data) < 2:
            raise FrameError(1, "tunnel GET-RESPONSE: need 1 bytes (messages queued), 0 left")
        return TunnelData(TunnelKind.GET_RESPONSE, data[1], bytes(data[2:]), 2)
    if first == TunnelKind.PUT:
        if len(data) < 2:
            raise FrameError(1, "tunnel PUT carries no message")
        return TunnelData(TunnelKind.PUT, None, bytes(data[1:]), 1)
    raise FrameError(0, f"tunnel header 0x{first:02X} is not 01, 02, 03 or a GBCS tag")


def get() -> bytes:
    return bytes([TunnelKind.GET])


def get_response(queued: int, message: bytes = b"") -> bytes:
    if not 0 <= queued <= 0xFF:
        raise ValueError("queued count must fit in one byte")
    return bytes([TunnelKind.GET_RESPONSE, queued]) + message


def put(message: bytes) -> bytes:
    if not message:
        raise ValueError("a PUT carries a message")
    return bytes([TunnelKind.PUT]) + message
