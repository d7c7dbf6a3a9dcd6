"""The largest APS payload an EmberZNet NCP sends in one (unfragmented) frame, and why.

EmberZNet's `emberMaximumApsPayloadLength()` (EZSP `maximumPayloadLength`, UG100) "returns the
maximum size of the payload that the Application Support sub-layer will accept", which "depends
on the security level in use"; a larger `sendUnicast` is refused with EMBER_MESSAGE_TOO_LONG
(0x74) and the host must fragment. The figure is what is left of one IEEE 802.15.4 frame after
the headers of a Zigbee PRO unicast (field sizes from IEEE 802.15.4-2006 7.2 and the Zigbee PRO
specification 05-3474, 3.3 NWK and 2.2.5 APS frame formats, 4.5 security auxiliary header):

    aMaxPHYPacketSize                                  127
    MAC header: frame control 2, sequence 1, PAN id 2
      (PAN id compression), short destination 2,
      short source 2                                    -9
    MAC footer (FCS)                                    -2
    NWK header: frame control 2, destination 2,
      source 2, radius 1, sequence 1                    -8
    NWK security: auxiliary header (security control
      1, frame counter 4, source IEEE 8, key sequence
      1) 14, MIC 4                                     -18
    APS header (unicast data): frame control 1,
      destination endpoint 1, cluster 2, profile 2,
      source endpoint 1, APS counter 1                  -8
    = the APS payload of an NWK-secured unicast         82

The 82 is the value EmberZNet NCPs report for `maximumPayloadLength` with standard (NWK)
security. APS encryption (a link-key-encrypted Tunneling frame) adds an APS auxiliary header
(security control 1, frame counter 4) and a 4-byte MIC: 82 - 9 = 73. A source-routed unicast
carries a NWK source-route subframe of relay count 1, relay index 1 and 2 bytes per relay. A
fragment carries the APS extended header (extended frame control 1, block number 1), so each
block holds 2 bytes less than the unfragmented maximum.
"""

from __future__ import annotations

MAX_APS_PAYLOAD = 82
APS_SECURITY_OVERHEAD = 9  # APS auxiliary header 5 + MIC 4
APS_EXTENDED_HEADER = 2  # extended frame control + block number, in every fragment


def max_aps_payload(*, aps_encrypted: bool = False, relays: int | None = None) -> int:
    """The largest unfragmented APS payload for a unicast sent with these options."""
    size = MAX_APS_PAYLOAD
    if aps_encrypted:
        size -= APS_SECURITY_OVERHEAD
    if relays is not None:
        size -= 2 + 2 * relays
    return size


def max_fragment_payload(*, aps_encrypted: bool = False, relays: int | None = None) -> int:
    """The largest payload of one APS fragment (block) with these options."""
    return max_aps_payload(aps_encrypted=aps_encrypted, relays=relays) - APS_EXTENDED_HEADER
