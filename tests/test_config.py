"""Bad configuration stops start-up: exit 78 and one line naming the file, key and expectation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROFILE, ROOT, write_config

from agent.config import EX_CONFIG, ConfigError, load_config


def run_agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


BAD = [
    # (config text, key named in the message, fragment of what was expected)
    (
        'hub_id = "00DB1234567890A2"\ncolour = "blue"\n',
        "colour",
        "a known key (one of: hub_id, mqtt",
    ),
    (
        'hub_id = "00DB1234567890A2"\n[mqtt]\nport = 1883\n',
        "[mqtt] port",
        "a known key (one of: url,",
    ),
    (
        'hub_id = "00DB1234567890A2"\n[radio]\nchannel = "fifteen"\n',
        "[radio] channel",
        "expected a Zigbee channel from 11 to 26, got string",
    ),
    ('hub_id = "00DB1234567890A2"\n[radio]\nchannel = 30\n', "[radio] channel", "got 30"),
    ('hub_id = "00DB1234567890A2"\n[radio]\ntype = "cc2531"\n', "[radio] type", "'ezsp'"),
    ('hub_id = "00DB1234567890A2"\n[radio]\ntype = "ezsp"\n', "[radio] path", "required"),
    ('hub_id = "xyz"\n', "hub_id", "16 hex digits"),
    ("[mqtt]\n", "hub_id", "missing"),
    ('hub_id = "00DB1234567890A2"\n[mqtt]\nurl = "http://x"\n', "[mqtt] url", "mqtt://"),
    (
        'hub_id = "00DB1234567890A2"\n[lab]\nenabled = "yes"\n',
        "[lab] enabled",
        "true or false, got string",
    ),
    ('hub_id = "00DB1234567890A2"\nmqtt = 5\n', "[mqtt]", "a table"),
    (
        'hub_id = "00DB1234567890A2"\n[consent]\ninitial_mode = "partial"\n',
        "[consent] initial_mode",
        "'restricted'",
    ),
    (
        'hub_id = "00DB1234567890A2"\n[consent]\nprofile = "nowhere.toml"\n',
        "[consent] profile",
        "readable profile",
    ),
    ("hub_id = \n", "(file)", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "key", "expected"), BAD)
def test_bad_config_exits_78_with_one_line(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = run_agent("--config", str(path), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == EX_CONFIG
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"config error: {path}: {key}: ")
    assert expected in lines[0]
    assert result.stdout == ""


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    result = run_agent("--config", str(path))
    assert result.returncode == EX_CONFIG
    assert result.stderr.strip() == f"config error: {path}: (file): file not found"


def test_bad_profile_names_the_profile_key(tmp_path: Path) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text(
        PROFILE.read_text().replace(
            '"firmware", "security", "safety", "critical_alert"', '"firmware", "secure"'
        )
    )
    config = tmp_path / "hub.toml"
    config.write_text(f'hub_id = "00DB1234567890A2"\n[consent]\nprofile = "{profile}"\n')
    result = run_agent("--config", str(config))
    assert result.returncode == EX_CONFIG
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"config error: {profile}: upstream.allow_categories: expected ")


def test_lab_needs_the_virtual_radio(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(
        'hub_id = "00DB1234567890A2"\n[radio]\ntype = "ezsp"\npath = "/dev/ttyUSB0"\n'
        "[lab]\nenabled = true\n"
    )
    result = run_agent("--config", str(config))
    assert result.returncode == EX_CONFIG
    assert "[lab] enabled" in result.stderr


def test_overrides_and_defaults(tmp_path: Path) -> None:
    path = write_config(tmp_path, None)
    config = load_config(
        path,
        mqtt_url="mqtt://127.0.0.1:1999",
        state_dir=str(tmp_path / "s2"),
        hub_id="00db1234567890ff",
    )
    assert (config.mqtt.host, config.mqtt.port) == ("127.0.0.1", 1999)
    assert config.state_dir == (tmp_path / "s2").resolve()
    assert config.hub_id == "00DB1234567890FF"
    assert config.topic_base == "test/00DB1234567890FF"
    assert config.mqtt.protocol == "5" and config.radio.channel == 15
    with pytest.raises(ConfigError) as err:
        load_config(path, mqtt_url="tcp://nowhere")
    assert err.value.key == "[mqtt] url"


def test_shipped_configs_load() -> None:
    lab = load_config(ROOT / "config" / "lab-virtual.toml")
    assert lab.lab.enabled and lab.radio.type == "virtual"
    assert lab.profile_path.exists()


def test_corrupt_consent_state_stops_startup(tmp_path: Path) -> None:
    path = write_config(tmp_path, None)
    state = tmp_path / "state"
    state.mkdir()
    (state / "consent.json").write_text('{"mode": "maybe"}')
    result = run_agent("--config", str(path))
    assert result.returncode == 65
    assert "consent.json" in result.stderr and "mode must be" in result.stderr


@pytest.mark.parametrize(
    ("text", "key", "suggestion"),
    [
        ('hub_id = "00DB1234567890A2"\n[mqtt]\nusernme = "hub"\n', "[mqtt] usernme", "username"),
        ('hub_id = "00DB1234567890A2"\n[lab]\nenabeld = true\n', "[lab] enabeld", "enabled"),
        ('hub_id = "00DB1234567890A2"\nhubid = "x"\n', "hubid", "hub_id"),
        ('hub_id = "00DB1234567890A2"\n[sate]\ndir = "s"\n', "sate", "state"),
    ],
)
def test_unknown_config_key_names_the_nearest_one(
    tmp_path: Path, text: str, key: str, suggestion: str
) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    result = run_agent("--config", str(path), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == EX_CONFIG
    assert result.stderr.strip() == (
        f"config error: {path}: {key}: expected a known key (did you mean '{suggestion}'?)"
    )


def test_unknown_device_log_key_names_the_nearest_one(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(
        'hub_id = "00DB1234567890A2"\n[[devices]]\neiu64 = "00DB1234567890B7"\n'
        'install_code = "83FED3407A939723A5C639B26916D505C3B5"\n'
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == "devices"
    assert "unknown key 'eiu64': expected a known key (did you mean 'eui64'?)" in str(err.value)


def test_unknown_profile_key_names_the_nearest_one(tmp_path: Path) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text(PROFILE.read_text().replace("allow_categories", "alow_categories", 1))
    config = tmp_path / "hub.toml"
    config.write_text(f'hub_id = "00DB1234567890A2"\n[consent]\nprofile = "{profile}"\n')
    result = run_agent("--config", str(config), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == EX_CONFIG
    assert result.stderr.strip() == (
        f"config error: {profile}: upstream.alow_categories: "
        "expected a known key (did you mean 'allow_categories'?)"
    )
    decoded = subprocess.run(
        [sys.executable, "-m", "agent.cli", "decode", "--profile", str(profile), "00"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert decoded.returncode == EX_CONFIG
    assert decoded.stderr.strip() == result.stderr.strip()
