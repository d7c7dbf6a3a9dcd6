"""Health: what a reader needs to tell "restricted by the consumer's choice" from "broken".

The hub publishes a snapshot, retained, on `health` every `[health] interval` seconds: the consent
mode and its reason beside the radio's state, each HAN device's state (ok, silent when nothing was
heard from it for `[health] silent_after` seconds, fault when something reported one) and the
per-category counts of forwarded and blocked frames. Parts of the hub with their own state (the
outbox, firmware distribution) add a section through `add_section`.

A device's last-heard time survives restarts and radio re-opens: a device the radio's database
knows is entered with the time stored there (`device_known`), not as heard at start, so a meter
that died across a power cut shows `silent` instead of `ok` for `silent_after`.

Parts whose failure should stop the systemd watchdog (the outbox writer above all) register a
check through `add_check`: a callable returning (ok, reason). With no checks registered the hub
counts as healthy apart from its radio; agent/watchdog.py reads both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Clock = Callable[[], float]
HealthCheck = Callable[[], tuple[bool, str]]
"""Returns (True, "") when healthy, else (False, why)."""


@dataclass
class DeviceHealth:
    model: str
    last_seen: float
    fault: str | None = None


class Health:
    def __init__(
        self,
        silent_after: float,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self.silent_after = silent_after
        self.clock = clock
        self.wall_clock = wall_clock  # epoch seconds: how a last-heard time is stored on disk
        self.started = clock()
        self.radio_state = "starting"
        self.radio_detail = ""
        self.radio_since = self.started
        self.devices: dict[str, DeviceHealth] = {}
        self._sections: dict[str, Callable[[], dict[str, Any]]] = {}
        self.checks: dict[str, HealthCheck] = {}

    # -- what the rest of the hub reports --------------------------------------------------------

    def radio(self, state: str, detail: str = "") -> None:
        """'ok', 'fault' or 'starting'; the time of the last change is kept."""
        if state != self.radio_state:
            self.radio_since = self.clock()
        self.radio_state = state
        self.radio_detail = detail

    def device_seen(self, eui64: str, model: str | None = None) -> None:
        device = self.devices.get(eui64)
        if device is None:
            self.devices[eui64] = DeviceHealth(model or "?", self.clock())
            return
        device.last_seen = self.clock()
        if model:
            device.model = model

    def device_known(self, eui64: str, model: str, last_heard: float | None) -> None:
        """A device the hub knows about without having just heard it: at start and at every radio
        re-open, from what the radio's database kept; or just interviewed.

        `last_heard` is when it was last heard, in wall-clock epoch seconds as persisted across
        restarts (None: never recorded). It is moved onto `clock`, never into the future. A
        device known from before a power cut therefore keeps its age and shows `silent` if it has
        not been heard for `silent_after`, instead of `ok` for an hour after every start.
        With no time recorded the device counts as heard when the hub started: it is not
        claimed silent at once, and turns silent `silent_after` after start unless heard.
        A time already held here (heard in this run, e.g. before a radio re-open) is kept when
        it is later: the stored copy can lag (zigpy writes it at most every 30 s).
        """
        now = self.clock()
        device = self.devices.get(eui64)
        if last_heard is None:
            seen = device.last_seen if device is not None else self.started
        else:
            seen = now - max(0.0, self.wall_clock() - last_heard)
        if device is None:
            self.devices[eui64] = DeviceHealth(model or "?", seen)
            return
        device.last_seen = max(device.last_seen, seen)
        if model:
            device.model = model

    def device_fault(self, eui64: str, reason: str) -> None:
        self.device_seen(eui64)
        self.devices[eui64].fault = reason

    def clear_fault(self, eui64: str) -> None:
        device = self.devices.get(eui64)
        if device is not None:
            device.fault = None

    def device_left(self, eui64: str) -> None:
        self.devices.pop(eui64, None)

    def add_section(self, name: str, provider: Callable[[], dict[str, Any]]) -> None:
        self._sections[name] = provider

    def add_check(self, name: str, check: HealthCheck) -> None:
        """A liveness check the watchdog requires to pass, e.g. 'outbox' -> writer alive."""
        self.checks[name] = check

    # -- what the hub publishes ------------------------------------------------------------------

    def device_status(self, eui64: str) -> str:
        device = self.devices[eui64]
        if device.fault is not None:
            return "fault"
        if self.clock() - device.last_seen > self.silent_after:
            return "silent"
        return "ok"

    def snapshot(self, *, mode: str, reason: str, counters: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        out: dict[str, Any] = {
            "mode": mode,
            "reason": reason,
            "uptime_s": round(now - self.started, 1),
            "radio": {
                "state": self.radio_state,
                "detail": self.radio_detail,
                "for_s": round(now - self.radio_since, 1),
            },
            "devices": {
                eui: {
                    "model": d.model,
                    "state": self.device_status(eui),
                    "last_seen_s": round(now - d.last_seen, 1),
                    **({"fault": d.fault} if d.fault else {}),
                }
                for eui, d in sorted(self.devices.items())
            },
            "counters": counters,
        }
        problems = [f"{name}: {why}" for name, why in self.failing_checks()]
        out["status"] = "degraded" if problems else "ok"
        out["problems"] = problems
        for name, provider in self._sections.items():
            out[name] = provider()
        return out

    def failing_checks(self) -> list[tuple[str, str]]:
        """(name, why) for each registered check that fails now; one that raises fails too.
        The watchdog and the `status` of the snapshot both read this."""
        problems = []
        for name, check in list(self.checks.items()):
            try:
                ok, why = check()
            except Exception as exc:
                ok, why = False, f"check failed: {type(exc).__name__}: {exc}"
            if not ok:
                problems.append((name, why or "unhealthy"))
        return problems
