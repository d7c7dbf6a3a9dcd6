"""The hub as a service: lifecycle, signals and what systemd is told.

Theory of operation, in order:

1. Config and state are read before this runs (a bad config exits 78 before systemd is told
   anything). `Hub(...)` loads the profile, the consent record, the device log and the hub's
   key. A state file that cannot be trusted, or a state directory the hub cannot read and
   write, raises StateError: one line naming the file, exit 65, and systemd does not restart.
2. `hub.start()` opens the radio (and the outbox, where there is one); then the lab, if enabled.
   An outbox that SQLite cannot open is a StateError too.
   Only when that has returned and the health checks pass is READY=1 sent: a unit that is
   "active" has a working radio. The MQTT connection is not waited for: a broker outage at boot
   must not fail the unit, the uplink reconnects on its own. Just before READY the start-up
   heap is frozen out of the garbage collector's way (agent/gc_policy.py).
3. While running, agent/watchdog.py pings WATCHDOG=1 at half of WatchdogSec, only while healthy.
4. SIGHUP re-reads the config file and applies the restricted profile and the log level through
   `Hub.reload` (RELOADING=1 ... READY=1 around it). The radio is never touched. A bad new
   config is logged and the running settings stay.
5. SIGTERM or SIGINT: STOPPING=1 first, then the lab stops, then `hub.stop()` (stop taking frames,
   flush what can be flushed, publish offline, close the radio). Exit status 0.
6. Lab only: SIGUSR1 pulls a named virtual dongle (`hal.virtual_dongle.unplug`), so the
   fault path can be exercised end to end. It is not installed outside the lab.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from agent import gc_policy
from agent.config import Config, ConfigError
from agent.consent import Mode
from agent.hub import Hub
from agent.lab import Lab, plug_lab_ncp
from agent.logs import LogControl
from agent.loop_errors import quiet_closed_socket_races
from agent.notify import Notifier
from agent.screen import bind_view, close_view, make_view
from agent.state import StateError
from agent.watchdog import Watchdog, judge
from hal import virtual_dongle
from hal.virtual import VirtualRadioApp

if TYPE_CHECKING:
    from hal.ncp_emulator.emulator import NcpEmulator

LOGGER = logging.getLogger(__name__)


class Service:
    def __init__(
        self,
        config: Config,
        *,
        quiet: bool,
        reread: Callable[[], Config],
        logs: LogControl | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.quiet = quiet
        self.reread = reread
        self.logs = logs
        self.notifier = notifier or Notifier()
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        quiet_closed_socket_races(loop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        # Installed before start: SIGHUP's default action would kill a hub still starting.
        loop.add_signal_handler(signal.SIGHUP, self._reload.set)
        view = None if self.quiet else make_view()
        try:
            with self._state_os_errors():
                hub = Hub(self.config, view=view)
        except BaseException:
            close_view(view)
            raise
        bind_view(view, hub)
        if self.logs is not None:
            self.logs.set_restricted(lambda: hub.consent.mode is not Mode.FULL)
        lab: Lab | None = None
        tasks: list[asyncio.Task[None]] = []
        ncp = plug_lab_ncp(self.config)  # the lab's emulated NCP, before bellows looks for it
        try:
            try:
                with self._state_os_errors():
                    await hub.start()
                if self.config.lab.enabled:
                    lab = Lab(hub, self.config.lab, ncp=ncp)
                    await lab.start()
                    self._lab_signals(hub, loop, ncp)
                    hub.event(
                        f"lab: ESME {self.config.lab.esme}, IHD {self.config.lab.ihd}, "
                        f"supplier {self.config.lab.supplier}; Ctrl-C stops"
                    )
                await self._until_healthy(hub)
                gc_policy.settle()
            except StateError as exc:  # one line and exit 65 (agent/cli.py), after the stop below
                self.notifier.status(f"start failed: {exc}")
                raise
            except Exception as exc:
                LOGGER.critical("start failed: %s: %s", type(exc).__name__, exc, exc_info=True)
                self.notifier.status(f"start failed: {exc}")
                return 1
            if self._stop.is_set():
                return 0
            self.notifier.ready(self._running(hub))
            interval = self.notifier.watchdog_interval
            if interval is not None:
                watchdog = Watchdog(
                    self.notifier, hub.health, self.config.health.radio_recovery, interval
                )
                tasks.append(loop.create_task(watchdog.run()))
                LOGGER.info("systemd watchdog: pinging every %.1fs while healthy", interval)
            tasks.append(loop.create_task(self._reloads(hub)))
            await self._stop.wait()
        finally:
            self.notifier.stopping("stopping: flushing the uplink and closing the radio")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if lab is not None:
                with contextlib.suppress(Exception):
                    await lab.stop()
            close_view(view)
            try:
                await hub.stop()
            except Exception as exc:
                LOGGER.error("stop did not complete cleanly: %s: %s", type(exc).__name__, exc)
            if ncp is not None:
                LOGGER.info("NCP emulator: EZSP commands seen: %s", ncp.command_counts())
                ncp.close()
        return 0

    @contextlib.contextmanager
    def _state_os_errors(self) -> Iterator[None]:
        """An OSError on the state directory or a file in it, said as a StateError naming the
        file (the file is left as it is); any other error as it is."""
        try:
            yield
        except OSError as exc:
            state_dir = self.config.state_dir
            path = None if exc.filename is None else Path(os.fsdecode(exc.filename))
            if path is None or (path != state_dir and state_dir not in path.parents):
                raise
            raise StateError(
                f"state error: {path}: {exc.strerror or exc}; the service must be able to read "
                f"and write its state directory {state_dir}"
            ) from None

    async def _until_healthy(self, hub: Hub) -> None:
        """READY waits for an open radio and the registered health checks (the outbox writer).

        The watchdog's grace for a radio that went away (`radio_recovery`) does not apply here:
        a unit that is "active" has a working radio. A dongle missing at start keeps the hub
        retrying in the background until systemd's TimeoutStartSec ends the start.
        """
        said = False
        while not self._stop.is_set():
            verdict = judge(hub.health, self.config.health.radio_recovery)
            if verdict.ok and hub.health.radio_state == "ok":
                return
            if not said:
                why = verdict.reason if not verdict.ok else _radio_not_open(hub)
                LOGGER.warning("not ready yet: %s", why)
                said = True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    await self._stop.wait()

    def _running(self, hub: Hub) -> str:
        return (
            f"running: mode {hub.consent.mode.value}, profile {hub.profile.name} "
            f"v{hub.profile.version}, radio {self.config.radio.type}"
        )

    async def _reloads(self, hub: Hub) -> None:
        while True:
            await self._reload.wait()
            self._reload.clear()
            self.notifier.reloading()
            try:
                config = self.reread()
                hub.reload(config)
                if self.logs is not None:
                    self.logs.set_level(config.log_level)
            except ConfigError as exc:
                LOGGER.error("reload refused, running settings kept: %s", exc)
            except Exception as exc:
                LOGGER.error(
                    "reload failed, running settings kept: %s: %s", type(exc).__name__, exc
                )
            self.notifier.ready(self._running(hub))

    def _lab_signals(
        self, hub: Hub, loop: asyncio.AbstractEventLoop, ncp: NcpEmulator | None
    ) -> None:
        """Lab only: SIGUSR1 pulls a named virtual dongle (`virtual://NAME`), SIGUSR2 plugs it
        back, through zigpy's own connection_lost path (hal/virtual_dongle.py). On the emulated
        NCP the same signals close its pty and open a new one behind the same path."""
        if ncp is not None:
            loop.add_signal_handler(signal.SIGUSR1, ncp.unplug)
            loop.add_signal_handler(signal.SIGUSR2, ncp.replug)
            return
        path = hub.config.radio.path
        if not isinstance(hub.app, VirtualRadioApp) or virtual_dongle.named(path) is None:
            return
        loop.add_signal_handler(signal.SIGUSR1, virtual_dongle.unplug, path)
        loop.add_signal_handler(signal.SIGUSR2, virtual_dongle.replug, path)


def _radio_not_open(hub: Hub) -> str:
    detail = f": {hub.health.radio_detail}" if hub.health.radio_detail else ""
    return f"radio {hub.health.radio_state}{detail}"
