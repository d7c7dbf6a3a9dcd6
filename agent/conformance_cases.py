"""Conformance cases as data: the TOML case files, parsed strictly (docs/lab-tools.md).

A case file is `format = 1` and a list of `[[case]]` tables. Each case names the device kind it
drives and one thing that happens: a supplier command sent through the hub (`command`), an alert
the meter is asked to raise (`alert`), or HAN-local traffic (`han`). It may state what the hub
must decide in each mode (`expect`); the run checks that statement against the decision the
hub's own profile computes, so a file that contradicts the profile says so instead of passing.

Parsing is pure (text in, cases out) and strict: a key a table does not know, a value of the
wrong type or a code out of range is a CaseError naming the file, the case and the key, which
the CLI turns into one line and exit 78. A case name used twice, in one file or across files,
is an error naming both files.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.config import ConfigError, unknown_key
from agent.consent import Mode
from gbcs.codes import ALERT_CODES, MESSAGE_CODES

FORMAT = 1
DEVICE_KINDS = ("esme", "gsme", "ppmid", "ihd")
TUNNEL_KINDS = ("esme", "gsme", "ppmid")  # the devices that speak GBCS over a tunnel
HAN_ACTIONS = ("read-time",)  # what a HAN-local case does (the IHD reads the hub's Time server)
WAKES = ("at-once", "after-expiry")  # when a GSME polls for a queued command
VERDICTS = ("forward", "block")
PAYLOADS = ("dlms", "asn1-null")
TOP_KEYS = ("format", "case")
CASE_KEYS = (
    "name",
    "device",
    "covers",
    "command",
    "signed",
    "payload",
    "wakes",
    "alert",
    "message_code",
    "critical",
    "extra",
    "han",
    "expect",
)
COMMAND_KEYS = ("command", "signed", "payload", "wakes")
ALERT_KEYS = ("alert", "message_code", "critical", "extra")


def _unknown_alert_code() -> int:
    return next(c for c in range(0x8FFF, 0x7FFF, -1) if c not in ALERT_CODES)


def _unknown_message_code() -> int:
    return next(c for c in range(0xFFFF, 0, -1) if c not in MESSAGE_CODES)


UNKNOWN_ALERT = _unknown_alert_code()  # `alert = "unknown"`: the highest 0x8xxx not in the table
UNKNOWN_CODE = _unknown_message_code()  # `command = "unknown"`: the highest code not in the table


class CaseError(ConfigError):
    """A case file that cannot be used: the file, the case and the key, and what was expected."""


@dataclass(frozen=True)
class CommandSpec:
    message_code: int
    signed: bool
    dlms: bool = True  # a DLMS access request payload; False: ASN.1 NULL (the CSxx commands)
    wakes: str = "at-once"  # GSME only: it polls at once, or only after the command expired


@dataclass(frozen=True)
class AlertSpec:
    alert_code: int
    message_code: int | None  # None: the generic alert (0x1000 critical, 0x1001 not)
    critical: bool
    extra: bytes = b""


@dataclass(frozen=True)
class Case:
    id: str
    covers: str  # the category or rule the case exercises, for the reader
    device: str  # one of DEVICE_KINDS
    source: str  # the file it came from, as given
    command: CommandSpec | None = None
    alert: AlertSpec | None = None
    han: str | None = None  # one of HAN_ACTIONS
    expect: tuple[tuple[Mode, str], ...] = ()  # stated decisions, checked against the profile

    def stated(self, mode: Mode) -> str | None:
        return dict(self.expect).get(mode)


def parse_cases(text: str, source: str) -> list[Case]:
    """The cases of one file's text; `source` names the file in errors and in the report."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(source, "TOML", f"valid TOML ({exc})") from None
    for key in data:
        if key not in TOP_KEYS:
            raise unknown_key(source, key, key, TOP_KEYS, CaseError)
    if data.get("format") != FORMAT:
        raise CaseError(source, "format", f"format = {FORMAT} (the case file format this reads)")
    tables = data.get("case")
    if not isinstance(tables, list) or not tables:
        raise CaseError(source, "case", "at least one [[case]] table")
    cases: list[Case] = []
    seen: set[str] = set()
    for index, table in enumerate(tables, 1):
        case = _case(table, source, index)
        if case.id in seen:
            raise CaseError(source, f"case {case.id!r}", "a name used once (it is used twice)")
        seen.add(case.id)
        cases.append(case)
    return cases


def merge(files: Iterable[list[Case]]) -> list[Case]:
    """The cases of several files, in order; a name two files use is an error naming both."""
    merged: list[Case] = []
    where: dict[str, str] = {}
    for cases in files:
        for case in cases:
            if case.id in where:
                raise CaseError(
                    case.source,
                    f"case {case.id!r}",
                    f"a name of its own (already used in {where[case.id]})",
                )
            where[case.id] = case.source
            merged.append(case)
    return merged


def _case(table: Any, source: str, index: int) -> Case:
    if not isinstance(table, dict):
        raise CaseError(source, f"case #{index}", "a [[case]] table")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise CaseError(source, f"case #{index}: name", "a non-empty name without spaces around")
    where = f"case {name!r}"
    for key in table:
        if key not in CASE_KEYS:
            raise unknown_key(source, f"{where}: {key}", key, CASE_KEYS, CaseError)

    def fail(key: str, expected: str) -> CaseError:
        return CaseError(source, f"{where}: {key}", expected)

    device = table.get("device")
    if device not in DEVICE_KINDS:
        raise fail("device", f"one of {', '.join(DEVICE_KINDS)}")
    covers = table.get("covers", "")
    if not isinstance(covers, str):
        raise fail("covers", "a string saying what the case exercises")
    kinds = [k for k in ("command", "alert", "han") if k in table]
    if len(kinds) != 1:
        raise fail("command/alert/han", "exactly one of command, alert, han")
    kind = kinds[0]
    for key in table:
        own = {"command": COMMAND_KEYS, "alert": ALERT_KEYS, "han": ("han",)}[kind]
        if key in (*COMMAND_KEYS, *ALERT_KEYS, "han") and key not in own:
            raise fail(key, f"not a key of {kind} cases (theirs: {', '.join(own)})")
    command = alert = han = None
    if kind == "han":
        han = table["han"]
        if device != "ihd" or han not in HAN_ACTIONS:
            raise fail("han", f"one of {', '.join(HAN_ACTIONS)}, on device = 'ihd'")
        if "expect" in table:
            raise fail("expect", "nothing in a HAN-local case: the hub decides nothing on it")
    elif device not in TUNNEL_KINDS:
        raise fail(kind, f"a HAN-local case (han = ...) on a {device}: it has no GBCS tunnel")
    elif kind == "command":
        wakes = table.get("wakes", "at-once")
        if wakes not in WAKES or (wakes != "at-once" and device != "gsme"):
            raise fail("wakes", f"one of {', '.join(WAKES)}, on device = 'gsme' only")
        payload = table.get("payload", "dlms")
        if payload not in PAYLOADS:
            raise fail("payload", f"one of {', '.join(PAYLOADS)}")
        command = CommandSpec(
            _code(table["command"], UNKNOWN_CODE, fail("command", _CODE)),
            _flag(table, "signed", fail),
            dlms=payload == "dlms",
            wakes=wakes,
        )
    else:
        message_code = table.get("message_code")
        extra = table.get("extra", "")
        try:
            extra_bytes = bytes.fromhex(extra) if isinstance(extra, str) else None
        except ValueError:
            extra_bytes = None
        if extra_bytes is None:
            raise fail("extra", "hex digits: bytes appended to the alert's DLMS payload")
        alert = AlertSpec(
            _code(table["alert"], UNKNOWN_ALERT, fail("alert", _CODE)),
            None
            if message_code is None
            else _code(message_code, None, fail("message_code", _CODE)),
            _flag(table, "critical", fail),
            extra_bytes,
        )
    return Case(
        name,
        covers,
        device,
        source,
        command=command,
        alert=alert,
        han=han,
        expect=_expect(table.get("expect"), fail),
    )


_CODE = 'a code as "0x" and 1-4 hex digits, or "unknown"'


def _code(value: Any, unknown: int | None, error: CaseError) -> int:
    if value == "unknown" and unknown is not None:
        return unknown
    if isinstance(value, str) and value[:2].lower() == "0x" and 3 <= len(value) <= 6:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise error


def _flag(table: Mapping[str, Any], key: str, fail: Any) -> bool:
    value = table.get(key)
    if not isinstance(value, bool):
        raise fail(key, "true or false")
    return value


def _expect(value: Any, fail: Any) -> tuple[tuple[Mode, str], ...]:
    if value is None:
        return ()
    modes = [m.value for m in Mode]
    if not isinstance(value, dict) or not value:
        raise fail("expect", 'a table of mode = "forward" | "block", e.g. { restricted = "block" }')
    stated: list[tuple[Mode, str]] = []
    for key, verdict in value.items():
        if key not in modes:
            raise fail(f"expect.{key}", f"a mode: {' or '.join(modes)}")
        if verdict not in VERDICTS:
            raise fail(f"expect.{key}", f"one of {', '.join(VERDICTS)}")
        stated.append((Mode(key), verdict))
    return tuple(stated)
