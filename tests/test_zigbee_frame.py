"""agent/zigbee_frame.py: the synthesized 802.15.4 / Zigbee NWK / APS frame, byte by byte and as a
round trip; the Tunneling TransferData inside it; and the capture notes (agent/capture_notes.py).

Wireshark reading these frames is checked on a real capture in tests/test_han_capture.py."""

from __future__ import annotations

import os
import struct

import pytest
from conftest import PROFILE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import capture_notes, zigbee_frame
from agent.consent import Mode
from agent.policy import Direction, decide, parse_profile
from gbcs.classify import classify
from gbcs.frame import Cra, build_frame, parse_frame
from gbcs.tunnel import TunnelKind

FUZZ = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
ESME = bytes.fromhex("00DB1234567890A0")
HUB = bytes.fromhex("00DB1234567890A2")

u8 = st.integers(min_value=0, max_value=0xFF)
u16 = st.integers(min_value=0, max_value=0xFFFF)
eui64 = st.none() | st.binary(min_size=8, max_size=8)


@st.composite
def han_packets(draw: st.DrawFn) -> zigbee_frame.HanPacket:
    delivery = draw(st.sampled_from(list(zigbee_frame.Delivery)))
    group = delivery is zigbee_frame.Delivery.GROUP
    return zigbee_frame.HanPacket(
        source=draw(st.integers(min_value=0, max_value=0xFFF7)),
        destination=draw(u16),
        source_endpoint=draw(u8),
        destination_endpoint=0xFF if group else draw(u8),
        profile=draw(u16),
        cluster=draw(u16),
        payload=draw(st.binary(max_size=120)),
        delivery=delivery,
        source_eui64=draw(eui64),
        destination_eui64=None if group else draw(eui64),
        pan_id=draw(u16),
        sequence=draw(u8),
        radius=draw(u8),
    )


@FUZZ
@given(han_packets())
def test_build_then_parse_is_the_packet(packet: zigbee_frame.HanPacket) -> None:
    frame = zigbee_frame.build(packet)
    assert zigbee_frame.parse(frame) == packet
    assert frame.endswith(packet.payload)


def test_frame_bytes_are_the_standards() -> None:
    """A meter's TransferData to the hub, laid out by hand from IEEE 802.15.4-2003 and the
    Zigbee PRO NWK and APS frame formats."""
    zcl = bytes([0x19, 0x07, 0x01]) + struct.pack("<H", 3) + b"\xdf\x09"
    packet = zigbee_frame.HanPacket(
        source=0x1A01,
        destination=0x0000,
        source_endpoint=1,
        destination_endpoint=1,
        profile=0x0109,
        cluster=0x0704,
        payload=zcl,
        source_eui64=ESME,
        destination_eui64=HUB,
        pan_id=0x1234,
        sequence=5,
    )
    assert zigbee_frame.build(packet) == (
        bytes.fromhex("6188")  # data, ack request, PAN id compression, short dst and src
        + bytes([5])  # MAC sequence number
        + bytes.fromhex("3412 0000 011a".replace(" ", ""))  # PAN 0x1234, dst 0x0000, src 0x1a01
        + bytes.fromhex("0818")  # NWK data, version 2, extended dst and src present, no security
        + bytes.fromhex("0000 011a 1e 05".replace(" ", ""))  # dst, src, radius 30, sequence
        + HUB[::-1]
        + ESME[::-1]  # 64-bit addresses, little-endian
        + bytes.fromhex("00 01 0407 0901 01 05".replace(" ", ""))  # APS unicast to ep 1 ...
        + zcl
    )


def test_broadcast_and_group_addressing() -> None:
    broadcast = zigbee_frame.HanPacket(
        0, 0xFFFD, 0, 0, 0, 0x0036, b"\x01\x3c\x00", delivery=zigbee_frame.Delivery.BROADCAST
    )
    frame = zigbee_frame.build(broadcast)
    assert frame[:2] == bytes.fromhex("4188"), "no acknowledgement asked of a broadcast"
    assert frame[5:7] == b"\xff\xff", "MAC broadcast"
    assert frame[9 + 2 : 9 + 4] == b"\xfd\xff", "NWK destination: the broadcast address"
    assert frame[17] == 0x08, "APS delivery mode broadcast"
    group = zigbee_frame.HanPacket(
        0, 0x0102, 1, 0xFF, 0x0104, 6, b"", delivery=zigbee_frame.Delivery.GROUP
    )
    frame = zigbee_frame.build(group)
    assert frame[17] == 0x0C and frame[18:20] == b"\x02\x01", "APS group delivery to 0x0102"


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\x41\x88", "2 bytes, too short for an 802.15.4 data frame"),
        (bytes.fromhex("02000100000000ffff"), "802.15.4 frame type 2, not a data frame (1)"),
        (bytes.fromhex("49880100000000ffff"), "802.15.4 security is on: not a frame the hub wrote"),
        (
            bytes.fromhex("4188010000000000ff") + bytes.fromhex("0802000000001e01"),
            "NWK security is on: a sniffer capture, not the hub's decrypted one",
        ),
    ],
)
def test_frames_the_hub_never_writes_are_refused(frame: bytes, reason: str) -> None:
    with pytest.raises(zigbee_frame.FrameError) as caught:
        zigbee_frame.parse(frame)
    assert caught.value.reason == reason


@FUZZ
@given(st.binary(max_size=80))
def test_parse_raises_frame_error_only(data: bytes) -> None:
    try:
        packet = zigbee_frame.parse(data)
    except zigbee_frame.FrameError as exc:
        assert 0 <= exc.offset <= len(data)
    else:
        assert data.endswith(packet.payload)


@given(st.booleans(), u8, u16, st.binary(max_size=60), st.booleans())
def test_transfer_data_is_found_in_either_direction(
    from_server: bool, tsn: int, tunnel: int, data: bytes, manufacturer: bool
) -> None:
    control = 0x01 | (0x08 if from_server else 0) | (0x04 if manufacturer else 0)
    command = (
        zigbee_frame.SERVER_TRANSFER_DATA if from_server else zigbee_frame.CLIENT_TRANSFER_DATA
    )
    extra = b"\x34\x12" if manufacturer else b""
    zcl = bytes([control]) + extra + bytes([tsn, command]) + struct.pack("<H", tunnel) + data
    assert zigbee_frame.transfer_data(0x0704, zcl) == zigbee_frame.TransferData(
        from_server, tsn, tunnel, data
    )
    assert zigbee_frame.transfer_data(0x0702, zcl) is None, "another cluster"
    other = bytes([control]) + extra + bytes([tsn, 0x00]) + struct.pack("<H", tunnel)
    assert zigbee_frame.transfer_data(0x0704, other) is None, "RequestTunnel (response)"


def test_notes_say_what_the_hub_did() -> None:
    profile = parse_profile(PROFILE.read_text())
    command = parse_frame(
        build_frame(
            cra=Cra.COMMAND,
            counter=1000,
            originator=bytes.fromhex("90B3D51F30010000"),
            recipient=ESME,
            message_code=0x0027,
            payload=b"\x00",
        )
    )
    decision = decide(command, classify(command), Mode.RESTRICTED, Direction.DOWNSTREAM, profile)
    note = capture_notes.decision_note("downstream", ESME, command, decision, Mode.RESTRICTED)
    assert note == (
        "GBCS down to 00DB1234567890A0: command 0x0027 ECS17b, read: BLOCKED in restricted "
        f"mode, rule {decision.rule}: restricted by consumer choice: read commands are not allowed"
    )
    assert capture_notes.local_note(0x0000, 0x0005, 0) == (
        "ZDO 0x0005: HAN-local, never sent to the WAN"
    )
    assert capture_notes.local_note(0x0109, 0x000A, 1) == (
        "HAN-local ZCL, cluster 0x000A Time: never sent to the WAN"
    )
    assert capture_notes.gsme_note(TunnelKind.GET, None).startswith("GSME GET: ")
    assert capture_notes.malformed_note(ESME, "9 bytes, unreadable at byte 3") == (
        "GBCS up from 00DB1234567890A0: DROPPED, not readable GBCS (9 bytes, unreadable at byte 3)"
    )
