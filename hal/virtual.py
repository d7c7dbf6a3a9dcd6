"""The virtual radio: a zigpy ControllerApplication whose air is a dict of simulated devices.

Only the radio is replaced. zigpy's interview, ZCL parsing, device database, Time server and OTA
server run unchanged above it, exactly as over bellows on a Pi (docs/gbcs-notes.md 8.1).

Transmit is `send_packet`: the packet goes to the simulated device it is addressed to, and the
device's replies come back on the next loop turn through `packet_received`, as they would from
the air. A simulated device's own transmissions take the same path.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import zigpy.application
import zigpy.device
import zigpy.endpoint
import zigpy.exceptions
import zigpy.types as t
import zigpy.zdo.types as zdo_t

from hal import virtual_dongle
from hal.se_profile import SmartEnergyProfileMixin
from hal.sim.base import SimDevice

LOGGER = logging.getLogger(__name__)


class VirtualAir(zigpy.application.ControllerApplication):
    """The radio part of `VirtualRadioApp`: the air is the simulated devices."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.sim_devices: dict[t.NWK, SimDevice] = {}
        self._stored_network: tuple[Any, Any] | None = None
        self.tx_count = 0

    # -- radio lifecycle: nothing to open ---------------------------------------------------------

    async def connect(self) -> None:
        dongle = virtual_dongle.named(self.config["device"]["path"])
        if dongle is None:
            return
        if not dongle.plugged:
            raise dongle.missing()
        dongle.app = self
        dongle.opened += 1
        if dongle.network is not None:
            self._stored_network = dongle.network
        self.sim_devices = dongle.sims  # the air outlives this application object
        for sim in self.sim_devices.values():
            sim.attach(self._from_device)

    async def disconnect(self) -> None:
        dongle = virtual_dongle.named(self.config["device"]["path"])
        if dongle is not None and dongle.app is self:
            self.dongle_lost()
            dongle.app = None

    def dongle_lost(self) -> None:
        """The named dongle goes away: keep its NVRAM, and its devices stop hearing us."""
        dongle = virtual_dongle.named(self.config["device"]["path"])
        if dongle is not None:
            dongle.network = self._stored_network
        for sim in self.sim_devices.values():
            sim.attach(_nobody_listening)

    async def add_endpoint(self, descriptor: zdo_t.SimpleDescriptor) -> None:
        return None

    async def permit_ncp(self, time_s: int = 60) -> None:
        return None

    async def permit_with_link_key(
        self, node: t.EUI64, link_key: t.KeyData, time_s: int = 60
    ) -> None:
        return None

    async def force_remove(self, dev: zigpy.device.Device) -> None:
        sim = self.sim_devices.pop(dev.nwk, None)
        if sim is not None:
            sim.detach()

    async def reset_network_info(self) -> None:
        self._stored_network = None

    async def load_network_info(self, *, load_devices: bool = False) -> None:
        if self._stored_network is None:
            raise zigpy.exceptions.NetworkNotFormed()
        self.state.network_info, self.state.node_info = self._stored_network

    async def write_network_info(self, *, network_info: Any, node_info: Any) -> None:
        if node_info.ieee == t.EUI64.UNKNOWN:  # form_network: "use the radio's own IEEE"
            node_info = node_info.replace(ieee=self._radio_ieee())
        # A plain int here ends up as "" in zigpy's backup JSON and breaks the next start, and
        # its open coordinator backup calls .serialize() on these: store them typed, as a real
        # NCP's network parameters come back.
        node_info = node_info.replace(nwk=t.NWK(node_info.nwk))
        network_info = network_info.replace(
            pan_id=t.PanId(network_info.pan_id), nwk_manager_id=t.NWK(network_info.nwk_manager_id)
        )
        self._stored_network = (network_info, node_info)

    def _radio_ieee(self) -> t.EUI64:
        configured = self.config.get("virtual_ieee")
        return (
            t.EUI64.convert(configured)
            if configured
            else t.EUI64.convert("00:db:12:34:56:78:90:a2")
        )

    async def start_network(self) -> None:
        await self.load_network_info()
        dev = self.add_device(ieee=self.state.node_info.ieee, nwk=self.state.node_info.nwk)
        dev.node_desc = zdo_t.NodeDescriptor(
            logical_type=zdo_t.LogicalType.Coordinator,
            complex_descriptor_available=0,
            user_descriptor_available=0,
            reserved=0,
            aps_flags=0,
            frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
            mac_capability_flags=(
                zdo_t.NodeDescriptor.MACCapabilityFlags.AllocateAddress
                | zdo_t.NodeDescriptor.MACCapabilityFlags.RxOnWhenIdle
                | zdo_t.NodeDescriptor.MACCapabilityFlags.MainsPowered
                | zdo_t.NodeDescriptor.MACCapabilityFlags.FullFunctionDevice
            ),
            manufacturer_code=0x1234,
            maximum_buffer_size=82,
            maximum_incoming_transfer_size=1500,
            server_mask=0,
            maximum_outgoing_transfer_size=1500,
            descriptor_capability_field=zdo_t.NodeDescriptor.DescriptorCapability.NONE,
        )
        ep = dev.add_endpoint(1)
        ep.status = zigpy.endpoint.Status.ZDO_INIT
        ep.profile_id = 0x0109
        ep.device_type = 0x0500
        dev.model = "Virtual CH"
        dev.manufacturer = "han-agent"
        self.device_initialized(dev)

    # -- the air ----------------------------------------------------------------------------------

    async def send_packet(self, packet: t.ZigbeePacket) -> None:
        self.tx_count += 1
        dst = packet.dst
        if dst.addr_mode == t.AddrMode.NWK:
            targets = [self.sim_devices[dst.address]] if dst.address in self.sim_devices else []
        elif dst.addr_mode == t.AddrMode.IEEE:
            targets = [d for d in self.sim_devices.values() if d.ieee == dst.address]
        else:  # broadcast or group: every device hears it
            for sim in list(self.sim_devices.values()):
                self._deliver(sim, packet, broadcast=True)
            return
        if not targets:
            raise zigpy.exceptions.DeliveryError(f"no route to {dst}")
        if targets[0].ack_delay:
            await asyncio.sleep(targets[0].ack_delay)
        if not targets[0].answering:  # a meter that stopped answering: no APS ack comes back
            raise zigpy.exceptions.DeliveryError(f"no APS acknowledgement from {dst}")
        self._deliver(targets[0], packet, broadcast=False)

    def _deliver(self, sim: SimDevice, packet: t.ZigbeePacket, *, broadcast: bool) -> None:
        try:
            replies = sim.handle(packet)
        except Exception:  # a broken simulated device must not take the coordinator down
            LOGGER.exception("simulated device %s failed on a packet", sim.ieee)
            return
        if broadcast:
            return
        loop = asyncio.get_running_loop()
        for reply in replies:
            loop.call_soon(self.packet_received, reply)

    def attach(self, sim: SimDevice) -> None:
        """A simulated device joins the network and announces itself."""
        self.sim_devices[sim.nwk] = sim
        sim.attach(self._from_device)
        self.handle_join(nwk=sim.nwk, ieee=sim.ieee, parent_nwk=t.NWK(0x0000))

    def _from_device(self, packet: t.ZigbeePacket) -> None:
        asyncio.get_running_loop().call_soon(self.packet_received, packet)


class VirtualRadioApp(SmartEnergyProfileMixin, VirtualAir):
    """A coordinator with no hardware (the mixin first, so it sees every packet either way)."""


def _nobody_listening(packet: t.ZigbeePacket) -> None:
    """A device transmitting while its coordinator's dongle is unplugged: lost on the air."""
