"""The Smart Energy profile fix every radio of this hub needs.

zigpy 2.4 parses ZCL only for the Home Automation (0x0104) and ZLL profiles and drops anything on
the Smart Energy profile (0x0109) as a custom profile, so a meter's replies, reports and tunnel
data would never reach a cluster. Rewriting the profile of incoming packets to 0x0104 before
zigpy sees them fixes that; outgoing packets keep the endpoint's own profile, so meters still
receive 0x0109 (docs/gbcs-notes.md 8.1, verified on the virtual radio and on bellows).

A meter's GBCS traffic (plain TransferData on the Tunneling cluster) is read by
`hal.tunnel_fast_path` before zigpy's generic ZCL parsing, which costs more than the whole hub.

Every packet the radio receives or sends passes here first, whatever the radio, so this is where
a `PacketTap` (the agent's HAN capture) sees the HAN: received packets before anything else
looks at them (with the profile the meter used), sent ones as they go and when the radio has
taken them or refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import zigpy.types as t

from hal import tunnel_fast_path

PROFILE_SMART_ENERGY = 0x0109
PROFILE_HOME_AUTOMATION = 0x0104


class PacketTap(Protocol):
    """Sees every packet; must not raise, block, or keep the packet (it is zigpy's)."""

    def received(self, app: Any, packet: t.ZigbeePacket) -> None: ...

    def sending(self, app: Any, packet: t.ZigbeePacket) -> Callable[[BaseException | None], None]:
        """Called before the radio sends; the callable gets the send's error, or None."""
        ...


class SmartEnergyProfileMixin:
    """Put before the ControllerApplication class in the bases."""

    packet_tap: PacketTap | None = None

    def packet_received(self, packet: t.ZigbeePacket) -> None:
        if self.packet_tap is not None:
            self.packet_tap.received(self, packet)
        if packet.profile_id == PROFILE_SMART_ENERGY:
            if tunnel_fast_path.deliver(self, packet):  # type: ignore[arg-type]
                return
            packet = packet.replace(profile_id=PROFILE_HOME_AUTOMATION)
        parent: Any = super()
        parent.packet_received(packet)

    async def send_packet(self, packet: t.ZigbeePacket) -> None:
        parent: Any = super()
        if self.packet_tap is None:
            await parent.send_packet(packet)
            return
        sent = self.packet_tap.sending(self, packet)
        try:
            await parent.send_packet(packet)
        except BaseException as exc:
            sent(exc)
            raise
        sent(None)
