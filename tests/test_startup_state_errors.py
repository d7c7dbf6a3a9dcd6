"""State the hub cannot use stops start-up: exit 65 and one line naming the file and what is
wrong, no traceback, and systemd does not restart it (RestartPreventExitStatus=65). The file is
left exactly as it was: whether to restore it or move it aside is the operator's call.

`han-agent run` as systemd runs it (a subprocess, --quiet), with a config whose state dir holds
the bad file. The config has a supplier key in its trust directory and `[log] level =
"warning"`, so a hub that starts cleanly writes nothing to stderr and the line asserted on is the
only one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, write_config
from cryptography.hazmat.primitives import serialization

from agent import hub_key
from agent.chf_log import ChfDeviceLog
from agent.device_log import parse_entry
from gbcs import signature
from hal.radio import RadioSettings, open_radio

EX_DATAERR = 65

GARBAGE = b"\x00garbage, not what a hub writes {\n"


def _config(tmp_path: Path) -> Path:
    trust = tmp_path / "trust"
    trust.mkdir()
    public = signature.generate_key().public_key()
    (trust / "supplier.pub.pem").write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return write_config(tmp_path, None, extra='[log]\nlevel = "warning"\n')


def _run(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(config), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _start_with(tmp_path: Path, name: str, content: bytes) -> tuple[str, Path]:
    """Start a hub whose state dir holds `content` in `name`: the one stderr line."""
    config = _config(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    path = state / name
    path.write_bytes(content)
    result = _run(config)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == EX_DATAERR, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"state error: {path}: "), lines[0]
    assert result.stdout == ""
    assert path.read_bytes() == content, "the bad file is left as it was"
    return lines[0], path


@pytest.mark.parametrize(
    ("content", "wrong"),
    [
        (GARBAGE, "not a device log ("),
        (b"[]", 'not a device log (expected a JSON object with a list "added")'),
        (
            b'{"format": 1, "added": [{"eui64": "00DB", "install_code": "00"}]}',
            "not a device log (eui64 must be an EUI-64 of 16 hex digits)",
        ),
    ],
)
def test_bad_device_log_stops_startup(tmp_path: Path, content: bytes, wrong: str) -> None:
    line, path = _start_with(tmp_path, "device-log.json", content)
    assert line.startswith(f"state error: {path}: {wrong}")
    assert "move it aside to start with only the config's [[devices]]" in line
    assert not (path.parent / "hub-key.pem").exists(), "nothing after the device log was made"


@pytest.mark.parametrize(
    ("name", "what", "who"),
    [
        ("hub-key.pem", "signing key", "the WAN"),
        ("hub-ka-key.pem", "key-agreement key", "the ACB"),
    ],
)
def test_bad_hub_key_stops_startup(tmp_path: Path, name: str, what: str, who: str) -> None:
    line, path = _start_with(tmp_path, name, GARBAGE)
    assert line == (
        f"state error: {path}: not the hub's {what} (expected an unencrypted EC P-256 "
        "private key in PEM); restore it from a backup, or move it aside to make a new key "
        f"({who} must then be given its public key from bridge/info)"
    )
    assert path.read_bytes() == GARBAGE, "left as it is"


def test_public_key_as_hub_key_stops_startup(tmp_path: Path) -> None:
    """A valid PEM of the wrong kind (a public key) is refused the same way, not replaced."""
    public = signature.generate_key().public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    line, _path = _start_with(tmp_path, "hub-key.pem", pem)
    assert "not the hub's signing key" in line


def test_corrupt_outbox_stops_startup(tmp_path: Path) -> None:
    line, path = _start_with(tmp_path, "outbox.sqlite", GARBAGE * 200)
    assert line == (
        f"state error: {path}: the outbox cannot be opened (file is not a database); if it is "
        "damaged, move it aside (with any outbox.sqlite-wal and outbox.sqlite-shm) to start "
        "with an empty outbox: the records in it not yet published are then not sent"
    )


def test_state_dir_that_cannot_be_written_stops_startup(tmp_path: Path) -> None:
    """A state "directory" that is a file: the same as one the service may not write (which
    a test run as root cannot make)."""
    config = _config(tmp_path)
    state = tmp_path / "state"
    state.write_bytes(GARBAGE)
    result = _run(config)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == EX_DATAERR, result.stderr
    [line] = result.stderr.splitlines()
    assert line == (
        f"state error: {state}/consent.json: Not a directory; the service must be able to read "
        f"and write its state directory {state}"
    )
    assert state.read_bytes() == GARBAGE


# -- the files as the hub writes them ------------------------------------------------------------


def test_hub_key_is_made_once_owner_only(tmp_path: Path) -> None:
    key = hub_key.load_or_create(tmp_path)
    path = tmp_path / hub_key.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [hub_key.KEY_FILE], "no temporary left"
    again = hub_key.load_or_create(tmp_path)
    assert signature.key_id(again.public_key()) == signature.key_id(key.public_key())


def test_device_log_is_saved_whole_and_read_back(tmp_path: Path) -> None:
    log = ChfDeviceLog(tmp_path, ())
    eui64 = bytes.fromhex("00DB1234567800AA")
    code = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")  # zigpy's example: code + CRC
    assert log.add(eui64, code)
    assert sorted(os.listdir(tmp_path)) == ["device-log.json"], "no temporary left"
    assert ChfDeviceLog(tmp_path, ()).admits(eui64)


def test_a_configured_device_removed_by_ccs02_stays_removed_after_a_restart(
    tmp_path: Path,
) -> None:
    # A meter the network operator removed must not rejoin after a power cut because the
    # config still lists it; only a CCS01 puts it back.
    code = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")
    meter = bytes.fromhex("00DB1234567800BB")
    configured = (parse_entry({"eui64": meter.hex().upper(), "install_code": code.hex()}),)
    log = ChfDeviceLog(tmp_path, configured)
    assert log.remove(meter)
    restarted = ChfDeviceLog(tmp_path, configured)
    assert not restarted.admits(meter)
    restarted.provision(meter, code)  # the lab's provisioning does not undo it either
    assert not restarted.admits(meter)
    assert restarted.add(meter, code)  # CCS01
    assert ChfDeviceLog(tmp_path, configured).admits(meter)
    saved = json.loads((tmp_path / "device-log.json").read_text())
    assert saved == {"format": 1, "added": [], "removed": []}


def test_corrupt_zigpy_database_stops_startup(tmp_path: Path) -> None:
    # Not a radio fault to retry for ever: the database is state, and retrying cannot mend it.
    config = _config(tmp_path)
    # The uplink is already trying its (absent) broker when the radio opens: errors only.
    config.write_text(config.read_text().replace('level = "warning"', 'level = "error"'))
    path = tmp_path / "state" / "zigbee.db"
    path.parent.mkdir()
    path.write_bytes(GARBAGE)
    result = _run(config)
    assert result.returncode == EX_DATAERR, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"state error: {path}: zigpy's network and device database")
    assert "move it aside to start without it" in line
    assert path.read_bytes() == GARBAGE


async def test_zigpy_database_with_an_unreadable_row_stops_startup(tmp_path: Path) -> None:
    # A database that opens but holds a row zigpy cannot load: the same one line and exit 65,
    # not a radio fault retried for ever. Before, each retry also left a database thread running.
    config = _config(tmp_path)
    config.write_text(config.read_text().replace('level = "warning"', 'level = "error"'))
    state = tmp_path / "state"
    state.mkdir()
    app = await open_radio(RadioSettings(type="virtual", channel=15), state)
    await app.shutdown()
    path = state / "zigbee.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        (table,) = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'devices_v%' "
            "ORDER BY name DESC LIMIT 1"
        ).fetchone()
        db.execute(f"INSERT INTO {table} VALUES ('not an EUI-64', 1, 2, 3)")
        db.commit()
    before = path.read_bytes()
    result = await asyncio.to_thread(_run, config)
    assert result.returncode == EX_DATAERR, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"state error: {path}: zigpy's network and device database cannot be")
    assert "ValueError" in line
    assert path.read_bytes() == before, "left as it is"
