"""open_radio(): the one way the agent gets a zigpy ControllerApplication.

Radios are plug-ins behind zigpy's application class, as in zigpy itself: "virtual" for the
in-memory radio with simulated devices, "ezsp" for a Silicon Labs dongle through bellows. Both
get the Smart Energy profile fix and an SE-profile endpoint 1 for the hub (hal/ezsp.py says how).

The network and device database live in `<state dir>/zigbee.db`. On first start a network is
formed with the configured channel, and the configured PAN id, extended PAN id and network key
when given (zigpy generates random ones otherwise); on later starts the radio's own network is
used, or the most recent backup is restored onto a blank radio. zigpy's own periodic backups go
into the database every `backup_hours`. Its radio watchdog loop is off: the agent's radio
supervisor feeds the same watchdog more often and owns what happens when it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zigpy.application

DATABASE_NAME = "zigbee.db"


@dataclass(frozen=True)
class RadioSettings:
    type: str = "virtual"
    path: str = ""
    baudrate: int = 115200
    flow_control: str | None = None
    channel: int = 15
    ieee: str = "00:db:12:34:56:78:90:a2"
    pan_id: int | None = None
    extended_pan_id: str | None = None  # 16 hex digits
    network_key: str | None = None  # 32 hex digits
    backup_hours: float = 24.0
    extra: dict[str, Any] = field(default_factory=dict)


def zigpy_config(settings: RadioSettings, state_dir: Path) -> dict[str, Any]:
    """The raw zigpy config dict (zigpy's schema is not idempotent: pass it raw, once)."""
    network: dict[str, Any] = {"channel": settings.channel, "channels": [settings.channel]}
    if settings.pan_id is not None:
        network["pan_id"] = settings.pan_id
    if settings.extended_pan_id:
        epid = bytes.fromhex(settings.extended_pan_id)
        network["extended_pan_id"] = ":".join(f"{b:02x}" for b in epid)
    if settings.network_key:
        network["key"] = list(bytes.fromhex(settings.network_key))
    config: dict[str, Any] = {
        "device": {"path": settings.path or "virtual://"},
        "network": network,
        "ota": {"enabled": False},  # the default providers fetch over HTTP
        "topology_scan_enabled": False,
        "database_path": str(state_dir / DATABASE_NAME),
        "database_commit_interval": 1,
        "watchdog_enabled": False,  # agent/radio_supervisor.py feeds it and acts on failure
        "backup_enabled": True,
        "backup_period": max(1, round(settings.backup_hours * 60)),  # zigpy wants minutes
    }
    if settings.type == "virtual":
        config["virtual_ieee"] = settings.ieee
    else:
        config["device"]["baudrate"] = settings.baudrate
        config["device"]["flow_control"] = settings.flow_control
    config.update(settings.extra)
    return config


def radio_class(kind: str) -> type[zigpy.application.ControllerApplication]:
    if kind == "virtual":
        from hal.virtual import VirtualRadioApp

        return VirtualRadioApp
    if kind == "ezsp":
        from hal.ezsp import EzspRadioApp

        return EzspRadioApp
    raise ValueError(f"unknown radio type {kind!r} (expected 'virtual' or 'ezsp')")


LOAD_GRACE = 10.0
"""How long a cancelled open waits for the database load to end (milliseconds, normally)."""


async def open_radio(
    settings: RadioSettings, state_dir: Path, *, auto_form: bool = True
) -> zigpy.application.ControllerApplication:
    """Open the radio, form or restore the network, and return the running application.

    Safe to cancel (a caller's timeout, a stop while retrying): the half-open radio and the
    database are closed before the cancellation goes on, so a retry finds the serial port and the
    database free and the process can exit. zigpy's own `startup` cleans up only after an
    exception, not after a cancellation.
    """
    app = await load_radio_app(settings, state_dir)
    try:
        await app.startup(auto_form=auto_form)
    except BaseException:
        await _shut_down(app)
        raise
    return app


async def load_radio_app(
    settings: RadioSettings, state_dir: Path
) -> zigpy.application.ControllerApplication:
    """The application with its database loaded and the radio not yet connected: zigpy's
    `new(start_radio=False)`, run to its end even when cancelled.

    The database runs in an aiosqlite thread that is not a daemon. Cut off half-way, the
    connection is never closed, its thread never ends, and the interpreter waits for it at exit
    for ever: a hub told to stop while retrying a missing dongle hung. Loading takes
    milliseconds, so a cancellation waits for it (up to LOAD_GRACE seconds), closes the
    application and then goes on.
    """
    app = radio_class(settings.type)(zigpy_config(settings, state_dir))
    loading = asyncio.ensure_future(app._load_db())  # what ControllerApplication.new awaits
    try:
        await asyncio.shield(loading)
    except asyncio.CancelledError:
        await asyncio.wait({loading}, timeout=LOAD_GRACE)
        if not loading.done():  # a stuck disk: cut it off, as before (the stop names the thread)
            loading.cancel()
        await _shut_down(app)
        raise
    except Exception as exc:
        await _shut_down(app)  # a load that failed half-way leaves the database thread open
        if isinstance(exc, sqlite3.DatabaseError):
            raise
        # A row zigpy cannot read (a ValueError, say) is the database's fault all the same, not
        # the radio's: said as one, so the supervisor stops start-up instead of retrying.
        raise sqlite3.DatabaseError(f"{type(exc).__name__}: {exc}") from exc
    return app


async def _shut_down(app: zigpy.application.ControllerApplication) -> None:
    with contextlib.suppress(Exception):
        await asyncio.shield(app.shutdown())
