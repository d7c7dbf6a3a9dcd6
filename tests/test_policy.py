"""Tests for agent.policy against the shipped restricted profile (config/restricted-profile.toml).

Upstream and downstream cases follow docs/restricted-profile.md, "The rules of the shipped
profile, and why"; the properties
hold for any frame built from the code tables or from codes they do not know.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.consent import Mode
from agent.policy import (
    CONSUMER_CHOICE,
    Action,
    Decision,
    Direction,
    Profile,
    ProfileError,
    decide,
    parse_profile,
)
from gbcs import payloads
from gbcs.classify import classify
from gbcs.codes import ALERT_CODES, ALERT_MESSAGE_CODES, MESSAGE_CODES, Category
from gbcs.frame import Cra, Frame, build_frame, parse_frame

ROOT = Path(__file__).resolve().parents[1]
PROFILE_PATH = ROOT / "config" / "restricted-profile.toml"
PROFILE_TEXT = PROFILE_PATH.read_text(encoding="utf-8")
PROFILE = parse_profile(PROFILE_TEXT)

SUPPLIER = bytes.fromhex("90B3D51F30010000")
ESME = bytes.fromhex("00DB1234567890A0")
WHEN = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
FAKE_SIGNATURE = bytes(range(64))  # the policy reads framing only; nothing verifies it here
UNUSED_MESSAGE_CODE = 0x7777
UNUSED_ALERT_CODE = 0x1234
BILLING_ALERT = 0x8F0A


def hexid(code: int) -> str:
    return f"0x{code:04X}"


def make(
    cra: Cra,
    message_code: int,
    alert_code: int | None = None,
    *,
    signed: bool = False,
    payload: bytes | None = None,
) -> Frame:
    if payload is None:
        if alert_code is not None:
            payload = payloads.dlms_alert(1, alert_code, WHEN)
        elif cra is Cra.COMMAND:
            payload = payloads.dlms_access_request(1)
        else:
            payload = payloads.dlms_access_response(1)
    return parse_frame(
        build_frame(
            cra=cra,
            counter=1,
            originator=SUPPLIER if cra is Cra.COMMAND else ESME,
            recipient=ESME if cra is Cra.COMMAND else SUPPLIER,
            message_code=message_code,
            payload=payload,
            signer=(lambda data: FAKE_SIGNATURE) if signed else None,
            mac_key=None if signed and cra is not Cra.COMMAND else bytes(16),
        )
    )


def judge(
    frame: Frame,
    direction: Direction,
    mode: Mode = Mode.RESTRICTED,
    profile: Profile = PROFILE,
) -> Decision:
    return decide(frame, classify(frame), mode, direction, profile)


def up(frame: Frame, mode: Mode = Mode.RESTRICTED) -> Decision:
    return judge(frame, Direction.UPSTREAM, mode)


def down(frame: Frame, mode: Mode = Mode.RESTRICTED) -> Decision:
    return judge(frame, Direction.DOWNSTREAM, mode)


def assert_forwarded(decision: Decision) -> None:
    assert decision.action is Action.FORWARD, decision
    assert decision.forwarded
    assert CONSUMER_CHOICE not in decision.reason


def assert_blocked_by_choice(decision: Decision) -> None:
    assert decision.action is Action.BLOCK, decision
    assert not decision.forwarded
    assert CONSUMER_CHOICE in decision.reason, decision
    assert decision.reason.startswith(CONSUMER_CHOICE)


def test_shipped_profile_reads() -> None:
    assert PROFILE.name == "gb-restricted-default"
    assert PROFILE.version == 2
    assert PROFILE.digest == hashlib.sha256(PROFILE_TEXT.encode()).hexdigest()
    assert PROFILE.allow_responses_to_allowed_commands is True
    assert PROFILE.upstream.allow_categories == {
        Category.FIRMWARE,
        Category.SECURITY,
        Category.SAFETY,
        Category.CRITICAL_ALERT,
    }
    assert PROFILE.upstream.block_alert_codes == {BILLING_ALERT}
    assert {0x81A0, *range(0x81AC, 0x81B4), 0x8F12} <= PROFILE.upstream.allow_alert_codes
    assert Category.UNKNOWN not in PROFILE.upstream.allow_categories
    assert Category.UNKNOWN not in PROFILE.downstream.allow_categories


# -- restricted, upstream: what goes up -----------------------------------------------------------

FIRMWARE_RESPONSES = [0x0012, 0x0059, 0x0084, 0x0129]
SECURITY_RESPONSES = [0x0008, 0x000A, 0x000B, 0x000C, *range(0x0100, 0x010A), 0x011B]
SAFETY_RESPONSES = [0x004F, 0x0050, 0x0051, 0x0052, 0x0068, 0x007D, 0x0081, 0x0082, 0x0085, 0x00FC]
# Commands the profile lets down for hub management, whose responses must come back.
MANAGEMENT_COMMANDS = [
    *range(0x0001, 0x0005),  # CCS01/02/03 device log, CCS05/04 read it
    *range(0x000D, 0x0011),  # join / unjoin
    0x0013,  # CS07 read device join details
    0x0062,  # ECS70 set clock on ESME
    0x007F,  # GCS28 set clock on GSME
    0x008C,  # GCS59 restore GPF device log
    0x00AB,  # CS03A2 join (non meter)
    0x00AF,  # CS03C join
    0x00FE,  # CCS07 read CHF device logs
    0x010F,  # CCS06 read CHF device log and HAN communications
]


@pytest.mark.parametrize(
    "code",
    FIRMWARE_RESPONSES + SECURITY_RESPONSES + SAFETY_RESPONSES + MANAGEMENT_COMMANDS,
    ids=hexid,
)
@pytest.mark.parametrize("signed", [False, True])
def test_restricted_forwards_responses_of_passing_classes_and_allowed_commands(
    code: int, signed: bool
) -> None:
    decision = up(make(Cra.RESPONSE, code, signed=signed))
    assert_forwarded(decision)


@pytest.mark.parametrize("code", [0x0062, 0x0001], ids=hexid)
def test_response_to_an_allowed_config_command_goes_up_by_that_rule(code: int) -> None:
    decision = up(make(Cra.RESPONSE, code))
    assert decision.category is Category.CONFIG
    assert decision.rule == "upstream.response_to_allowed_command"
    assert_forwarded(decision)


@pytest.mark.parametrize(
    ("message_code", "alert_code", "signed", "category"),
    [
        (0x00CE, 0x8F72, True, Category.FIRMWARE),  # firmware distribution receipt
        (0x00CF, 0x8F1C, True, Category.FIRMWARE),
        (0x0128, 0x8F8A, True, Category.FIRMWARE),  # CCS08 from the CH
        (0x1001, 0x8F1C, False, Category.FIRMWARE),  # firmware alert code, non-critical
        (0x1000, 0x8F3E, True, Category.SECURITY),
        (0x1000, 0x8F74, True, Category.SECURITY),  # tamper
        (0x1001, 0x8F3F, False, Category.SECURITY),  # tamper, non-critical
        (0x0067, 0x8F35, True, Category.SAFETY),  # ECS80
        (0x1000, 0x81BD, True, Category.SAFETY),
        (0x1001, 0x8F57, False, Category.SAFETY),  # supply interrupted, non-critical
    ],
)
def test_restricted_forwards_firmware_security_safety_alerts(
    message_code: int, alert_code: int, signed: bool, category: Category
) -> None:
    decision = up(make(Cra.ALERT, message_code, alert_code, signed=signed))
    assert decision.category is category
    assert_forwarded(decision)


@pytest.mark.parametrize("alert_code", sorted(set(ALERT_CODES) - {BILLING_ALERT}), ids=hexid)
def test_restricted_forwards_every_critical_alert(alert_code: int) -> None:
    decision = up(make(Cra.ALERT, 0x1000, alert_code, signed=True))
    assert decision.category in {
        Category.FIRMWARE,
        Category.SECURITY,
        Category.SAFETY,
        Category.CRITICAL_ALERT,
    }
    assert_forwarded(decision)


@pytest.mark.parametrize("message_code", [0x1000, 0x0120, 0x0121, 0x0122, 0x0123], ids=hexid)
def test_restricted_forwards_critical_alert_message_codes(message_code: int) -> None:
    decision = up(make(Cra.ALERT, message_code, 0x8F66, signed=True))
    assert decision.category is Category.CRITICAL_ALERT
    assert decision.rule == "upstream.allow_categories"
    assert_forwarded(decision)


@pytest.mark.parametrize(
    ("message_code", "alert_code"),
    [
        (0x00F0, 0x81A0),  # meter integrity issue warning, ESME
        (0x00F2, 0x81A0),  # ... GSME
        *[(0x1001, code) for code in range(0x81AC, 0x81B4)],  # integrity / hardware faults
        (0x0018, 0x8F12),  # CS14: the CHF's own device log changed
        (0x00B2, 0x8071),  # GCS62: the GPF device log changed
    ],
    ids=hexid,
)
def test_restricted_forwards_integrity_faults_and_chf_membership_alerts(
    message_code: int, alert_code: int
) -> None:
    decision = up(make(Cra.ALERT, message_code, alert_code))
    assert decision.category is not Category.UNKNOWN
    assert decision.rule == "upstream.allow_alert_codes"
    assert_forwarded(decision)


# -- restricted, upstream: what stays down --------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "signed", "category"),
    [
        (0x0027, False, Category.READ),  # ECS17b import energy registers
        (0x0029, False, Category.READ),  # ECS17d TOU registers
        (0x003A, False, Category.READ),  # ECS24 tariff data
        (0x0048, False, Category.READ),  # ECS35a event log
        (0x00A0, False, Category.READ),  # GCS61 gas daily consumption log
        (0x0019, True, Category.TARIFF),  # ECS01a set tariff
        (0x001D, True, Category.TARIFF),
        (0x001A, True, Category.PREPAYMENT),  # payment mode
        (0x001B, True, Category.PREPAYMENT),
        (0x001C, True, Category.PREPAYMENT),  # adjust balance
        (0x0007, False, Category.PREPAYMENT),  # top up
        (0x0045, False, Category.CONFIG),  # ECS29a set voltage configurations
        (0x0022, False, Category.CONFIG),  # ECS12 change of tenancy
        (0x0046, False, Category.CONFIG),  # ECS30 billing calendar
        (0x0021, False, Category.OTHER),  # ECS10 send message
        (0x0058, False, Category.OTHER),  # ECS50 send CIN
        (UNUSED_MESSAGE_CODE, False, Category.UNKNOWN),
    ],
)
def test_restricted_blocks_responses_by_consumer_choice(
    code: int, signed: bool, category: Category
) -> None:
    decision = up(make(Cra.RESPONSE, code, signed=signed))
    assert decision.category is category
    assert_blocked_by_choice(decision)
    assert_forwarded(up(make(Cra.RESPONSE, code, signed=signed), Mode.FULL))


POWER_QUALITY = sorted(c for c, i in ALERT_CODES.items() if i.group == "power_quality")


@pytest.mark.parametrize("alert_code", POWER_QUALITY, ids=hexid)
def test_restricted_blocks_non_critical_power_quality_alerts(alert_code: int) -> None:
    decision = up(make(Cra.ALERT, 0x1001, alert_code))
    assert decision.category is Category.ALERT
    assert_blocked_by_choice(decision)
    assert_forwarded(up(make(Cra.ALERT, 0x1001, alert_code), Mode.FULL))


def test_power_quality_group_is_not_empty() -> None:
    assert len(POWER_QUALITY) > 10


@pytest.mark.parametrize(
    ("message_code", "alert_code", "signed", "category"),
    [
        (0x1001, 0x810D, False, Category.PREPAYMENT),  # low credit
        (0x1001, 0x8F20, False, Category.ALERT),  # sub-GHz duty cycle
        (0x0110, 0x8F20, False, Category.ALERT),  # DBCH06
        (0x1001, UNUSED_ALERT_CODE, False, Category.UNKNOWN),
        (0x1000, UNUSED_ALERT_CODE, True, Category.UNKNOWN),
        (UNUSED_MESSAGE_CODE, 0x8F3E, True, Category.UNKNOWN),
        (0x0027, 0x8F3E, True, Category.UNKNOWN),  # a read's code dressed as an alert
    ],
)
def test_restricted_blocks_other_alerts(
    message_code: int, alert_code: int, signed: bool, category: Category
) -> None:
    decision = up(make(Cra.ALERT, message_code, alert_code, signed=signed))
    assert decision.category is category
    assert_blocked_by_choice(decision)


@pytest.mark.parametrize("message_code", [0x0061, 0x008B], ids=hexid)
def test_billing_critical_alert_blocked_in_restricted_forwarded_in_full(message_code: int) -> None:
    frame = make(Cra.ALERT, message_code, BILLING_ALERT, signed=True)
    restricted = up(frame)
    assert restricted.category is Category.CRITICAL_ALERT
    assert restricted.rule == "upstream.block_alert_codes"
    assert_blocked_by_choice(restricted)
    full = up(frame, Mode.FULL)
    assert_forwarded(full)
    assert full.category is Category.CRITICAL_ALERT


# -- restricted, downstream ------------------------------------------------------------------------

ALLOWED_COMMANDS = [
    *FIRMWARE_RESPONSES,
    *SECURITY_RESPONSES,
    *SAFETY_RESPONSES,
    *MANAGEMENT_COMMANDS,
]


@pytest.mark.parametrize("code", ALLOWED_COMMANDS, ids=hexid)
def test_restricted_lets_down_firmware_security_safety_and_hub_management(code: int) -> None:
    assert_forwarded(down(make(Cra.COMMAND, code, signed=True)))
    assert_forwarded(down(make(Cra.COMMAND, code)))


@pytest.mark.parametrize(
    ("code", "category"),
    [
        (0x0027, Category.READ),
        (0x003A, Category.READ),
        (0x0048, Category.READ),
        (0x0019, Category.TARIFF),
        (0x001D, Category.TARIFF),
        (0x001A, Category.PREPAYMENT),  # payment mode to credit: needs a site visit
        (0x001B, Category.PREPAYMENT),  # payment mode to prepayment
        (0x001C, Category.PREPAYMENT),
        (0x001E, Category.PREPAYMENT),
        (0x0020, Category.PREPAYMENT),
        (0x0007, Category.PREPAYMENT),
        (0x0045, Category.CONFIG),
        (0x0046, Category.CONFIG),
        (0x0021, Category.OTHER),  # messages
        (0x0058, Category.OTHER),  # CIN
        (UNUSED_MESSAGE_CODE, Category.UNKNOWN),
        (0x1000, Category.UNKNOWN),  # an alert message code as a command
        (0x0067, Category.UNKNOWN),  # ECS80 is an alert, not a safety command
        (0x00CE, Category.UNKNOWN),  # firmware receipt is an alert, not a firmware command
    ],
)
def test_restricted_blocks_other_commands(code: int, category: Category) -> None:
    frame = make(Cra.COMMAND, code, signed=True)
    decision = down(frame)
    assert decision.category is category
    assert_blocked_by_choice(decision)
    full = down(frame, Mode.FULL)
    assert_forwarded(full)
    assert full.category is category


# -- direction ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize(
    ("frame", "direction"),
    [
        (make(Cra.COMMAND, 0x0059), Direction.UPSTREAM),
        (make(Cra.COMMAND, 0x0012, signed=True), Direction.UPSTREAM),
        (make(Cra.RESPONSE, 0x0059), Direction.DOWNSTREAM),
        (make(Cra.ALERT, 0x1000, 0x8F3E, signed=True), Direction.DOWNSTREAM),
        (make(Cra.ALERT, 0x1001, 0x8010), Direction.DOWNSTREAM),
    ],
    ids=["command-up", "critical-command-up", "response-down", "critical-alert-down", "alert-down"],
)
def test_wrong_direction_is_blocked_in_both_modes(
    frame: Frame, direction: Direction, mode: Mode
) -> None:
    decision = judge(frame, direction, mode)
    assert decision.action is Action.BLOCK
    assert decision.rule == "direction"
    assert "does not travel" in decision.reason
    # A misdirected frame is a fault, not the consumer's choice.
    assert CONSUMER_CHOICE not in decision.reason


# -- properties over random frames ----------------------------------------------------------------

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MESSAGE_CODE = st.one_of(
    st.sampled_from(sorted(MESSAGE_CODES)),
    st.sampled_from(sorted(ALERT_MESSAGE_CODES)),
    st.integers(0, 0xFFFF),
)
ALERT_CODE = st.one_of(st.sampled_from(sorted(ALERT_CODES)), st.integers(0, 0xFFFF))


@st.composite
def random_frames(draw: st.DrawFn) -> Frame:
    cra = draw(st.sampled_from(list(Cra)))
    message_code = draw(MESSAGE_CODE)
    signed = draw(st.booleans())
    if cra is Cra.ALERT:
        alert_code = draw(ALERT_CODE)
        form = draw(st.sampled_from(["dlms", "gbz", "none"]))
        payload = {
            "dlms": payloads.dlms_alert(1, alert_code, WHEN),
            "gbz": payloads.gbz_alert(alert_code, WHEN),
            "none": b"\x05\x00",
        }[form]
        return make(cra, message_code, signed=signed, payload=payload)
    return make(cra, message_code, signed=signed)


def right_direction(frame: Frame) -> Direction:
    return Direction.DOWNSTREAM if frame.cra is Cra.COMMAND else Direction.UPSTREAM


@PROPERTY
@given(random_frames(), st.sampled_from(list(Mode)), st.sampled_from(list(Direction)))
def test_decide_is_deterministic(frame: Frame, mode: Mode, direction: Direction) -> None:
    first = judge(frame, direction, mode)
    assert judge(frame, direction, mode) == first
    # Replaying the same bytes gives the same decision: nothing but the frame is consulted.
    assert judge(parse_frame(frame.raw), direction, mode) == first
    assert first.category is classify(frame)


@PROPERTY
@given(random_frames())
def test_full_mode_forwards_every_right_direction_frame(frame: Frame) -> None:
    decision = judge(frame, right_direction(frame), Mode.FULL)
    assert decision.forwarded
    assert decision.rule == "full"


@PROPERTY
@given(random_frames(), st.sampled_from(list(Mode)))
def test_wrong_direction_never_forwarded(frame: Frame, mode: Mode) -> None:
    wrong = Direction.UPSTREAM if frame.cra is Cra.COMMAND else Direction.DOWNSTREAM
    assert not judge(frame, wrong, mode).forwarded


@PROPERTY
@given(random_frames(), st.sampled_from(list(Direction)))
def test_restricted_never_forwards_unknown(frame: Frame, direction: Direction) -> None:
    decision = judge(frame, direction, Mode.RESTRICTED)
    if decision.category is Category.UNKNOWN:
        assert not decision.forwarded


@PROPERTY
@given(random_frames(), st.sampled_from(list(Direction)))
def test_restricted_forwards_a_subset_of_full(frame: Frame, direction: Direction) -> None:
    restricted = judge(frame, direction, Mode.RESTRICTED)
    full = judge(frame, direction, Mode.FULL)
    if restricted.forwarded:
        assert full.forwarded
    assert restricted.category is full.category


@PROPERTY
@given(random_frames())
def test_restricted_blocks_say_why(frame: Frame) -> None:
    decision = judge(frame, right_direction(frame), Mode.RESTRICTED)
    if not decision.forwarded:
        assert decision.reason.startswith(CONSUMER_CHOICE)
        assert decision.rule.startswith(("upstream.", "downstream."))


@PROPERTY
@given(random_frames())
def test_restricted_upstream_never_forwards_reads_tariff_or_prepayment(frame: Frame) -> None:
    if frame.cra is Cra.COMMAND:
        return
    decision = judge(frame, Direction.UPSTREAM, Mode.RESTRICTED)
    if decision.category in {Category.READ, Category.TARIFF, Category.PREPAYMENT}:
        # Reads come back only when the profile let their command down (device log, join).
        assert not decision.forwarded or decision.rule in {
            "upstream.response_to_allowed_command",
            "upstream.allow_alert_codes",
        }


# -- parse_profile ------------------------------------------------------------------------------

MINIMAL = """\
name = "test"
version = 3
description = "minimal"

[upstream]
allow_categories = ["firmware"]
allow_alert_codes = ["0x81A0", "0x81AC-0x81AE"]
allow_message_codes = []
block_alert_codes = ["0x8F0A"]
allow_responses_to_allowed_commands = false

[downstream]
allow_categories = ["safety"]
allow_message_codes = ["0x0062"]
"""


def test_minimal_profile() -> None:
    profile = parse_profile(MINIMAL)
    assert profile.name == "test"
    assert profile.version == 3
    assert profile.upstream.allow_alert_codes == {0x81A0, 0x81AC, 0x81AD, 0x81AE}
    assert profile.upstream.block_alert_codes == {0x8F0A}
    assert profile.allow_responses_to_allowed_commands is False
    assert profile.downstream.allow_message_codes == {0x0062}
    assert profile.downstream.allow_categories == {Category.SAFETY}


def test_responses_to_allowed_commands_can_be_switched_off() -> None:
    profile = parse_profile(MINIMAL)
    decision = judge(make(Cra.RESPONSE, 0x0062), Direction.UPSTREAM, profile=profile)
    assert_blocked_by_choice(decision)
    shipped = judge(make(Cra.RESPONSE, 0x0062), Direction.UPSTREAM)
    assert_forwarded(shipped)


def edit(old: str, new: str) -> str:
    assert old in MINIMAL
    return MINIMAL.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param(
            edit('name = "test"\n', 'name = "test"\ncolour = "red"\n'), "colour", id="top"
        ),
        pytest.param(
            edit("[upstream]\n", "[upstream]\nallow_everything = true\n"),
            "upstream.allow_everything",
            id="upstream-key",
        ),
        pytest.param(
            edit("[downstream]\n", "[downstream]\nallow_responses_to_allowed_commands = true\n"),
            "downstream.allow_responses_to_allowed_commands",
            id="downstream-key",
        ),
        pytest.param(
            edit('allow_categories = ["firmware"]', 'allow_categories = ["firmware", "fun"]'),
            "upstream.allow_categories",
            id="bad-category",
        ),
        pytest.param(
            edit('allow_categories = ["safety"]', 'allow_categories = "safety"'),
            "downstream.allow_categories",
            id="category-not-a-list",
        ),
        pytest.param(edit('"0x81A0", ', '"0xZZZZ", '), "upstream.allow_alert_codes", id="bad-hex"),
        pytest.param(
            edit('"0x81A0", ', '"81A0", '), "upstream.allow_alert_codes", id="hex-without-0x"
        ),
        pytest.param(
            edit('"0x81A0", ', '"0x1_0", '), "upstream.allow_alert_codes", id="hex-underscore"
        ),
        pytest.param(
            edit('"0x81A0", ', '" 0x81A0", '), "upstream.allow_alert_codes", id="hex-space"
        ),
        pytest.param(
            edit('"0x81A0", ', '"0x81A0-", '), "upstream.allow_alert_codes", id="half-range"
        ),
        pytest.param(
            edit('"0x81A0", ', '"0x10000", '), "upstream.allow_alert_codes", id="too-wide"
        ),
        pytest.param(
            edit('"0x81AC-0x81AE"', '"0x81AE-0x81AC"'),
            "upstream.allow_alert_codes",
            id="reversed-range",
        ),
        pytest.param(
            edit('["0x8F0A"]', "[0x8F0A]"), "upstream.block_alert_codes", id="code-not-a-string"
        ),
        pytest.param(
            edit('["0x0062"]', '["0x0062", "nope"]'),
            "downstream.allow_message_codes",
            id="bad-downstream-code",
        ),
        pytest.param(
            edit(
                "allow_responses_to_allowed_commands = false",
                "allow_responses_to_allowed_commands = 1",
            ),
            "upstream.allow_responses_to_allowed_commands",
            id="bool-flag",
        ),
        pytest.param(edit('name = "test"\n', ""), "name", id="missing-name"),
        pytest.param(edit('name = "test"', 'name = ""'), "name", id="empty-name"),
        pytest.param(edit('name = "test"', "name = 7"), "name", id="name-not-a-string"),
        pytest.param(edit("version = 3", "version = 0"), "version", id="version-zero"),
        pytest.param(edit("version = 3", "version = -1"), "version", id="version-negative"),
        pytest.param(edit("version = 3", 'version = "3"'), "version", id="version-string"),
        pytest.param(edit("version = 3", "version = 1.5"), "version", id="version-float"),
        pytest.param(edit("version = 3", "version = true"), "version", id="version-bool"),
        pytest.param(edit("version = 3\n", ""), "version", id="missing-version"),
        pytest.param(
            MINIMAL[: MINIMAL.index("[downstream]")], "downstream", id="missing-downstream"
        ),
        pytest.param(MINIMAL + "[colours]\nred = 1\n", "colours", id="table"),
        pytest.param(MINIMAL + "[[broken", "(file)", id="bad-toml"),
    ],
)
def test_profile_errors_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile(text)
    assert info.value.key == key
    assert info.value.expected
    assert str(info.value).startswith(f"{key}: expected ")


@pytest.mark.parametrize("replacement", ["", 'upstream = "all"\n'])
def test_profile_without_an_upstream_table_names_it(replacement: str) -> None:
    section = re.compile(r"\[upstream\].*?(?=\[downstream\])", flags=re.S)
    text = section.sub("", MINIMAL).replace("version = 3\n", "version = 3\n" + replacement)
    with pytest.raises(ProfileError) as info:
        parse_profile(text)
    assert info.value.key == "upstream"


def test_profile_codes_accept_either_case_and_short_hex() -> None:
    profile = parse_profile(edit('"0x81A0", ', '"0X81a0", "0x7", '))
    assert {0x81A0, 0x7} <= profile.upstream.allow_alert_codes


# -- future-dated outcome alerts under the shipped profile (docs/gbcs-notes.md 7.3) ----------------


@pytest.mark.parametrize(
    ("reported", "forwarded"),
    [
        (0x0019, True),  # ECS01a tariff: the outcome of a tariff command, not tariff data
        (0x006B, True),  # GCS01a tariff
        (0x001B, True),  # ECS03 payment mode
        (0x0053, True),  # ECS46a ALCS labels
        (0x004F, True),  # ECS42 enable supply
        (0x0012, True),  # CS06 activate firmware
        (0x7777, False),  # names no known command: fail closed
    ],
    ids=hexid,
)
@pytest.mark.parametrize("form", ["dlms", "gbz"])
@pytest.mark.parametrize("alert_code", [0x8F66, 0x8F67])
def test_future_dated_outcome_alert_goes_up_as_a_critical_alert(
    reported: int, forwarded: bool, form: str, alert_code: int
) -> None:
    if form == "dlms":
        code = 0x00CC
        body = payloads.dlms_future_dated_alert(1, alert_code, WHEN, reported, 42)
    else:
        code = 0x00CD
        body = payloads.gbz_future_dated_alert(alert_code, WHEN, reported, 42)
    frame = make(Cra.ALERT, code, signed=True, payload=body)
    assert frame.critical
    decision = up(frame)
    if forwarded:
        assert decision.category is Category.CRITICAL_ALERT
        assert_forwarded(decision)
    else:
        assert decision.category is Category.UNKNOWN
        assert_blocked_by_choice(decision)
    assert up(frame, Mode.FULL).forwarded  # full mode still forwards every one of them


def test_a_profile_can_still_hold_back_outcome_alerts_by_alert_code() -> None:
    # The rule is the profile's: a lab that wants outcome alerts held back names their alert code.
    profile = parse_profile(
        edit('block_alert_codes = ["0x8F0A"]', 'block_alert_codes = ["0x8F66"]')
    )
    body = payloads.gbz_future_dated_alert(0x8F66, WHEN, 0x0019, 42)
    frame = make(Cra.ALERT, 0x00CD, signed=True, payload=body)
    decision = decide(frame, classify(frame), Mode.RESTRICTED, Direction.UPSTREAM, profile)
    assert_blocked_by_choice(decision)
    assert decision.rule == "upstream.block_alert_codes"


@pytest.mark.parametrize(
    ("old", "new", "key", "suggestion"),
    [
        ("[upstream]\n", "[upstream]\nallow_response_to_allowed_commands = false\n",
         "upstream.allow_response_to_allowed_commands", "allow_responses_to_allowed_commands"),
        ("version = 3\n", "version = 3\ndescripton = 'x'\n", "descripton", "description"),
        ("[downstream]\n", "[downstream]\nblock_alert_code = []\n",
         "downstream.block_alert_code", "block_alert_codes"),
    ],
)  # fmt: skip
def test_unknown_profile_key_names_the_nearest(
    old: str, new: str, key: str, suggestion: str
) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile(MINIMAL.replace(old, new, 1))
    assert info.value.key == key
    assert info.value.expected == f"a known key (did you mean {suggestion!r}?)"


# -- a code's `why` names the exception in the decision's reason ---------------------------------


def test_exceptions_to_the_category_summary_say_why() -> None:
    # "Critical alerts go up" and "config is blocked" are the summary; these depart from it.
    billing = judge(make(Cra.ALERT, 0x0061, BILLING_ALERT, signed=True), Direction.UPSTREAM)
    assert_blocked_by_choice(billing)
    assert billing.reason.endswith("billing-data alert held back in restricted mode")
    clock = judge(make(Cra.COMMAND, 0x0062, signed=True), Direction.DOWNSTREAM)
    assert_forwarded(clock)
    assert clock.reason == "clock set: hub management (ECS70)"
    answer = judge(make(Cra.RESPONSE, 0x0062, signed=True), Direction.UPSTREAM)
    assert answer.reason.endswith("(clock set: hub management (ECS70))")
    integrity = judge(make(Cra.ALERT, 0x1001, 0x81B0), Direction.UPSTREAM)
    assert integrity.reason == "integrity fault: device hardware fault"


def test_a_code_without_why_keeps_the_generic_reason() -> None:
    profile = parse_profile(
        edit('block_alert_codes = ["0x8F0A"]', 'block_alert_codes = ["0x8F0A"]')
    )
    frame = make(Cra.ALERT, 0x0061, BILLING_ALERT, signed=True)
    decision = decide(frame, classify(frame), Mode.RESTRICTED, Direction.UPSTREAM, profile)
    assert decision.reason.endswith("alert 0x8F0A is excluded")


@pytest.mark.parametrize(
    "item",
    [
        '{ code = "0x8F0A", reason = "x" }',  # unknown key
        '{ why = "x" }',  # no code
        '{ code = 0x8F0A, why = "x" }',  # code not a string
        '{ code = "0x8F0A", why = "two\\nlines" }',  # not one line
        '{ code = "8F0A", why = "x" }',  # not a code
        "3",
    ],
)
def test_a_bad_code_entry_names_its_key(item: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile(edit('block_alert_codes = ["0x8F0A"]', f"block_alert_codes = [{item}]"))
    assert info.value.key == "upstream.block_alert_codes"
