"""The hub as tunnel server for sleepy gas meters (GSME), with a bounded per-GSME queue.

A GSME opens its tunnel to the hub (docs/gbcs-notes.md 5.2): the hub answers RequestTunnel with
protocol 6 (GB-HRGP) for a device on its log, and nothing else. Commands for a GSME are not sent:
they wait in its queue (at most `max_queued`, each for at most `expiry` seconds; SiLabs' CHF keeps
them 24 h) until the GSME wakes and sends GET, which is answered with GET-RESPONSE: `02 nn` and the
oldest command, `nn` being how many still wait after it, or `02 00` alone when none does. What the
GSME sends as PUT (its responses and alerts) goes upstream like any meter's frame. A command that
expires unpolled is dropped and reported: `on_expired(entry)` (the hub answers the request on
down/result and raises its signed 0x00D5 failure-to-deliver alert). A GSME removed from the
device log is forgotten, queue and all (`forget`).

The queues survive a restart: every change is written atomically to `<state>/gsme-queue.json`
(commands to a GSME are rare, so each is one small write), with each command's expiry in
wall-clock time. At start the commands wait again for their GSME's next GET (new ones queue
behind them once zigpy knows the GSME again); a command that expired while the hub was down
is reported as expired at start. A file that cannot be read stops start-up
(StateError): dropping it would lose commands a supplier was told are queued.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zigpy.types as t

from agent.state import atomic_write_json, load_json_state
from gbcs import tunnel
from gbcs.frame import Frame, parse_frame
from gbcs.wire import FrameError
from hal.tunneling import MAX_INCOMING_TRANSFER_SIZE, PROTOCOL_GB_HRGP, Tunneling, TunnelStatus

LOGGER = logging.getLogger(__name__)

DEFAULT_EXPIRY_S = 24 * 3600.0
DEFAULT_MAX_QUEUED = 16


class QueueFull(Exception):
    pass


@dataclass(frozen=True)
class Queued:
    request_id: str
    device: bytes
    frame: Frame
    queued_at: float
    expires_at: float


@dataclass
class GsmeState:
    eui64: bytes
    cluster: Any  # the zigpy Tunneling cluster on the GSME's side (a client cluster)
    tunnel_id: int | None = None
    queue: deque[Queued] | None = None
    served: int = 0
    expired: int = 0
    frames_in: int = 0


class GsmeServer:
    def __init__(
        self,
        admit: Callable[[bytes], bool],
        on_frame: Callable[[bytes, bytes], None],
        on_served: Callable[[Queued], None],
        on_expired: Callable[[Queued], None],
        *,
        expiry: float = DEFAULT_EXPIRY_S,
        max_queued: int = DEFAULT_MAX_QUEUED,
        clock: Callable[[], float] = time.monotonic,
        path: Path | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.admit = admit
        self.on_frame = on_frame
        self.on_served = on_served
        self.on_expired = on_expired
        self.expiry = expiry
        self.max_queued = max_queued
        self.clock = clock
        self.meters: dict[bytes, GsmeState] = {}
        self._next_tunnel_id = 0x100
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.path = path  # where the queues are kept; None: in memory only
        self.wall_clock = wall_clock
        if path is not None:
            for eui64, queue in self._load(path).items():
                self.meters[eui64] = GsmeState(eui64, cluster=None, queue=queue)

    def start(self) -> None:
        """Once the hub can answer: report what expired while it was down, and keep sweeping."""
        for state in list(self.meters.values()):
            self._expire(state)
        if self._sweeper is None and self.meters:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    # -- wiring -------------------------------------------------------------------------------

    def attach(self, eui64: bytes, cluster: Any) -> None:
        """A GSME initialised: listen to the tunnel it will open on its client cluster."""
        old = self.meters.get(eui64)
        state = GsmeState(eui64, cluster, queue=old.queue if old else deque())
        self.meters[eui64] = state
        cluster.add_listener(_Listener(self, state))
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    @property
    def sweeper(self) -> asyncio.Task[None] | None:
        """The expiry sweep's task once started (the hub's health check watches it)."""
        return self._sweeper

    def stats(self) -> dict[str, object]:
        return {
            eui.hex().upper(): {
                "tunnel": s.tunnel_id is not None,
                "queued": len(s.queue or ()),
                "served": s.served,
                "expired": s.expired,
                "frames_in": s.frames_in,
            }
            for eui, s in list(self.meters.items())
        }

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        tasks = [*self._tasks, *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._sweeper = None

    # -- the queue ----------------------------------------------------------------------------

    def is_gsme(self, eui64: bytes) -> bool:
        return eui64 in self.meters

    def enqueue(self, request_id: str, device: bytes, frame: Frame) -> Queued:
        state = self.meters[device]
        assert state.queue is not None
        self._expire(state)
        if len(state.queue) >= self.max_queued:
            raise QueueFull(f"the GSME's queue is full ({self.max_queued} commands waiting)")
        now = self.clock()
        entry = Queued(request_id, device, frame, now, now + self.expiry)
        state.queue.append(entry)
        self._save()
        return entry

    def forget(self, eui64: bytes) -> list[Queued]:
        """A GSME removed from the device log: drop it, its queue and its health entry. Returns
        the commands that were waiting for it, oldest first (they will never be collected)."""
        state = self.meters.pop(eui64, None)
        if state is None:
            return []
        self._save()
        return list(state.queue or ())

    def withdraw(self, keep: Callable[[Queued], bool]) -> list[Queued]:
        """Take out of every queue the commands `keep` refuses (the policy changed while they
        waited); the others stay, in order. Returns what was taken out, oldest first."""
        withdrawn: list[Queued] = []
        for state in self.meters.values():
            if not state.queue:
                continue
            kept: deque[Queued] = deque()
            for entry in state.queue:
                (kept if keep(entry) else withdrawn).append(entry)
            state.queue = kept
        if withdrawn:
            self._save()
        return withdrawn

    def _expire(self, state: GsmeState) -> None:
        assert state.queue is not None
        now = self.clock()
        expired = []
        while state.queue and state.queue[0].expires_at <= now:
            entry = state.queue.popleft()
            state.expired += 1
            LOGGER.warning(
                "GSME %s did not retrieve request %s in %.0f s: expired",
                state.eui64.hex().upper(),
                entry.request_id,
                self.expiry,
            )
            expired.append(entry)
        if expired:
            self._save()  # before the answers: a crash then repeats no expiry
        for entry in expired:
            self.on_expired(entry)

    # -- kept across restarts -----------------------------------------------------------------

    def _save(self) -> None:
        if self.path is None:
            return
        now, wall = self.clock(), self.wall_clock()
        queued = [
            {
                "request_id": entry.request_id,
                "device": entry.device.hex().upper(),
                "frame": entry.frame.raw.hex().upper(),
                "queued_at": wall - (now - entry.queued_at),
                "expires_at": wall + (entry.expires_at - now),
            }
            for state in self.meters.values()
            for entry in state.queue or ()
        ]
        atomic_write_json(self.path, {"format": 1, "queued": queued})

    def _load(self, path: Path) -> dict[bytes, deque[Queued]]:
        advice = (
            "restore it from a backup, or move it aside to start with empty queues (the "
            "commands in it are then neither delivered nor reported)"
        )
        return load_json_state(path, self._queues_of, advice) or {}

    def _queues_of(self, data: Any) -> dict[bytes, deque[Queued]]:
        now, wall = self.clock(), self.wall_clock()
        queues: dict[bytes, deque[Queued]] = {}
        for item in data["queued"]:
            device = bytes.fromhex(item["device"])
            if len(device) != 8:
                raise ValueError(f"device {item['device']!r} is not an EUI-64")
            entry = Queued(
                str(item["request_id"]),
                device,
                parse_frame(bytes.fromhex(item["frame"])),  # FrameError is a ValueError
                now - (wall - float(item["queued_at"])),
                now - (wall - float(item["expires_at"])),
            )
            queues.setdefault(device, deque()).append(entry)
        return queues

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, min(60.0, self.expiry / 4)))
            for state in list(self.meters.values()):
                self._expire(state)

    # -- the tunnel (called by the listener) ----------------------------------------------------

    def _reply(self, state: GsmeState, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reply_done)

    def _reply_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOGGER.warning("reply to a GSME failed: %r", task.exception())

    def request_tunnel(self, state: GsmeState, tsn: int, args: Any) -> None:
        if not self.admit(state.eui64):
            LOGGER.warning("tunnel request from %s refused: not on the device log", state.eui64)
            return
        if args.protocol_id != PROTOCOL_GB_HRGP:
            status, tunnel_id = TunnelStatus.Protocol_Not_Supported, 0xFFFF
        else:
            self._next_tunnel_id = (self._next_tunnel_id + 1) & 0xFFFF
            tunnel_id = self._next_tunnel_id
            state.tunnel_id = tunnel_id
            status = TunnelStatus.Success
        LOGGER.info("tunnel %s from GSME %s: %s", tunnel_id, state.eui64.hex().upper(), status)
        self._reply(
            state,
            state.cluster.client_command(
                Tunneling.ClientCommandDefs.request_tunnel_response.id,
                tunnel_id=tunnel_id,
                tunnel_status=status,
                max_incoming_transfer_size=MAX_INCOMING_TRANSFER_SIZE,
                tsn=tsn,
            ),
        )

    def transfer(self, state: GsmeState, args: Any) -> None:
        if state.tunnel_id is None or args.tunnel_id != state.tunnel_id:
            LOGGER.warning("GSME %s: data on unknown tunnel %s", state.eui64.hex(), args.tunnel_id)
            return
        if not self.admit(state.eui64):
            return
        try:
            data = tunnel.parse_tunnel_data(bytes(args.data))
        except FrameError as exc:
            LOGGER.warning("GSME %s: unreadable tunnel data: %s", state.eui64.hex(), exc)
            return
        if data.kind is tunnel.TunnelKind.GET:
            self._serve(state)
        elif data.kind is tunnel.TunnelKind.PUT:
            state.frames_in += 1
            self.on_frame(state.eui64, data.message)
        else:
            LOGGER.warning("GSME %s sent %s, expected GET or PUT", state.eui64.hex(), data.kind)

    def _serve(self, state: GsmeState) -> None:
        assert state.queue is not None
        self._expire(state)
        entry = state.queue.popleft() if state.queue else None
        if entry is not None:
            self._save()
        message = entry.frame.raw if entry is not None else b""
        payload = tunnel.get_response(min(len(state.queue), 0xFF), message)
        self._reply(
            state,
            state.cluster.client_command(
                Tunneling.ClientCommandDefs.server_transfer_data.id,
                tunnel_id=state.tunnel_id,
                data=t.Bytes(payload),
            ),
        )
        if entry is not None:
            state.served += 1
            self.on_served(entry)


class _Listener:
    """zigpy cluster listener on the GSME's client Tunneling cluster (client -> server commands)."""

    def __init__(self, server: GsmeServer, state: GsmeState) -> None:
        self.server = server
        self.state = state

    def cluster_command(self, tsn: int, command_id: int, args: Any) -> None:
        defs = Tunneling.ServerCommandDefs
        if command_id == defs.request_tunnel.id:
            self.server.request_tunnel(self.state, tsn, args)
        elif command_id == defs.client_transfer_data.id:
            self.server.transfer(self.state, args)
        elif command_id == defs.close_tunnel.id:
            self.state.tunnel_id = None
