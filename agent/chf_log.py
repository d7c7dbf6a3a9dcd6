"""The CHF device log as the hub's whitelist: who may join the HAN and talk over a tunnel.

Rules:
- The log starts from the config's `[[devices]]` (the installer's list) and is then changed only
  by CCS01 (add) and CCS02 (remove) commands addressed to the hub itself. Those changes are
  written atomically to `device-log.json` in the state dir and survive restarts, removals of
  configured devices included: a meter the network operator removed must not rejoin after a
  power cut because the config still lists it. Only a CCS01 puts it back.
- A device is admitted when its EUI-64 is on the log. Anything else that appears on the HAN is
  refused (the router opens no tunnel to it and the hub asks it to leave).
- CCS01 for a device already listed keeps its install code and succeeds (docs/gbcs-notes.md 5.3),
  without a change and so without a CS14 alert.
- A `device-log.json` that cannot be read as a device log stops start-up (StateError, exit 65)
  and is left as it is: starting without it would drop the devices CCS01 added, so that is for
  the operator to choose, by moving the file aside.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.device_log import DeviceLogEntry, parse_entry
from agent.state import atomic_write_json, load_json_state

STATE_FILE = "device-log.json"


class ChfDeviceLog:
    def __init__(self, state_dir: Path, configured: tuple[DeviceLogEntry, ...]) -> None:
        self.path = state_dir / STATE_FILE
        self._entries: dict[str, DeviceLogEntry] = {e.eui64: e for e in configured}
        self.installed = set(self._entries)  # config and lab entries: never persisted here
        self._removed: set[str] = set()  # installed entries a CCS02 removed: persisted
        self.changes = 0
        # Told of every newly admitted EUI-64, so a device zigpy already knows (it will not be
        # interviewed again) gets its tunnel as soon as it is on the log.
        self.on_admit: Callable[[bytes], None] | None = None
        # Told after every change of the entries (provision, CCS01, CCS02): Home Assistant
        # discovery follows the log with it.
        self.on_change: Callable[[], None] | None = None
        added, self._removed = self._load()
        for entry in added:
            self._entries.setdefault(entry.eui64, entry)
        for eui64 in self._removed:
            self._entries.pop(eui64, None)

    def _load(self) -> tuple[list[DeviceLogEntry], set[str]]:
        """The entries CCS01 added and the installed EUI-64s CCS02 removed, as saved;
        StateError if the file is not such a log."""
        advice = (
            "restore it from a backup, or move it aside to start with only the config's "
            "[[devices]] (devices added by CCS01 must then be added again)"
        )
        loaded = load_json_state(self.path, _saved_log, advice, problem="not a device log")
        return loaded if loaded is not None else ([], set())

    @property
    def entries(self) -> tuple[DeviceLogEntry, ...]:
        return tuple(self._entries.values())

    def admits(self, eui64: bytes) -> bool:
        return eui64.hex().upper() in self._entries

    def provision(self, eui64: bytes, install_code: bytes) -> None:
        """An installer's entry (the lab's simulated devices): like config, not persisted."""
        entry = parse_entry({"eui64": eui64.hex().upper(), "install_code": install_code.hex()})
        if entry.eui64 not in self._entries and entry.eui64 not in self._removed:
            self._entries[entry.eui64] = entry
            self.installed.add(entry.eui64)
            self._admitted(eui64)
            self._changed()

    def add(self, eui64: bytes, install_code: bytes) -> bool:
        """CCS01: True when the log changed. ValueError for a bad install code."""
        key = eui64.hex().upper()
        if key in self._entries:
            return False
        self._entries[key] = parse_entry({"eui64": key, "install_code": install_code.hex()})
        self._removed.discard(key)
        self._save()
        self._admitted(eui64)
        self._changed()
        return True

    def _admitted(self, eui64: bytes) -> None:
        if self.on_admit is not None:
            self.on_admit(eui64)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def remove(self, eui64: bytes) -> bool:
        """CCS02: True when the device was on the log."""
        key = eui64.hex().upper()
        if self._entries.pop(key, None) is None:
            return False
        if key in self.installed:
            self._removed.add(key)
        self._save()
        self._changed()
        return True

    def _save(self) -> None:
        self.changes += 1
        added = [
            {"eui64": e.eui64, "install_code": e.install_code.hex().upper()}
            for e in self._entries.values()
            if e.eui64 not in self.installed
        ]
        removed = sorted(self._removed)
        atomic_write_json(self.path, {"format": 1, "added": added, "removed": removed})

    def stats(self) -> dict[str, Any]:
        return {"entries": sorted(self._entries), "changes": self.changes}


def _saved_log(data: Any) -> tuple[list[DeviceLogEntry], set[str]]:
    if not isinstance(data, dict) or not isinstance(data.get("added", []), list):
        raise ValueError('expected a JSON object with a list "added"')
    removed = data.get("removed", [])
    if not isinstance(removed, list) or not all(
        isinstance(eui, str) and len(eui) == 16 and eui == eui.upper() for eui in removed
    ):
        raise ValueError('"removed" must be a list of EUI-64s (16 upper-case hex digits)')
    return [parse_entry(item) for item in data.get("added", [])], set(removed)
