"""Tests for gbcs.frame: the 16 reference frames, build/parse round trips, fuzzing, malformed input.

The reference frames are DCC RTDS 4.5.0 messages with their decoded header fields
(tests/data/gbcs-examples.json, described in tests/data/README.md). A missing file fails every
test that needs it: these are the only real frames the codec is checked against.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reference_data import gbcs_examples

from gbcs import payloads, signature
from gbcs.alerts import alert_code_from_payload
from gbcs.frame import (
    Cra,
    Frame,
    FrameError,
    ber_length,
    build_frame,
    gmac,
    parse_frame,
    verify_mac,
)

N_EXAMPLES = 16

# CI runs a few hundred cases per fuzz test; `make fuzz` asks for many more.
FUZZ_EXAMPLES = int(os.environ.get("HYPOTHESIS_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
ROUND_TRIP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEY = signature.generate_key()
OTHER_KEY = signature.generate_key()
SUPPLIER = bytes.fromhex("90B3D51F30010000")
ESME = bytes.fromhex("00DB1234567890A0")
WHEN = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)


def sign(data: bytes) -> bytes:
    return signature.sign(KEY, data)


@cache
def examples() -> list[dict[str, Any]]:
    data = gbcs_examples()
    assert isinstance(data, list)
    assert len(data) == N_EXAMPLES, f"expected {N_EXAMPLES} reference frames, got {len(data)}"
    return data


def example_bytes(index: int) -> bytes:
    return bytes.fromhex(examples()[index]["hex"])


def check_parse_outcome(data: bytes) -> Frame | None:
    """parse_frame's whole contract on any input: a Frame of exactly `data`, or a FrameError."""
    try:
        frame = parse_frame(data)
    except FrameError as exc:
        assert type(exc.offset) is int
        assert 0 <= exc.offset <= len(data), (exc.offset, len(data))
        assert isinstance(exc.reason, str)
        assert exc.reason
        assert str(exc.offset) in str(exc)
        return None
    assert isinstance(frame, Frame)
    assert frame.raw == data
    assert 0 < frame.signed_start <= frame.signed_end <= len(data)
    assert len(frame.originator) == 8
    assert len(frame.recipient) == 8
    assert 0 <= frame.message_code <= 0xFFFF
    return frame


# -- the reference frames ------------------------------------------------------------------------


def test_reference_file_holds_sixteen_frames() -> None:
    assert len(examples()) == N_EXAMPLES
    forms = {e["hex"][:2] for e in examples()}
    assert forms == {"DD", "DF"}


@pytest.mark.parametrize("index", range(N_EXAMPLES))
def test_reference_frame_decodes_to_its_published_fields(index: int) -> None:
    ex = examples()[index]
    data = bytes.fromhex(ex["hex"])
    frame = parse_frame(data)
    what = ex["use_case"]
    assert frame.cra.label == ex["cra"], what
    assert frame.counter == ex["counter"], what
    assert frame.originator.hex().upper() == ex["originator"], what
    assert frame.recipient.hex().upper() == ex["recipient"], what
    assert f"0x{frame.message_code:04X}" == ex["message_code"], what
    expected_alert = ex["alert_code"]
    got_alert = None if frame.alert_code is None else f"0x{frame.alert_code:04X}"
    assert got_alert == expected_alert, what
    assert frame.critical is ex["critical"], what
    assert frame.raw == data
    assert type(frame.raw) is bytes
    # Framing facts that follow from the bytes (docs/gbcs-notes.md 1.1, 6.4).
    assert (frame.mac is not None) == (data[0] == 0xDD), what
    if frame.mac is not None:
        assert frame.mac == data[-12:]
        assert frame.has_signature_field
    assert frame.signed_bytes[:1] == b"\x09"
    assert data[frame.signed_start - 1] == 0xDF
    if frame.critical:
        assert frame.signature is not None
        assert len(frame.signature) == 64


def test_reference_frames_cover_the_framing_forms() -> None:
    """The set is meant to hold one of each framing form; check it still does."""
    frames = [parse_frame(example_bytes(i)) for i in range(N_EXAMPLES)]
    ciphered_length_forms = {f.raw[7] for f in frames if f.mac is not None}
    assert any(b < 0x80 for b in ciphered_length_forms)
    assert {0x81, 0x82} <= ciphered_length_forms
    assert any(f.is_pre_command for f in frames)
    assert any(f.date_time is not None for f in frames)
    assert {len(f.supplementary) for f in frames} >= {0, 8, 16}
    assert {f.cra for f in frames} == set(Cra)
    alert_formats = {f.payload[:1] for f in frames if f.cra is Cra.ALERT}
    assert {b"\x0f", b"\x01", b"\x30"} <= alert_formats


def test_pre_command_reference_frame_has_no_signature_field() -> None:
    frames = [parse_frame(example_bytes(i)) for i in range(N_EXAMPLES)]
    pre = [f for f in frames if f.is_pre_command]
    assert pre
    for frame in pre:
        assert frame.cra is Cra.COMMAND
        assert frame.signature is None
        assert frame.mac is None
        assert frame.signed_end == len(frame.raw) or frame.raw[frame.signed_end :] == b"\x00"


# -- build -> parse round trip --------------------------------------------------------------------

EUI64 = st.binary(min_size=8, max_size=8)
# Payload sizes whose BER length takes one byte, 0x81 n, and 0x82 nn nn.
SIZES = st.one_of(
    st.integers(0, 0x7F),
    st.integers(0x80, 0xFF),
    st.integers(0x100, 0x600),
)


def asn1_alert(code: int, filler: bytes) -> bytes:
    value = code.to_bytes(max(1, (code.bit_length() + 8) // 8), "big")
    body = b"\x02" + bytes([len(value)]) + value + b"\x18\x0f20240301123000Z" + filler
    return b"\x30" + ber_length(len(body)) + body


@st.composite
def alert_payloads(draw: st.DrawFn, counter: int) -> tuple[bytes, int | None]:
    code = draw(st.integers(0, 0xFFFF))
    filler = draw(SIZES.flatmap(lambda n: st.binary(min_size=n, max_size=n)))
    form = draw(st.sampled_from(["dlms", "gbz", "asn1", "other"]))
    if form == "dlms":
        return payloads.dlms_alert(counter, code, WHEN, filler), code
    if form == "gbz":
        return payloads.gbz_alert(code, WHEN, filler), code
    if form == "asn1":
        return asn1_alert(code, filler), code
    # A format the hub does not recognise: the alert code is unknown (None), not an error.
    return b"\xd9" + filler, None


@st.composite
def frame_specs(draw: st.DrawFn) -> dict[str, Any]:
    cra = draw(st.sampled_from(list(Cra)))
    counter = draw(st.integers(0, (1 << 64) - 1))
    if cra is Cra.ALERT:
        payload, alert_code = draw(alert_payloads(counter))
    else:
        payload, alert_code = draw(SIZES.flatmap(lambda n: st.binary(min_size=n, max_size=n))), None
    signing = draw(st.sampled_from(["signed", "zero", "absent"]))
    mac_key = None if signing == "absent" else draw(st.none() | st.binary(min_size=16, max_size=16))
    return {
        "cra": cra,
        "counter": counter,
        "originator": draw(EUI64),
        "recipient": draw(EUI64),
        "message_code": draw(st.integers(0, 0xFFFF)),
        "payload": payload,
        "alert_code": alert_code,
        "date_time": draw(st.none() | st.binary(min_size=12, max_size=12)),
        "supplementary": draw(
            st.sampled_from([0, 8, 16, 24]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
        ),
        "signing": signing,
        "mac_key": mac_key,
    }


def build_from(spec: dict[str, Any]) -> bytes:
    return build_frame(
        cra=spec["cra"],
        counter=spec["counter"],
        originator=spec["originator"],
        recipient=spec["recipient"],
        message_code=spec["message_code"],
        payload=spec["payload"],
        date_time=spec["date_time"],
        supplementary=spec["supplementary"],
        signer=sign if spec["signing"] == "signed" else None,
        mac_key=spec["mac_key"],
        signature_field=spec["signing"] != "absent",
    )


def check_round_trip(spec: dict[str, Any]) -> Frame:
    data = build_from(spec)
    frame = parse_frame(data)
    assert frame.raw == data
    assert frame.cra is spec["cra"]
    assert frame.counter == spec["counter"]
    assert frame.originator == spec["originator"]
    assert frame.recipient == spec["recipient"]
    assert frame.message_code == spec["message_code"]
    assert frame.payload == spec["payload"]
    assert frame.alert_code == spec["alert_code"]
    assert frame.date_time == spec["date_time"]
    assert frame.supplementary == spec["supplementary"]
    assert frame.has_signature_field is (spec["signing"] != "absent")
    assert frame.critical is (spec["signing"] == "signed")
    if spec["signing"] == "signed":
        assert frame.signature is not None
        assert signature.verify(KEY.public_key(), frame.signed_bytes, frame.signature)
        assert not signature.verify(OTHER_KEY.public_key(), frame.signed_bytes, frame.signature)
    else:
        assert frame.signature is None
    assert frame.is_pre_command is (
        spec["cra"] is Cra.COMMAND and spec["signing"] != "signed" and spec["mac_key"] is None
    )
    key = spec["mac_key"]
    if key is None:
        assert frame.mac is None
        assert data[0] == 0xDF
        assert not verify_mac(bytes(16), frame)
    else:
        assert data[:2] == b"\xdd\x00"
        assert frame.mac is not None
        assert len(frame.mac) == 12
        assert verify_mac(key, frame)
        wrong = bytes([key[0] ^ 0x01]) + key[1:]
        assert not verify_mac(wrong, frame)
    return frame


@ROUND_TRIP
@given(frame_specs())
def test_build_parse_round_trip(spec: dict[str, Any]) -> None:
    check_round_trip(spec)


@pytest.mark.parametrize(
    ("size", "length_prefix"),
    [
        (0, b"\x00"),
        (0x7F, b"\x7f"),
        (0x80, b"\x81\x80"),
        (0xFF, b"\x81\xff"),
        (0x100, b"\x82\x01\x00"),
        (0xFFFF, b"\x82\xff\xff"),
        (0x10000, b"\x83\x01\x00\x00"),
        (70_000, b"\x83\x01\x11\x70"),
    ],
)
@pytest.mark.parametrize("wrapping", ["bare", "mac", "signed+mac"])
def test_round_trip_at_ber_length_boundaries(
    size: int, length_prefix: bytes, wrapping: str
) -> None:
    payload = bytes(i & 0xFF for i in range(size))
    spec: dict[str, Any] = {
        "cra": Cra.RESPONSE,
        "counter": (1 << 64) - 1,
        "originator": ESME,
        "recipient": SUPPLIER,
        "message_code": 0x0027,
        "payload": payload,
        "alert_code": None,
        "date_time": payloads.dlms_date_time(WHEN),
        "supplementary": bytes(range(16)),
        "signing": "signed" if wrapping == "signed+mac" else "zero",
        "mac_key": None if wrapping == "bare" else bytes(range(16)),
    }
    frame = check_round_trip(spec)
    assert frame.raw[frame.signed_end - size - len(length_prefix) : frame.signed_end - size] == (
        length_prefix
    )


@pytest.mark.parametrize("form", ["dlms", "gbz", "asn1"])
@pytest.mark.parametrize("size", [0, 0x90, 0x1000, 70_000])
def test_large_alert_payloads_keep_their_alert_code(form: str, size: int) -> None:
    filler = b"\x5a" * size
    payload = {
        "dlms": payloads.dlms_alert(7, 0x8F3E, WHEN, filler),
        "gbz": payloads.gbz_alert(0x8F3E, WHEN, filler),
        "asn1": asn1_alert(0x8F3E, filler),
    }[form]
    data = build_frame(
        cra=Cra.ALERT,
        counter=7,
        originator=ESME,
        recipient=SUPPLIER,
        message_code=0x1000,
        payload=payload,
        signer=sign,
    )
    frame = parse_frame(data)
    assert frame.alert_code == 0x8F3E
    assert frame.payload == payload
    assert frame.signature is not None
    assert signature.verify(KEY.public_key(), frame.signed_bytes, frame.signature)


def test_pre_command_then_signed_command_contains_it() -> None:
    """A pre-command's signed span is exactly what the final command's signature covers (6.1)."""
    fields: dict[str, Any] = {
        "cra": Cra.COMMAND,
        "counter": 1000,
        "originator": SUPPLIER,
        "recipient": ESME,
        "message_code": 0x0019,
        "payload": payloads.dlms_access_request(1000),
    }
    pre = parse_frame(build_frame(**fields, signature_field=False))
    final = parse_frame(build_frame(**fields, signer=sign, mac_key=bytes(16)))
    assert pre.is_pre_command
    assert not final.is_pre_command
    assert pre.signed_bytes == final.signed_bytes
    assert pre.raw in final.raw
    assert final.signature is not None
    assert signature.verify(KEY.public_key(), pre.signed_bytes, final.signature)


def test_gmac_matches_the_frame_mac_and_covers_the_whole_apdu() -> None:
    key = bytes(range(16))
    data = build_frame(
        cra=Cra.RESPONSE,
        counter=1,
        originator=ESME,
        recipient=SUPPLIER,
        message_code=0x0059,
        payload=b"\xda\x20\x00\x00\x01\x00",
        mac_key=key,
    )
    frame = parse_frame(data)
    apdu = data[frame.signed_start - 1 : len(data) - 12]
    assert apdu[0] == 0xDF
    assert gmac(key, ESME, apdu) == frame.mac
    # Any change to the covered bytes is caught.
    tampered = bytearray(data)
    tampered[frame.signed_end - 1] ^= 0x01
    assert not verify_mac(key, parse_frame(bytes(tampered)))


@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        (0, b"\x00"),
        (0x7F, b"\x7f"),
        (0x80, b"\x81\x80"),
        (0xFF, b"\x81\xff"),
        (0x100, b"\x82\x01\x00"),
        (0xFFFF, b"\x82\xff\xff"),
        (0x10000, b"\x83\x01\x00\x00"),
        (0xFFFFFF, b"\x83\xff\xff\xff"),
    ],
)
def test_ber_length_forms(n: int, encoded: bytes) -> None:
    assert ber_length(n) == encoded


@pytest.mark.parametrize("n", [-1, 0x1000000])
def test_ber_length_out_of_range(n: int) -> None:
    with pytest.raises(ValueError):
        ber_length(n)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"originator": b"\x00" * 7}, "EUI-64"),
        ({"recipient": b"\x00" * 9}, "EUI-64"),
        ({"counter": 1 << 64}, "64 bits"),
        ({"counter": -1}, "64 bits"),
        ({"message_code": 0x10000}, "16 bits"),
        ({"date_time": b"\x00" * 11}, "12 bytes"),
        ({"signature_field": False, "mac_key": bytes(16)}, "signature field"),
        ({"signer": lambda data: b"\x00" * 63}, "64-byte"),
    ],
)
def test_build_frame_refuses_bad_fields(change: dict[str, Any], fragment: str) -> None:
    fields: dict[str, Any] = {
        "cra": Cra.COMMAND,
        "counter": 1,
        "originator": SUPPLIER,
        "recipient": ESME,
        "message_code": 0x0027,
        "payload": b"",
    }
    fields.update(change)
    with pytest.raises(ValueError, match=fragment):
        build_frame(**fields)


# -- fuzz: nothing but a Frame or a FrameError ever comes out -------------------------------------


@FUZZ
@given(st.binary(max_size=600))
@example(b"")
@example(b"\xdd")
@example(b"\xdf")
@example(b"\xdd\x09")
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    check_parse_outcome(data)


PREFIXES = [
    b"\xdf\x09\x03",
    b"\xdf\x09\x02",
    b"\xdd\x00\x00\x00\x00\x00\x00",
]


@FUZZ
@given(st.sampled_from(PREFIXES), st.binary(max_size=300))
def test_fuzz_plausible_headers(prefix: bytes, rest: bytes) -> None:
    """Random bytes behind real tags reach the deeper parsing paths."""
    check_parse_outcome(prefix + rest)


@st.composite
def alert_shaped_frames(draw: st.DrawFn) -> bytes:
    """A well-framed alert whose payload is random but starts like one of the alert formats."""
    head = draw(st.sampled_from([b"\x0f", b"\x01\x09", b"\x30"]))
    body = draw(st.binary(max_size=40))
    return build_frame(
        cra=Cra.ALERT,
        counter=1,
        originator=ESME,
        recipient=SUPPLIER,
        message_code=0x1001,
        payload=head + body,
        mac_key=draw(st.none() | st.just(bytes(16))),
    )


@FUZZ
@given(alert_shaped_frames())
def test_fuzz_alert_payloads(data: bytes) -> None:
    frame = check_parse_outcome(data)
    if frame is not None:
        # When the frame parses, the alert code is what the alert module reads from the payload.
        assert frame.alert_code == alert_code_from_payload(frame.message_code, frame.payload)


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    op = draw(st.sampled_from(["replace", "truncate", "append", "insert", "delete"]))
    if op == "replace":
        at = draw(st.integers(0, len(data) - 1))
        value = draw(st.integers(0, 0xFF))
        return data[:at] + bytes([value]) + data[at + 1 :]
    if op == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if op == "append":
        return data + draw(st.binary(min_size=1, max_size=80))
    at = draw(st.integers(0, len(data) - 1))
    if op == "insert":
        return data[:at] + bytes([draw(st.integers(0, 0xFF))]) + data[at:]
    return data[:at] + data[at + 1 :]


@pytest.mark.parametrize("index", range(N_EXAMPLES))
@FUZZ
@given(data=st.data())
def test_fuzz_mutated_reference_frames(index: int, data: st.DataObject) -> None:
    original = example_bytes(index)
    mutated = data.draw(mutations(original))
    check_parse_outcome(mutated)


@pytest.mark.parametrize("index", range(N_EXAMPLES))
def test_fuzz_every_truncation_and_byte_flip(index: int) -> None:
    """Exhaustive, deterministic companions to the random mutations."""
    original = example_bytes(index)
    whole = parse_frame(original)
    for cut in range(len(original)):
        frame = check_parse_outcome(original[:cut])
        if frame is not None:
            # The one prefix that is itself a frame: a bare APDU without its signature field
            # (the pre-command form). A MAC-wrapped frame has no valid prefix at all.
            assert whole.mac is None
            assert cut == whole.signed_end
            assert not frame.has_signature_field
    for at in range(len(original)):
        for mask in (0x01, 0x80, 0xFF):
            flipped = bytearray(original)
            flipped[at] ^= mask
            check_parse_outcome(bytes(flipped))
    for extra in (b"\x00", b"\x40", b"\x00" * 12):
        frame = check_parse_outcome(original + extra)
        if frame is not None:
            # Only a frame without a signature field can take one more byte: a zero signature.
            assert not whole.has_signature_field
            assert extra == b"\x00"
            assert frame.has_signature_field


# -- specific malformed frames --------------------------------------------------------------------


def bare(**change: Any) -> bytes:
    fields: dict[str, Any] = {
        "cra": Cra.RESPONSE,
        "counter": 1000,
        "originator": ESME,
        "recipient": SUPPLIER,
        "message_code": 0x0059,
        "payload": payloads.dlms_access_response(1000),
    }
    fields.update(change)
    return build_frame(**fields)


def ciphered(**change: Any) -> bytes:
    return bare(mac_key=bytes(16), **change)


def replace_at(data: bytes, at: int, value: bytes) -> bytes:
    return data[:at] + value + data[at + len(value) :]


MALFORMED: list[tuple[str, bytes, str, int | None]] = [
    ("empty", b"", "empty frame", 0),
    ("unknown tag", b"\x42" + bare()[1:], "unknown frame tag 0x42", 0),
    ("GBT block with a bad CRA flag", b"\xdd\x09" + bytes(40), "CRA flag 0x00", 2),
    ("bad CRA flag in DF", replace_at(bare(), 2, b"\x04"), "CRA flag 0x04", 2),
    ("CRA flag zero in DD", replace_at(ciphered(), 15, b"\x00"), "CRA flag 0x00", 15),
    ("ciphered length too long", ciphered()[:-1], "ciphered-content length", 7),
    ("ciphered length too short", ciphered() + b"\x00", "ciphered-content length", 7),
    ("truncated header", bare()[:6], "originator counter: need 8 bytes", 3),
    ("truncated before recipient", bare()[:25], "recipient: need 8 bytes", 21),
    ("bad signature length", bare()[:-1] + b"\x20", "signature length 32", None),
    ("signature too short", bare(signer=sign)[:-1], "signature: need 64 bytes", None),
    ("trailing bytes after a zero signature", bare() + b"\x00", "1 unexpected bytes", None),
    ("trailing bytes after a signature", bare(signer=sign) + b"\xaa\xbb", "2 unexpected", None),
    ("bad transaction-id length", replace_at(bare(), 1, b"\x08"), "transaction-id length", 1),
    ("bad originator length", replace_at(bare(), 11, b"\x07"), "originator system-title", 11),
    ("bad date-time length", replace_at(bare(), 29, b"\x05"), "date-time length 5", 29),
    ("no message code", replace_at(bare(), 30, b"\x01"), "has no message code", 30),
    ("indefinite BER length", replace_at(bare(), 30, b"\x80"), "unsupported BER length", 30),
    ("4-byte BER length", replace_at(bare(), 30, b"\x84"), "unsupported BER length", 30),
    ("bad security control", replace_at(ciphered(), 8, b"\x30"), "security control byte", 8),
    ("non-empty DLMS field", replace_at(ciphered(), 3, b"\x01"), "empty DLMS", 3),
    ("MAC frame without APDU room", b"\xdd" + bytes(6) + b"\x0a\x11" + bytes(9), "no room", None),
    (
        "MAC frame without signature field",
        b"\xdd"
        + bytes(6)
        + bytes([5 + len(bare(signature_field=False)) + 12])
        + b"\x11"
        + bytes(4)
        + bare(signature_field=False)
        + bytes(12),
        "must have a signature field",
        None,
    ),
    (
        "DLMS alert without room for its code",
        bare(cra=Cra.ALERT, message_code=0x1001, payload=b"\x0f\x20\x00\x00\x01\x00"),
        "alert code: DLMS alert payload of 6 bytes",
        None,
    ),
    (
        "DLMS alert with the wrong structure",
        bare(cra=Cra.ALERT, message_code=0x1001, payload=b"\x0f" + bytes(12)),
        "alert code: DLMS alert payload does not start",
        None,
    ),
    (
        "GBZ alert without room for its code",
        bare(cra=Cra.ALERT, message_code=0x1001, payload=b"\x01\x09\x00\x8f"),
        "alert code: GBZ alert payload of 4 bytes",
        None,
    ),
    (
        "ASN.1 alert without an INTEGER",
        bare(cra=Cra.ALERT, message_code=0x1000, payload=b"\x30\x03\x04\x01\x00"),
        "does not start with an INTEGER",
        None,
    ),
    (
        "ASN.1 alert code too wide",
        bare(cra=Cra.ALERT, message_code=0x1000, payload=b"\x30\x05\x02\x03\x01\x00\x00"),
        "does not fit 16 bits",
        None,
    ),
]


@pytest.mark.parametrize(
    ("data", "fragment", "offset"),
    [pytest.param(d, f, o, id=name) for name, d, f, o in MALFORMED],
)
def test_malformed_frames_name_offset_and_reason(
    data: bytes, fragment: str, offset: int | None
) -> None:
    with pytest.raises(FrameError) as info:
        parse_frame(data)
    assert fragment in info.value.reason
    assert 0 <= info.value.offset <= len(data)
    if offset is not None:
        assert info.value.offset == offset
    assert isinstance(info.value, ValueError)


def test_malformed_frame_message_carries_offset_and_reason() -> None:
    err = FrameError(17, "something odd")
    assert err.offset == 17
    assert err.reason == "something odd"
    assert str(err) == "malformed GBCS frame at byte 17: something odd"


def test_parse_accepts_bytearray_and_keeps_bytes() -> None:
    data = example_bytes(0)
    # Radio stacks hand over bytearrays; `raw` must still be immutable bytes to forward.
    frame = parse_frame(bytearray(data))  # type: ignore[arg-type]
    assert frame.raw == data
    assert type(frame.raw) is bytes


def test_verify_mac_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """`==` on bytes stops at the first difference, so its timing tells a forger how many
    leading MAC bytes were right; verify_mac must leave the comparison to hmac.compare_digest."""
    import hmac

    from gbcs import frame as frame_module

    key = bytes(range(16))
    data = build_frame(
        cra=Cra.RESPONSE,
        counter=1,
        originator=ESME,
        recipient=SUPPLIER,
        message_code=0x0059,
        payload=b"\xda\x20\x00\x00\x01\x00",
        mac_key=key,
    )
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((bytes(a), bytes(b)))
        return real(a, b)

    monkeypatch.setattr(frame_module.hmac, "compare_digest", spy)
    good = parse_frame(data)
    assert verify_mac(key, good)
    assert compared == [(good.mac, good.mac)]
    tampered = bytearray(data)
    tampered[-1] ^= 0x01
    assert not verify_mac(key, parse_frame(bytes(tampered)))
    assert len(compared) == 2
