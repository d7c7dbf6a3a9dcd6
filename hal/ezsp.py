"""The EZSP radio: a Silicon Labs EFR32 dongle through bellows, with the Smart Energy fix.

The hub's own endpoint 1 is registered on the NCP as a Smart Energy (0x0109) Communications Hub
endpoint, in place of the Home Automation IAS endpoint bellows registers there by default: meters
address the CHF on the SE profile, zigpy answers from the endpoint it was addressed on, and the
virtual radio's coordinator has the same endpoint. bellows needs an endpoint 1 to exist (its group
handling lives there); the Green Power endpoint is kept because zigpy's GP support expects it, and
the ZLL endpoint is dropped (nothing on a GB HAN speaks ZLL).

bellows' serial connect is made safe to cancel here too (see `_uart_connect_to_its_end`).

bellows sends every unicast in one `sendUnicast`, and an NCP refuses one whose payload does not
fit an APS frame (a signed GBCS command is about 150 bytes): `send_packet` here sends those as
APS fragments, as EmberZNet hosts do (hal/aps_fragments.py has the rules and the limits).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import bellows.types as bt
import bellows.uart
import zigpy.config
import zigpy.exceptions
import zigpy.profiles.zgp
import zigpy.types
import zigpy.zdo.types as zdo_t
import zigpy.zgp.types
from bellows.exception import ControllerError
from bellows.zigbee.application import MESSAGE_SEND_TIMEOUT_BATTERY, MESSAGE_SEND_TIMEOUT_MAINS
from bellows.zigbee.application import ControllerApplication as BellowsApplication
from zigpy.zcl.clusters.general import GreenPowerProxy

from hal import aps_fragments
from hal.se_profile import SmartEnergyProfileMixin

HUB_ENDPOINT_ID = 1
PROFILE_SMART_ENERGY = 0x0109
DEVICE_TYPE_ESP = 0x0500  # Energy Service Portal: the role a GB CH plays on the HAN
HUB_INPUT_CLUSTERS = (0x0000, 0x000A, 0x0019, 0x0700, 0x0703, 0x0704, 0x0800)
HUB_OUTPUT_CLUSTERS = (0x0702, 0x0704, 0x0800)

# EmberZNet's default fragment window (EMBER_FRAGMENT_WINDOW_SIZE), used when the NCP does not
# report CONFIG_FRAGMENT_WINDOW_SIZE: one block outstanding at a time.
DEFAULT_FRAGMENT_WINDOW = 1
# Relays of a NCP-chosen source route to keep room for when source routing is on (see
# EzspRadioApp.aps_payload_limit).
SOURCE_ROUTE_RESERVE = 4

_bellows_uart_connect = bellows.uart.connect
CONNECT_GRACE = 5.0


async def _uart_connect_to_its_end(config: Any, api: Any, use_thread: bool = True) -> Any:
    """bellows' `uart.connect`, run to its end even when cancelled, then closed.

    bellows starts its serial thread (a non-daemon executor thread running an event loop) and
    stops it only after an exception, not after a cancellation: a hub stopped, or an open attempt
    timed out, in that moment left the thread running and the process could never exit. The
    connect only opens the port and waits for the transport (milliseconds, or an error), so the
    cancellation waits for it (up to CONNECT_GRACE seconds: a `socket://` port can take a TCP
    timeout) and then closes the port, which ends the thread.
    """
    connecting = asyncio.ensure_future(_bellows_uart_connect(config, api, use_thread=use_thread))
    try:
        return await asyncio.shield(connecting)
    except asyncio.CancelledError:
        await asyncio.wait({connecting}, timeout=CONNECT_GRACE)
        if not connecting.done():  # a TCP connect to a silent host: cut it off, as before
            connecting.cancel()
        elif not connecting.cancelled() and connecting.exception() is None:
            with contextlib.suppress(Exception):
                await connecting.result().disconnect()
        raise


bellows.uart.connect = _uart_connect_to_its_end  # bellows.ezsp calls it through the module


def hub_endpoint() -> zdo_t.SimpleDescriptor:
    return zdo_t.SimpleDescriptor(
        endpoint=HUB_ENDPOINT_ID,
        profile=PROFILE_SMART_ENERGY,
        device_type=DEVICE_TYPE_ESP,
        device_version=0,
        input_clusters=list(HUB_INPUT_CLUSTERS),
        output_clusters=list(HUB_OUTPUT_CLUSTERS),
    )


class EzspRadioApp(SmartEnergyProfileMixin, BellowsApplication):
    """bellows' application, hearing the Smart Energy profile on an SE endpoint."""

    async def register_endpoints(self) -> None:
        await self.add_endpoint(hub_endpoint())
        await self.add_endpoint(
            zdo_t.SimpleDescriptor(
                endpoint=zigpy.zgp.types.GP_ENDPOINT,
                profile=zigpy.profiles.zgp.PROFILE_ID,
                device_type=zigpy.profiles.zgp.DeviceType.COMBO_BASIC,
                device_version=0,
                input_clusters=[GreenPowerProxy.cluster_id],
                output_clusters=[GreenPowerProxy.cluster_id],
            )
        )
        endpoints: Any = self.config.get("additional_endpoints", [])
        for endpoint in endpoints:
            await self.add_endpoint(endpoint)

    def ezsp_protocol_version(self) -> int | None:
        """The EZSP protocol version the NCP speaks (None before connect)."""
        ezsp: Any = self._ezsp
        return None if ezsp is None else int(ezsp.ezsp_version)

    async def firmware_info(self) -> dict[str, Any]:
        """What `han-agent radio check` prints about the NCP, readable before a network exists."""
        ezsp: Any = self._ezsp
        manufacturer, board, version = await ezsp.get_board_info()
        return {
            "stack": "EZSP (bellows)",
            "ezsp_protocol": int(ezsp.ezsp_version),
            "firmware": version,
            "manufacturer": manufacturer,
            "board": board,
        }

    # -- APS fragmentation on send ----------------------------------------------------------------

    _fragment_window: int | None = None

    async def send_packet(self, packet: zigpy.types.ZigbeePacket) -> None:
        """bellows' send, with unicasts too long for one APS frame sent as fragments."""
        unicast = packet.dst.addr_mode in (zigpy.types.AddrMode.NWK, zigpy.types.AddrMode.IEEE)
        data = packet.data.serialize()
        if not unicast or len(data) <= self.aps_payload_limit(packet, fragment=False):
            await super().send_packet(packet)
            return
        await self._send_fragmented(packet, data)

    def aps_payload_limit(self, packet: zigpy.types.ZigbeePacket, *, fragment: bool) -> int:
        """The largest ZCL payload one APS frame (or block) of `packet` carries.

        A route the packet names costs its length; with source routing on and no route named,
        the NCP may add one from its own table that the host cannot see, so room is kept for
        SOURCE_ROUTE_RESERVE relays (with APS encryption and fragmentation that leaves 61 bytes
        a block, the figure GB CHFs use, docs/gbcs-notes.md 5.2). The hub leaves source
        routing off (zigpy's default), so its NCP adds none.
        """
        if packet.source_route:
            relays = len(packet.source_route)
        elif self.config[zigpy.config.CONF_SOURCE_ROUTING]:
            relays = SOURCE_ROUTE_RESERVE
        else:
            relays = 0
        return aps_fragments.max_aps_payload(
            aps_encryption=zigpy.types.TransmitOptions.APS_Encryption in packet.tx_options,
            fragment=fragment,
            relays=relays,
        )

    async def fragment_window(self) -> int:
        """The NCP's CONFIG_FRAGMENT_WINDOW_SIZE (asked once), or EmberZNet's default."""
        if self._fragment_window is None:
            ezsp: Any = self._ezsp
            window = DEFAULT_FRAGMENT_WINDOW
            with contextlib.suppress(Exception):  # an NCP that does not say: the default
                status, value = await ezsp.getConfigurationValue(
                    configId=bt.EzspConfigId.CONFIG_FRAGMENT_WINDOW_SIZE
                )
                if status == 0 and value >= 1:  # EzspStatus.SUCCESS / sl_Status.OK
                    window = min(int(value), aps_fragments.MAX_WINDOW)
            self._fragment_window = window
        return self._fragment_window

    async def _send_fragmented(self, packet: zigpy.types.ZigbeePacket, data: bytes) -> None:
        """The blocks of `data` through `sendUnicast`, windowed by `messageSentHandler`.

        Each block is one bellows send in all but its APS frame: a message tag of its own in
        bellows' `_pending_requests` (bellows' messageSentHandler handling resolves it), the
        command under `_req_lock`, the whole message under one `_limit_concurrency` slot.
        """
        if not self.is_controller_running:
            raise ControllerError("ApplicationController is not running")
        ezsp: Any = self._ezsp
        device: Any
        try:
            device = self.get_device_with_address(packet.dst)
        except (KeyError, ValueError):
            device = None
        if packet.dst.addr_mode == zigpy.types.AddrMode.IEEE:
            if device is None:
                raise ValueError(f"Cannot find device with ieee {packet.dst.address}")
            nwk = int(device.nwk)
        else:
            nwk = int(packet.dst.address)
        block_size = self.aps_payload_limit(packet, fragment=True)
        blocks = aps_fragments.split(data, block_size)  # ValueError: too long to number
        count = len(blocks)
        window = await self.fragment_window()
        sender = aps_fragments.FragmentSender(count, window)
        aps_frame = self._aps_frame_for(packet)
        timeout = (
            MESSAGE_SEND_TIMEOUT_BATTERY if packet.extended_timeout else MESSAGE_SEND_TIMEOUT_MAINS
        )
        where = f"to 0x{nwk:04X}"
        in_flight: dict[asyncio.Future[Any], int] = {}
        tags: list[tuple[int, int]] = []
        async with self._limit_concurrency(priority=packet.priority):
            try:
                if device is not None:
                    # as bellows: APS acks (RETRY) replace the extended timeout
                    acked = zigpy.types.TransmitOptions.ACK in packet.tx_options
                    await ezsp.set_extended_timeout(
                        nwk=device.nwk,
                        ieee=device.ieee,
                        extended_timeout=packet.extended_timeout and not acked,
                    )
                if packet.source_route is not None:
                    await ezsp.set_source_route(nwk=nwk, relays=packet.source_route)
                step: aps_fragments.Step = sender.start()
                while True:
                    if isinstance(step, aps_fragments.Failed):
                        raise zigpy.exceptions.DeliveryError(f"{step.reason} ({where})")
                    if isinstance(step, aps_fragments.Done):
                        return
                    for index in step.indices:
                        future = await self._send_block(
                            nwk, aps_frame, blocks[index], index, count, tags
                        )
                        in_flight[future] = index
                    done, _ = await asyncio.wait(
                        set(in_flight), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                    if not done:
                        late = sorted(in_flight.values())[0]
                        raise zigpy.exceptions.DeliveryError(
                            f"APS fragment {late + 1} of {count} not confirmed: no "
                            f"messageSentHandler from the NCP within {timeout} s ({where})"
                        )
                    for future in done:
                        index = in_flight.pop(future)
                        status, _ = future.result()  # bellows gives an sl_Status here
                        why = getattr(status, "name", str(status))
                        step = sender.on_sent(index, status == bt.sl_Status.OK, why)
                        if not isinstance(step, aps_fragments.Send) or step.indices:
                            break
            finally:
                for tag in tags:
                    self._pending_requests.pop(tag, None)

    async def _send_block(
        self,
        nwk: int,
        aps_frame: bt.EmberApsFrame,
        block: aps_fragments.Fragment,
        index: int,
        count: int,
        tags: list[tuple[int, int]],
    ) -> asyncio.Future[Any]:
        """One block into `sendUnicast`; the future bellows resolves on its messageSentHandler."""
        ezsp: Any = self._ezsp
        message_tag = self.get_sequence()
        pending_tag = (nwk, message_tag)
        if pending_tag in self._pending_requests:
            raise zigpy.exceptions.DeliveryError(
                f"Packet with tag {pending_tag} is already pending, cannot send"
            )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending_requests[pending_tag] = future
        tags.append(pending_tag)
        frame = aps_frame.replace(
            groupId=bt.uint16_t(block.group_id),
            options=bt.EmberApsOption(aps_frame.options | block.options),
        )
        async with self._req_lock:
            status, sequence = await ezsp.send_unicast(
                nwk=bt.NWK(nwk), aps_frame=frame, message_tag=message_tag, data=block.data
            )
        if status != bt.sl_Status.OK:  # bellows' send_unicast gives an sl_Status
            raise zigpy.exceptions.DeliveryError(
                f"APS fragment {index + 1} of {count} refused by the NCP: "
                f"{getattr(status, 'name', status)} (to 0x{nwk:04X})",
                status,
            )
        if index == 0:
            # One message on air: every later block carries block 0's APS counter.
            aps_frame.sequence = bt.uint8_t(sequence)
        return future

    def _aps_frame_for(self, packet: zigpy.types.ZigbeePacket) -> bt.EmberApsFrame:
        """The APS frame bellows' send_packet builds for a unicast (same options)."""
        options = bt.EmberApsOption.APS_OPTION_NONE
        if self.config[zigpy.config.CONF_SOURCE_ROUTING]:
            options |= (
                bt.EmberApsOption.APS_OPTION_ENABLE_ADDRESS_DISCOVERY
                | bt.EmberApsOption.APS_OPTION_ENABLE_ROUTE_DISCOVERY
            )
        elif zigpy.types.TransmitOptions.FORCE_ROUTE_DISCOVERY in packet.tx_options:
            options |= (
                bt.EmberApsOption.APS_OPTION_FORCE_ROUTE_DISCOVERY
                | bt.EmberApsOption.APS_OPTION_RETRY
            )
        else:
            options |= bt.EmberApsOption.APS_OPTION_ENABLE_ROUTE_DISCOVERY
        if zigpy.types.TransmitOptions.APS_Encryption in packet.tx_options:
            options |= bt.EmberApsOption.APS_OPTION_ENCRYPTION
        if zigpy.types.TransmitOptions.ACK in packet.tx_options:
            options |= bt.EmberApsOption.APS_OPTION_RETRY
        return bt.EmberApsFrame(
            profileId=bt.uint16_t(packet.profile_id),
            clusterId=bt.uint16_t(packet.cluster_id),
            sourceEndpoint=bt.uint8_t(packet.src_ep),
            destinationEndpoint=bt.uint8_t(packet.dst_ep or 0),
            options=options,
            groupId=bt.uint16_t(0),
            sequence=bt.uint8_t(packet.tsn),
        )


CBKE_ABSENT_STATUSES = ("LIBRARY_NOT_PRESENT",)


async def ncp_readiness(app: EzspRadioApp) -> dict[str, Any]:
    """What `han-agent radio check` reports about the gaps a production meter meets: the stack
    version (EZSP `version`), whether the CBKE 283k1 library and a 283k1 certificate are on the
    NCP (`getCertificate283k1`: LIBRARY_NOT_PRESENT or an unknown command means no library,
    another failure or a blank certificate means the library without a certificate), and the
    largest unfragmented APS payload (`maximumPayloadLength`)."""
    import bellows.types as bt  # only radio check needs them

    ezsp: Any = app._ezsp
    _version, _stack_type, stack = await ezsp._command(
        "version", desiredProtocolVersion=ezsp.ezsp_version
    )
    library, certificate = "absent", "absent"
    try:
        status, cert = await ezsp.getCertificate283k1()
    except Exception as exc:  # an NCP that does not know the command has no CBKE either
        library = certificate = f"absent (getCertificate283k1: {type(exc).__name__})"
    else:
        name = getattr(status, "name", str(status))
        if name not in CBKE_ABSENT_STATUSES:
            library = "present"
            blank = bytes(cert) in (bytes(len(cert)), b"\xff" * len(cert))
            ok = bt.sl_Status.from_ember_status(status) == bt.sl_Status.OK
            certificate = "present" if ok and not blank else f"absent ({name})"
        else:
            library = certificate = f"absent ({name})"
    (aps_length,) = await ezsp.maximumPayloadLength()
    return {
        "stack_version": ".".join(str((int(stack) >> s) & 0xF) for s in (12, 8, 4, 0)),
        "cbke_library": library,
        "cbke_cert_283k1": certificate,
        "max_aps_payload": int(aps_length),
    }
