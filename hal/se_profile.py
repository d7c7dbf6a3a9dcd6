"""The Smart Energy profile fix every radio of this hub needs.

zigpy 2.4 parses ZCL only for the Home Automation (0x0104) and ZLL profiles and drops anything on
the Smart Energy profile (0x0109) as a custom profile, so a meter's replies, reports and tunnel
data would never reach a cluster. Rewriting the profile of incoming packets to 0x0104 before
zigpy sees them fixes that; outgoing packets keep the endpoint's own profile, so meters still
receive 0x0109 (docs/gbcs-notes.md 8.1, verified on the virtual radio and on bellows).

A meter's GBCS traffic (plain TransferData on the Tunneling cluster) is read by
`hal.tunnel_fast_path` before zigpy's generic ZCL parsing, which costs more than the whole hub.
"""

from __future__ import annotations

from typing import Any

import zigpy.types as t

from hal import tunnel_fast_path

PROFILE_SMART_ENERGY = 0x0109
PROFILE_HOME_AUTOMATION = 0x0104


class SmartEnergyProfileMixin:
    """Put before the ControllerApplication class in the bases."""

    def packet_received(self, packet: t.ZigbeePacket) -> None:
        if packet.profile_id == PROFILE_SMART_ENERGY:
            if tunnel_fast_path.deliver(self, packet):  # type: ignore[arg-type]
                return
            packet = packet.replace(profile_id=PROFILE_HOME_AUTOMATION)
        parent: Any = super()
        parent.packet_received(packet)
