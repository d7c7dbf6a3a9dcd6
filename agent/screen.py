"""The live terminal screen for `run` and `simulate`: a compact view redrawn in place.

When stdout is a terminal the hub's view is a ScreenView: the hub id and radio, the consent mode
and its reason, each HAN device and its health, forwarded/blocked counts per category, the last
decisions and events, and a progress bar when an operation reports one. It redraws from the top
left (cursor home, each line erased to its end, the rest of the screen erased) at most every
`min_interval` seconds on a decision, and every second on its own so "silent" devices show.
When stdout is not a terminal, `make_view` gives the plain one-line-per-decision LiveView.

The screen renders from the hub's own health snapshot, the same one published on `health`, so
what a lab sees and what the WAN sees cannot disagree.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TextIO

from agent.progress import Progress, bar
from agent.view import HEADER, LiveView
from gbcs.codes import Category

HOME = "\033[H"
ERASE_LINE = "\033[K"
ERASE_BELOW = "\033[J"
HIDE_CURSOR = "\033[?25l"
SHOW_CURSOR = "\033[?25h"
CLEAR = "\033[2J"


def make_view(stream: TextIO | None = None) -> LiveView:
    """The redrawn screen on a terminal, plain lines otherwise."""
    stream = stream or sys.stdout
    return ScreenView(stream) if stream.isatty() else LiveView(stream)


def bind_view(view: LiveView | None, hub: Any) -> None:
    """Give a screen its data source (the hub) and start its clock; plain views need nothing."""
    if isinstance(view, ScreenView):
        view.bind(hub)


def close_view(view: LiveView | None) -> None:
    if isinstance(view, ScreenView):
        view.close()


def render(
    snapshot: dict[str, Any],
    *,
    hub_id: str,
    set_by: str,
    recent: list[str],
    progress: tuple[float, str] | None,
    width: int,
) -> list[str]:
    """The screen's lines, pure: a health snapshot and the recent lines in, text out."""
    radio = snapshot.get("radio", {})
    lines = [
        f"han-agent hub {hub_id}  radio {radio.get('state', '?')}"
        f" ({radio.get('for_s', 0):.0f}s)  up {snapshot.get('uptime_s', 0):.0f}s",
        f"mode {str(snapshot.get('mode', '?')).upper()}: {snapshot.get('reason', '')}"
        + (f" (set by {set_by})" if set_by else ""),
        "",
        "devices",
    ]
    devices = snapshot.get("devices", {})
    if not devices:
        lines.append("  (none yet)")
    for eui, device in devices.items():
        fault = f"  {device['fault']}" if device.get("fault") else ""
        lines.append(
            f"  {eui}  {device.get('model', '?'):<12} {device.get('state', '?'):<7}"
            f" seen {device.get('last_seen_s', 0):.0f}s ago{fault}"
        )
    counters = snapshot.get("counters", {})
    forwarded = counters.get("forwarded_by_category", {})
    blocked = counters.get("blocked_by_category", {})
    lines += ["", f"  {'category':<15}{'forwarded':>10}{'blocked':>9}"]
    for category in Category:
        name = category.value
        if name in forwarded or name in blocked:
            lines.append(f"  {name:<15}{forwarded.get(name, 0):>10}{blocked.get(name, 0):>9}")
    commands = counters.get("commands", {})
    lines.append(
        f"  total {counters.get('forwarded', 0)} forwarded, {counters.get('blocked', 0)} blocked,"
        f" {counters.get('malformed', 0)} malformed; commands "
        + (", ".join(f"{k} {v}" for k, v in sorted(commands.items())) or "none")
    )
    lines += ["", "last decisions and events", f"  {HEADER}"]
    lines += [f"  {line}" for line in recent] or ["  (none yet)"]
    if progress is not None:
        fraction, text = progress
        lines += ["", f"{bar(fraction)} {text}"]
    return [line[:width] for line in lines]


class ScreenView(LiveView):
    """A LiveView whose lines go into a 'last N' list on a redrawn screen, not down the page.
    The header row is drawn by `render`, above the list, not into it."""

    header_every = 0

    def __init__(
        self,
        stream: TextIO,
        *,
        last: int = 10,
        min_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(stream, color=False)
        self.recent: deque[str] = deque(maxlen=last)
        self.min_interval = min_interval
        self.clock = clock
        self.hub: Any = None
        self.progress: tuple[float, str] | None = None
        self._drawn_at = float("-inf")
        self._ticker: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False

    def bind(self, hub: Any) -> None:
        self.hub = hub
        if not self._started:
            self.stream.write(HIDE_CURSOR + CLEAR)
            self._started = True
        with contextlib.suppress(RuntimeError):  # no running loop: redraw on decisions only
            self._ticker = asyncio.get_running_loop().create_task(self._tick())
        self.refresh(force=True)

    def _write(self, line: str) -> None:
        if self._closed:  # after the screen: plain lines below it
            super()._write(line)
            return
        self.recent.append(line)
        self.refresh()

    def set_progress(self, fraction: float, text: str) -> None:
        self.progress = (fraction, text)
        self.refresh()

    def refresh(self, *, force: bool = False) -> None:
        now = self.clock()
        if self.hub is None or self._closed:
            return
        if not force and now - self._drawn_at < self.min_interval:
            return
        self._drawn_at = now
        width = shutil.get_terminal_size((100, 24)).columns
        lines = render(
            self.hub.health_snapshot(),
            hub_id=self.hub.config.hub_id,
            set_by=self.hub.consent.set_by or "",
            recent=list(self.recent),
            progress=self.progress,
            width=width,
        )
        self.stream.write(HOME + "".join(line + ERASE_LINE + "\n" for line in lines) + ERASE_BELOW)
        self.stream.flush()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.refresh(force=True)

    def close(self) -> None:
        """The last state stays on the screen; the cursor comes back below it."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._started:
            self.refresh(force=True)
            self.stream.write(SHOW_CURSOR)
            self.stream.flush()
            self._started = False
        self._closed = True


async def scenario_clock(view: LiveView | None, name: str, duration: float, scale: float) -> None:
    """Scenario time against its duration, every half second of real time, until cancelled:
    on the screen's progress bar, else on stderr (redrawn on a terminal, every 10% otherwise)."""
    plain = None if isinstance(view, ScreenView) else Progress(sys.stderr, step=0.1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        while True:
            elapsed = min(duration, (loop.time() - start) * scale)
            text = f"scenario {name}: {elapsed:.0f}/{duration:.0f} s of scenario time"
            if isinstance(view, ScreenView):
                view.set_progress(elapsed / duration if duration else 1.0, text)
            elif plain is not None:
                plain.update(elapsed, duration, text)
            await asyncio.sleep(0.5)
    finally:
        if plain is not None:
            plain.close()
