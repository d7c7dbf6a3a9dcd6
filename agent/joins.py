"""Who may join the HAN: devices on the device log, with their install-code keys, and nobody else.

Rules:
- While the radio is up, every device on the log that zigpy does not know yet gets a join window
  keyed to it: `permit_with_link_key(ieee, key derived from its install code, 254 s)`, re-armed
  every REARM seconds until it has joined. bellows sets the trust-centre policy to accept only
  joins that use an install-code key, so a device without its code cannot get the network key.
- An open join (any device, the well-known key) happens only when the operator asks for it, for
  at most MAX_OPEN seconds (the Zigbee limit of 254), through the `bridge/request/permit_join`
  request; `seconds = 0` closes it again. Nothing in the hub opens joining on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import zigpy.application

from agent.device_log import DeviceLogEntry

LOGGER = logging.getLogger(__name__)

WINDOW = 254
REARM = 240.0
MAX_OPEN = 254

App = zigpy.application.ControllerApplication


class JoinManager:
    def __init__(
        self,
        devices: tuple[DeviceLogEntry, ...],
        current_app: Callable[[], App | None],
        *,
        rearm: float = REARM,
    ) -> None:
        self.devices = devices
        self.current_app = current_app
        self.rearm = rearm
        self._task: asyncio.Task[None] | None = None
        self._up = False
        self.armed: list[str] = []  # EUI-64s given a key window, in order (for health and tests)

    def pending(self, app: App) -> list[DeviceLogEntry]:
        return [d for d in self.devices if d.ieee not in app.devices]

    def radio_up(self) -> None:
        self.radio_down()
        self._up = True
        if self.devices:
            self._task = asyncio.get_running_loop().create_task(self._keep_armed())

    def update(self, devices: tuple[DeviceLogEntry, ...]) -> None:
        """The log changed (CCS01, an installer's entry): a new entry gets its key window now,
        not at the next re-arm minutes later. On a real NCP a device with no window cannot
        join, and keeps failing until the window opens."""
        self.devices = devices
        if self._up:
            self.radio_up()

    def radio_down(self) -> None:
        self._up = False
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _keep_armed(self) -> None:
        while True:
            app = self.current_app()
            if app is None:
                return
            for entry in self.pending(app):
                try:
                    await app.permit_with_link_key(
                        node=entry.ieee, link_key=entry.link_key, time_s=WINDOW
                    )
                    self.armed.append(entry.eui64)
                    LOGGER.info("join window with install-code key open for %s", entry.eui64)
                except Exception as exc:
                    LOGGER.warning("could not arm the join key for %s: %r", entry.eui64, exc)
            await asyncio.sleep(self.rearm)

    async def permit_open(self, seconds: int) -> None:
        """The operator's open join window; ValueError / LookupError say why not."""
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise ValueError("seconds must be a whole number")
        if not 0 <= seconds <= MAX_OPEN:
            raise ValueError(f"seconds must be from 0 (close) to {MAX_OPEN}")
        app = self.current_app()
        if app is None:
            raise LookupError("the radio is down")
        await app.permit(time_s=seconds)
        LOGGER.warning("open join window for %d s requested by the operator", seconds)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
