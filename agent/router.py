"""The HAN router: zigpy devices and their tunnels in, GBCS bytes out, and back.

For every initialised device with a Tunneling server cluster (ESME and other non-sleepy devices)
the hub, as the CHF, requests a tunnel with protocol id 6 (GB-HRGP, docs/gbcs-notes.md 5.2) and
listens to the device's TransferData. GBCS bytes that arrive are handed to `on_frame` with the
device's EUI-64 and the time of arrival; nothing here parses or judges them. `send` writes GBCS
bytes to a device's tunnel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zigpy.application
import zigpy.device
import zigpy.types as t

from agent.health import Health
from hal.tunneling import CLUSTER_ID as TUNNELING
from hal.tunneling import (
    MANUFACTURER_CODE_NONE,
    MAX_INCOMING_TRANSFER_SIZE,
    PROTOCOL_GB_HRGP,
    Tunneling,
    TunnelStatus,
)

LOGGER = logging.getLogger(__name__)

FrameHandler = Callable[[bytes, bytes], None]
"""on_frame(device EUI-64 as GBCS writes it, GBCS bytes)."""


def eui64_bytes(ieee: t.EUI64) -> bytes:
    """zigpy keeps EUI-64s little-endian; GBCS writes them most significant byte first."""
    return bytes(ieee[::-1])


@dataclass
class HanDevice:
    ieee: t.EUI64
    eui64: bytes
    model: str
    kind: str
    tunnel_id: int | None = None
    max_transfer: int = MAX_INCOMING_TRANSFER_SIZE  # the meter's, from its RequestTunnelResponse
    frames_in: int = 0
    frames_out: int = 0


class TunnelListener:
    """Legacy zigpy cluster listener: hears server->client TransferData on one device's tunnel."""

    def __init__(self, router: HanRouter, device: HanDevice) -> None:
        self.router = router
        self.device = device

    def cluster_command(self, tsn: int, command_id: int, args: Any) -> None:
        if command_id != Tunneling.ClientCommandDefs.server_transfer_data.id:
            return
        if args.tunnel_id != self.device.tunnel_id:
            LOGGER.warning(
                "%s: data on tunnel %s, expected %s",
                self.device.eui64.hex().upper(),
                args.tunnel_id,
                self.device.tunnel_id,
            )
            return
        if not self.router.admit(self.device.eui64):
            LOGGER.warning("discarded data from %s: not on the device log", self.device.eui64.hex())
            return
        self.device.frames_in += 1
        self.router.on_frame(self.device.eui64, bytes(args.data))


class LastSeenListener:
    """zigpy device listener: whatever zigpy hears from the device counts as heard in health.

    Not only tunnel frames: an IHD only reads the hub's Time server and a GSME talks on its own
    tunnel to the hub, and each looked silent while working normally. zigpy updates
    `last_seen` on every packet but a tunnel frame's (hal/tunnel_fast_path.py, once a second).
    """

    def __init__(self, health: Health, eui64: str) -> None:
        self.health = health
        self.eui64 = eui64

    def device_last_seen_updated(self, _last_seen: object) -> None:
        self.health.device_seen(self.eui64)


class HanRouter:
    def __init__(
        self,
        app: zigpy.application.ControllerApplication,
        on_frame: FrameHandler,
        health: Health,
        *,
        admit: Callable[[bytes], bool] = lambda _eui64: True,
        on_refused: Callable[[zigpy.device.Device], None] = lambda _device: None,
        on_sleepy: Callable[[bytes, Any], None] = lambda _eui64, _cluster: None,
        on_event: Callable[[str, bytes], None] = lambda _kind, _eui64: None,
    ) -> None:
        self.app = app
        self.on_frame = on_frame
        self.health = health
        self.admit = admit  # the device log: a device it does not admit gets no tunnel
        self.on_refused = on_refused
        self.on_sleepy = on_sleepy  # a GSME: it opens its tunnel to us (agent/gsme.py)
        # A device's life on the HAN, for the WAN (bridge/event): "device_interview" (initialised
        # and admitted), "tunnel_open", "device_leave".
        self.on_event = on_event
        self.devices: dict[bytes, HanDevice] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.tunnel_ready: dict[bytes, asyncio.Event] = {}
        self._heard: dict[bytes, zigpy.device.Device] = {}  # devices a LastSeenListener is on
        self._bound: zigpy.application.ControllerApplication | None = None

    def start(self) -> None:
        self.app.add_listener(self)
        self._bound = self.app
        for device in list(self.app.devices.values()):
            if device.nwk != self.app.state.node_info.nwk and device.is_initialized:
                self.device_initialized(device)

    def reconsider(self, eui64: bytes) -> None:
        """A device newly admitted to the device log: if zigpy already knows it (from its
        database, or a join refused earlier), treat it as initialised now."""
        if eui64 in self.devices or self._bound is None:
            return
        device = self.app.devices.get(t.EUI64(eui64[::-1]))
        if device is not None and device.is_initialized:
            self.device_initialized(device)

    def rebind(self, app: zigpy.application.ControllerApplication) -> None:
        """The radio came back as a new application: listen to it and re-open every tunnel.

        The known devices stay known (the HAN did not change while the dongle was away); their
        tunnels belonged to the old radio session, so each is requested again.
        """
        self.unbind()
        self.app = app
        self.start()

    def unbind(self) -> None:
        """The radio is gone: stop listening to it; no tunnel is usable until `rebind`."""
        if self._bound is not None:
            self._bound.remove_listener(self)
            self._bound = None
        for task in list(self._tasks):
            task.cancel()
        for han in list(self.devices.values()):
            han.tunnel_id = None
        for event in list(self.tunnel_ready.values()):
            event.clear()

    # zigpy application listener -------------------------------------------------------------------

    def device_joined(self, device: zigpy.device.Device) -> None:
        if not self.admit(eui64_bytes(device.ieee)):
            self.on_refused(device)

    def device_initialized(self, device: zigpy.device.Device) -> None:
        eui = eui64_bytes(device.ieee)
        if not self.admit(eui):
            return  # refused at join (device_joined); never a tunnel
        endpoint = next(
            (ep for epid, ep in device.endpoints.items() if epid and TUNNELING in ep.in_clusters),
            None,
        )
        sleepy = next(
            (ep for epid, ep in device.endpoints.items() if epid and TUNNELING in ep.out_clusters),
            None,
        )
        kind = "tunnel" if endpoint is not None else "gsme" if sleepy is not None else "zcl"
        han = HanDevice(ieee=device.ieee, eui64=eui, model=device.model or "?", kind=kind)
        self.devices[eui] = han
        # Not "heard now": a device from zigpy's database at start or at a radio re-open may
        # have died meanwhile. zigpy's last_seen is the last time it heard the device (persisted;
        # fresh for one just interviewed), so health shows its true age.
        self.health.device_known(eui.hex().upper(), han.model, device.last_seen)
        if self._heard.get(eui) is not device:  # once per zigpy device object
            device.add_listener(LastSeenListener(self.health, eui.hex().upper()))
            self._heard[eui] = device
        self.tunnel_ready.setdefault(eui, asyncio.Event())
        LOGGER.info("device %s (%s) initialised", eui.hex().upper(), han.model)
        if endpoint is None and sleepy is not None:
            self.on_sleepy(eui, sleepy.out_clusters[TUNNELING])
        if endpoint is not None:
            task = asyncio.get_running_loop().create_task(self._open_tunnel(han, endpoint))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.on_event("device_interview", eui)

    def device_left(self, device: zigpy.device.Device) -> None:
        eui = eui64_bytes(device.ieee)
        self.devices.pop(eui, None)
        self._heard.pop(eui, None)
        self.health.device_left(eui.hex().upper())
        LOGGER.info("device %s left", eui.hex().upper())
        self.on_event("device_leave", eui)

    async def _open_tunnel(self, han: HanDevice, endpoint: Any) -> None:
        cluster = endpoint.in_clusters[TUNNELING]
        cluster.add_listener(TunnelListener(self, han))
        # A meter known from the database may not be on the air yet when the hub starts (or
        # rejoins without zigpy re-interviewing it), and a meter may refuse for a while (Busy,
        # No_More_Tunnel_Ids): keep asking, with backoff, as a CHF does. zigpy does not
        # interview a rejoining meter again, so giving up would leave it without a tunnel until
        # the hub restarts.
        who = han.eui64.hex().upper()
        delay = 1.0
        while True:
            try:
                rsp = await cluster.command(
                    Tunneling.ServerCommandDefs.request_tunnel.id,
                    protocol_id=PROTOCOL_GB_HRGP,
                    manufacturer_code=MANUFACTURER_CODE_NONE,
                    flow_control_support=False,
                    max_incoming_transfer_size=MAX_INCOMING_TRANSFER_SIZE,
                )
            except Exception as exc:  # any radio failure: retry until the task is cancelled
                LOGGER.warning(
                    "tunnel request to %s failed (retrying in %.0f s): %s", who, delay, exc
                )
            else:
                if rsp.tunnel_status == TunnelStatus.Success:
                    break
                status = TunnelStatus(rsp.tunnel_status).name
                LOGGER.warning(
                    "tunnel refused by %s: %s (asking again in %.0f s)", who, status, delay
                )
                # No tunnel, no GBCS from or to it: a fault, not a quiet meter.
                self.health.device_fault(who, f"tunnel refused: {status}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)
        self.health.clear_fault(who)
        han.tunnel_id = rsp.tunnel_id
        # What the meter said it can take in one TransferData; a meter that says 0 gets the
        # Smart Energy default a hub assumes (it names no real limit).
        han.max_transfer = rsp.max_incoming_transfer_size or MAX_INCOMING_TRANSFER_SIZE
        self.tunnel_ready[han.eui64].set()
        LOGGER.info("tunnel %d open to %s", rsp.tunnel_id, who)
        self.on_event("tunnel_open", han.eui64)

    async def send(self, eui64: bytes, data: bytes) -> None:
        """Deliver GBCS bytes to a device over its tunnel, unchanged."""
        han = self.devices.get(eui64)
        if han is None or han.tunnel_id is None:
            raise LookupError(f"no tunnel to {eui64.hex().upper()}")
        if len(data) > han.max_transfer:
            # The meter would answer TransferDataError(DataOverflow), or a real radio would
            # lose it: refused here, with a reason the WAN can act on.
            raise ValueError(
                f"{len(data)} bytes is more than the {han.max_transfer} the meter's tunnel takes"
            )
        device = self.app.get_device(ieee=han.ieee)
        endpoint = next(
            ep for epid, ep in device.endpoints.items() if epid and TUNNELING in ep.in_clusters
        )
        await endpoint.in_clusters[TUNNELING].command(
            Tunneling.ServerCommandDefs.client_transfer_data.id,
            tunnel_id=han.tunnel_id,
            data=t.Bytes(data),
            expect_reply=False,
        )
        han.frames_out += 1

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
