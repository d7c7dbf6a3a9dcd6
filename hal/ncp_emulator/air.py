"""The emulated NCP's air: simulated HAN devices (hal/sim) and the APS frames between them.

A simulated device speaks zigpy packets (`SimDevice.handle` answers one, `SimDevice.send` speaks
first), exactly as on the virtual radio (hal/virtual.py). On the NCP those packets travel as
EZSP's (EmberApsFrame, payload) pairs: `packet_from_unicast` is the inverse of bellows'
`send_packet` (how the host turned a zigpy packet into sendUnicast), and `incoming_from_packet`
the inverse of bellows' `_handle_frame` (how the host turns incomingMessageHandler back into a
zigpy packet), so what reaches the device and what reaches the host is what the virtual radio
delivers, having crossed ASH, EZSP and bellows on the way.

A payload larger than one APS frame is sent by the device as APS fragments, as a real meter's
stack does: incomingMessageHandler with the fragment option and the block count and number in
the group id field, which is where EmberZNet's host fragmentation library (and bellows'
FragmentManager) reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import bellows.types as t
import zigpy.types as zt
import zigpy.zdo.types as zdo_t

from hal.ncp_emulator.limits import max_aps_payload, max_fragment_payload

NO_INDEX = 0xFF  # incomingMessageHandler's binding and address index: "not in a table"


def packet_from_unicast(
    coordinator: zt.NWK, destination: int, aps: t.EmberApsFrame, data: bytes
) -> zt.ZigbeePacket:
    """What a device hears for a sendUnicast: the host's zigpy packet, rebuilt."""
    options = zt.TransmitOptions.NONE
    if t.EmberApsOption.APS_OPTION_ENCRYPTION in aps.options:
        options |= zt.TransmitOptions.APS_Encryption
    if t.EmberApsOption.APS_OPTION_RETRY in aps.options:
        options |= zt.TransmitOptions.ACK
    return zt.ZigbeePacket(
        src=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=coordinator),
        src_ep=int(aps.sourceEndpoint),
        dst=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=zt.NWK(destination)),
        dst_ep=int(aps.destinationEndpoint),
        tsn=int(aps.sequence),
        profile_id=int(aps.profileId),
        cluster_id=int(aps.clusterId),
        data=zt.SerializableBytes(data),
        tx_options=options,
    )


def packet_from_broadcast(
    coordinator: zt.NWK, destination: int, aps: t.EmberApsFrame, data: bytes
) -> zt.ZigbeePacket:
    return packet_from_unicast(coordinator, 0, aps, data).replace(
        dst=zt.AddrModeAddress(
            addr_mode=zt.AddrMode.Broadcast, address=zt.BroadcastAddress(destination)
        )
    )


@dataclass(frozen=True)
class Incoming:
    """One incomingMessageHandler callback's fields."""

    message_type: t.EmberIncomingMessageType
    aps: t.EmberApsFrame
    lqi: int
    rssi: int
    sender: int
    data: bytes

    def fields(self) -> dict[str, object]:
        return {
            "type": self.message_type,
            "apsFrame": self.aps,
            "lastHopLqi": self.lqi,
            "lastHopRssi": self.rssi,
            "sender": t.EmberNodeId(self.sender),
            "bindingIndex": NO_INDEX,
            "addressIndex": NO_INDEX,
            "messageContents": t.LVBytes(self.data),
        }


def incoming_from_packet(packet: zt.ZigbeePacket) -> list[Incoming]:
    """What the NCP hands the host for a device's packet: one callback, or one per fragment."""
    broadcast = packet.dst.addr_mode == zt.AddrMode.Broadcast or (
        packet.profile_id == 0 and packet.cluster_id == zdo_t.ZDOCmd.Device_annce
    )  # a device announce goes to all rx-on-when-idle devices (0xFFFD)
    message_type = (
        t.EmberIncomingMessageType.INCOMING_BROADCAST
        if broadcast
        else t.EmberIncomingMessageType.INCOMING_UNICAST
    )
    options = t.EmberApsOption.APS_OPTION_NONE
    encrypted = zt.TransmitOptions.APS_Encryption in packet.tx_options
    if encrypted:
        options |= t.EmberApsOption.APS_OPTION_ENCRYPTION
    aps = t.EmberApsFrame(
        profileId=packet.profile_id,
        clusterId=packet.cluster_id,
        sourceEndpoint=packet.src_ep,
        destinationEndpoint=packet.dst_ep or 0,
        options=options,
        groupId=0,
        sequence=packet.tsn,
    )
    data = packet.data.serialize()
    lqi = packet.lqi if packet.lqi is not None else 255
    rssi = packet.rssi if packet.rssi is not None else -40
    src = int(packet.src.address)
    if broadcast or len(data) <= max_aps_payload(aps_encrypted=encrypted):
        return [Incoming(message_type, aps, lqi, rssi, src, data)]
    block = max_fragment_payload(aps_encrypted=encrypted)
    blocks = [data[i : i + block] for i in range(0, len(data), block)]
    return [
        Incoming(
            message_type,
            aps.replace(
                options=options | t.EmberApsOption.APS_OPTION_FRAGMENT,
                groupId=(len(blocks) << 8) | index,
            ),
            lqi,
            rssi,
            src,
            chunk,
        )
        for index, chunk in enumerate(blocks)
    ]
