"""General Block Transfer (`DD 09`): one block of a GBCS message too large to send whole.

Layout (docs/gbcs-notes.md 1.1 and 7.1 summarise Wireshark's `packet-gbcs.c`; there are no test
vectors, so the exact bytes below are this project's reading of that summary, not a verified fact):

    DD                       general-ciphering tag
    09 CRA counter(8)        transaction-id: the whole message's CRA flag and originator counter
    08 EUI-64                originator system title
    08 EUI-64                recipient system title
    00 | 0C date-time(12)    date-time
    L message-code supp...   other-information: message code and supplementary fields
    00                       key-info (absent)
    E0                       general-block-transfer tag
    BC                       block-control: 0x80 last block, 0x40 streaming, 0x3F window
    BN BN                    block-number (from 1)
    BA BA                    block-number-ack
    L data                   block-data: the next slice of the complete message's bytes

The routing header (everything before `E0`) is what makes a block classifiable on its own: it
repeats the CRA flag and the message code of the message it is a slice of, so every block of
one message gets the same decision. What a block cannot show is the alert code or the signature,
which sit inside the reassembled message; `gbcs/classify.py` says what follows from that.

This module reads and writes the `E0` part only; `frame.py` reads the routing header (the
same fields as a grouping header) and `gbt_transfer.py` cuts messages into blocks and joins them.
"""

from __future__ import annotations

from dataclasses import dataclass

from gbcs.wire import FrameError, ber_length, need, read_ber

GBT_TAG = 0xE0
KEY_INFO_ABSENT = 0x00
LAST_BLOCK = 0x80
STREAMING = 0x40
WINDOW_MASK = 0x3F


@dataclass(frozen=True, slots=True)
class GbtBlock:
    """The block-transfer fields of one `DD 09` block."""

    last: bool
    streaming: bool
    window: int
    number: int
    number_ack: int
    data: bytes

    def encode(self) -> bytes:
        if not 0 <= self.window <= WINDOW_MASK:
            raise ValueError("window must fit in 6 bits")
        if not 1 <= self.number <= 0xFFFF or not 0 <= self.number_ack <= 0xFFFF:
            raise ValueError("block-number is 1..65535, block-number-ack 0..65535")
        control = (LAST_BLOCK if self.last else 0) | (STREAMING if self.streaming else 0)
        return (
            bytes([GBT_TAG, control | self.window])
            + self.number.to_bytes(2, "big")
            + self.number_ack.to_bytes(2, "big")
            + ber_length(len(self.data))
            + self.data
        )


def read_gbt_block(data: bytes, pos: int, end: int) -> GbtBlock:
    """Read from the key-info byte before `E0` to the end of the frame."""
    need(pos, 1, end, "key-info")
    if data[pos] != KEY_INFO_ABSENT:
        raise FrameError(pos, f"key-info: expected 0x00, got 0x{data[pos]:02X}")
    pos += 1
    need(pos, 6, end, "general-block-transfer header")
    if data[pos] != GBT_TAG:
        raise FrameError(pos, f"general-block-transfer tag: expected 0xE0, got 0x{data[pos]:02X}")
    control = data[pos + 1]
    number = int.from_bytes(data[pos + 2 : pos + 4], "big")
    if number == 0:
        raise FrameError(pos + 2, "block-number 0 (blocks count from 1)")
    number_ack = int.from_bytes(data[pos + 4 : pos + 6], "big")
    length, pos = read_ber(data, pos + 6, end, "block-data length")
    if length != end - pos:
        raise FrameError(pos, f"block-data length {length} but {end - pos} bytes follow")
    return GbtBlock(
        last=bool(control & LAST_BLOCK),
        streaming=bool(control & STREAMING),
        window=control & WINDOW_MASK,
        number=number,
        number_ack=number_ack,
        data=data[pos:end],
    )
