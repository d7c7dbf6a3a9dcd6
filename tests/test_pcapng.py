"""agent/pcapng.py: what it writes reads back, the bytes are the format's, and the reader takes
what other tools write (big-endian sections, Simple Packet Blocks, other time resolutions) and
refuses anything malformed with PcapngError alone."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import pcapng

FUZZ = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

packets = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2**64 - 1),
        st.binary(max_size=200),
        st.text(max_size=80),
        st.sampled_from(list(pcapng.PacketDirection)),
    ),
    max_size=8,
)


def capture_bytes(items: list[tuple[int, bytes, str, pcapng.PacketDirection]]) -> bytes:
    out = pcapng.section_header("han-agent test") + pcapng.interface_description(
        pcapng.LINKTYPE_IEEE802_15_4_NOFCS, "han"
    )
    for ts, data, comment, direction in items:
        out += pcapng.enhanced_packet(ts, data, comment=comment, direction=direction)
    return out


@FUZZ
@given(packets)
def test_what_is_written_reads_back(
    items: list[tuple[int, bytes, str, pcapng.PacketDirection]],
) -> None:
    data = capture_bytes(items)
    assert len(data) % 4 == 0, "every block is padded to 32 bits"
    capture = pcapng.read(data)
    assert capture.application == "han-agent test"
    assert capture.block_types == [pcapng.SHB, pcapng.IDB] + [pcapng.EPB] * len(items)
    assert capture.interfaces == [
        pcapng.Interface(pcapng.LINKTYPE_IEEE802_15_4_NOFCS, pcapng.NANOSECONDS, "han")
    ]
    assert [(p.timestamp_ns, p.data, p.comments, p.direction) for p in capture.packets] == [
        (ts, data, (comment,) if comment else (), direction)
        for ts, data, comment, direction in items
    ]


def test_block_bytes_are_the_formats() -> None:
    """Hand-checked against draft-ietf-opsawg-pcapng: the lengths, magic and option layout."""
    shb = pcapng.section_header("ab")
    assert shb == (
        bytes.fromhex("0a0d0d0a")
        + struct.pack("<I", 40)
        + bytes.fromhex("4d3c2b1a 0100 0000 ffffffffffffffff".replace(" ", ""))
        + bytes.fromhex("0400 0200 61620000 0000 0000".replace(" ", ""))  # shb_userappl "ab"
        + struct.pack("<I", 40)
    )
    idb = pcapng.interface_description(230, "h")
    assert idb == (
        struct.pack("<II", 1, 40)
        + struct.pack("<HHI", 230, 0, 0)
        + bytes.fromhex("0200 0100 68000000".replace(" ", ""))  # if_name "h"
        + bytes.fromhex("0900 0100 09000000".replace(" ", ""))  # if_tsresol 9: nanoseconds
        + bytes(4)  # opt_endofopt
        + struct.pack("<I", 40)
    )
    epb = pcapng.enhanced_packet(
        (1 << 32) + 5, b"\x01\x02\x03", comment="c", direction=pcapng.PacketDirection.OUTBOUND
    )
    assert epb == (
        struct.pack("<II", 6, 56)
        + struct.pack("<IIIII", 0, 1, 5, 3, 3)
        + b"\x01\x02\x03\x00"
        + bytes.fromhex("0100 0100 63000000".replace(" ", ""))  # opt_comment "c"
        + bytes.fromhex("0200 0400 02000000".replace(" ", ""))  # epb_flags: outbound
        + bytes(4)
        + struct.pack("<I", 56)
    )


def _be_block(block_type: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack(">II", block_type, length) + body + struct.pack(">I", length)


def test_reads_big_endian_sections_simple_packets_and_microseconds() -> None:
    """What another writer may produce: a big-endian section with the default (microsecond)
    resolution and a Simple Packet Block, then a little-endian section of ours."""
    shb = _be_block(pcapng.SHB, struct.pack(">IHHq", pcapng.BYTE_ORDER_MAGIC, 1, 0, -1))
    idb = _be_block(pcapng.IDB, struct.pack(">HHI", 195, 0, 0))
    epb = _be_block(
        pcapng.EPB,
        struct.pack(">IIIII", 0, 0, 1_500_000, 2, 2)
        + b"\xaa\xbb\x00\x00"
        + struct.pack(">HH", 1, 2)
        + b"hi\x00\x00"
        + bytes(4),
    )
    spb = _be_block(pcapng.SPB, struct.pack(">I", 3) + b"xyz\x00")
    ours = capture_bytes([(7, b"\x01", "", pcapng.PacketDirection.INBOUND)])
    capture = pcapng.read(shb + idb + epb + spb + ours)
    first, simple, last = capture.packets
    assert (first.interface.link_type, first.timestamp_ns, first.data) == (
        195,
        1_500_000_000,
        b"\xaa\xbb",
    )
    assert first.comments == ("hi",)
    assert (simple.timestamp_ns, simple.data) == (None, b"xyz")
    assert (last.interface.link_type, last.timestamp_ns, last.data) == (230, 7, b"\x01")


@pytest.mark.parametrize(
    ("ticks", "tsresol", "ns"),
    [(3, 6, 3000), (3, 9, 3), (3000, 12, 3), (1, 0x80 | 1, 500_000_000), (4, 0x80 | 2, 10**9)],
)
def test_time_resolutions(ticks: int, tsresol: int, ns: int) -> None:
    assert pcapng.to_nanoseconds(ticks, tsresol) == ns


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00" * 32, "not pcapng (no Section Header Block)"),
        (capture_bytes([])[:-4], "block length 40 does not fit the file"),
        (pcapng.section_header("x") + bytes(12), "block length 0 does not fit the file"),
        (
            capture_bytes([])[:8] + b"\x00\x00\x00\x00" + capture_bytes([])[12:],
            "byte-order magic 00000000 is not 1a2b3c4d",
        ),
        (
            pcapng.section_header("x") + pcapng.enhanced_packet(1, b"a"),
            "packet on interface 0, which was never described",
        ),
    ],
)
def test_malformed_files_are_named(data: bytes, reason: str) -> None:
    with pytest.raises(pcapng.PcapngError) as caught:
        pcapng.read(data)
    assert caught.value.reason == reason


@FUZZ
@given(st.data())
def test_any_damage_raises_pcapng_error_only(data: st.DataObject) -> None:
    items = data.draw(packets)
    good = bytearray(capture_bytes(items))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        at = data.draw(st.integers(min_value=0, max_value=len(good) - 1))
        good[at] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(good)))
    try:
        capture = pcapng.read(bytes(good[:cut]))
    except pcapng.PcapngError as exc:
        assert 0 <= exc.offset <= cut
    else:
        offsets = [p.offset for p in capture.packets]
        assert offsets == sorted(set(offsets)) and all(o < cut for o in offsets)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_after_a_header_raise_pcapng_error_only(tail: bytes) -> None:
    data = pcapng.section_header("x") + tail
    try:
        capture = pcapng.read(data)
    except pcapng.PcapngError as exc:
        assert 0 <= exc.offset <= len(data)
    else:
        assert capture.application == "x"
