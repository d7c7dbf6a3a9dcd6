"""Conformance case files: strict parsing (one line naming the file, the case and the key), names
unique across files, and the shipped file holding a case for every meter type."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, write_config
from hypothesis import given
from hypothesis import strategies as st

from agent import conformance
from agent.conformance_cases import (
    UNKNOWN_ALERT,
    UNKNOWN_CODE,
    AlertSpec,
    CaseError,
    CommandSpec,
    merge,
    parse_cases,
)
from agent.consent import Mode

EXAMPLE = ROOT / "config/conformance/example-manufacturer-cases.toml"
GOOD = """format = 1
[[case]]
name = "acme-read"
device = "gsme"
covers = "a read"
command = "0x0074"
signed = false
wakes = "after-expiry"
expect = { restricted = "block" }

[[case]]
name = "acme-alert"
device = "esme"
alert = "unknown"
message_code = "0x00F0"
critical = true
extra = "0A0b"

[[case]]
name = "acme-time"
device = "ihd"
han = "read-time"
"""


def test_a_case_file_reads_into_cases() -> None:
    read, alert, time = parse_cases(GOOD, "acme.toml")
    assert read.command == CommandSpec(0x0074, signed=False, dlms=True, wakes="after-expiry")
    assert (read.device, read.covers, read.source) == ("gsme", "a read", "acme.toml")
    assert read.stated(Mode.RESTRICTED) == "block" and read.stated(Mode.FULL) is None
    assert alert.alert == AlertSpec(UNKNOWN_ALERT, 0x00F0, critical=True, extra=b"\x0a\x0b")
    assert alert.command is None and alert.expect == ()
    assert (time.han, time.command, time.alert) == ("read-time", None, None)
    [unknown] = parse_cases(
        GOOD.replace('"0x0074"', '"unknown"').split('[[case]]\nname = "acme-alert')[0], "x"
    )
    assert unknown.command is not None and unknown.command.message_code == UNKNOWN_CODE


@pytest.mark.parametrize(
    ("change", "key", "expected"),
    [
        (('signed = false', 'singed = false'), "case 'acme-read': singed", "mean 'signed'?"),
        (('device = "gsme"', 'device = "meter"'), "case 'acme-read': device", "one of esme, gsme, ppmid, ihd"),  # noqa: E501
        (('"0x0074"', '"74"'), "case 'acme-read': command", 'a code as "0x" and 1-4 hex digits'),
        (('"0x0074"', '"0x10000"'), "case 'acme-read': command", 'a code as "0x"'),
        (('signed = false', 'signed = "no"'), "case 'acme-read': signed", "true or false"),
        (('signed = false\n', ''), "case 'acme-read': signed", "true or false"),
        (('"block" }', '"drop" }'), "case 'acme-read': expect.restricted", "one of forward, block"),
        (('{ restricted', '{ partial'), "case 'acme-read': expect.partial", "a mode: full or restricted"),  # noqa: E501
        (('device = "gsme"', 'device = "esme"'), "case 'acme-read': wakes", "on device = 'gsme' only"),  # noqa: E501
        (('wakes = "after-expiry"', 'alert = "0x8F3E"'), "case 'acme-read': command/alert/han", "exactly one"),  # noqa: E501
        (('extra = "0A0b"', 'extra = "0A0"'), "case 'acme-alert': extra", "hex digits"),
        (('critical = true\n', 'signed = true\n'), "case 'acme-alert': signed", "not a key of alert cases"),  # noqa: E501
        (('han = "read-time"', 'han = "read-time"\nexpect = { full = "block" }'), "case 'acme-time': expect", "nothing in a HAN-local case"),  # noqa: E501
        (('device = "ihd"', 'device = "esme"'), "case 'acme-time': han", "on device = 'ihd'"),
        (('name = "acme-time"', 'name = "acme-read"'), "case 'acme-read'", "a name used once"),
        (('format = 1', 'format = 2'), "format", "format = 1"),
        (('format = 1', 'format = 1\ncases = []'), "cases", "did you mean 'case'?"),
        (('name = "acme-time"', 'name = " acme-time"'), "case #3: name", "a non-empty name"),
    ],
)  # fmt: skip
def test_a_bad_key_is_one_error_naming_the_file_the_case_and_the_key(
    change: tuple[str, str], key: str, expected: str
) -> None:
    text = GOOD.replace(*change, 1)
    assert text != GOOD
    with pytest.raises(CaseError) as caught:
        parse_cases(text, "acme.toml")
    message = str(caught.value)
    assert message.startswith(f"config error: acme.toml: {key}: "), message
    assert expected in message and "\n" not in message


def test_a_name_used_by_two_files_names_both() -> None:
    mine = parse_cases(GOOD, "acme.toml")
    theirs = parse_cases(GOOD.replace("acme-alert", "other"), "other.toml")
    with pytest.raises(CaseError) as caught:
        merge([mine, theirs])
    assert str(caught.value) == (
        "config error: other.toml: case 'acme-read': a name of its own (already used in acme.toml)"
    )


def test_shipped_cases_cover_every_meter_type_and_the_example_reads() -> None:
    shipped = conformance.shipped_cases()
    kinds = {c.device for c in shipped}
    assert kinds == {"esme", "gsme", "ppmid", "ihd"}
    gsme = [c for c in shipped if c.device == "gsme" and c.command is not None]
    assert {c.command.wakes for c in gsme} == {"at-once", "after-expiry"}  # type: ignore[union-attr]
    assert any(c.device == "gsme" and c.alert is not None for c in shipped)
    ppmid = {
        c.command.message_code if c.command else c.alert.message_code
        for c in shipped
        if c.device == "ppmid"
    }  # type: ignore[union-attr]
    assert {0x0129, 0x012B} <= ppmid  # CS08 and CS09
    example = conformance.read_case_files([EXAMPLE])
    assert any(c.alert is not None and c.alert.alert_code == 0x8F74 for c in example)
    merge([shipped, example])  # no name clashes with the shipped ones


def test_case_file_errors_exit_78_with_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, None, extra=f'[trust]\ndir = "{ROOT / "config/lab/trust"}"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("signed = false", "singed = false"))
    clash = tmp_path / "clash.toml"
    clash.write_text(GOOD.replace("acme-read", "set-clock"))
    for extra, expected in (
        (
            ["--cases", str(bad)],
            f"config error: {bad}: case 'acme-read': singed: expected a known key",
        ),
        (
            ["--cases", str(clash)],
            f"config error: {clash}: case 'set-clock': a name of its own (already used in ",
        ),
        (
            ["--cases", str(tmp_path / "none.toml")],
            f"config error: {tmp_path / 'none.toml'}: file: a readable",
        ),
        (["--device", "meter"], f"config error: {config}: --device: one of esme, gsme, ppmid, ihd"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "agent.cli", "conformance", "--config", str(config), *extra],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 78, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), result.stderr


@given(
    code=st.integers(0, 0xFFFF),
    width=st.sampled_from(["{:X}", "{:04X}", "{:x}"]),
    device=st.sampled_from(["esme", "gsme", "ppmid"]),
    signed=st.booleans(),
    asn1=st.booleans(),
    stated=st.dictionaries(
        st.sampled_from(["full", "restricted"]), st.sampled_from(["forward", "block"])
    ),
)
def test_a_command_case_reads_back_as_written(
    code: int, width: str, device: str, signed: bool, asn1: bool, stated: dict[str, str]
) -> None:
    expect = ", ".join(f'{mode} = "{verdict}"' for mode, verdict in stated.items())
    text = (
        f'format = 1\n[[case]]\nname = "c"\ndevice = "{device}"\n'
        f'command = "0x{width.format(code)}"\nsigned = {str(signed).lower()}\n'
        + ('payload = "asn1-null"\n' if asn1 else "")
        + (f"expect = {{ {expect} }}\n" if stated else "")
    )
    [case] = parse_cases(text, "p.toml")
    assert case.command == CommandSpec(code, signed, dlms=not asn1)
    assert {mode.value: verdict for mode, verdict in case.expect} == stated
