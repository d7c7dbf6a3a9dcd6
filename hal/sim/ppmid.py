"""A simulated Prepayment Meter Interface Device (PPMID).

What a real PPMID does on a GB HAN: it is the consumer's prepayment keypad and display, a
mains-powered, non-sleepy device. It reads the ESME and GSME directly over the Smart Energy
clusters (Metering, Prepayment, Price) to show balance and debt, and passes the consumer's
top-ups and emergency-credit requests to the meters (PCS01/PCS02 0x009B/0x0090 to a GSME,
relayed inside the HAN and never sent to the WAN; PECS01-03 to an ESME). Towards the WAN it is a
GBCS end point like a meter and, like the ESME, the tunnel *server* (docs/gbcs-notes.md 5.2): the
CHF requests a tunnel to it with protocol id 6 and GBCS rides TransferData bare. The DCC reaches
it with few commands: CS08 (0x0129, Read PPMID/HCALCS Firmware Version, category firmware) and
the firmware path; the PPMID raises CS09 (0x012B, PPMID Firmware Activation Alert, critical and
signed, alert code 0x8F8B) when it starts running a new image.

What the sim covers: it joins, is interviewed as a ZSE Prepayment Terminal (device id 0x0507),
takes the hub's tunnel, answers CS08 with its running firmware version (and any other GBCS
command addressed to it with the generic success answer of the ESME), raises CS09 through
`activate_firmware`, and can raise any other alert. Its alerts carry a GBZ payload, as ZSE
devices frame theirs (the ESME's are DLMS). Responses to critical commands and critical alerts
are signed with its key, everything else is MAC'd with the lab key, as the ESME does.

Not covered: the ZSE client side (it does not read the meters) and PCS01/PCS02 towards the GSME,
which the hub does not relay (docs/architecture.md).
"""

from __future__ import annotations

import zigpy.types as t

from gbcs import payloads
from gbcs.frame import Frame
from hal.sim.esme import SimEsme
from hal.tunneling import CLUSTER_ID as TUNNELING

CS08_READ_FIRMWARE_VERSION = 0x0129
CS09_FIRMWARE_ACTIVATION_ALERT = 0x012B
ALERT_FIRMWARE_VERSION = 0x8F8B  # "Read Firmware version alert", the alert CS09 carries
PREPAYMENT_TERMINAL = 0x0507  # ZSE device id of a prepayment terminal


class SimPpmid(SimEsme):
    kind = "ppmid"
    device_type = PREPAYMENT_TERMINAL
    # Server: Basic, Identify and Tunneling (the hub opens the tunnel). Client: Time, OTA and the
    # Smart Energy clusters it reads the meters with (Price, Metering, Messaging, Prepayment).
    input_clusters = (0x0000, 0x0003, TUNNELING)
    output_clusters = (0x000A, 0x0019, 0x0700, 0x0702, 0x0703, 0x0705)
    mains_powered = True

    @property
    def firmware_version(self) -> int:
        return int(self.attributes[(0x0019, 0x0002)][1])

    def _response_payload(self, command: Frame) -> bytes:
        if command.message_code == CS08_READ_FIRMWARE_VERSION:
            # The lab's CS08 answer: an ASN.1 OCTET STRING of the running version (4 bytes).
            return b"\x04\x04" + self.firmware_version.to_bytes(4, "big")
        return super()._response_payload(command)

    def alert_payload(self, counter: int, alert_code: int, extra: bytes) -> bytes:
        """A ZSE device's alert body: GBZ, alert code, time, then one component if any."""
        del counter  # a GBZ alert has no invoke id
        return payloads.gbz_alert(alert_code, self.clock(), extra)

    def activate_firmware(self, file_version: int) -> bytes:
        """Start running a new image and say so to the hub: CS09, critical and signed, alert
        0x8F8B, with the new version as its component. Returns the frame sent."""
        self.attributes[(0x0019, 0x0002)] = (0x23, t.uint32_t(file_version))
        return self.raise_alert(
            ALERT_FIRMWARE_VERSION,
            message_code=CS09_FIRMWARE_ACTIVATION_ALERT,
            critical=True,
            extra=file_version.to_bytes(4, "big"),
        )
