"""The EZSP radio: a Silicon Labs EFR32 dongle through bellows, with the Smart Energy fix.

The hub's own endpoint 1 is registered on the NCP as a Smart Energy (0x0109) Communications Hub
endpoint, in place of the Home Automation IAS endpoint bellows registers there by default: meters
address the CHF on the SE profile, zigpy answers from the endpoint it was addressed on, and the
virtual radio's coordinator has the same endpoint. bellows needs an endpoint 1 to exist (its group
handling lives there); the Green Power endpoint is kept because zigpy's GP support expects it, and
the ZLL endpoint is dropped (nothing on a GB HAN speaks ZLL).

bellows' serial connect is made safe to cancel here too (see `_uart_connect_to_its_end`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import bellows.uart
import zigpy.profiles.zgp
import zigpy.zdo.types as zdo_t
import zigpy.zgp.types
from bellows.zigbee.application import ControllerApplication as BellowsApplication
from zigpy.zcl.clusters.general import GreenPowerProxy

from hal.se_profile import SmartEnergyProfileMixin

HUB_ENDPOINT_ID = 1
PROFILE_SMART_ENERGY = 0x0109
DEVICE_TYPE_ESP = 0x0500  # Energy Service Portal: the role a GB CH plays on the HAN
HUB_INPUT_CLUSTERS = (0x0000, 0x000A, 0x0019, 0x0700, 0x0703, 0x0704, 0x0800)
HUB_OUTPUT_CLUSTERS = (0x0702, 0x0704, 0x0800)

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
