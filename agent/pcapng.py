"""pcapng, written and read: the capture format Wireshark and tshark open.

The format is draft-ietf-opsawg-pcapng. Pure: bytes in, bytes out; agent/han_capture.py does the
file I/O. A capture is one section (a restarted hub appends another):

    Section Header Block | Interface Description Block | Enhanced Packet Block ...

written little-endian. Each Enhanced Packet Block carries a nanosecond timestamp (the interface
says `if_tsresol` 9), the packet, and two options: `opt_comment` (Wireshark shows it as the
packet comment, `frame.comment` in tshark) and `epb_flags` with the direction (inbound: the
hub received it; outbound: the hub sent it; `frame.packet_flags_direction` in tshark).

The reader takes any pcapng a tool writes (either byte order, several sections and interfaces,
Simple Packet Blocks, any `if_tsresol`), skips block types it does not use, and raises
`PcapngError` with the byte offset for anything malformed, never another exception.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

SHB: Final = 0x0A0D0D0A
IDB: Final = 0x00000001
SPB: Final = 0x00000003
EPB: Final = 0x00000006
BYTE_ORDER_MAGIC: Final = 0x1A2B3C4D

OPT_END: Final = 0
OPT_COMMENT: Final = 1
SHB_USERAPPL: Final = 4
IF_NAME: Final = 2
IF_TSRESOL: Final = 9
EPB_FLAGS: Final = 2

LINKTYPE_IEEE802_15_4_NOFCS: Final = 230
"""IEEE 802.15.4 frames without the 2-byte FCS (tcpdump.org link-layer header types)."""
NANOSECONDS: Final = 9  # if_tsresol: 10^-9 s
DEFAULT_TSRESOL: Final = 6  # what a reader assumes when an interface names none
MAX_SNAPLEN: Final = 0  # 0: no limit


class PacketDirection(IntEnum):
    """epb_flags bits 0-1."""

    UNKNOWN = 0
    INBOUND = 1
    OUTBOUND = 2


class PcapngError(ValueError):
    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason


def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise ValueError(f"option {code}: {len(value)} bytes is more than an option holds")
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _options(options: list[tuple[int, bytes]]) -> bytes:
    if not options:
        return b""
    return b"".join(_option(code, value) for code, value in options) + struct.pack("<HH", 0, 0)


def _block(block_type: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def section_header(application: str) -> bytes:
    """A Section Header Block of unknown section length, naming the application that wrote it."""
    body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)
    return _block(SHB, body + _options([(SHB_USERAPPL, application.encode())]))


def interface_description(link_type: int, name: str) -> bytes:
    """An Interface Description Block with nanosecond timestamps."""
    body = struct.pack("<HHI", link_type, 0, MAX_SNAPLEN)
    options = [(IF_NAME, name.encode()), (IF_TSRESOL, bytes([NANOSECONDS]))]
    return _block(IDB, body + _options(options))


def enhanced_packet(
    timestamp_ns: int,
    data: bytes,
    *,
    comment: str = "",
    direction: PacketDirection = PacketDirection.UNKNOWN,
    interface: int = 0,
) -> bytes:
    """An Enhanced Packet Block on `interface` (whose if_tsresol is nanoseconds)."""
    if not 0 <= timestamp_ns < 2**64:
        raise ValueError(f"timestamp {timestamp_ns} ns does not fit 64 bits")
    head = struct.pack(
        "<IIIII", interface, timestamp_ns >> 32, timestamp_ns & 0xFFFFFFFF, len(data), len(data)
    )
    options: list[tuple[int, bytes]] = []
    if comment:
        options.append((OPT_COMMENT, comment.encode()))
    if direction is not PacketDirection.UNKNOWN:
        options.append((EPB_FLAGS, struct.pack("<I", int(direction))))
    return _block(EPB, head + _pad(data) + _options(options))


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interface:
    link_type: int
    tsresol: int = DEFAULT_TSRESOL
    name: str = ""


@dataclass(frozen=True)
class Packet:
    offset: int  # of its block in the file
    interface: Interface
    timestamp_ns: int | None  # None: a Simple Packet Block has no time
    data: bytes
    comments: tuple[str, ...] = ()
    direction: PacketDirection = PacketDirection.UNKNOWN


@dataclass
class Capture:
    application: str = ""
    interfaces: list[Interface] = field(default_factory=list)
    packets: list[Packet] = field(default_factory=list)
    block_types: list[int] = field(default_factory=list)


def is_pcapng(data: bytes) -> bool:
    return data[:4] == struct.pack("<I", SHB)


def read(data: bytes) -> Capture:
    """Every packet of every section, in file order."""
    if not is_pcapng(data):
        raise PcapngError(0, "not pcapng (no Section Header Block)")
    capture = Capture()
    endian = "<"
    interfaces: list[Interface] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 12:
            raise PcapngError(offset, f"{len(data) - offset} bytes left, too few for a block")
        if data[offset : offset + 4] == struct.pack("<I", SHB):
            endian = _byte_order(data, offset)
            interfaces = []  # interface ids are per section
        block_type, length = struct.unpack_from(endian + "II", data, offset)
        if length < 12 or length % 4 or offset + length > len(data):
            raise PcapngError(offset, f"block length {length} does not fit the file")
        (trailer,) = struct.unpack_from(endian + "I", data, offset + length - 4)
        if trailer != length:
            raise PcapngError(offset, f"block length {length} and trailing length {trailer} differ")
        body = data[offset + 8 : offset + length - 4]
        capture.block_types.append(block_type)
        if block_type == SHB:
            options = _read_options(body, 16, endian, offset + 8)
            capture.application = _text(options, SHB_USERAPPL, offset)
        elif block_type == IDB:
            interfaces.append(_interface(body, endian, offset))
            capture.interfaces.append(interfaces[-1])
        elif block_type == EPB:
            capture.packets.append(_enhanced(body, endian, offset, interfaces))
        elif block_type == SPB:
            capture.packets.append(_simple(body, endian, offset, interfaces))
        offset += length
    return capture


def _byte_order(data: bytes, offset: int) -> str:
    if len(data) - offset < 28:
        raise PcapngError(offset, "Section Header Block too short")
    magic = data[offset + 8 : offset + 12]
    if magic == struct.pack("<I", BYTE_ORDER_MAGIC):
        endian = "<"
    elif magic == struct.pack(">I", BYTE_ORDER_MAGIC):
        endian = ">"
    else:
        raise PcapngError(offset + 8, f"byte-order magic {magic.hex()} is not 1a2b3c4d")
    (major,) = struct.unpack_from(endian + "H", data, offset + 12)
    if major != 1:
        raise PcapngError(offset + 12, f"pcapng version {major}, expected 1")
    return endian


def _read_options(body: bytes, start: int, endian: str, base: int) -> dict[int, list[bytes]]:
    """The options after the fixed part of a block body (`base`: the body's file offset)."""
    options: dict[int, list[bytes]] = {}
    at = start
    while at + 4 <= len(body):
        code, size = struct.unpack_from(endian + "HH", body, at)
        if code == OPT_END:
            break
        value = body[at + 4 : at + 4 + size]
        if len(value) != size:
            raise PcapngError(base + at, f"option {code} of {size} bytes runs past its block")
        options.setdefault(code, []).append(value)
        at += 4 + size + (-size % 4)
    return options


def _text(options: dict[int, list[bytes]], code: int, offset: int) -> str:
    values = options.get(code)
    if not values:
        return ""
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise PcapngError(offset, f"option {code} is not UTF-8") from None


def _interface(body: bytes, endian: str, offset: int) -> Interface:
    if len(body) < 8:
        raise PcapngError(offset, "Interface Description Block too short")
    link_type, _reserved, _snaplen = struct.unpack_from(endian + "HHI", body, 0)
    options = _read_options(body, 8, endian, offset + 8)
    tsresol = options.get(IF_TSRESOL, [bytes([DEFAULT_TSRESOL])])[0]
    if len(tsresol) != 1 or (tsresol[0] & 0x7F) > 63:
        raise PcapngError(offset, "if_tsresol is not one byte of at most 63")
    return Interface(link_type, tsresol[0], _text(options, IF_NAME, offset))


def _interface_of(interfaces: list[Interface], number: int, offset: int) -> Interface:
    if number >= len(interfaces):
        raise PcapngError(offset, f"packet on interface {number}, which was never described")
    return interfaces[number]


def to_nanoseconds(ticks: int, tsresol: int) -> int:
    """A timestamp in units of 10^-n s (tsresol n < 128) or 2^-n s (tsresol 128 + n)."""
    if tsresol & 0x80:
        return (ticks * 10**9) >> (tsresol & 0x7F)
    if tsresol <= NANOSECONDS:
        return ticks * int(10 ** (NANOSECONDS - tsresol))
    return ticks // int(10 ** (tsresol - NANOSECONDS))


def _enhanced(body: bytes, endian: str, offset: int, interfaces: list[Interface]) -> Packet:
    if len(body) < 20:
        raise PcapngError(offset, "Enhanced Packet Block too short")
    number, high, low, captured, _original = struct.unpack_from(endian + "IIIII", body, 0)
    interface = _interface_of(interfaces, number, offset)
    end = 20 + captured
    if end > len(body):
        raise PcapngError(offset, f"captured length {captured} runs past its block")
    options = _read_options(body, end + (-captured % 4), endian, offset + 8)
    comments = []
    for value in options.get(OPT_COMMENT, []):
        try:
            comments.append(value.decode("utf-8"))
        except UnicodeDecodeError:
            raise PcapngError(offset, "a packet comment is not UTF-8") from None
    direction = PacketDirection.UNKNOWN
    flags = options.get(EPB_FLAGS)
    if flags:
        if len(flags[0]) != 4:
            raise PcapngError(offset, "epb_flags is not 4 bytes")
        (bits,) = struct.unpack(endian + "I", flags[0])
        direction = PacketDirection(bits & 0x3) if bits & 0x3 != 3 else PacketDirection.UNKNOWN
    return Packet(
        offset,
        interface,
        to_nanoseconds((high << 32) | low, interface.tsresol),
        bytes(body[20:end]),
        tuple(comments),
        direction,
    )


def _simple(body: bytes, endian: str, offset: int, interfaces: list[Interface]) -> Packet:
    if len(body) < 4:
        raise PcapngError(offset, "Simple Packet Block too short")
    (original,) = struct.unpack_from(endian + "I", body, 0)
    data = body[4 : 4 + original]
    return Packet(offset, _interface_of(interfaces, 0, offset), None, bytes(data))
