"""Each shipped scenario runs to completion (time-scaled) on a real hub: virtual radio, real
zigpy, real mosquitto, consent changes signed with the lab TEST key. The expected upstream
multisets are written out by hand from the scenario files and the rules of
docs/restricted-profile.md."""

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
from agent.scenario import load_scenario, run_scenario
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
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_scenario_runs_to_completion(tmp_path: Path, broker: Broker, name: str) -> None:
    mode, expected = EXPECTED[name]
    scenario = load_scenario(ROOT / "config/scenarios" / f"{name}.toml")
    config = load_config(write_config(tmp_path, broker, mode=mode, extra=TRUST_LAB))
    hub = Hub(config)
    await hub.start()
    try:
        async with recording(broker.host, broker.port, f"test/{config.hub_id}/#") as rec:
            lab = await run_scenario(hub, scenario, config.lab, time_scale=40)
            total = sum(expected.values())
            await rec.wait_for(lambda _m: len(ups(rec)) >= total, timeout=15)
            await asyncio.sleep(0.3)
            await lab.stop()
    finally:
        await hub.stop()
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
