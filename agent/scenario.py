"""Scenarios as data: which simulated devices exist, what each sends and when, and for how long.

A scenario is a TOML file (config/scenarios/*.toml, documented in docs/lab-tools.md):

    [scenario]            name, description, duration (seconds of scenario time)
    [devices]             esme = EUI-64 (required), ihd = EUI-64 (optional)
    [[commands]]          at, message_code, critical = false, every = none, count = 1
    [[alerts]]            at, alert_code, message_code = none, critical = true, every, count
    [[ihd_reads]]         at, every, count: the IHD reads the hub's Time server (HAN-local)
    [[consent]]           at, mode, reason: a consent change signed with the lab TEST key and
                          sent to the hub on bridge/request/consent, as the WAN would

Times are seconds from the start; `every` repeats an event `count` times. `time_scale` divides
every time, so a day-shaped scenario runs in seconds in the tests. Scenarios drive only
the simulated ESME and IHD (hal/sim); GSME and PPMID are refused by name.

Parsing is pure and strict: any bad key is a ScenarioError naming the file and the key, which
the CLI turns into exit 78 with one line. Running drives the lab's own devices and supplier
(agent.lab), so a scenario exercises exactly what the lab default does.
"""

from __future__ import annotations

import asyncio
import json
import time
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agent.config import ConfigError, LabConfig, unknown_key
from agent.consent import Mode
from agent.consent_command import sign_consent
from agent.hub import Hub
from agent.lab import Lab, LabAlert, LabCommand
from agent.router import eui64_bytes
from agent.shipped import LAB_TEST_KEY
from gbcs import signature

DEVICE_KINDS = ("esme", "ihd")
NOT_SIMULATED = ("gsme", "ppmid")
SECTIONS = ("scenario", "devices", "commands", "alerts", "ihd_reads", "consent")
# Every key each table may have: any other is refused, with the nearest of these named, since a
# misspelt optional key (`critcal = false`) would otherwise be ignored and change the run.
KEYS = {
    "scenario": ("name", "description", "duration"),
    "commands": ("at", "message_code", "critical", "every", "count"),
    "alerts": ("at", "alert_code", "message_code", "critical", "extra", "every", "count"),
    "ihd_reads": ("at", "every", "count"),
    "consent": ("at", "mode", "reason"),
}


class ScenarioError(ConfigError):
    """A scenario file that cannot be run: the file, the key and what was expected."""


class RunError(Exception):
    """A scenario run that could not go on; one line says why. `status` is the exit status:
    75 when the broker did not answer, 1 otherwise."""

    def __init__(self, text: str, status: int = 1) -> None:
        super().__init__(text)
        self.status = status


@dataclass(frozen=True)
class Event:
    at: float
    kind: str  # command | alert | ihd_read | consent
    command: LabCommand | None = None
    alert: LabAlert | None = None
    mode: Mode | None = None
    reason: str = ""


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    description: str
    duration: float
    esme: str
    ihd: str | None
    events: tuple[Event, ...]


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
    devices = _table(data, "devices", fail)
    for kind in devices:
        if kind in NOT_SIMULATED:
            raise fail(f"devices.{kind}", f"one of {', '.join(DEVICE_KINDS)} (simulated here)")
        if kind not in DEVICE_KINDS:
            raise unknown_key(path, f"devices.{kind}", kind, DEVICE_KINDS, ScenarioError)
    esme = _eui64(devices.get("esme"), "devices.esme", fail)
    ihd = _eui64(devices["ihd"], "devices.ihd", fail) if "ihd" in devices else None
    events: list[Event] = []
    for section in KEYS:
        if section != "scenario":
            for i, row in enumerate(_rows(data, section, fail)):
                _known(path, row, section, f"{section}[{i}]")
    for i, row in enumerate(_rows(data, "commands", fail)):
        key = f"commands[{i}]"
        spec = LabCommand(
            _code(row, "message_code", key, fail),
            critical=_get(row, "critical", bool, f"{key}.critical", fail, default=False),
        )
        events += _repeat(row, key, fail, Event(0.0, "command", command=spec))
    for i, row in enumerate(_rows(data, "alerts", fail)):
        key = f"alerts[{i}]"
        message_code = _code(row, "message_code", key, fail) if "message_code" in row else None
        extra_hex = _get(row, "extra", str, f"{key}.extra", fail, default="")
        try:
            extra = bytes.fromhex(extra_hex)
        except ValueError:
            raise fail(f"{key}.extra", "hex bytes") from None
        alert = LabAlert(
            _code(row, "alert_code", key, fail),
            message_code,
            critical=_get(row, "critical", bool, f"{key}.critical", fail, default=True),
            extra=extra,
        )
        events += _repeat(row, key, fail, Event(0.0, "alert", alert=alert))
    for i, row in enumerate(_rows(data, "ihd_reads", fail)):
        if ihd is None:
            raise fail(f"ihd_reads[{i}]", "an IHD in [devices] to read with")
        events += _repeat(row, f"ihd_reads[{i}]", fail, Event(0.0, "ihd_read"))
    for i, row in enumerate(_rows(data, "consent", fail)):
        key = f"consent[{i}]"
        mode_text = _get(row, "mode", str, f"{key}.mode", fail)
        if mode_text not in {m.value for m in Mode}:
            raise fail(f"{key}.mode", "full or restricted")
        at = _number(row, "at", f"{key}.at", fail, minimum=0.0)
        reason = _get(row, "reason", str, f"{key}.reason", fail, default="scenario")
        events.append(Event(at, "consent", mode=Mode(mode_text), reason=reason))
    for event in events:
        if event.at > duration:
            raise fail("scenario.duration", f"at least {event.at} (an event is scheduled then)")
    return Scenario(
        path=path,
        name=name,
        description=_get(head, "description", str, "scenario.description", fail, default=""),
        duration=duration,
        esme=esme,
        ihd=ihd,
        events=tuple(sorted(events, key=lambda e: e.at)),
    )


def _known(path: Path, table: dict[str, Any], section: str, where: str) -> None:
    for key in table:
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
    if not isinstance(value, kind):
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


def _repeat(row: dict[str, Any], key: str, fail: Any, event: Event) -> list[Event]:
    at = _number(row, "at", f"{key}.at", fail, minimum=0.0)
    count = _get(row, "count", int, f"{key}.count", fail, default=1)
    if count < 1:
        raise fail(f"{key}.count", "an integer >= 1")
    every = _number(row, "every", f"{key}.every", fail, minimum=0.0) if "every" in row else 0.0
    if count > 1 and every <= 0:
        raise fail(f"{key}.every", "a number > 0 when count > 1")
    return [replace(event, at=at + n * every) for n in range(count)]


# -- running -----------------------------------------------------------------------------------


async def run_scenario(
    hub: Hub, scenario: Scenario, lab_config: LabConfig, *, time_scale: float = 1.0
) -> Lab:
    """Attach the scenario's devices to the running hub and play its events; returns the lab.

    The consent changes go through the broker to the hub's own bridge/request/consent, signed
    with the lab TEST key, and the run waits until the hub has taken each one (the hub must
    trust config/lab/trust). The caller stops the lab and the hub.
    """
    config = replace(lab_config, esme=scenario.esme, ihd=scenario.ihd or lab_config.ihd)
    lab = Lab(hub, config)
    check_addresses(hub, scenario, lab)
    try:
        await lab.start(traffic=False)
    except TimeoutError:
        raise RunError(f"the simulated ESME {scenario.esme} did not join within 30 s") from None
    try:
        async with asyncio.timeout(10):
            await hub.uplink.connected.wait()
    except TimeoutError:
        s = hub.config.mqtt
        why = hub.uplink.last_error or "no answer"
        raise RunError(f"no broker at {s.host}:{s.port} within 10 s ({why})", 75) from None
    loop = asyncio.get_running_loop()
    start = loop.time()
    for event in scenario.events:
        delay = start + event.at / time_scale - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await _play(hub, lab, event)
    remaining = start + scenario.duration / time_scale - loop.time()
    if remaining > 0:
        await asyncio.sleep(remaining)
    return lab


def check_addresses(hub: Hub, scenario: Scenario, lab: Lab) -> None:
    """The lab's simulated devices always take the same network addresses. A state dir whose
    network (zigbee.db) has another device at one of them would get the scenario's device
    confused with it: it never initialises, and the run used to end in a bare TimeoutError
    after 30 s. Say so at once instead, naming the scenario key and the state."""
    app = hub.app
    if app is None:
        return
    sims = (("devices.esme", lab.esme), ("devices.ihd", lab.ihd))
    for key, sim in sims:
        for device in app.devices.values():
            if device.nwk == sim.nwk and device.ieee != sim.ieee:
                held = eui64_bytes(device.ieee).hex().upper()
                raise ScenarioError(
                    scenario.path,
                    key,
                    f"a device the state's network can take: {hub.config.state_dir} already "
                    f"has {held} at the simulated device's address 0x{sim.nwk:04X} (run "
                    "without --state-dir for a fresh state, or name that device)",
                )


async def _play(hub: Hub, lab: Lab, event: Event) -> None:
    if event.command is not None:
        await lab.send_command(event.command)
    elif event.alert is not None:
        lab.raise_alert(event.alert)
    elif event.kind == "ihd_read":
        lab.ihd.read_time()
    elif event.mode is not None:
        await change_consent(hub, event.mode, event.reason)


async def change_consent(hub: Hub, mode: Mode, reason: str) -> None:
    key = signature.load_private_key(LAB_TEST_KEY.read_bytes())
    now = int(time.time())
    command = sign_consent(
        key,
        hub_id=hub.config.hub_id,
        mode=mode,
        reason=reason,
        counter=int(time.time() * 1000),
        issued_at=now - 5,
        expires_at=now + 600,
    )
    payload = json.dumps({**command.to_dict(), "transaction": "scenario"}).encode()
    hub.uplink.publish("bridge/request/consent", payload, qos=1)
    try:
        async with asyncio.timeout(10):
            while hub.consent.mode is not mode:  # noqa: ASYNC110 - the hub has no change event
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise RunError(
            f"the hub did not take the consent change to {mode.value} within 10 s (does its "
            f"[trust] dir trust the lab TEST key, {LAB_TEST_KEY.name}?)"
        ) from None
