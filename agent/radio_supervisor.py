"""The radio supervisor: owns opening the radio, noticing it is gone, and getting it back.

Rules:
- The radio is the only thing it owns. The uplink, the outbox and the consent state never wait
  for it: while the radio is down they keep running, and health says 'fault' with a reason.
- Health is set here and nowhere else for the radio: 'starting' until the first attempt ends,
  'ok' while an application is open and answering, 'fault' (with a one-line reason from
  hal/radio_errors.py) from the moment a failure is seen until the radio is back.
- A failure is seen within `probe_interval + probe_timeout` seconds (3 + 5 by default, under the
  10 s the service promises): at once when zigpy reports `connection_lost` (bellows calls it when
  the serial port closes, on an unexpected NCP reset, and after ASH gives up on acknowledgements),
  and otherwise by a probe that feeds the radio's watchdog (for EZSP a `nop` or a counters read)
  every `probe_interval` seconds under a `probe_timeout` deadline, which catches a silent NCP
  that bellows alone would notice only after its 10 s watchdog period and 5 ACK timeouts.
- Every open attempt has a deadline (`open_timeout`), so a dongle that answers nothing or
  garbage cannot hang the hub; failed attempts are retried with exponential backoff from
  `retry_min` to `retry_max` seconds, for ever. The systemd watchdog (agent/watchdog.py) decides
  how long a 'fault' may last before the service is restarted.
- Each (re)open builds a new zigpy application, as Home Assistant's ZHA does after a lost radio:
  a bellows application after `connection_lost` is not reusable. The old one is shut down first
  (database flushed, serial port and bellows thread released), then `on_up(app)` tells the hub,
  which re-binds the router so tunnels are re-opened to every known device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zigpy.application

from agent.health import Health
from agent.state import StateError
from hal.radio import DATABASE_NAME, RadioSettings, open_radio
from hal.radio_errors import explain

LOGGER = logging.getLogger(__name__)

App = zigpy.application.ControllerApplication
Opener = Callable[[RadioSettings, Path], Awaitable[App]]


@dataclass(frozen=True)
class SupervisorTiming:
    open_timeout: float = 60.0
    probe_interval: float = 3.0
    probe_timeout: float = 5.0
    retry_min: float = 1.0
    retry_max: float = 60.0
    close_timeout: float = 10.0


class RadioSupervisor:
    def __init__(
        self,
        settings: RadioSettings,
        state_dir: Path,
        health: Health,
        *,
        on_up: Callable[[App], None] = lambda app: None,
        on_down: Callable[[], None] = lambda: None,
        timing: SupervisorTiming = SupervisorTiming(),
        opener: Opener = open_radio,
    ) -> None:
        self.settings = settings
        self.state_dir = state_dir
        self.health = health
        self.on_up = on_up
        self.on_down = on_down
        self.timing = timing
        self.opener = opener
        self.app: App | None = None
        self.attempts = 0
        self.failures = 0
        self.last_error: str = ""
        self._lost: asyncio.Future[BaseException] | None = None
        self._task: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self.up = asyncio.Event()

    @property
    def path(self) -> str:
        return self.settings.path or f"{self.settings.type} radio"

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start supervising; returns once the first attempt has succeeded or failed."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="radio-supervisor")
        first = asyncio.ensure_future(self._first_attempt.wait())
        await asyncio.wait({first, self._task}, return_when=asyncio.FIRST_COMPLETED)
        first.cancel()
        if self._task.done():
            self._task.result()  # a bug in the supervisor itself: let it be seen

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The supervising task while it runs (the hub's health check watches it)."""
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # A StateError ended it and was raised by start() (or left the radio in fault for
            # the watchdog): said already, not again on the way out.
            with contextlib.suppress(asyncio.CancelledError, StateError):
                await self._task
            self._task = None
        await self._close()

    # -- zigpy application listener ----------------------------------------------------------------

    def connection_lost(self, exc: BaseException) -> None:
        """zigpy's listener event: bellows lost the serial link or the NCP failed."""
        if self._lost is not None and not self._lost.done():
            self._fault(exc)
            self._lost.set_result(exc)

    # -- the loop ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.timing.retry_min
        while True:
            self.attempts += 1
            try:
                async with asyncio.timeout(self.timing.open_timeout):
                    app = await self.opener(self.settings, self.state_dir)
            except sqlite3.DatabaseError as exc:
                # Not the radio: zigpy's device database in the state directory. Retrying
                # cannot mend it, and a hub never READY would only be restarted for ever.
                database = self.state_dir / DATABASE_NAME
                self._fault(exc)
                self._first_attempt.set()
                raise StateError(
                    f"state error: {database}: zigpy's network and device database cannot be "
                    f"opened ({exc}); restore it from a backup, or move it aside to start "
                    "without it: a dongle keeps its network, the devices are learnt again as "
                    "they rejoin, and `han-agent radio restore` puts a JSON backup from "
                    f"{self.state_dir / 'backups'} onto a blank radio"
                ) from None
            except Exception as exc:
                self.failures += 1
                self._fault(exc)
                LOGGER.warning(
                    "radio open attempt %d failed: %s; retrying in %.0f s",
                    self.attempts,
                    self.last_error,
                    delay,
                )
                self._first_attempt.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.timing.retry_max)
                continue
            delay = self.timing.retry_min
            self._lost = asyncio.get_running_loop().create_future()
            self.app = app
            app.add_listener(self)
            self.health.radio("ok")
            LOGGER.info("radio %s open (attempt %d)", self.path, self.attempts)
            self.up.set()
            self._first_attempt.set()
            try:
                self.on_up(app)
            except Exception:
                LOGGER.exception("the hub failed to take the radio up")
            await self._watch(app)
            self.up.clear()
            try:
                self.on_down()
            except Exception:
                LOGGER.exception("the hub failed to take the radio down")
            await self._close()

    async def _watch(self, app: App) -> None:
        """Returns when the radio is gone (health already says 'fault')."""
        assert self._lost is not None
        while True:
            done, _ = await asyncio.wait({self._lost}, timeout=self.timing.probe_interval)
            if done:
                return
            try:
                async with asyncio.timeout(self.timing.probe_timeout):
                    await app.watchdog_feed()
            except Exception as exc:
                if isinstance(exc, TimeoutError) and not str(exc):
                    exc = TimeoutError(
                        f"watchdog probe unanswered for {self.timing.probe_timeout} s"
                    )
                if not self._lost.done():
                    self._fault(exc)
                    self._lost.set_result(exc)
                return

    def _fault(self, exc: BaseException) -> None:
        self.last_error = explain(exc, self.path)
        self.health.radio("fault", self.last_error)
        if self.app is not None:
            LOGGER.error("radio lost: %s", self.last_error)

    async def _close(self) -> None:
        app, self.app = self.app, None
        if app is None:
            return
        with contextlib.suppress(Exception):
            app.remove_listener(self)
        try:
            async with asyncio.timeout(self.timing.close_timeout):
                await asyncio.shield(app.shutdown())
        except Exception as exc:
            LOGGER.warning("closing the lost radio did not finish cleanly: %r", exc)
            await _close_database(app, self.timing.close_timeout)


async def _close_database(app: App, grace: float) -> None:
    """Close the zigpy database of an application whose shutdown never reached it.

    A lost EZSP dongle's shutdown waits on a disconnect scheduled on bellows' serial thread,
    which has already stopped, so zigpy never gets to its database; aiosqlite's thread is not a
    daemon, and each such loss would leave one behind that keeps the process from exiting.
    """
    database: Any = getattr(app, "_dblistener", None)
    if database is None:
        return
    try:
        async with asyncio.timeout(grace):
            await database.shutdown()
    except Exception as exc:
        LOGGER.warning("closing the lost radio's database failed: %r", exc)
