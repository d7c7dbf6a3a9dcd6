"""Tests for gbcs.codes against its source tables, tests/data/gbcs-code-tables.md."""

from __future__ import annotations

import re
from dataclasses import FrozenInstanceError
from functools import cache
from types import MappingProxyType

import pytest
from reference_data import ALERT_CODES_HEADING, GBCS_CODE_TABLES, MESSAGE_CODES_HEADING

from gbcs.codes import (
    ALERT_CODES,
    MESSAGE_CODES,
    AlertCodeInfo,
    Category,
    MessageCodeInfo,
    alert_code_info,
    message_code_info,
)

# The message-code table has 240 rows, one code each (224 from gbcs-parser + 16 others,
# docs/gbcs-notes.md 2.1). The alert-code table has 142 single-code rows and 12 four-code
# "(total; phase 1/2/3)" ranges: 142 + 12 * 4 = 190 (ibid. 3.1: 184 from gbcs-parser +
# 0x811A, 0x8131 + 0x8F85-0x8F88).
N_MESSAGE_CODES = 240
N_ALERT_CODES = 190

ALERT_GROUPS = {
    "power_quality": Category.ALERT,
    "prepayment": Category.PREPAYMENT,
    "security": Category.SECURITY,
    "tamper": Category.SECURITY,
    "safety_supply": Category.SAFETY,
    "safety_switching": Category.SAFETY,
    "safety_gas_flow": Category.SAFETY,
    "han_membership": Category.ALERT,
    "sub_ghz": Category.ALERT,
    "command_outcome": Category.ALERT,
    "integrity": Category.ALERT,
    "firmware": Category.FIRMWARE,
    "load_control": Category.ALERT,
    "power": Category.ALERT,
    "clock": Category.ALERT,
    "billing": Category.ALERT,
    "other": Category.ALERT,
}


# --- independent re-parse of the markdown source -------------------------------------------


def _table_rows(heading: str) -> list[list[str]]:
    assert GBCS_CODE_TABLES.is_file(), f"reference file missing: {GBCS_CODE_TABLES}"
    lines = GBCS_CODE_TABLES.read_text(encoding="utf-8").splitlines()
    assert heading in lines, f"{heading!r} not found in {GBCS_CODE_TABLES}"
    rows: list[list[str]] = []
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("| 0x"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert rows, f"no table rows under {heading!r}"
    return rows


def _codes_in_cell(cell: str) -> list[int]:
    match = re.fullmatch(r"(0x[0-9A-Fa-f]{4})(?:\s*[\u2013-]\s*(0x[0-9A-Fa-f]{4}))?", cell)
    assert match, f"unexpected code cell {cell!r}"
    low = int(match.group(1), 16)
    high = int(match.group(2), 16) if match.group(2) else low
    assert high >= low
    return list(range(low, high + 1))


@cache
def _markdown_message_rows() -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for row in _table_rows(MESSAGE_CODES_HEADING):
        for code in _codes_in_cell(row[0]):
            assert code not in out, f"duplicate message code 0x{code:04X} in markdown"
            out[code] = row
    return out


@cache
def _markdown_alert_rows() -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for row in _table_rows(ALERT_CODES_HEADING):
        for code in _codes_in_cell(row[0]):
            assert code not in out, f"duplicate alert code 0x{code:04X} in markdown"
            out[code] = row
    return out


# --- drift against the source --------------------------------------------------------------


def test_message_code_set_matches_markdown() -> None:
    assert set(MESSAGE_CODES) == set(_markdown_message_rows())


def test_alert_code_set_matches_markdown() -> None:
    assert set(ALERT_CODES) == set(_markdown_alert_rows())


def test_message_names_and_categories_match_markdown() -> None:
    for code, row in _markdown_message_rows().items():
        info = MESSAGE_CODES[code]
        if code not in (0x1000, 0x1001):
            assert " ".join(filter(None, (info.use_case, info.name))) == row[1], hex(code)
        else:
            assert info.name == row[1]
        category_cell = row[5]
        if category_cell.startswith("alert ("):
            expected = (
                Category.CRITICAL_ALERT
                if category_cell.startswith("alert (critical)")
                else Category.ALERT
            )
        else:
            expected = Category(category_cell.lower())
        assert info.category is expected, hex(code)


def test_alert_names_match_markdown() -> None:
    for code, row in _markdown_alert_rows().items():
        info = ALERT_CODES[code]
        name_cell = row[1]
        if len(_codes_in_cell(row[0])) > 1:
            base = name_cell.removesuffix(" (total; phase 1/2/3)")
            assert base != name_cell, row[0]
            assert info.name.startswith(base + " ("), hex(code)
        else:
            assert info.name == name_cell, hex(code)


# --- sizes and structural invariants -------------------------------------------------------


def test_table_sizes() -> None:
    assert len(MESSAGE_CODES) == N_MESSAGE_CODES
    assert len(ALERT_CODES) == N_ALERT_CODES


def test_tables_are_read_only_mappings() -> None:
    assert isinstance(MESSAGE_CODES, MappingProxyType)
    assert isinstance(ALERT_CODES, MappingProxyType)
    with pytest.raises(TypeError):
        MESSAGE_CODES[0x0059] = MESSAGE_CODES[0x0012]  # type: ignore[index]
    with pytest.raises(FrozenInstanceError):
        MESSAGE_CODES[0x0059].category = Category.READ


def test_message_entries_are_well_formed() -> None:
    for code, info in MESSAGE_CODES.items():
        assert isinstance(info, MessageCodeInfo)
        assert 0 <= code <= 0xFFFF
        assert info.code == code
        assert isinstance(info.category, Category)
        assert info.category is not Category.UNKNOWN
        assert info.name and info.name == info.name.strip()
        assert info.srv not in ("n/a", "—", "")
        assert info.gbcs_type not in ("—", "")


def test_alert_entries_are_well_formed() -> None:
    for code, info in ALERT_CODES.items():
        assert isinstance(info, AlertCodeInfo)
        assert 0 <= code <= 0xFFFF
        assert info.code == code
        assert isinstance(info.category, Category)
        assert info.group in ALERT_GROUPS, (hex(code), info.group)
        assert info.category is ALERT_GROUPS[info.group], hex(code)
    assert {info.group for info in ALERT_CODES.values()} == set(ALERT_GROUPS)


# --- spot checks against the tables --------------------------------------------------------


def test_ecs52_is_firmware() -> None:
    assert message_code_info(0x0059) == MessageCodeInfo(
        0x0059,
        "ECS52",
        "Read ESME/Comms Hub Firmware Version",
        "11.2",
        "SME.C.NC",
        Category.FIRMWARE,
    )


def test_cs11_is_config_not_firmware() -> None:
    info = message_code_info(0x0015)
    assert info is not None
    assert info.use_case == "CS11"
    assert info.name == "Clear ZigBee Device Event Log"
    assert info.srv == "3.3"
    assert info.category is Category.CONFIG


def test_cs02b_block_is_exactly_0100_to_0109() -> None:
    cs02b = sorted(code for code, info in MESSAGE_CODES.items() if info.use_case == "CS02b")
    assert cs02b == list(range(0x0100, 0x010A))
    assert all(MESSAGE_CODES[c].category is Category.SECURITY for c in cs02b)
    info = message_code_info(0x0104)
    assert info is not None
    assert info.name == "Update Security Credentials (accessControlBrokerByACB)"
    assert info.srv == "8.5"
    assert info.gbcs_type == "See GBCS"
    assert info.category is Category.SECURITY
    first = message_code_info(0x0100)
    assert first is not None and first.srv is None


def test_ecs17b_is_read() -> None:
    info = message_code_info(0x0027)
    assert info is not None
    assert (info.use_case, info.srv, info.gbcs_type, info.category) == (
        "ECS17b",
        "4.1.1",
        "SME.C.NC",
        Category.READ,
    )
    assert info.name == "Read ESME Energy Registers (Import Energy)"


def test_generic_alerts() -> None:
    gca = message_code_info(0x1000)
    gnca = message_code_info(0x1001)
    assert gca is not None and gnca is not None
    assert (gca.use_case, gca.name, gca.category) == (
        "GCA",
        "Generic Critical Alert",
        Category.CRITICAL_ALERT,
    )
    assert (gnca.use_case, gnca.name, gnca.category) == (
        "GNCA",
        "Generic Non Critical Alert",
        Category.ALERT,
    )
    assert gca.srv is None and gca.gbcs_type is None


def test_firmware_message_codes() -> None:
    firmware = {c for c, i in MESSAGE_CODES.items() if i.category is Category.FIRMWARE}
    assert firmware == {0x0012, 0x0059, 0x0084, 0x0129, 0x00CA, 0x00CE, 0x00CF, 0x0128, 0x012B}


def test_critical_alert_message_codes() -> None:
    critical = {c for c, i in MESSAGE_CODES.items() if i.category is Category.CRITICAL_ALERT}
    assert critical == {0x0061, 0x008B, 0x00CC, 0x00CD, 0x0120, 0x0121, 0x0122, 0x0123, 0x1000}
    # "criticality not observed" is not critical
    info = message_code_info(0x00D5)
    assert info is not None and info.category is Category.ALERT


def test_misc_message_fields() -> None:
    ccs = message_code_info(0x0004)
    assert ccs is not None
    assert ccs.use_case == "CCS05/CCS04"
    assert ccs.gbcs_type is None
    cs02a = message_code_info(0x0008)
    assert cs02a is not None
    assert cs02a.srv == "6.24.1, n/a"
    assert cs02a.gbcs_type == "Variant Command & Response"
    fw_alert = message_code_info(0x00CA)
    assert fw_alert is not None
    assert fw_alert.use_case == ""
    assert fw_alert.name == "Future-dated Firmware Activation Alert"


@pytest.mark.parametrize(
    ("code", "group", "category"),
    [
        (0x8F0A, "billing", Category.ALERT),
        (0x8F30, "security", Category.SECURITY),
        (0x81A0, "integrity", Category.ALERT),
        (0x8F12, "han_membership", Category.ALERT),
        (0x8F35, "safety_supply", Category.SAFETY),
        (0x8F3F, "tamper", Category.SECURITY),
        (0x81B4, "safety_gas_flow", Category.SAFETY),
        (0x8F32, "safety_switching", Category.SAFETY),
        (0x8F72, "firmware", Category.FIRMWARE),
        (0x8F0F, "prepayment", Category.PREPAYMENT),
        (0x8F20, "sub_ghz", Category.ALERT),
    ],
)
def test_alert_spot_checks(code: int, group: str, category: Category) -> None:
    info = alert_code_info(code)
    assert info is not None
    assert info.group == group
    assert info.category is category


def test_alert_names() -> None:
    info = alert_code_info(0x8F0A)
    assert info is not None and info.name == "Billing Data Log Updated"
    info = alert_code_info(0x8F35)
    assert info is not None and info.name == "Supply Outage Restored"


def test_phase_ranges_expand_one_entry_per_code() -> None:
    base = "Average RMS voltage rose above the average over-voltage threshold"
    names = [ALERT_CODES[c].name for c in range(0x8002, 0x8006)]
    assert names == [f"{base} (total)", *(f"{base} (phase {n})" for n in (1, 2, 3))]
    assert all(ALERT_CODES[c].group == "power_quality" for c in range(0x8002, 0x8006))
    assert 0x8001 not in ALERT_CODES and 0x8012 not in ALERT_CODES


def test_unknown_codes_return_none() -> None:
    assert message_code_info(0x0005) is None
    assert message_code_info(0x0127) is None
    assert message_code_info(0xFFFF) is None
    assert alert_code_info(0x0000) is None
    assert alert_code_info(0x8F31) is None
