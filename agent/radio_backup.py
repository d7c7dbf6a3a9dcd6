"""Network backups as JSON files in `<state dir>/backups/`, beside zigpy's own in its database.

The files are in the open coordinator backup format (`metadata.format` =
"zigpy/open-coordinator-backup", version 1), the one zigpy-cli, ZHA and Zigbee2MQTT read and
write, so a network moves between this hub and those tools; why the hub wrote one (`reason`)
and when are kept in `metadata.han_agent`, which the other readers ignore. `radio restore` reads
that format, the files earlier versions of the hub wrote (`{"reason", "written_at", "backup":
zigpy's own dict}`), and a bare zigpy backup dict.

A backup is zigpy's NetworkBackup (network key and frame counter, PAN ids, channel, trust-centre
link key, the key table and the known devices' addresses): what a replacement dongle needs to
carry on the same HAN without re-joining every meter. The hub writes one each time the radio comes
up and every `[radio] backup_hours`; `han-agent radio backup` writes one on demand and `radio
restore` writes one of the radio's current network before overwriting it (a restore is the risky
operation). The newest KEEP files are kept.

The files hold the network key: the state directory must stay readable by the service user only
(the systemd unit's StateDirectory is 0700).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zigpy.application
from zigpy.backups import NetworkBackup

LOGGER = logging.getLogger(__name__)

KEEP = 20
OPEN_COORDINATOR_FORMAT = "zigpy/open-coordinator-backup"


def backup_dir(state_dir: Path) -> Path:
    return state_dir / "backups"


def write_backup(state_dir: Path, backup: NetworkBackup, reason: str) -> Path:
    directory = backup_dir(state_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = directory / f"network-{stamp}-{reason}.json"
    payload = backup.as_open_coordinator_json()
    payload["metadata"]["han_agent"] = {"reason": reason, "written_at": stamp}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    for old in sorted(directory.glob("network-*.json"))[:-KEEP]:
        old.unlink()
    return path


def read_backup(path: Path) -> NetworkBackup:
    """A file this module wrote, or a bare zigpy backup dict; ValueError says what is wrong."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    try:
        if _is_open_coordinator(data):
            backup = NetworkBackup.from_open_coordinator_json(data)
        else:
            if isinstance(data, dict) and "backup" in data:  # this hub's files before 0.2
                data = data["backup"]
            backup = NetworkBackup.from_dict(data)
    except Exception as exc:
        raise ValueError(f"{path}: not a zigpy network backup ({exc})") from None
    if not backup.is_complete():
        raise ValueError(f"{path}: the backup is incomplete and cannot be restored")
    return backup


def _is_open_coordinator(data: Any) -> bool:
    metadata = data.get("metadata") if isinstance(data, dict) else None
    return isinstance(metadata, dict) and metadata.get("format") == OPEN_COORDINATOR_FORMAT


async def backup_now(
    app: zigpy.application.ControllerApplication, state_dir: Path, reason: str
) -> Path:
    backup = await app.backups.create_backup(load_devices=True)
    path = write_backup(state_dir, backup, reason)
    LOGGER.info("network backup written to %s", path)
    return path


async def periodic_backups(
    current_app: Any, up: asyncio.Event, state_dir: Path, hours: float
) -> None:
    """Every `hours`, back up the radio if it is up (`current_app()` returns it or None)."""
    while True:
        await asyncio.sleep(hours * 3600)
        await up.wait()
        app = current_app()
        if app is None:
            continue
        try:
            await backup_now(app, state_dir, "scheduled")
        except Exception as exc:
            LOGGER.warning("scheduled network backup failed: %r", exc)
