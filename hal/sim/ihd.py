"""A simulated In-Home Display (IHD): a Type 2 device that joins the HAN and reads the time.

It shows what HAN-local traffic looks like to the hub: ZCL between devices and the CH's Time
server, never GBCS and never upstream, in either consent mode.
"""

from __future__ import annotations

from zigpy.zcl import foundation

from hal.sim.base import SimDevice

TIME_CLUSTER = 0x000A


class SimIhd(SimDevice):
    kind = "ihd"
    device_type = 0x0507  # In-Home Display
    input_clusters = (0x0000, 0x0003)
    output_clusters = (0x000A, 0x0700, 0x0702, 0x0703, 0x0019)
    mains_powered = True

    def read_time(self) -> None:
        """Ask the hub's Time server for the time, as an IHD does every few minutes."""
        schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema
        hdr = foundation.ZCLHeader.general(
            self.next_tsn(), foundation.GeneralCommand.Read_Attributes
        )
        self.send(
            self.zcl_packet(TIME_CLUSTER, hdr, schema(attribute_ids=[0x0000, 0x0001]).serialize())
        )
