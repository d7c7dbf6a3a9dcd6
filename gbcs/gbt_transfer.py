"""Cut a GBCS message into General Block Transfer blocks, and join blocks back into it.

Each block repeats the message's routing fields (gbt.py), so a hub can decide on a block without
the rest. Reassembly checks what makes a set of blocks one message: the same routing header,
numbers 1..n with no gap, and the last-block flag on block n only; anything else is a FrameError.
"""

from __future__ import annotations

from collections.abc import Sequence

from gbcs.frame import Frame, FrameError, parse_frame
from gbcs.gbt import KEY_INFO_ABSENT, GbtBlock
from gbcs.wire import ber_length

GBT_ROUTING_TAG = b"\xdd"


def routing_header(frame: Frame) -> bytes:
    """The `DD 09 ... 00` routing header for blocks of `frame` (a whole message)."""
    other = frame.message_code.to_bytes(2, "big") + frame.supplementary
    return b"".join(
        (
            GBT_ROUTING_TAG,
            b"\x09",
            bytes([int(frame.cra)]),
            frame.counter.to_bytes(8, "big"),
            b"\x08",
            frame.originator,
            b"\x08",
            frame.recipient,
            b"\x0c" + frame.date_time if frame.date_time is not None else b"\x00",
            ber_length(len(other)),
            other,
            bytes([KEY_INFO_ABSENT]),
        )
    )


def split_into_blocks(message: bytes, block_size: int) -> list[bytes]:
    """The `DD 09` blocks carrying `message` (a whole `DD 00` or `DF` frame), in order."""
    if block_size < 1:
        raise ValueError("block size must be at least 1")
    frame = parse_frame(message)
    if frame.gbt is not None:
        raise ValueError("a GBT block cannot itself be split into blocks")
    header = routing_header(frame)
    slices = [message[i : i + block_size] for i in range(0, len(message), block_size)]
    if len(slices) > 0xFFFF:
        raise ValueError("too many blocks for a 16-bit block number")
    return [
        header + GbtBlock(n == len(slices), False, 1, n, 0, part).encode()
        for n, part in enumerate(slices, start=1)
    ]


def reassemble(blocks: Sequence[Frame]) -> bytes:
    """The message the blocks carry, in block-number order; FrameError if they are not one."""
    if not blocks:
        raise FrameError(0, "no blocks to reassemble")
    ordered = sorted(blocks, key=_block_number)
    routing = _routing(ordered[0])
    parts: list[bytes] = []
    for expected, frame in enumerate(ordered, start=1):
        block = _block(frame)
        if block.number != expected:
            raise FrameError(0, f"block {expected} is missing (next is {block.number})")
        if _routing(frame) != routing:
            raise FrameError(0, f"block {block.number} belongs to another message")
        if block.last is not (expected == len(ordered)):
            raise FrameError(0, f"block {block.number}: last-block flag out of place")
        parts.append(block.data)
    return b"".join(parts)


def _block(frame: Frame) -> GbtBlock:
    if frame.gbt is None:
        raise FrameError(0, "not a GBT block (DD 09)")
    return frame.gbt


def _block_number(frame: Frame) -> int:
    return _block(frame).number


def _routing(frame: Frame) -> tuple[object, ...]:
    return (
        frame.cra,
        frame.counter,
        frame.originator,
        frame.recipient,
        frame.date_time,
        frame.message_code,
        frame.supplementary,
    )
