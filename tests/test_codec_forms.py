"""The framing forms beyond the basic header: the worked byte strings of docs/gbcs-notes.md 1.2 and
1.5, supplementary fields, GBT blocks, GSME tunnel headers and the alert details.

Round-trip properties (hypothesis): build, then parse, gives back every field.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_data import gbcs_examples

from gbcs import payloads, tunnel
from gbcs.alert_details import FirmwareReceipt, FirmwareTransfer, FutureDatedOutcome
from gbcs.classify import classify, reported_command_category
from gbcs.codes import ALERT_CODES, ALERT_MESSAGE_CODES, MESSAGE_CODES, Category
from gbcs.frame import Cra, FrameError, build_frame, parse_frame
from gbcs.gbt import GbtBlock
from gbcs.gbt_transfer import reassemble, routing_header, split_into_blocks
from gbcs.supplementary import Supplementary, decode_supplementary
from gbcs.tunnel import TunnelKind, parse_tunnel_data

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUPPLIER = bytes.fromhex("90B3D51F30010000")
ESME = bytes.fromhex("00DB1234567890A0")
GSME = bytes.fromhex("00DB1234567890A1")
WHEN = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
EUI64 = st.binary(min_size=8, max_size=8)
COUNTER = st.integers(0, (1 << 64) - 1)


def example_hex(source_suffix: str) -> str:
    examples = gbcs_examples()
    [match] = [e["hex"] for e in examples if e["source"].endswith(source_suffix)]
    return str(match)


# -- docs/gbcs-notes.md 1.2: ECS52 command, field by field -----------------------------------------


def test_worked_example_1_2_ecs52_command() -> None:
    data = bytes.fromhex(example_hex("ECS52_11.2_SUCCESS_COMMAND_GBCS.HEX"))
    # The prefix the reference quotes, byte for byte.
    quoted = (
        "DD 00 00 00 00 00 00 47 11 00 00 00 00 DF 09 01 00 00 00 00 00 00 03 E8 08 90 B3 D5 1F "
        "30 01 00 00 08 00 DB 12 34 56 78 90 A0 00 02 00 59 13 D9 20 00 03 E8 00"
    )
    assert data.startswith(bytes.fromhex(quoted))
    assert data[15] == 0x01 and data[44:46] == b"\x00\x59"  # CRA at 15, message code at 44/45
    frame = parse_frame(data)
    assert frame.framing == "general-ciphering"
    assert frame.cra is Cra.COMMAND
    assert frame.counter == 1000
    assert frame.originator == SUPPLIER
    assert frame.recipient == ESME
    assert frame.date_time is None
    assert frame.message_code == 0x0059
    assert len(frame.payload) == 0x13 and frame.payload[0] == 0xD9  # DLMS access request
    assert frame.payload[1:5] == b"\x20\x00\x03\xe8"  # invoke-id = 0x20 + low 24 bits of counter
    assert frame.supplementary_fields == Supplementary()
    assert frame.has_signature_field and not frame.critical
    assert frame.mac is not None and len(frame.mac) == 12
    assert classify(frame) is Category.FIRMWARE


# -- docs/gbcs-notes.md 1.5: critical GBZ alert and non-critical DLMS alert ------------------------


def test_worked_example_1_5_critical_gbz_alert() -> None:
    data = bytes.fromhex(example_hex("GCA-ZigBee_NA_8F30_ALERT_GBCS.HEX"))
    quoted = (
        "DF 09 03 00 00 00 00 00 00 0B B8 08 00 DB 12 34 56 78 90 A1 08 90 B3 D5 1F 30 01 00 00 "
        "00 02 10 00 09 01 09 00 8F 30 1C 37 4A 80 40"
    )
    assert data.startswith(bytes.fromhex(quoted))
    assert len(data) == len(bytes.fromhex(quoted)) + 64
    frame = parse_frame(data)
    assert frame.framing == "general-signing"
    assert frame.cra is Cra.ALERT
    assert frame.counter == 3000
    assert frame.originator == GSME and frame.recipient == SUPPLIER
    assert frame.message_code == 0x1000
    assert len(frame.payload) == 9 and frame.payload[2] == 0  # zero components
    assert frame.alert_code == 0x8F30
    stamp = int.from_bytes(frame.payload[5:9], "big")
    assert datetime.fromtimestamp(payloads.GBZ_EPOCH.timestamp() + stamp, UTC) == datetime(
        2015, 1, 1, tzinfo=UTC
    )
    assert frame.critical and frame.mac is None
    assert classify(frame) is Category.SECURITY  # 0x8F30 source lacks authority


def test_worked_example_1_5_non_critical_dlms_alert() -> None:
    data = bytes.fromhex(example_hex("GNCA-DLMS_NA_810E_ALERT_GBCS.HEX"))
    quoted_payload = bytes.fromhex(
        "0F 20 00 07 D0 00 02 02 12 81 0E 09 0C 07 DF 01 01 FF 00 00 00 00 80 00 FF"
    )
    frame = parse_frame(data)
    assert frame.message_code == 0x1001
    assert frame.payload == quoted_payload
    assert frame.alert_code == 0x810E
    assert frame.has_signature_field and frame.signature is None  # zero-length signature
    assert frame.mac is not None
    assert classify(frame) is Category.PREPAYMENT  # credit added locally


def test_reference_future_dated_gbz_alert_names_its_command() -> None:
    frame = parse_frame(bytes.fromhex(example_hex("PUBLISH_PRICE_MATRIX_GBCS.HEX")))
    assert frame.alert_detail == FutureDatedOutcome(
        actioned=True, message_code=0x00A3, counter=1002
    )
    # It reports on a GCS01b tariff command, and carries an outcome, not tariff data: a critical
    # alert (docs/gbcs-notes.md 7.3).
    assert reported_command_category(frame) is Category.TARIFF
    assert classify(frame) is Category.CRITICAL_ALERT


def test_reference_supplementary_remote_party_fields() -> None:
    cs08 = parse_frame(bytes.fromhex(example_hex("CS08_11.2_SUCCESS_COMMAND_GBCS.HEX")))
    assert cs08.supplementary_fields == Supplementary(SUPPLIER, 1000)
    ecs200 = parse_frame(bytes.fromhex(example_hex("ECS200_NA_8F88_ALERT_GBCS.HEX")))
    assert ecs200.supplementary_fields == Supplementary(bytes.fromhex("90B3D51F30010008"))


# -- supplementary fields -------------------------------------------------------------------------

SUPPLEMENTARY = st.one_of(
    st.just(Supplementary()),
    st.builds(Supplementary, EUI64),
    st.builds(Supplementary, EUI64, COUNTER),
    st.builds(Supplementary, EUI64, COUNTER, COUNTER),
    st.builds(Supplementary, EUI64, COUNTER, COUNTER, st.binary(min_size=1, max_size=500)),
)


@PROPERTY
@given(fields=SUPPLEMENTARY, cra=st.sampled_from(list(Cra)), mac=st.booleans())
def test_supplementary_fields_round_trip(fields: Supplementary, cra: Cra, mac: bool) -> None:
    payload = payloads.dlms_alert(1, 0x8F30, WHEN) if cra is Cra.ALERT else b"\x05\x00"
    data = build_frame(
        cra=cra,
        counter=9,
        originator=ESME,
        recipient=SUPPLIER,
        message_code=0x1000 if cra is Cra.ALERT else 0x0129,
        payload=payload,
        supplementary=fields.encode(),
        mac_key=bytes(16) if mac else None,
    )
    frame = parse_frame(data)
    assert frame.supplementary_fields == fields
    assert frame.payload == payload


@pytest.mark.parametrize("n", [1, 7, 9, 15, 17, 23])
def test_other_information_of_an_impossible_length_is_malformed(n: int) -> None:
    good = build_frame(
        cra=Cra.COMMAND,
        counter=1,
        originator=SUPPLIER,
        recipient=ESME,
        message_code=0x0059,
        payload=b"\x05\x00",
        supplementary=bytes(24),
    )
    # Rewrite the other-information length (at byte 30) and cut the supplementary to n bytes.
    bad = good[:30] + bytes([2 + n]) + good[31:33] + bytes(n) + good[57:]
    with pytest.raises(FrameError) as info:
        parse_frame(bad)
    assert info.value.offset == 30
    assert "supplementary fields" in info.value.reason
    with pytest.raises(ValueError, match="supplementary"):
        decode_supplementary(bytes(n))


def test_supplementary_field_without_the_ones_before_it_is_refused() -> None:
    with pytest.raises(ValueError, match="needs every field before it"):
        Supplementary(remote_party_counter=5).encode()
    with pytest.raises(ValueError, match="EUI-64"):
        Supplementary(b"\x01").encode()


# -- GBT blocks -----------------------------------------------------------------------------------


@st.composite
def whole_messages(draw: st.DrawFn) -> bytes:
    cra = draw(st.sampled_from(list(Cra)))
    if cra is Cra.ALERT:
        message_code = draw(st.sampled_from(sorted(ALERT_MESSAGE_CODES)))
        payload = payloads.dlms_alert(1, 0x8F35, WHEN, draw(st.binary(max_size=600)))
    else:
        message_code = draw(st.sampled_from(sorted(set(MESSAGE_CODES) - ALERT_MESSAGE_CODES)))
        payload = b"\xd9" + draw(st.binary(max_size=600))
    return build_frame(
        cra=cra,
        counter=draw(COUNTER),
        originator=draw(EUI64),
        recipient=draw(EUI64),
        message_code=message_code,
        payload=payload,
        date_time=draw(st.none() | st.binary(min_size=12, max_size=12)),
        supplementary=draw(SUPPLEMENTARY).encode(),
        mac_key=bytes(16) if draw(st.booleans()) else None,
    )


@PROPERTY
@given(message=whole_messages(), block_size=st.integers(1, 300), data=st.data())
def test_gbt_blocks_round_trip_and_classify_alike(
    message: bytes, block_size: int, data: st.DataObject
) -> None:
    whole = parse_frame(message)
    blocks = [parse_frame(b) for b in split_into_blocks(message, block_size)]
    assert len(blocks) == -(-len(message) // block_size)
    for n, block in enumerate(blocks, start=1):
        assert block.framing == "gbt" and block.gbt is not None
        assert block.gbt.number == n and block.gbt.last is (n == len(blocks))
        # The routing header repeats every field a decision needs.
        assert (block.cra, block.counter, block.originator, block.recipient) == (
            whole.cra,
            whole.counter,
            whole.originator,
            whole.recipient,
        )
        assert block.message_code == whole.message_code
        assert block.date_time == whole.date_time
        assert block.supplementary == whole.supplementary
        assert block.alert_code is None and not block.critical and not block.is_pre_command
    categories = {classify(b) for b in blocks}
    assert len(categories) == 1, "every block of one message gets the same category"
    shuffled = data.draw(st.permutations(blocks))
    assert reassemble(shuffled) == message
    assert parse_frame(reassemble(blocks)) == whole


def test_gbt_alert_block_is_unknown_unless_its_message_code_fixes_a_passing_class() -> None:
    def alert_block(message_code: int, alert_code: int) -> Category:
        message = build_frame(
            cra=Cra.ALERT,
            counter=2000,
            originator=ESME,
            recipient=SUPPLIER,
            message_code=message_code,
            payload=payloads.dlms_alert(2000, alert_code, WHEN),
            signer=lambda _: bytes(64),
        )
        return classify(parse_frame(split_into_blocks(message, 40)[0]))

    assert alert_block(0x0067, 0x8F35) is Category.SAFETY  # ECS80 is safety by its code alone
    assert alert_block(0x00CE, 0x8F72) is Category.FIRMWARE
    # The alert code is inside the message, not the block: a generic critical alert or a
    # billing-data ECS68 cannot be told apart per block, so fail closed.
    assert alert_block(0x1000, 0x8F3E) is Category.UNKNOWN
    assert alert_block(0x0061, 0x8F0A) is Category.UNKNOWN


def test_gbt_block_fields_round_trip() -> None:
    block = GbtBlock(last=True, streaming=True, window=5, number=300, number_ack=299, data=b"xy")
    message = build_frame(
        cra=Cra.RESPONSE,
        counter=7,
        originator=ESME,
        recipient=SUPPLIER,
        message_code=0x0059,
        payload=b"\xda",
    )
    frame = parse_frame(routing_header(parse_frame(message)) + block.encode())
    assert frame.gbt == block


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda b: b[:-1], "block-data length"),
        (lambda b: b + b"\x00", "block-data length"),
        (lambda b: b[:33] + b"\x01" + b[34:], "key-info"),
        (lambda b: b[:34] + b"\xe1" + b[35:], "general-block-transfer tag"),
        (lambda b: b[:36] + b"\x00\x00" + b[38:], "block-number 0"),
        (lambda b: b[:35], "general-block-transfer header"),
    ],
)
def test_malformed_gbt_blocks_name_offset_and_reason(mutate: object, fragment: str) -> None:
    message = build_frame(
        cra=Cra.COMMAND,
        counter=1,
        originator=SUPPLIER,
        recipient=ESME,
        message_code=0x0059,
        payload=b"\xd9" + bytes(40),
    )
    [block] = split_into_blocks(message, 1000)
    assert block[33] == 0 and block[34] == 0xE0  # key-info, then the GBT tag
    assert callable(mutate)
    with pytest.raises(FrameError) as info:
        parse_frame(mutate(block))
    assert fragment in info.value.reason


def test_reassembly_refuses_gaps_and_mixed_messages() -> None:
    def message(counter: int) -> bytes:
        return build_frame(
            cra=Cra.COMMAND,
            counter=counter,
            originator=SUPPLIER,
            recipient=ESME,
            message_code=0x0059,
            payload=b"\xd9" + bytes(100),
        )

    a = [parse_frame(b) for b in split_into_blocks(message(1), 30)]
    b = [parse_frame(b) for b in split_into_blocks(message(2), 30)]
    with pytest.raises(FrameError, match="missing"):
        reassemble([a[0], *a[2:]])
    with pytest.raises(FrameError, match="another message"):
        reassemble([a[0], b[1], *a[2:]])
    with pytest.raises(FrameError, match="last-block flag"):
        reassemble(a[:-1])
    with pytest.raises(FrameError, match="no blocks"):
        reassemble([])


# -- GSME tunnel headers --------------------------------------------------------------------------


@PROPERTY
@given(queued=st.integers(0, 255), message=whole_messages())
def test_tunnel_headers_round_trip(queued: int, message: bytes) -> None:
    assert parse_tunnel_data(tunnel.get()) == tunnel.TunnelData(TunnelKind.GET, None, b"", 1)
    response = parse_tunnel_data(tunnel.get_response(queued, message))
    assert (response.kind, response.queued, response.message) == (
        TunnelKind.GET_RESPONSE,
        queued,
        message,
    )
    assert parse_frame(response.message).raw == message
    empty = parse_tunnel_data(tunnel.get_response(queued))
    assert empty.message == b"" and empty.queued == queued
    put = parse_tunnel_data(tunnel.put(message))
    assert (put.kind, put.message, put.message_offset) == (TunnelKind.PUT, message, 1)
    bare = parse_tunnel_data(message)
    assert (bare.kind, bare.message, bare.message_offset) == (TunnelKind.BARE, message, 0)


@pytest.mark.parametrize(
    ("data", "offset", "fragment"),
    [
        (b"", 0, "empty tunnel payload"),
        (b"\x01\x00", 1, "GET carries no message"),
        (b"\x02", 1, "GET-RESPONSE"),
        (b"\x03", 1, "PUT carries no message"),
        (b"\x04\xdf", 0, "tunnel header 0x04"),
    ],
)
def test_malformed_tunnel_data(data: bytes, offset: int, fragment: str) -> None:
    with pytest.raises(FrameError) as info:
        parse_tunnel_data(data)
    assert info.value.offset == offset
    assert fragment in info.value.reason


# -- alert details --------------------------------------------------------------------------------


def signed_alert(message_code: int, payload: bytes) -> bytes:
    return build_frame(
        cra=Cra.ALERT,
        counter=2000,
        originator=ESME,
        recipient=SUPPLIER,
        message_code=message_code,
        payload=payload,
        signer=lambda _: bytes(64),
    )


@PROPERTY
@given(
    form=st.sampled_from(["dlms", "gbz"]),
    alert_code=st.sampled_from([0x8F66, 0x8F67]),
    reported=st.integers(0, 0xFFFF),
    counter=COUNTER,
)
def test_future_dated_outcome_round_trip(
    form: str, alert_code: int, reported: int, counter: int
) -> None:
    if form == "dlms":
        body = payloads.dlms_future_dated_alert(1, alert_code, WHEN, reported, counter)
        frame = parse_frame(signed_alert(0x00CC, body))
    else:
        body = payloads.gbz_future_dated_alert(alert_code, WHEN, reported, counter)
        frame = parse_frame(signed_alert(0x00CD, body))
    assert frame.alert_code == alert_code
    assert frame.alert_detail == FutureDatedOutcome(alert_code == 0x8F66, reported, counter)


def test_future_dated_firmware_activation_reports_on_cs06() -> None:
    body = b"\x30\x05\x02\x03\x00\x8f\x67"
    frame = parse_frame(signed_alert(0x00CA, body))
    assert frame.alert_detail == FutureDatedOutcome(False, 0x0012, None)
    assert classify(frame) is Category.FIRMWARE


@PROPERTY
@given(
    form=st.sampled_from(["dlms", "gbz"]),
    alert_code=st.sampled_from([0x8F72, 0x8F1C]),
    image_hash=st.binary(min_size=32, max_size=32),
)
def test_firmware_receipt_hash_round_trip(form: str, alert_code: int, image_hash: bytes) -> None:
    if form == "dlms":
        body = payloads.dlms_firmware_receipt(1, alert_code, WHEN, image_hash)
        frame = parse_frame(signed_alert(0x00CE, body))
    else:
        frame = parse_frame(
            signed_alert(0x00CF, payloads.gbz_firmware_receipt(alert_code, WHEN, image_hash))
        )
    assert frame.alert_detail == FirmwareReceipt(alert_code == 0x8F72, image_hash)
    assert classify(frame) is Category.FIRMWARE


@PROPERTY
@given(
    alert_code=st.sampled_from([0x8F8A, 0x8F89]),
    target=EUI64,
    version=st.binary(max_size=40),
    result=st.integers(0, 255),
)
def test_ccs08_firmware_transfer_round_trip(
    alert_code: int, target: bytes, version: bytes, result: int
) -> None:
    body = payloads.asn1_firmware_transfer(alert_code, WHEN, target, version, result)
    frame = parse_frame(signed_alert(0x0128, body))
    assert frame.alert_code == alert_code
    detail = frame.alert_detail
    assert detail == FirmwareTransfer(alert_code == 0x8F8A, target, version, result)
    assert isinstance(detail, FirmwareTransfer)
    assert detail.result_name == {0: "success", 1: "image discarded"}.get(
        result, detail.result_name
    )
    assert classify(frame) is Category.FIRMWARE


def test_alert_details_of_other_layouts_are_absent_not_errors() -> None:
    # A firmware receipt whose body is not the documented layout still parses and passes as
    # firmware: the detail is best-effort, the category does not depend on it.
    frame = parse_frame(signed_alert(0x00CE, payloads.dlms_alert(1, 0x8F72, WHEN, b"\x11\x05")))
    assert frame.alert_detail is None
    assert classify(frame) is Category.FIRMWARE
    transfer = parse_frame(signed_alert(0x0128, b"\x30\x05\x02\x03\x00\x8f\x8a"))
    assert transfer.alert_detail is None
    assert classify(transfer) is Category.FIRMWARE


# -- every code family, in every framing form -----------------------------------------------------

FORMS = ("mac", "signed", "mac+signed", "bare-00", "pre-command")


@pytest.mark.parametrize("form", FORMS)
def test_every_message_code_parses_and_classifies_in_every_form(form: str) -> None:
    for code in sorted(set(MESSAGE_CODES) - ALERT_MESSAGE_CODES):
        for cra in (Cra.COMMAND, Cra.RESPONSE):
            if form == "pre-command" and cra is Cra.RESPONSE:
                continue
            data = build_frame(
                cra=cra,
                counter=code,
                originator=SUPPLIER,
                recipient=ESME,
                message_code=code,
                payload=b"\xd9\x20\x00\x00\x01\x00",
                signer=(lambda _: bytes(64)) if "signed" in form else None,
                mac_key=bytes(16) if "mac" in form else None,
                signature_field=form != "pre-command",
            )
            frame = parse_frame(data)
            assert (frame.cra, frame.message_code, frame.counter) == (cra, code, code)
            assert frame.critical is ("signed" in form)
            assert frame.has_signature_field is (form != "pre-command")
            # A bare DF command with a 00 signature field is a pre-command too
            # (docs/gbcs-notes.md 1.1).
            unsigned_command = cra is Cra.COMMAND and form in ("pre-command", "bare-00")
            assert frame.is_pre_command is unsigned_command
            assert classify(frame) is MESSAGE_CODES[code].category


@pytest.mark.parametrize("payload_form", ["dlms", "gbz", "asn1"])
def test_every_alert_code_is_read_from_every_payload_type(payload_form: str) -> None:
    for alert_code in sorted(ALERT_CODES):
        if payload_form == "dlms":
            payload = payloads.dlms_alert(5, alert_code, WHEN)
        elif payload_form == "gbz":
            payload = payloads.gbz_alert(alert_code, WHEN)
        else:
            payload = b"\x30\x05\x02\x03\x00" + alert_code.to_bytes(2, "big")
        for message_code in (0x1000, 0x1001):
            frame = parse_frame(signed_alert(message_code, payload))
            assert frame.alert_code == alert_code
            assert classify(frame) is not Category.UNKNOWN
