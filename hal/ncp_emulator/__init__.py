"""An EmberZNet NCP emulated on a pty, for the lab and tests: real bellows runs against it.

Lab code: the production modules never import this package; the lab (agent/lab.py), the
`han-agent ncp-emulator` command and tests do. See docs/architecture.md ("The emulated NCP").

    link.py         ASH on the NCP side (bellows' own AshProtocol) over a raw pty
    ezsp_server.py  EZSP frames (bellows' v13 command table), handler registry, command counts
    firmware.py     the stack: NVRAM, configuration, keys, joins, sendUnicast and the air
    air.py          simulated devices' zigpy packets <-> EZSP APS frames and callbacks
    limits.py       the unfragmented APS payload limit and where it comes from
    emulator.py     NcpEmulator: plug, unplug, attach a device
"""
