"""Wire-level pieces every GBCS reader shares: the error type, the CRA flag, BER lengths, and
the grouping-header fields that both a general-signing APDU (`DF`) and a GBT routing header
(`DD 09`) carry.

Why a module of its own: `frame.py` (whole messages) and `gbt.py` (General Block Transfer
blocks) read the same header fields with the same errors, and neither should import the other.

Speed matters here: every frame crossing the hub goes through `read_grouping_fields`, so it
reads the fixed 29-byte part by direct indexing after one length check, and only walks the
layout field by field (`_explain_short`) to name the field where a short frame runs out.
"""

from __future__ import annotations

import struct
from enum import IntEnum

EUI64_LENGTH = 8
DATE_TIME_LENGTH = 12
TRANSACTION_ID_LENGTH = 9


class Cra(IntEnum):
    """The CRA flag: what kind of message this is (docs/gbcs-notes.md 1.4)."""

    COMMAND = 1
    RESPONSE = 2
    ALERT = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def article(self) -> str:
        """'a command', 'a response', 'an alert': for messages people read."""
        return f"an {self.label}" if self is Cra.ALERT else f"a {self.label}"


_CRA_BY_VALUE: dict[int, Cra] = {int(c): c for c in Cra}


class FrameError(ValueError):
    """A frame that cannot be read, with where and why."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"malformed GBCS frame at byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason


def need(pos: int, n: int, end: int, what: str) -> None:
    """Raise the codec's truncation error unless `n` bytes are left at `pos`."""
    if n < 0 or pos + n > end:
        raise FrameError(pos, f"{what}: need {n} bytes, {end - pos} left")


def read_ber(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """A BER definite length at `pos`: (value, position after it). Forms 1 to 3 bytes long."""
    if pos >= end:
        raise FrameError(pos, f"{what}: need 1 bytes, {end - pos} left")
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    n = first & 0x7F
    if n == 0 or n > 3:
        raise FrameError(pos, f"{what}: unsupported BER length form 0x{first:02X}")
    need(pos + 1, n, end, what)
    return int.from_bytes(data[pos + 1 : pos + 1 + n], "big"), pos + 1 + n


def ber_length(n: int) -> bytes:
    """A BER definite length, in the shortest of the forms GBCS uses."""
    if n < 0:
        raise ValueError("negative length")
    if n < 0x80:
        return bytes([n])
    if n <= 0xFF:
        return bytes([0x81, n])
    if n <= 0xFFFF:
        return b"\x82" + n.to_bytes(2, "big")
    if n <= 0xFFFFFF:
        return b"\x83" + n.to_bytes(3, "big")
    raise ValueError(f"length {n} too large for a GBCS frame")


def supplementary_length_ok(n: int) -> bool:
    """Other-information is the message code plus 0, 8, 16, 24 or more than 24 bytes (1.2)."""
    return n in (0, 8, 16) or n >= 24


# The fixed part of the grouping fields after the tag: (size, name, constant or None).
_FIXED_LAYOUT: tuple[tuple[int, str, int | None], ...] = (
    (1, "transaction-id length", TRANSACTION_ID_LENGTH),
    (1, "CRA flag", None),
    (8, "originator counter", None),
    (1, "originator system-title length", EUI64_LENGTH),
    (8, "originator", None),
    (1, "recipient system-title length", EUI64_LENGTH),
    (8, "recipient", None),
    (1, "date-time length", None),
)
_FIXED_SIZE = sum(size for size, _, _ in _FIXED_LAYOUT)  # 29
_FIXED = struct.Struct(">BBQB8sB8sB")  # the same layout, read in one call

GroupingFields = tuple[Cra, int, bytes, bytes, "bytes | None", int, bytes, int]
"""cra, counter, originator, recipient, date_time, message_code, supplementary, next pos."""


def read_grouping_fields(data: bytes, pos: int, end: int) -> GroupingFields:
    """Read transaction-id (CRA, counter), both system titles, date-time and other-information.

    `pos` is the transaction-id length byte (the byte after a `DF` or `DD` tag).
    """
    if end - pos < _FIXED_SIZE:
        _explain_short(data, pos, end)
    tid_length, cra_value, counter, o_length, originator, r_length, recipient, dt_length = (
        _FIXED.unpack_from(data, pos)
    )
    if tid_length != TRANSACTION_ID_LENGTH:
        raise FrameError(pos, f"transaction-id length: expected 0x09, got 0x{tid_length:02X}")
    cra = _CRA_BY_VALUE.get(cra_value)
    if cra is None:
        raise FrameError(pos + 1, f"CRA flag 0x{cra_value:02X} is not 1, 2 or 3")
    if o_length != EUI64_LENGTH:
        raise FrameError(
            pos + 10, f"originator system-title length: expected 0x08, got 0x{o_length:02X}"
        )
    if r_length != EUI64_LENGTH:
        raise FrameError(
            pos + 19, f"recipient system-title length: expected 0x08, got 0x{r_length:02X}"
        )
    p = pos + _FIXED_SIZE
    date_time: bytes | None = None
    if dt_length == DATE_TIME_LENGTH:
        if p + DATE_TIME_LENGTH > end:
            need(p, DATE_TIME_LENGTH, end, "date-time")
        date_time = data[p : p + DATE_TIME_LENGTH]
        p += DATE_TIME_LENGTH
    elif dt_length != 0:
        raise FrameError(p - 1, f"date-time length {dt_length} (expected 0 or 12)")
    oi_at = p
    if p < end and data[p] < 0x80:  # the usual one-byte length, read inline
        oi_length = data[p]
        p += 1
    else:
        oi_length, p = read_ber(data, p, end, "other-information length")
    if oi_length < 2:
        raise FrameError(oi_at, f"other-information length {oi_length} has no message code")
    if p + oi_length > end:
        need(p, oi_length, end, "other-information")
    if oi_length != 2 and not supplementary_length_ok(oi_length - 2):
        raise FrameError(
            oi_at,
            f"other-information length {oi_length}: the supplementary fields after the message "
            "code must be 8, 16, 24 or more bytes",
        )
    message_code = (data[p] << 8) | data[p + 1]
    supplementary = data[p + 2 : p + oi_length]
    return (
        cra,
        counter,
        originator,
        recipient,
        date_time,
        message_code,
        supplementary,
        p + oi_length,
    )


def _explain_short(data: bytes, pos: int, end: int) -> None:
    """Name the first wrong constant or the field where a too-short header runs out."""
    p = pos
    for size, what, constant in _FIXED_LAYOUT:
        need(p, size, end, what)
        value = data[p]
        if constant is not None and value != constant:
            raise FrameError(p, f"{what}: expected 0x{constant:02X}, got 0x{value:02X}")
        if what == "CRA flag" and value not in _CRA_BY_VALUE:
            raise FrameError(p, f"CRA flag 0x{value:02X} is not 1, 2 or 3")
        p += size
    raise AssertionError("unreachable: the header was long enough")  # pragma: no cover
