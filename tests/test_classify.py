"""Tests for gbcs.classify: the category of a frame from its header fields alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from reference_data import GBCS_CODE_TABLES, MESSAGE_CODES_HEADING, gbcs_examples

from gbcs import payloads, signature
from gbcs.classify import classify, reported_command_category
from gbcs.codes import (
    ALERT_CODES,
    ALERT_MESSAGE_CODES,
    MESSAGE_CODES,
    Category,
    alert_code_info,
    message_code_info,
)
from gbcs.frame import Cra, Frame, build_frame, parse_frame

KEY = signature.generate_key()
SUPPLIER = bytes.fromhex("90B3D51F30010000")
ESME = bytes.fromhex("00DB1234567890A0")
WHEN = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
PASSING = {Category.FIRMWARE, Category.SECURITY, Category.SAFETY}
UNUSED_MESSAGE_CODE = 0x7777
UNUSED_ALERT_CODE = 0x1234


def frame(
    cra: Cra,
    message_code: int,
    payload: bytes | None = None,
    *,
    signed: bool = False,
    mac: bool | None = None,
) -> Frame:
    """A frame as a device or the DCC would frame it: signed ones bare, the others MAC-wrapped."""
    if payload is None:
        if cra is Cra.COMMAND:
            payload = payloads.dlms_access_request(1)
        elif cra is Cra.RESPONSE:
            payload = payloads.dlms_access_response(1)
        else:
            raise AssertionError("an alert needs its payload")
    if mac is None:
        mac = not signed or cra is Cra.COMMAND
    return parse_frame(
        build_frame(
            cra=cra,
            counter=1,
            originator=SUPPLIER if cra is Cra.COMMAND else ESME,
            recipient=ESME if cra is Cra.COMMAND else SUPPLIER,
            message_code=message_code,
            payload=payload,
            signer=(lambda data: signature.sign(KEY, data)) if signed else None,
            mac_key=bytes(16) if mac else None,
        )
    )


def alert(message_code: int, alert_code: int, *, signed: bool, form: str = "dlms") -> Frame:
    payload = {
        "dlms": payloads.dlms_alert(1, alert_code, WHEN),
        "gbz": payloads.gbz_alert(alert_code, WHEN),
    }[form]
    return frame(Cra.ALERT, message_code, payload, signed=signed)


# -- representative frames ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message_code", "signed", "expected"),
    [
        (0x0059, False, Category.FIRMWARE),  # ECS52 read firmware version
        (0x0012, True, Category.FIRMWARE),  # CS06 activate firmware
        (0x0027, False, Category.READ),  # ECS17b read import energy registers
        (0x0019, True, Category.TARIFF),  # ECS01a set tariff and price
        (0x000A, True, Category.SECURITY),  # CS02c issue security credentials
        (0x004F, True, Category.SAFETY),  # ECS42 close load switch
        (0x001B, True, Category.PREPAYMENT),  # ECS03 payment mode to prepayment
        (0x0045, False, Category.CONFIG),  # ECS29a set voltage configurations
        (0x0021, False, Category.OTHER),  # ECS10 send message
    ],
)
def test_response_takes_the_category_of_its_message_code(
    message_code: int, signed: bool, expected: Category
) -> None:
    assert classify(frame(Cra.RESPONSE, message_code, signed=signed)) is expected
    assert classify(frame(Cra.COMMAND, message_code, signed=signed)) is expected


@pytest.mark.parametrize(
    ("message_code", "alert_code", "signed", "expected"),
    [
        (0x1000, 0x8F3E, True, Category.SECURITY),  # unauthorised communication access
        (0x1000, 0x8F74, True, Category.SECURITY),  # tamper: meter cover removed
        (0x0067, 0x8F35, True, Category.SAFETY),  # ECS80 supply outage restored
        (0x1000, 0x81BD, True, Category.SAFETY),  # supply connect failure
        (0x00CE, 0x8F72, True, Category.FIRMWARE),  # firmware distribution receipt
        (0x0128, 0x8F8A, True, Category.FIRMWARE),  # CCS08 firmware transfer alert
        (0x0061, 0x8F0A, True, Category.CRITICAL_ALERT),  # ECS68 billing data log
        (0x008B, 0x8F0A, True, Category.CRITICAL_ALERT),  # GCS53 billing data log
        (0x1000, 0x8010, True, Category.CRITICAL_ALERT),  # critical, not a passing class
        (0x1001, 0x8010, False, Category.ALERT),  # power quality
        (0x1001, 0x810D, False, Category.PREPAYMENT),  # low credit
        (0x1001, 0x8F20, False, Category.ALERT),  # sub-GHz duty cycle
        (0x0018, 0x8F12, False, Category.ALERT),  # CS14 CHF device log changed
        (0x00F0, 0x81A0, False, Category.ALERT),  # meter integrity issue warning
        (0x00CB, 0x8F66, True, Category.SECURITY),  # future-dated credentials update
    ],
)
@pytest.mark.parametrize("form", ["dlms", "gbz"])
def test_alert_categories(
    message_code: int, alert_code: int, signed: bool, expected: Category, form: str
) -> None:
    assert classify(alert(message_code, alert_code, signed=signed, form=form)) is expected


def test_alert_code_class_wins_over_the_message_code() -> None:
    # A security alert code carried by the firmware receipt alert is still a security alert.
    assert classify(alert(0x00CE, 0x8F3E, signed=True)) is Category.SECURITY
    # A non-passing alert code under a passing alert message code takes the message's class.
    assert classify(alert(0x0067, 0x8F1D, signed=True)) is Category.SAFETY


def test_signature_makes_an_alert_critical() -> None:
    # A generic non-critical alert code that arrives signed is a critical alert
    # (docs/gbcs-notes.md 6.4).
    assert classify(alert(0x1001, 0x8010, signed=True)) is Category.CRITICAL_ALERT
    assert classify(alert(0x1001, 0x810D, signed=True)) is Category.CRITICAL_ALERT


def test_generic_critical_alert_code_is_critical_even_unsigned() -> None:
    """Every critical alert is "CRA 3 with a signature, or 0x1000" (docs/gbcs-notes.md 6.4)."""
    assert classify(alert(0x1000, 0x8010, signed=False)) is Category.CRITICAL_ALERT
    assert classify(alert(0x1000, 0x810D, signed=False)) is Category.CRITICAL_ALERT
    assert classify(alert(0x0061, 0x8F0A, signed=False)) is Category.CRITICAL_ALERT


# -- unknown: what the policy fails closed on -----------------------------------------------------


@pytest.mark.parametrize("cra", list(Cra))
def test_unknown_message_code_is_unknown(cra: Cra) -> None:
    assert message_code_info(UNUSED_MESSAGE_CODE) is None
    if cra is Cra.ALERT:
        f = alert(UNUSED_MESSAGE_CODE, 0x8F3E, signed=True)
    else:
        f = frame(cra, UNUSED_MESSAGE_CODE)
    assert classify(f) is Category.UNKNOWN


@pytest.mark.parametrize("code", sorted(ALERT_MESSAGE_CODES), ids=lambda c: f"0x{c:04X}")
@pytest.mark.parametrize("cra", [Cra.COMMAND, Cra.RESPONSE])
def test_alert_message_code_as_command_or_response_is_unknown(cra: Cra, code: int) -> None:
    """An alert message code travelling as a command or response is not a use case GBCS has."""
    assert classify(frame(cra, code)) is Category.UNKNOWN
    assert classify(frame(cra, code, signed=True)) is Category.UNKNOWN


@pytest.mark.parametrize("code", [0x0027, 0x0019, 0x0059, 0x004F, 0x000A])
@pytest.mark.parametrize("signed", [False, True])
def test_command_or_response_code_as_alert_is_unknown(code: int, signed: bool) -> None:
    """A read (or any command) code dressed as an alert must not pass as a critical alert."""
    assert classify(alert(code, 0x8F3E, signed=signed)) is Category.UNKNOWN
    assert classify(alert(code, 0x8010, signed=signed)) is Category.UNKNOWN


@pytest.mark.parametrize("message_code", [0x1000, 0x1001, 0x0067, 0x00CE])
@pytest.mark.parametrize("signed", [False, True])
def test_alert_with_an_unknown_alert_code_is_unknown(message_code: int, signed: bool) -> None:
    assert alert_code_info(UNUSED_ALERT_CODE) is None
    assert classify(alert(message_code, UNUSED_ALERT_CODE, signed=signed)) is Category.UNKNOWN


@pytest.mark.parametrize("signed", [False, True])
def test_alert_without_a_readable_alert_code_is_unknown(signed: bool) -> None:
    f = frame(Cra.ALERT, 0x1000, b"\xd9\x20\x00\x00\x01\x00", signed=signed)
    assert f.alert_code is None
    assert classify(f) is Category.UNKNOWN


# -- the whole tables -----------------------------------------------------------------------------


@pytest.mark.parametrize("cra", [Cra.COMMAND, Cra.RESPONSE])
def test_every_non_alert_message_code(cra: Cra) -> None:
    for code, info in MESSAGE_CODES.items():
        got = classify(frame(cra, code))
        if code in ALERT_MESSAGE_CODES:
            assert got is Category.UNKNOWN, f"0x{code:04X}"
        else:
            assert got is info.category, f"0x{code:04X}"
            assert got not in (Category.ALERT, Category.CRITICAL_ALERT, Category.UNKNOWN)


def test_every_alert_code_as_a_generic_alert() -> None:
    for code, info in ALERT_CODES.items():
        critical = classify(alert(0x1000, code, signed=True))
        plain = classify(alert(0x1001, code, signed=False))
        if info.category in PASSING:
            assert critical is info.category, f"0x{code:04X}"
            assert plain is info.category, f"0x{code:04X}"
        else:
            assert critical is Category.CRITICAL_ALERT, f"0x{code:04X}"
            expected = (
                Category.PREPAYMENT if info.category is Category.PREPAYMENT else Category.ALERT
            )
            assert plain is expected, f"0x{code:04X}"


def test_alert_message_codes_are_the_alert_rows_of_the_reference_table() -> None:
    """ALERT_MESSAGE_CODES re-derived from the message-code table (tests/data): alert-only framing
    or an alert category."""
    assert GBCS_CODE_TABLES.is_file(), f"reference file missing: {GBCS_CODE_TABLES}"
    lines = GBCS_CODE_TABLES.read_text(encoding="utf-8").splitlines()
    start = lines.index(MESSAGE_CODES_HEADING)
    derived: set[int] = set()
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if not line.startswith("| 0x"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        framing, category = cells[4], cells[5]
        kinds = {part.strip().split(":")[0] for part in framing.split(",") if ":" in part}
        if kinds == {"A"} or category.startswith("alert"):
            derived.add(int(cells[0], 16))
    assert derived
    assert set(ALERT_MESSAGE_CODES) == derived
    assert set(ALERT_MESSAGE_CODES) <= set(MESSAGE_CODES)


# -- the reference frames -------------------------------------------------------------------------


def test_reference_frames_classify() -> None:
    examples = gbcs_examples()
    assert len(examples) == 16
    seen: dict[str, Category] = {}
    for ex in examples:
        f = parse_frame(bytes.fromhex(ex["hex"]))
        category = classify(f)
        assert isinstance(category, Category)
        assert category is not Category.UNKNOWN, ex["use_case"]
        if f.cra is Cra.ALERT and f.message_code in (0x00CC, 0x00CD):
            # Future-dated outcomes are critical alerts whatever they report on: in the reference
            # they report on GCS01a/GCS01b tariff commands, and still carry an outcome, not tariff
            # data (docs/gbcs-notes.md 7.3).
            assert reported_command_category(f) is Category.TARIFF, ex["use_case"]
            assert category is Category.CRITICAL_ALERT, ex["use_case"]
        elif f.cra is Cra.ALERT and f.critical:
            assert category in PASSING | {Category.CRITICAL_ALERT}, ex["use_case"]
        seen[ex["use_case"]] = category
    # Spot checks on a few whose category the reference states (docs/gbcs-notes.md 2.2, 7.2).
    by_code = {ex["message_code"]: seen[ex["use_case"]] for ex in examples if ex["cra"] != "alert"}
    assert by_code["0x0059"] is Category.FIRMWARE
    assert by_code["0x000A"] is Category.SECURITY
    assert by_code["0x0019"] is Category.TARIFF
    assert by_code["0x0029"] is Category.READ


# -- future-dated outcome alerts are critical alerts; the command they report on only has to be
# -- readable and known (gbcs-notes.md 7.3)


def future_dated(form: str, alert_code: int, reported: int) -> Frame:
    if form == "dlms":
        body = payloads.dlms_future_dated_alert(1, alert_code, WHEN, reported, 77)
        return frame(Cra.ALERT, 0x00CC, body, signed=True)
    body = payloads.gbz_future_dated_alert(alert_code, WHEN, reported, 77)
    return frame(Cra.ALERT, 0x00CD, body, signed=True)


@pytest.mark.parametrize("form", ["dlms", "gbz"])
@pytest.mark.parametrize("alert_code", [0x8F66, 0x8F67])
@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        (0x0019, Category.TARIFF),  # ECS01a set tariff
        (0x00A3, Category.TARIFF),  # GCS01b (the RTDS vector's command)
        (0x001B, Category.PREPAYMENT),  # ECS03 payment mode to prepayment
        (0x0043, Category.CONFIG),  # ECS28a load limit configuration
        (0x004F, Category.SAFETY),  # ECS42 enable supply
        (0x0012, Category.FIRMWARE),  # CS06 activate firmware
        (0x7777, Category.UNKNOWN),  # not a message code
        (0x1000, Category.UNKNOWN),  # an alert's code is not a command
    ],
)
def test_future_dated_outcome_is_a_critical_alert_whatever_it_reports_on(
    form: str, alert_code: int, reported: int, expected: Category
) -> None:
    f = future_dated(form, alert_code, reported)
    assert f.critical
    assert f.alert_detail is not None
    assert reported_command_category(f) is expected
    # The outcome of a tariff, prepayment or config command is an outcome, not tariff data: it is
    # a critical alert. Only a body naming no known command fails closed.
    readable = expected is not Category.UNKNOWN
    assert classify(f) is (Category.CRITICAL_ALERT if readable else Category.UNKNOWN)


@pytest.mark.parametrize("form", ["dlms", "gbz"])
def test_future_dated_outcome_without_a_readable_command_is_unknown(form: str) -> None:
    # A body cut after the timestamp names no command: fail closed, not critical_alert.
    assert classify(
        alert(0x00CC if form == "dlms" else 0x00CD, 0x8F66, signed=True, form=form)
    ) is (Category.UNKNOWN)


def test_future_dated_outcome_with_another_alert_code_is_unknown() -> None:
    body = payloads.gbz_future_dated_alert(0x8010, WHEN, 0x004F, 5)
    assert classify(frame(Cra.ALERT, 0x00CD, body, signed=True)) is Category.UNKNOWN
