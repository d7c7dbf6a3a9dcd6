"""The systemd watchdog, pinged only while the hub is actually healthy.

Rules:

1. A ping (WATCHDOG=1) goes out every half of WatchdogSec, from a task on the hub's event loop.
   A blocked or starved loop therefore stops the pings by itself: that is the loop check.
2. The radio must be 'ok', or out of 'ok' for no longer than `[health] radio_recovery` seconds.
   A dongle that is unplugged and comes back within that time (the radio-recovery work sets the
   state to 'fault' while it is away) does not get the hub killed; one that stays away does, and
   systemd restarts the unit (Restart=on-failure), which retries the radio from scratch.
3. Every check registered with `Health.add_check` (the outbox writer, when there is an outbox)
   must pass. A check that raises counts as failing. No checks registered means nothing to fail.
4. While any of these fails, no ping is sent; the reason goes to the log once per change and to
   `STATUS=` so `systemctl status` shows why. Pings resume as soon as all pass again.

Pinging on a bare timer (as Zigbee2MQTT does) would keep a hub with a dead radio "running" for
ever; this module exists to avoid that (docs/gbcs-notes.md 9.2).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from agent.health import Health
from agent.notify import Notifier

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str = ""
    source: str = ""  # what failed ('radio' or a check's name): the log says it once per change


def judge(health: Health, radio_recovery: float) -> Verdict:
    """Rules 2 and 3 above, at health's clock's now."""
    if health.radio_state != "ok":
        away = health.clock() - health.radio_since
        if away > radio_recovery:
            detail = f": {health.radio_detail}" if health.radio_detail else ""
            return Verdict(
                False,
                f"radio {health.radio_state} for {away:.0f}s, "
                f"more than the {radio_recovery:g}s allowed for recovery{detail}",
                "radio",
            )
    for name, why in health.failing_checks()[:1]:
        return Verdict(False, f"{name}: {why}", name)
    return Verdict(True)


class Watchdog:
    def __init__(
        self, notifier: Notifier, health: Health, radio_recovery: float, interval: float
    ) -> None:
        if interval <= 0:
            raise ValueError(f"watchdog interval must be positive, got {interval}")
        self.notifier = notifier
        self.health = health
        self.radio_recovery = radio_recovery
        self.interval = interval
        self.pings = 0
        self.withheld = 0
        self.last = Verdict(True)

    def tick(self) -> Verdict:
        """One round: judge, then ping or withhold. Returns the verdict."""
        verdict = judge(self.health, self.radio_recovery)
        if verdict.ok:
            if self.notifier.watchdog():
                self.pings += 1
            if not self.last.ok:
                LOGGER.info("healthy again: watchdog pings resume")
                self.notifier.status("running")
        else:
            self.withheld += 1
            if verdict.source != self.last.source:
                LOGGER.error("withholding the systemd watchdog ping: %s", verdict.reason)
                self.notifier.status(f"unhealthy: {verdict.reason}")
        self.last = verdict
        return verdict

    async def run(self) -> None:
        while True:
            self.tick()
            await asyncio.sleep(self.interval)
