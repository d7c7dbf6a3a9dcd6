"""Each shipped scenario runs to completion (time-scaled) on a real hub: virtual radio, real
zigpy, real mosquitto, consent changes signed with the lab TEST key. Every expectation a shipped
scenario states must pass, and, as a check apart from them, the upstream multisets written out
by hand here from the scenario files and the rules of docs/restricted-profile.md must arrive."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT, Broker, write_config
from mqtt_helpers import recording
from test_e2e import ups

from agent.config import load_config
from agent.hub import Hub
from agent.scenario import load_scenario, run_scenario, scenario_config
from gbcs.frame import parse_frame

TRUST_LAB = f'[trust]\ndir = "{ROOT / "config/lab/trust"}"\n'
R, A = "response", "alert"

# (scenario, starting mode, what arrives upstream: (cra, message code, alert code) -> count)
EXPECTED = {
    "normal-day": (
        "full",
        {(R, 0x0027, None): 2, (R, 0x0062, None): 1, (R, 0x0059, None): 1, (A, 0x1001, 0x8010): 1},
    ),
    "tamper-outage-day": (
        "restricted",
        {
            (A, 0x1000, 0x8F74): 1,
            (A, 0x1000, 0x8F3E): 1,
            (A, 0x1000, 0x81BD): 1,
            (A, 0x0067, 0x8F35): 1,
            (R, 0x0052, None): 1,
            (R, 0x004F, None): 1,
            (A, 0x00F0, 0x81A0): 1,
        },  # the over-current alert (0x8010) stays home
    ),
    "firmware-campaign": (
        "restricted",
        {(R, 0x0059, None): 2, (A, 0x00CE, 0x8F72): 1},  # the 0x0027 read is blocked
    ),
    "restricted-midrun": (
        "full",
        {(R, 0x0027, None): 1, (A, 0x1001, 0x8010): 1, (A, 0x1000, 0x8F3E): 1},
    ),
    "gas-and-electricity-home": (
        "full",  # the scenario switches to restricted at t=0
        {
            (R, 0x0059, None): 1,  # ESME firmware read
            (A, 0x1000, 0x8F74): 1,  # ESME tamper (its low-credit alert stays home)
            (R, 0x0084, None): 1,  # the GSME's answer, by PUT, to the command it collected
            (A, 0x1000, 0x8F3E): 1,  # the GSME's alert by PUT
            (A, 0x00D5, 0x8F84): 1,  # the hub's: the second GSME command expired
            (R, 0x0129, None): 1,  # PPMID CS08
            (A, 0x012B, 0x8F8B): 1,  # PPMID CS09
        },
    ),
    "twenty-meters": (
        "restricted",
        {(A, 0x1000, 0x8F74): 20, (R, 0x0084, None): 20, (A, 0x1000, 0x8F3E): 20},
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_scenario_runs_to_completion(tmp_path: Path, broker: Broker, name: str) -> None:
    mode, expected = EXPECTED[name]
    scenario = load_scenario(ROOT / "config/scenarios" / f"{name}.toml")
    config = load_config(write_config(tmp_path, broker, mode=mode, extra=TRUST_LAB))
    hub = Hub(scenario_config(config, scenario, 40))
    await hub.start()
    try:
        async with recording(broker.host, broker.port, f"test/{config.hub_id}/#") as rec:
            run = await run_scenario(hub, scenario, config.lab, time_scale=40)
            try:
                verdicts = await run.verdicts(settle=15)
                total = sum(expected.values())
                await rec.wait_for(lambda _m: len(ups(rec)) >= total, timeout=15)
                await asyncio.sleep(0.3)
            finally:
                await run.stop()
    finally:
        await hub.stop()
    assert len(verdicts) == scenario.expectation_count > 0, "every shipped scenario expects"
    assert [v.line for v in verdicts if not v.passed] == []
    got = Counter()
    for topic, env in ups(rec):
        frame = parse_frame(base64.b64decode(str(env["frame"])))
        got[(frame.cra.label, frame.message_code, frame.alert_code)] += 1
        assert topic == env["category"]
    assert dict(got) == expected
    if name == "restricted-midrun":
        assert hub.consent.mode.value == "restricted"
        assert hub.consent.set_by == "43BF61563D227CA6"


def test_bad_scenario_is_one_line_exit_78(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\nname = "x"\nduration = 10\n[devices]\nesme = "00DB"\n')
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "simulate",
            str(bad),
            "--config",
            str(ROOT / "config/lab-virtual.toml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78
    assert result.stderr.strip() == (
        f"config error: {bad}: devices.esme: an EUI-64 as 16 hex digits"
    )


def test_simulate_command_runs_a_scenario(tmp_path: Path, broker: Broker) -> None:
    config = write_config(tmp_path, broker, mode="restricted", extra=TRUST_LAB)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "simulate",
            str(ROOT / "config/scenarios/firmware-campaign.toml"),
            "--config",
            str(config),
            "--time-scale",
            "40",
            "--quiet",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["scenario"] == "firmware-campaign"
    assert summary["mode"] == "restricted"
    counters = summary["counters"]
    assert counters["forwarded_by_category"] == {"firmware": 3}
    assert counters["commands"] == {"delivered": 2, "blocked": 1}


@pytest.mark.parametrize(
    ("line", "where", "key", "suggestion"),
    [
        ("critcal = false", "[[commands]]", "commands[0].critcal", "critical"),
        ("evry = 5", "[[commands]]", "commands[0].evry", "every"),
        ("duraton = 5", "[scenario]", "scenario.duraton", "duration"),
        ("emse = '00DB1234567890A0'", "[devices]", "devices.emse", "esme"),
    ],
)
def test_a_misspelt_scenario_key_is_refused_with_the_nearest(
    tmp_path: Path, line: str, where: str, key: str, suggestion: str
) -> None:
    """`critcal = false` used to be ignored: the command went critical, the opposite of what the
    scenario said. Now it is exit 78 and one line naming the key and the one meant."""
    text = (
        '[scenario]\nname = "x"\nduration = 10\n[devices]\nesme = "00DB1234567890A0"\n'
        '[[commands]]\nat = 1\nmessage_code = "0x0027"\n'
    )
    text = text.replace(f"{where}\n", f"{where}\n{line}\n")
    bad = tmp_path / "typo.toml"
    bad.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "simulate", str(bad), "--config",
         str(ROOT / "config/lab-virtual.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 78
    assert result.stderr.strip() == (
        f"config error: {bad}: {key}: expected a known key (did you mean '{suggestion}'?)"
    )


def test_an_unknown_scenario_section_is_refused_with_the_nearest(tmp_path: Path) -> None:
    from agent.scenario import ScenarioError

    bad = tmp_path / "typo.toml"
    bad.write_text(
        '[scenario]\nname = "x"\nduration = 10\n[devices]\nesme = "00DB1234567890A0"\n'
        "[[alert]]\nat = 1\n"
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(bad)
    assert err.value.key == "alert"
    assert err.value.expected == "expected a known key (did you mean 'alerts'?)"


def simulate(
    scenario: Path, config: Path, *args: str, tmp: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "simulate", str(scenario), "--config", str(config),
         "--time-scale", "40", "--quiet", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "TMPDIR": str(tmp)},
    )  # fmt: skip


def short_scenario(path: Path, esme: str) -> Path:
    path.write_text(
        f'[scenario]\nname = "short"\nduration = 4\n[devices]\nesme = "{esme}"\n'
        '[[commands]]\nat = 1\nmessage_code = "0x0059"\n'
    )
    return path


def test_simulate_uses_a_temporary_state_dir_unless_given_one(
    tmp_path: Path, broker: Broker
) -> None:
    """A scenario switching the mode left the lab's next start in that mode: without
    --state-dir the run now has a state of its own, removed afterwards."""
    config = write_config(tmp_path / "hub", broker, mode="full", extra=TRUST_LAB)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    midrun = ROOT / "config/scenarios/restricted-midrun.toml"
    result = simulate(midrun, config, tmp=scratch)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["mode"] == "restricted"
    assert not (config.parent / "state").exists()  # the config's [state] dir never touched
    assert list(scratch.iterdir()) == []  # and the temporary one removed
    given = tmp_path / "kept"
    result = simulate(midrun, config, "--state-dir", str(given), tmp=scratch)
    assert result.returncode == 0, result.stderr
    assert json.loads((given / "consent.json").read_text())["record"]["mode"] == "restricted"


def test_a_device_the_state_does_not_know_is_one_line_at_once(
    tmp_path: Path, broker: Broker
) -> None:
    """A state whose network holds the lab ESME at the simulated meter's address, and a
    scenario naming another meter: that ended in a bare TimeoutError after 30 s."""
    config = write_config(tmp_path / "hub", broker, extra=TRUST_LAB)
    state = tmp_path / "state"
    first = simulate(short_scenario(tmp_path / "a.toml", "00DB1234567890A0"), config,
                     "--state-dir", str(state), tmp=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    other = short_scenario(tmp_path / "c.toml", "00DB1234567890C1")
    started = time.monotonic()
    result = simulate(other, config, "--state-dir", str(state), tmp=tmp_path)
    assert time.monotonic() - started < 20
    assert result.returncode == 78
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"config error: {other}: devices.esme: a device the state's network can take: {state} "
        "already has 00DB1234567890A0 at the simulated device's address 0x1A01 (run without "
        "--state-dir for a fresh state, or name that device)"
    )
    fresh = simulate(other, config, tmp=tmp_path)  # the default, a fresh state, takes it
    assert fresh.returncode == 0, fresh.stderr


def test_simulate_without_a_broker_is_one_line_exit_75(tmp_path: Path) -> None:
    config = write_config(tmp_path / "hub", None, extra=TRUST_LAB)  # mqtt://127.0.0.1:1
    result = simulate(short_scenario(tmp_path / "a.toml", "00DB1234567890A0"), config,
                      tmp=tmp_path)  # fmt: skip
    assert result.returncode == 75
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "simulate: no broker at 127.0.0.1:1 within 10 s ([Errno 111] Connection refused)"
    )


WRONG = """[scenario]
name = "wrong"
duration = 6

[[devices]]
kind = "esme"
eui64 = "00DB1234567890A0"

[[consent]]
at = 0
mode = "restricted"

[[commands]]  # a consumption read in restricted mode: the author wrongly expects it to go down
at = 1
message_code = "0x0027"
expect = "forward"
expect_result = "blocked"

[[alerts]]  # a tamper alert: rightly expected up, on up/security
at = 2
alert_code = "0x8F74"
expect = "forward"
expect_category = "security"
"""


def test_a_wrong_expectation_fails_with_a_clear_line_junit_and_json(
    tmp_path: Path, broker: Broker
) -> None:
    import xml.etree.ElementTree as ET

    import xmlschema

    config = write_config(tmp_path / "hub", broker, mode="full", extra=TRUST_LAB)
    scenario = tmp_path / "wrong.toml"
    scenario.write_text(WRONG)
    junit, report = tmp_path / "out" / "junit.xml", tmp_path / "out" / "report.json"
    junit.parent.mkdir()
    result = simulate(scenario, config, "--junit", str(junit), "--json", str(report),
                      "--settle", "1", tmp=tmp_path)  # fmt: skip
    assert result.returncode == 3, result.stderr
    lines = result.stdout.strip().splitlines()
    failures = [line for line in lines if line.startswith("FAIL ")]
    assert failures == [
        "FAIL commands[0] esme-1 command 0x0027 at 1 s: forward: expected forward, observed block "
        "(restricted by consumer choice: read commands are not allowed)"
    ]
    assert "PASS commands[0] esme-1 command 0x0027 at 1 s: result: expected blocked, observed " \
        "blocked" in "\n".join(lines)  # fmt: skip
    assert lines[-2] == "FAILED scenario wrong: 4 expectations, 3 passed, 1 failed"
    assert json.loads(lines[-1])["expectations"] == {"passed": 3, "failed": 1}

    xmlschema.XMLSchema(str(ROOT / "tests/data/junit.xsd")).validate(str(junit))
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    [suite] = root
    cases = suite.findall("testcase")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("wrong", "4", "1")
    assert len(cases) == 4
    [failed] = [c for c in cases if c.find("failure") is not None]
    assert failed.get("name") == "commands[0] esme-1 command 0x0027 at 1 s: forward"
    failure = failed.find("failure")
    assert failure is not None and failure.text == failures[0]

    body = json.loads(report.read_text())
    assert (body["scenario"], body["passed"], body["failures"]) == ("wrong", False, 1)
    by_name = {c["name"]: c for c in body["cases"]}
    assert by_name["alerts[0] esme-1 alert 0x8F74 at 2 s: category"]["observed"] == (
        "security (arrived on up/security)"
    )
    assert by_name["commands[0] esme-1 command 0x0027 at 1 s: forward"]["passed"] is False


def test_the_twenty_meter_scenario_passes_from_the_command_line(
    tmp_path: Path, broker: Broker
) -> None:
    """20 ESMEs and 20 GSMEs on one hub, as a lab's CI would run it."""
    config = write_config(tmp_path / "hub", broker, mode="full", extra=TRUST_LAB)
    junit = tmp_path / "junit.xml"
    result = simulate(ROOT / "config/scenarios/twenty-meters.toml", config, "--junit",
                      str(junit), tmp=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-2] == (
        "PASSED scenario twenty-meters: 180 expectations, 180 passed, 0 failed"
    )
    xmlschema_validate(junit)


def xmlschema_validate(path: Path) -> None:
    import xmlschema

    xmlschema.XMLSchema(str(ROOT / "tests/data/junit.xsd")).validate(str(path))


DEVICES = '[scenario]\nname = "x"\nduration = 10\n'


@pytest.mark.parametrize(
    ("body", "key", "expected"),
    [
        ('[[devices]]\nkind = "gsm"\neui64 = "00DB1234567890A0"\n', "devices[0].kind",
         "one of esme, gsme, ppmid, ihd"),
        ('[[devices]]\nkind = "esme"\neui64 = "00DB12"\n', "devices[0].eui64",
         "an EUI-64 as 16 hex digits"),
        ('[[devices]]\nkind = "esme"\neui64 = "00DB1234567890A0"\n'
         '[[devices]]\nkind = "ihd"\neui64 = "00DB1234567890A0"\n', "devices[1].eui64",
         "an EUI-64 no other device has (00DB1234567890A0)"),
        ('[[devices]]\nkind = "esme"\neui64 = "00DB1234567890A0"\ncount = 0\n', "devices[0].count",
         "an integer >= 1 (EUI-64s counting up from eui64)"),
        ('[[devices]]\nkind = "esme"\neiu64 = "00DB1234567890A0"\n', "devices[0].eiu64",
         "expected a known key (did you mean 'eui64'?)"),
        ('[[devices]]\nkind = "gsme"\neui64 = "00DB1234567890A0"\n'
         '[[commands]]\nat = 1\nmessage_code = "0x0084"\n', "commands[0].device",
         "a device name (there is no ESME to default to)"),
        ('[[devices]]\nkind = "esme"\neui64 = "00DB1234567890A0"\n'
         '[[commands]]\nat = 1\ndevice = "gsme-*"\nmessage_code = "0x0084"\n',
         "commands[0].device", "the name, name pattern or EUI-64 of a device of kind esme or gsme "
         "or ppmid"),
        ('[[devices]]\nkind = "ihd"\neui64 = "00DB1234567890A0"\n'
         '[[alerts]]\nat = 1\ndevice = "ihd-1"\nalert_code = "0x8F3E"\n',
         "alerts[0].device", "a device of kind esme or gsme or ppmid (ihd-1 is of kind ihd)"),
        ('[[devices]]\nkind = "esme"\neui64 = "00DB1234567890A0"\n'
         '[[alerts]]\nat = 1\nalert_code = "0x8F3E"\nexpect = "forwarded"\n',
         "alerts[0].expect", "one of forward, block"),
        ('[[devices]]\nkind = "esme"\neui64 = "00DB1234567890A0"\n'
         '[[commands]]\nat = 1\nmessage_code = "0x0027"\nexpect_result = "ok"\n',
         "commands[0].expect_result", "one of delivered, blocked, refused, queued, expired"),
        ('[[devices]]\nkind = "esme"\neui64 = "00DB1234567890A0"\n'
         '[[alerts]]\nat = 1\nalert_code = "0x8F3E"\nexpect_result = "delivered"\n',
         "alerts[0].expect_result", "no expect_result on an alert (it has no down/result)"),
        ('[[devices]]\nkind = "esme"\neui64 = "00DB1234567890A0"\n[[wakes]]\nat = 1\n',
         "wakes[0]", "a device of kind gsme in devices for it"),
    ],
)  # fmt: skip
def test_a_bad_device_or_expectation_names_its_key(
    tmp_path: Path, body: str, key: str, expected: str
) -> None:
    from agent.scenario import ScenarioError

    bad = tmp_path / "bad.toml"
    bad.write_text(DEVICES + body)
    with pytest.raises(ScenarioError) as err:
        load_scenario(bad)
    assert (err.value.key, err.value.expected) == (key, expected)


def test_devices_lists_counts_names_and_patterns(tmp_path: Path) -> None:
    path = tmp_path / "flats.toml"
    path.write_text(
        DEVICES + '[[devices]]\nkind = "esme"\neui64 = "00DB1234567890FE"\ncount = 3\n'
        '[[devices]]\nkind = "gsme"\neui64 = "00DB1234567890A0"\nname = "gas"\n'
        '[[devices]]\nkind = "ppmid"\neui64 = "00DB1234567890B0"\nname = "keypad"\n'
        '[[alerts]]\nat = 1\ndevice = "*"\nalert_code = "0x8F3E"\nexpect = "forward"\n'
        '[[commands]]\nat = 2\ndevice = "00db123456789100"\nmessage_code = "0x0059"\n'
        '[[wakes]]\nat = 3\n'
    )  # fmt: skip
    scenario = load_scenario(path)
    assert [(d.name, d.kind, d.eui64) for d in scenario.devices] == [
        ("esme-1", "esme", "00DB1234567890FE"),
        ("esme-2", "esme", "00DB1234567890FF"),
        ("esme-3", "esme", "00DB123456789100"),
        ("gas", "gsme", "00DB1234567890A0"),
        ("keypad", "ppmid", "00DB1234567890B0"),
    ]
    assert [(e.kind, e.device) for e in scenario.events] == [
        ("alert", "esme-1"),
        ("alert", "esme-2"),
        ("alert", "esme-3"),
        ("alert", "gas"),
        ("alert", "keypad"),
        ("command", "esme-3"),
        ("wake", "gas"),
    ]
    assert scenario.expectation_count == 5
