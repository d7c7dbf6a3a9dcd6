"""Scenario files: which simulated devices exist, what each sends and when, what must happen.

A scenario is a TOML file (config/scenarios/*.toml, documented in docs/lab-tools.md):

    [scenario]            name, description, duration (seconds of scenario time),
                          gsme_queue_expiry (optional: the hub's [gsme] queue_expiry for the run)
    [[devices]]           kind (esme | gsme | ppmid | ihd), eui64, name (optional), count
                          (optional: that many devices, EUI-64s counting up from eui64)
    [devices]             the older form, still read: esme = EUI-64, ihd = EUI-64 (one of each)
    [[commands]]          at, message_code, critical = false, every, count, device
    [[alerts]]            at, alert_code, message_code, critical = true, extra, every, count, device
    [[ihd_reads]]         at, every, count, device: an IHD reads the hub's Time server
    [[wakes]]             at, every, count, device: a GSME wakes and polls the hub (GET)
    [[consent]]           at, mode, reason: a consent change signed with the lab TEST key

`device` names the devices an event is for: a device name, a shell-style pattern over names
(`gsme-*`, `*`), or an EUI-64. Devices without a name are called `<kind>-<n>` (esme-1, gsme-1,
...). Without `device`, commands and alerts are for the first ESME, ihd_reads for every IHD and
wakes for every GSME. An event for several devices happens once for each, at the same time.

Commands and alerts may state what must happen (the expect_* keys, EXPECT_KEYS): the run
observes what the hub really did and agent.expectations judges each one.

Parsing is strict: any bad key is a ScenarioError naming the file and the key, which the CLI
turns into exit 78 with one line.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agent.config import ConfigError, unknown_key
from gbcs.codes import Category

DEVICE_KINDS = ("esme", "gsme", "ppmid", "ihd")
METERS = ("esme", "gsme", "ppmid")  # GBCS end points: commands go to them, alerts come from them
SECTIONS = ("scenario", "devices", "commands", "alerts", "ihd_reads", "wakes", "consent")
FORWARD_BLOCK = ("forward", "block")
RESULTS = ("delivered", "blocked", "refused", "queued", "expired")
CATEGORIES = tuple(c.value for c in Category)
TARGETED = ("at", "every", "count", "device")
# Every key each table may have: any other is refused, with the nearest of these named, since a
# misspelt optional key (`critcal = false`) would otherwise be ignored and change the run.
KEYS = {
    "scenario": ("name", "description", "duration", "gsme_queue_expiry"),
    "device": ("kind", "eui64", "name", "count"),
    "commands": (
        "message_code",
        "critical",
        *TARGETED,
        "expect",
        "expect_category",
        "expect_result",
        "expect_hub_alert",
    ),
    "alerts": (
        "alert_code",
        "message_code",
        "critical",
        "extra",
        *TARGETED,
        "expect",
        "expect_category",
        "expect_hub_alert",
    ),
    "ihd_reads": TARGETED,
    "wakes": TARGETED,
    "consent": ("at", "mode", "reason"),
}
# Which kinds each event section is for, and the devices it is for without `device`.
FOR_KINDS = {"commands": METERS, "alerts": METERS, "ihd_reads": ("ihd",), "wakes": ("gsme",)}


class ScenarioError(ConfigError):
    """A scenario file that cannot be run: the file, the key and what was expected."""


@dataclass(frozen=True)
class Device:
    name: str
    kind: str
    eui64: str  # 16 hex digits, upper case
    key: str  # where the file declares it (devices[2], devices.esme), for errors


@dataclass(frozen=True)
class Expect:
    """One thing that must happen: `what` is forward (value forward|block), category, result or
    hub_alert (value a hex alert code)."""

    what: str
    value: str


@dataclass(frozen=True)
class Event:
    at: float
    kind: str  # command | alert | ihd_read | wake | consent
    key: str = ""  # the table it comes from: commands[0], alerts[3]
    device: str = ""  # the device's name (every kind but consent)
    message_code: int = 0  # command and alert
    critical: bool = False  # command and alert
    alert_code: int = 0  # alert
    extra: bytes = b""  # alert
    has_message_code: bool = True  # alert: False for a generic 0x1000/0x1001
    mode: str = ""  # consent
    reason: str = ""  # consent
    expects: tuple[Expect, ...] = ()


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    description: str
    duration: float
    devices: tuple[Device, ...]
    events: tuple[Event, ...]
    gsme_queue_expiry: float | None = None

    def device(self, name: str) -> Device:
        return next(d for d in self.devices if d.name == name)

    def first(self, kind: str) -> Device | None:
        return next((d for d in self.devices if d.kind == kind), None)

    @property
    def expectation_count(self) -> int:
        return sum(len(e.expects) for e in self.events)


def load_scenario(path: Path) -> Scenario:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(path, "(file)", f"a readable scenario file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path, "(file)", f"valid TOML ({exc})") from None
    return parse_scenario(path, data)


def parse_scenario(path: Path, data: dict[str, Any]) -> Scenario:
    def fail(key: str, expected: str) -> ScenarioError:
        return ScenarioError(path, key, expected)

    for section in data:
        if section not in SECTIONS:
            raise unknown_key(path, section, section, SECTIONS, ScenarioError)
    head = _table(data, "scenario", fail)
    _known(path, head, "scenario", "scenario")
    name = _get(head, "name", str, "scenario.name", fail)
    duration = _number(head, "duration", "scenario.duration", fail, minimum=0.0)
    expiry = None
    if "gsme_queue_expiry" in head:
        expiry = _number(head, "gsme_queue_expiry", "scenario.gsme_queue_expiry", fail, minimum=0)
    devices = _devices(path, data, fail)
    for section in KEYS:
        if section not in ("scenario", "device"):
            for i, row in enumerate(_rows(data, section, fail)):
                _known(path, row, section, f"{section}[{i}]")
    events: list[Event] = []
    for i, row in enumerate(_rows(data, "commands", fail)):
        key = f"commands[{i}]"
        event = Event(
            0.0,
            "command",
            key,
            message_code=_code(row, "message_code", key, fail),
            critical=_get(row, "critical", bool, f"{key}.critical", fail, default=False),
            expects=_expects(row, key, fail),
        )
        events += _targeted(row, key, fail, event, devices, "commands")
    for i, row in enumerate(_rows(data, "alerts", fail)):
        key = f"alerts[{i}]"
        extra_hex = _get(row, "extra", str, f"{key}.extra", fail, default="")
        try:
            extra = bytes.fromhex(extra_hex)
        except ValueError:
            raise fail(f"{key}.extra", "hex bytes") from None
        event = Event(
            0.0,
            "alert",
            key,
            message_code=_code(row, "message_code", key, fail) if "message_code" in row else 0,
            has_message_code="message_code" in row,
            alert_code=_code(row, "alert_code", key, fail),
            critical=_get(row, "critical", bool, f"{key}.critical", fail, default=True),
            extra=extra,
            expects=_expects(row, key, fail),
        )
        events += _targeted(row, key, fail, event, devices, "alerts")
    for section, kind in (("ihd_reads", "ihd_read"), ("wakes", "wake")):
        for i, row in enumerate(_rows(data, section, fail)):
            key = f"{section}[{i}]"
            events += _targeted(row, key, fail, Event(0.0, kind, key), devices, section)
    for i, row in enumerate(_rows(data, "consent", fail)):
        key = f"consent[{i}]"
        mode = _get(row, "mode", str, f"{key}.mode", fail)
        if mode not in ("full", "restricted"):
            raise fail(f"{key}.mode", "full or restricted")
        at = _number(row, "at", f"{key}.at", fail, minimum=0.0)
        reason = _get(row, "reason", str, f"{key}.reason", fail, default="scenario")
        events.append(Event(at, "consent", key, mode=mode, reason=reason))
    for event in events:
        if event.at > duration:
            raise fail("scenario.duration", f"at least {event.at:g} (an event is scheduled then)")
    return Scenario(
        path=path,
        name=name,
        description=_get(head, "description", str, "scenario.description", fail, default=""),
        duration=duration,
        devices=tuple(devices),
        events=tuple(sorted(events, key=lambda e: e.at)),
        gsme_queue_expiry=expiry,
    )


# -- devices -----------------------------------------------------------------------------------


def _devices(path: Path, data: dict[str, Any], fail: Any) -> list[Device]:
    value = data.get("devices")
    if isinstance(value, dict):  # the older form: one device per kind, named by its kind
        found = []
        for kind, eui in value.items():
            if kind not in DEVICE_KINDS:
                raise unknown_key(path, f"devices.{kind}", kind, DEVICE_KINDS, ScenarioError)
            key = f"devices.{kind}"
            found.append(Device(kind, kind, _eui64(eui, key, fail), key))
        if not found:
            raise fail("devices", "at least one device")
        return found
    if not isinstance(value, list) or not value or not all(isinstance(r, dict) for r in value):
        raise fail("devices", "an array of tables ([[devices]]) with at least one device")
    found = []
    numbers = dict.fromkeys(DEVICE_KINDS, 0)
    for i, row in enumerate(value):
        key = f"devices[{i}]"
        _known(path, row, "device", key)
        kind = _get(row, "kind", str, f"{key}.kind", fail)
        if kind not in DEVICE_KINDS:
            raise fail(f"{key}.kind", f"one of {', '.join(DEVICE_KINDS)}")
        first = int(_eui64(row.get("eui64"), f"{key}.eui64", fail), 16)
        count = _get(row, "count", int, f"{key}.count", fail, default=1)
        if count < 1 or first + count - 1 > 0xFFFF_FFFF_FFFF_FFFF:
            raise fail(f"{key}.count", "an integer >= 1 (EUI-64s counting up from eui64)")
        given = _get(row, "name", str, f"{key}.name", fail, default="")
        if given and (given.strip() != given or any(c in given for c in "*?[]")):
            raise fail(f"{key}.name", "a name without spaces at its ends or * ? [ ]")
        for n in range(count):
            numbers[kind] += 1
            if given:
                name = given if count == 1 else f"{given}-{n + 1}"
            else:
                name = f"{kind}-{numbers[kind]}"
            found.append(Device(name, kind, f"{first + n:016X}", key))
    seen_names: dict[str, str] = {}
    seen_euis: dict[str, str] = {}
    for device in found:
        if device.name in seen_names:
            raise fail(f"{device.key}.name", f"a name no other device has ({device.name!r} twice)")
        if device.eui64 in seen_euis:
            raise fail(f"{device.key}.eui64", f"an EUI-64 no other device has ({device.eui64})")
        seen_names[device.name] = seen_euis[device.eui64] = device.key
    return found


def select(devices: list[Device], pattern: str, kinds: tuple[str, ...]) -> list[Device]:
    """The devices `pattern` names that can take part in an event for `kinds`: an exact name or
    EUI-64 must be of one of them; a pattern takes those of them it matches."""
    exact = [d for d in devices if pattern == d.name or pattern.upper() == d.eui64]
    if exact:
        return exact
    return [d for d in devices if fnmatch.fnmatchcase(d.name, pattern) and d.kind in kinds]


def _targeted(
    row: dict[str, Any], key: str, fail: Any, event: Event, devices: list[Device], section: str
) -> list[Event]:
    kinds = FOR_KINDS[section]
    what = f"a device of kind {' or '.join(kinds)}"
    if "device" in row:
        pattern = _get(row, "device", str, f"{key}.device", fail)
        chosen = select(devices, pattern, kinds)
        if not chosen:
            raise fail(f"{key}.device", f"the name, name pattern or EUI-64 of {what}")
        wrong = [d for d in chosen if d.kind not in kinds]
        if wrong:
            raise fail(f"{key}.device", f"{what} ({wrong[0].name} is of kind {wrong[0].kind})")
    elif section in ("commands", "alerts"):
        esme = next((d for d in devices if d.kind == "esme"), None)
        if esme is None:
            raise fail(f"{key}.device", "a device name (there is no ESME to default to)")
        chosen = [esme]
    else:
        chosen = [d for d in devices if d.kind in kinds]
        if not chosen:
            raise fail(key, f"{what} in devices for it")
    times = _times(row, key, fail)
    return [replace(event, at=at, device=d.name) for at in times for d in chosen]


def _times(row: dict[str, Any], key: str, fail: Any) -> list[float]:
    at = _number(row, "at", f"{key}.at", fail, minimum=0.0)
    count = _get(row, "count", int, f"{key}.count", fail, default=1)
    if count < 1:
        raise fail(f"{key}.count", "an integer >= 1")
    every = _number(row, "every", f"{key}.every", fail, minimum=0.0) if "every" in row else 0.0
    if count > 1 and every <= 0:
        raise fail(f"{key}.every", "a number > 0 when count > 1")
    return [at + n * every for n in range(count)]


# -- expectations ------------------------------------------------------------------------------


def _expects(row: dict[str, Any], key: str, fail: Any) -> tuple[Expect, ...]:
    found = []
    for name, what, allowed in (
        ("expect", "forward", FORWARD_BLOCK),
        ("expect_category", "category", CATEGORIES),
        ("expect_result", "result", RESULTS),
    ):
        if name in row:
            value = row[name]
            if value not in allowed:
                raise fail(f"{key}.{name}", f"one of {', '.join(allowed)}")
            found.append(Expect(what, value))
    if "expect_hub_alert" in row:
        found.append(Expect("hub_alert", f"0x{_code(row, 'expect_hub_alert', key, fail):04X}"))
    return tuple(found)


# -- values ------------------------------------------------------------------------------------


def _known(path: Path, table: dict[str, Any], section: str, where: str) -> None:
    for key in table:
        if key == "expect_result" and section == "alerts":
            raise ScenarioError(
                path, f"{where}.{key}", "no expect_result on an alert (it has no down/result)"
            )
        if key not in KEYS[section]:
            raise unknown_key(path, f"{where}.{key}", key, KEYS[section], ScenarioError)


def _table(data: dict[str, Any], key: str, fail: Any) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise fail(key, "a table")
    return value


def _rows(data: dict[str, Any], key: str, fail: Any) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise fail(key, f"an array of tables ([[{key}]])")
    return value


def _get(row: dict[str, Any], name: str, kind: type, key: str, fail: Any, **kw: Any) -> Any:
    if name not in row:
        if "default" in kw:
            return kw["default"]
        raise fail(key, f"a {kind.__name__} (missing)")
    value = row[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise fail(key, f"a {kind.__name__}")
    return value


def _number(row: dict[str, Any], name: str, key: str, fail: Any, *, minimum: float) -> float:
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise fail(key, f"a number >= {minimum:g}")
    return float(value)


def _code(row: dict[str, Any], name: str, key: str, fail: Any) -> int:
    value = row.get(name)
    try:
        code = int(value, 16) if isinstance(value, str) else -1
    except ValueError:
        code = -1
    if not 0 <= code <= 0xFFFF:
        raise fail(f"{key}.{name}", 'a 16-bit code as a hex string, e.g. "0x8F35"')
    return code


def _eui64(value: object, key: str, fail: Any) -> str:
    if not isinstance(value, str) or len(value) != 16:
        raise fail(key, "an EUI-64 as 16 hex digits")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise fail(key, "an EUI-64 as 16 hex digits") from None
    return value.upper()
