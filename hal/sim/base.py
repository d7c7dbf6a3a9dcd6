"""A simulated Zigbee device that answers the coordinator as a real one would.

It speaks with zigpy's own types: ZDO replies are serialised with `zigpy.zdo.types.CLUSTERS`,
ZCL frames with `zigpy.zcl.foundation` headers and the cluster classes' command schemas. What the
hub's zigpy receives from it is therefore byte-for-byte what it would receive over the air, and
zigpy's interview, ZCL parsing and device database run unchanged.

A device answers synchronously (`handle` returns reply packets, which the virtual radio delivers
on the next loop turn, like replies arriving over the air) and can speak first through `send`,
which the radio wires to the coordinator's receive path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.zcl import foundation

LOGGER = logging.getLogger(__name__)

PROFILE_SMART_ENERGY = 0x0109
COORDINATOR_NWK = t.NWK(0x0000)

Sender = Callable[[t.ZigbeePacket], None]


class SimDevice:
    """One simulated HAN device with a single Smart Energy endpoint."""

    kind = "device"
    device_type = 0x0500
    input_clusters: tuple[int, ...] = (0x0000, 0x0003)
    output_clusters: tuple[int, ...] = (0x000A, 0x0019)
    mains_powered = True

    def __init__(
        self,
        ieee: str | bytes,
        nwk: int,
        *,
        manufacturer: str = "GBCS Lab",
        model: str | None = None,
        endpoint: int = 1,
        firmware_version: int = 0x00010001,
    ) -> None:
        self.ieee = t.EUI64.convert(ieee) if isinstance(ieee, str) else t.EUI64(ieee[::-1])
        self.nwk = t.NWK(nwk)
        self.endpoint = endpoint
        self.manufacturer = manufacturer
        self.model = model or f"Sim-{self.kind.upper()}"
        self._tsn = 0
        self._send: Sender | None = None
        self.answering = True  # False: the device is on the log but no longer acknowledges
        # Seconds its APS acknowledgement takes (airtime, a router's hops, a busy meter); a real
        # NCP waits seconds for one before giving up.
        self.ack_delay = 0.0
        self.attributes: dict[tuple[int, int], tuple[int, Any]] = {
            (0x0000, 0x0004): (0x42, t.CharacterString(self.manufacturer)),
            (0x0000, 0x0005): (0x42, t.CharacterString(self.model)),
            (0x0000, 0x0011): (0x30, t.enum8(0x01)),  # Physical Environment, GBCS 10.2.2
            (0x0019, 0x0002): (0x23, t.uint32_t(firmware_version)),  # OTA current file version
        }

    @property
    def eui64(self) -> bytes:
        """The EUI-64 as GBCS writes it: most significant byte first."""
        return bytes(self.ieee[::-1])

    # -- wiring ---------------------------------------------------------------------------------

    def attach(self, send: Sender) -> None:
        self._send = send

    def detach(self) -> None:
        self._send = None

    def send(self, packet: t.ZigbeePacket) -> None:
        if self._send is None:
            raise RuntimeError(f"{self.model} {self.ieee} is not on a network")
        self._send(packet)

    def next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) & 0xFF
        return self._tsn

    # -- receive ---------------------------------------------------------------------------------

    def handle(self, packet: t.ZigbeePacket) -> list[t.ZigbeePacket]:
        """Answer one packet from the coordinator; returns the replies."""
        if packet.dst_ep == 0:
            return self._handle_zdo(packet)
        data = packet.data.serialize()
        hdr, payload = foundation.ZCLHeader.deserialize(data)
        replies: list[t.ZigbeePacket] = []
        if hdr.frame_control.frame_type == foundation.FrameType.GLOBAL_COMMAND:
            replies.extend(self._handle_general(packet, hdr, payload))
        else:
            handled = self.handle_cluster_command(packet, hdr, payload)
            replies.extend(handled)
            if not handled and not hdr.frame_control.disable_default_response:
                replies.append(self._default_response(packet, hdr, foundation.Status.SUCCESS))
        return replies

    def handle_cluster_command(
        self, packet: t.ZigbeePacket, hdr: foundation.ZCLHeader, payload: bytes
    ) -> list[t.ZigbeePacket]:
        """Cluster-specific commands; subclasses answer theirs."""
        return []

    # -- ZDO -------------------------------------------------------------------------------------

    def device_annce(self) -> t.ZigbeePacket:
        capability = 0x8E if self.mains_powered else 0x80
        return self._zdo_packet(
            zdo_t.ZDOCmd.Device_annce, self.next_tsn(), [self.nwk, self.ieee, capability]
        )

    def simple_descriptor(self) -> zdo_t.SimpleDescriptor:
        return zdo_t.SimpleDescriptor(
            endpoint=self.endpoint,
            profile=PROFILE_SMART_ENERGY,
            device_type=self.device_type,
            device_version=1,
            input_clusters=list(self.input_clusters),
            output_clusters=list(self.output_clusters),
        )

    def node_descriptor(self) -> zdo_t.NodeDescriptor:
        flags = zdo_t.NodeDescriptor.MACCapabilityFlags.AllocateAddress
        if self.mains_powered:
            flags |= (
                zdo_t.NodeDescriptor.MACCapabilityFlags.MainsPowered
                | zdo_t.NodeDescriptor.MACCapabilityFlags.RxOnWhenIdle
                | zdo_t.NodeDescriptor.MACCapabilityFlags.FullFunctionDevice
            )
        return zdo_t.NodeDescriptor(
            logical_type=(
                zdo_t.LogicalType.Router if self.mains_powered else zdo_t.LogicalType.EndDevice
            ),
            complex_descriptor_available=0,
            user_descriptor_available=0,
            reserved=0,
            aps_flags=0,
            frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
            mac_capability_flags=flags,
            manufacturer_code=0x1234,
            maximum_buffer_size=82,
            maximum_incoming_transfer_size=1500,
            server_mask=0,
            maximum_outgoing_transfer_size=1500,
            descriptor_capability_field=zdo_t.NodeDescriptor.DescriptorCapability.NONE,
        )

    def _handle_zdo(self, packet: t.ZigbeePacket) -> list[t.ZigbeePacket]:
        data = packet.data.serialize()
        tsn = data[0]
        cmd = zdo_t.ZDOCmd(packet.cluster_id)
        ok = zdo_t.Status.SUCCESS
        if cmd == zdo_t.ZDOCmd.Node_Desc_req:
            rsp = (zdo_t.ZDOCmd.Node_Desc_rsp, [ok, self.nwk, self.node_descriptor()])
        elif cmd == zdo_t.ZDOCmd.Active_EP_req:
            rsp = (zdo_t.ZDOCmd.Active_EP_rsp, [ok, self.nwk, [self.endpoint]])
        elif cmd == zdo_t.ZDOCmd.Simple_Desc_req:
            sd = zdo_t.SizePrefixedSimpleDescriptor(**self.simple_descriptor().as_dict())
            rsp = (zdo_t.ZDOCmd.Simple_Desc_rsp, [ok, self.nwk, sd])
        elif cmd == zdo_t.ZDOCmd.Bind_req:
            rsp = (zdo_t.ZDOCmd.Bind_rsp, [ok])
        elif cmd == zdo_t.ZDOCmd.Mgmt_Leave_req:
            rsp = (zdo_t.ZDOCmd.Mgmt_Leave_rsp, [ok])
        else:
            LOGGER.debug("%s: ZDO %s not answered", self.model, cmd)
            return []
        return [self._zdo_packet(rsp[0], tsn, rsp[1])]

    def _zdo_packet(self, cmd: zdo_t.ZDOCmd, tsn: int, args: list[Any]) -> t.ZigbeePacket:
        _names, types = zdo_t.CLUSTERS[cmd]
        body = t.serialize(args, types)
        return t.ZigbeePacket(
            src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=self.nwk),
            src_ep=0,
            dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=COORDINATOR_NWK),
            dst_ep=0,
            tsn=tsn,
            profile_id=0x0000,
            cluster_id=cmd,
            data=t.SerializableBytes(bytes([tsn]) + body),
        )

    # -- ZCL -------------------------------------------------------------------------------------

    def _handle_general(
        self, packet: t.ZigbeePacket, hdr: foundation.ZCLHeader, payload: bytes
    ) -> list[t.ZigbeePacket]:
        if hdr.command_id == foundation.GeneralCommand.Read_Attributes:
            schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema
            request, _ = schema.deserialize(payload)
            records = []
            for attrid in request.attribute_ids:
                known = self.attributes.get((packet.cluster_id, attrid))
                if known is None:
                    records.append(
                        foundation.ReadAttributeRecord(
                            attrid=attrid, status=foundation.Status.UNSUPPORTED_ATTRIBUTE
                        )
                    )
                else:
                    records.append(
                        foundation.ReadAttributeRecord(
                            attrid=attrid,
                            status=foundation.Status.SUCCESS,
                            value=foundation.TypeValue(type=known[0], value=known[1]),
                        )
                    )
            rsp_schema = foundation.GENERAL_COMMANDS[
                foundation.GeneralCommand.Read_Attributes_rsp
            ].schema
            return [
                self.zcl_packet(
                    packet.cluster_id,
                    foundation.ZCLHeader.general(
                        hdr.tsn,
                        foundation.GeneralCommand.Read_Attributes_rsp,
                        direction=_reply_direction(hdr),
                    ),
                    rsp_schema(status_records=records).serialize(),
                )
            ]
        if hdr.command_id == foundation.GeneralCommand.Default_Response:
            return []
        if hdr.frame_control.disable_default_response:
            return []
        return [self._default_response(packet, hdr, foundation.Status.UNSUP_GENERAL_COMMAND)]

    def _default_response(
        self, packet: t.ZigbeePacket, hdr: foundation.ZCLHeader, status: foundation.Status
    ) -> t.ZigbeePacket:
        schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response].schema
        return self.zcl_packet(
            packet.cluster_id,
            foundation.ZCLHeader.general(
                hdr.tsn, foundation.GeneralCommand.Default_Response, direction=_reply_direction(hdr)
            ),
            schema(command_id=hdr.command_id, status=status).serialize(),
        )

    def zcl_packet(
        self, cluster_id: int, hdr: foundation.ZCLHeader, payload: bytes
    ) -> t.ZigbeePacket:
        return t.ZigbeePacket(
            src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=self.nwk),
            src_ep=self.endpoint,
            dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=COORDINATOR_NWK),
            dst_ep=1,
            tsn=hdr.tsn,
            profile_id=PROFILE_SMART_ENERGY,
            cluster_id=cluster_id,
            data=t.SerializableBytes(hdr.serialize() + payload),
            lqi=200,
            rssi=-50,
        )

    def cluster_command_packet(
        self,
        cluster_id: int,
        command_id: int,
        args: Mapping[str, Any],
        schema: Any,
        *,
        direction: foundation.Direction,
        tsn: int | None = None,
    ) -> t.ZigbeePacket:
        hdr = foundation.ZCLHeader.cluster(
            self.next_tsn() if tsn is None else tsn, command_id, direction=direction
        )
        return self.zcl_packet(cluster_id, hdr, schema(**args).serialize())


def _reply_direction(hdr: foundation.ZCLHeader) -> foundation.Direction:
    """A reply travels the other way from the request it answers."""
    if hdr.direction == foundation.Direction.Server_to_Client:
        return foundation.Direction.Client_to_Server
    return foundation.Direction.Server_to_Client
