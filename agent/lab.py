"""The lab default: simulated meters on the virtual radio and a simulated supplier on the WAN side.

It produces a steady, realistic mix: the supplier sends commands through the hub exactly as the
WAN would (reads, a tariff change, a firmware-version read, a supply-status read, a certificate
read, a supply enable), the ESME answers whatever the hub delivers, and raises alerts of every
family (security, safety, firmware, tamper, integrity, power quality, credit, and a critical
billing-data alert). An IHD reads the hub's Time server, as HAN-local traffic that never goes up.

Counters start at the current time in milliseconds, as DCC Boxed does, so two lab runs never
reuse a dedup id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec

from agent.config import Config, LabConfig
from agent.consent_command import CommandError, public_key_from_b64
from agent.hub import Hub
from gbcs import payloads, signature
from gbcs.frame import Cra, build_frame
from hal.sim.base import SimDevice
from hal.sim.esme import LAB_MAC_KEY, SimEsme
from hal.sim.gsme import SimGsme
from hal.sim.ihd import SimIhd
from hal.sim.ppmid import SimPpmid
from hal.virtual import VirtualRadioApp

if TYPE_CHECKING:
    from hal.ncp_emulator.emulator import NcpEmulator

LOGGER = logging.getLogger(__name__)

# The install code of the lab's simulated devices (the ZigBee spec's example code and CRC).
LAB_INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")


@dataclass(frozen=True)
class LabCommand:
    message_code: int
    critical: bool
    dlms: bool = True


# What a supplier sends day to day (docs/gbcs-notes.md 2.3 for the codes and their GBCS types).
SUPPLIER_COMMANDS = (
    LabCommand(0x0027, critical=False),  # ECS17b read import energy registers (read)
    LabCommand(0x0019, critical=True),  # ECS01a set tariff and price (tariff)
    LabCommand(0x0059, critical=False),  # ECS52 read firmware version (firmware)
    LabCommand(0x0052, critical=False),  # ECS45 read supply switch status (safety)
    LabCommand(0x003A, critical=False),  # ECS24 read tariff data (read)
    LabCommand(0x000C, critical=True, dlms=False),  # CS02e provide device certificates (security)
    LabCommand(0x004F, critical=True),  # ECS42 close load switch: enable supply (safety)
    LabCommand(0x0062, critical=True),  # ECS70 set clock (config, allowed as hub management)
)


@dataclass(frozen=True)
class LabAlert:
    alert_code: int
    message_code: int | None
    critical: bool
    extra: bytes = b""


FIRMWARE_HASH = b"\x09\x20" + bytes(range(32))  # DLMS octet-string of the 32-byte image hash

METER_ALERTS = (
    LabAlert(0x8F3E, None, critical=True),  # unauthorised communication access attempt (security)
    LabAlert(0x8F35, 0x0067, critical=True),  # ECS80 supply outage restored (safety)
    LabAlert(0x8010, None, critical=False),  # over current (power quality)
    LabAlert(0x8F72, 0x00CE, critical=True, extra=FIRMWARE_HASH),  # firmware receipt (firmware)
    LabAlert(0x8F0A, 0x0061, critical=True),  # ECS68 billing data log (critical, billing data)
    LabAlert(0x810D, None, critical=False),  # low credit (prepayment)
    LabAlert(0x8F74, None, critical=True),  # meter cover removed (tamper -> security)
    LabAlert(0x81A0, 0x00F0, critical=False),  # meter integrity issue (fault, not choice)
    LabAlert(0x81BD, None, critical=True),  # supply connect failure (safety)
)


class LabSupplier:
    """A supplier on the WAN side: builds signed and MAC'd commands as DCC traffic looks."""

    def __init__(self, eui64: bytes) -> None:
        self.eui64 = eui64
        self.key = signature.generate_key()
        self.counter = int(time.time() * 1000)

    def command(self, target: bytes, spec: LabCommand) -> bytes:
        self.counter += 1
        payload = payloads.dlms_access_request(self.counter) if spec.dlms else payloads.asn1_null()
        return build_frame(
            cra=Cra.COMMAND,
            counter=self.counter,
            originator=self.eui64,
            recipient=target,
            message_code=spec.message_code,
            payload=payload,
            signer=(lambda data: signature.sign(self.key, data)) if spec.critical else None,
            mac_key=LAB_MAC_KEY,
        )


def first_trusted_key(trust: dict[str, str]) -> ec.EllipticCurvePublicKey | None:
    for key_id in sorted(trust):
        with contextlib.suppress(CommandError):
            return public_key_from_b64(trust[key_id])
    return None


def plug_lab_ncp(config: Config) -> NcpEmulator | None:
    """The lab's emulated EZSP NCP (`[lab] ncp_emulator`), plugged in at `[radio] path` so the
    hub's bellows finds it there; None when the lab runs on the virtual radio. The emulator is
    lab code: it is imported only here, only when asked for."""
    if not config.lab.ncp_emulator:
        return None
    from hal.ncp_emulator.emulator import NcpEmulator

    hub = bytes.fromhex(config.hub_id)
    ncp = NcpEmulator(config.radio.path, eui64=":".join(f"{b:02x}" for b in hub))
    ncp.plug()
    return ncp


JOIN_RETRY = 0.25  # seconds between a simulated device's join attempts on the emulated NCP


async def join_until_admitted(ncp: NcpEmulator, sim: SimDevice, install_code: bytes) -> None:
    """A device with its install code keeps trying to join, as a real one does, until the trust
    centre admits it (the hub opens its key window when the device log lists it)."""
    while (decision := ncp.attach(sim, install_code)) != "joined":
        LOGGER.debug("lab: %s not joined yet: %s", sim.ieee, decision)
        await asyncio.sleep(JOIN_RETRY)


SIMULATED = {"esme": SimEsme, "gsme": SimGsme, "ppmid": SimPpmid, "ihd": SimIhd}
"""The device kinds the lab simulates, by the name scenarios use."""

# Network addresses: the first ESME and IHD keep the lab's historical ones (a state dir from an
# earlier run has them there); every further device gets one in its kind's block.
FIRST_NWK = {"esme": 0x1A01, "ihd": 0x1A05}
NWK_BLOCK = {"esme": 0x2000, "gsme": 0x3000, "ppmid": 0x4000, "ihd": 0x5000}


def make_sim(kind: str, eui64: bytes, index: int) -> SimDevice:
    """The `index`-th (from 0) simulated device of `kind` in a lab."""
    nwk = FIRST_NWK[kind] if index == 0 and kind in FIRST_NWK else NWK_BLOCK[kind] + index + 1
    cls = SIMULATED[kind]
    if issubclass(cls, SimEsme):  # a GBCS end point: its alert counters start at now, in ms
        return cls(eui64, nwk, first_alert_counter=int(time.time() * 1000) + index * 100_000)
    return cls(eui64, nwk)


class Lab:
    """The hub's simulated HAN devices and the supplier that sends them commands.

    By default one ESME and one IHD from [lab]; `sims` gives any mix of simulated devices
    (make_sim) instead, as a scenario's [[devices]] do."""

    def __init__(
        self,
        hub: Hub,
        config: LabConfig,
        sims: list[SimDevice] | None = None,
        *,
        ncp: NcpEmulator | None = None,
    ) -> None:
        self.hub = hub
        self.config = config
        self.ncp = ncp  # the emulated NCP carrying the devices, or None: the virtual radio
        if sims is None:
            sims = [
                make_sim("esme", bytes.fromhex(config.esme), 0),
                make_sim("ihd", bytes.fromhex(config.ihd), 0),
            ]
        self.sims = sims
        trusted = first_trusted_key(hub.consent_service.state.trust)
        for sim in sims:
            if isinstance(sim, SimEsme):
                # A meter holds the Supplier key as a real one does: the first key the hub trusts.
                sim.ota.supplier_key = trusted
        self.supplier = LabSupplier(bytes.fromhex(config.supplier))
        self._tasks: list[asyncio.Task[None]] = []
        self._request_ids = itertools.count(1)

    @property
    def esme(self) -> SimEsme:
        """The first simulated ESME (the lab default's meter)."""
        for sim in self.sims:
            if sim.kind == "esme" and isinstance(sim, SimEsme):
                return sim
        raise LookupError("this lab has no simulated ESME")

    @property
    def ihd(self) -> SimIhd:
        """The first simulated IHD."""
        for sim in self.sims:
            if isinstance(sim, SimIhd):
                return sim
        raise LookupError("this lab has no simulated IHD")

    def ready(self, sim: SimDevice) -> bool:
        """Joined and able to carry GBCS: the hub's tunnel open to a tunnel server (ESME,
        PPMID), a GSME's own tunnel to the hub open; an IHD once the hub has interviewed it."""
        router = self.hub.router
        if router is None:
            return False
        if isinstance(sim, SimGsme):
            return sim.tunnel_id is not None
        if isinstance(sim, SimEsme):
            event = router.tunnel_ready.get(sim.eui64)
            return event is not None and event.is_set()
        return sim.eui64 in router.devices

    async def start(self, *, traffic: bool = True, join_timeout: float = 30.0) -> None:
        """Attach every device and wait until each is ready(); TimeoutError if one is not
        within `join_timeout` seconds (`waiting()` says which)."""
        app = self.hub.app
        router = self.hub.router
        if router is None or (self.ncp is None and not isinstance(app, VirtualRadioApp)):
            raise RuntimeError(
                "the lab's simulated devices need the virtual radio or [lab] ncp_emulator"
            )
        for sim in self.sims:
            self.hub.device_log.provision(sim.eui64, LAB_INSTALL_CODE)  # installed with the hub
        loop = asyncio.get_running_loop()
        asked: dict[bytes, float] = {}
        async with asyncio.timeout(join_timeout):
            for sim in self.sims:
                if self.ncp is not None:
                    await join_until_admitted(self.ncp, sim, LAB_INSTALL_CODE)
                else:
                    assert isinstance(app, VirtualRadioApp)
                    app.attach(sim)
            while waiting := self.waiting():
                for sim in waiting:
                    # A GSME opens its tunnel itself once the hub knows it as one, and asks
                    # again now and then as a real one does if no answer came.
                    if (
                        isinstance(sim, SimGsme)
                        and self.hub.gsme.is_gsme(sim.eui64)
                        and loop.time() - asked.get(sim.eui64, -10.0) > 3.0
                    ):
                        sim.request_tunnel()
                        asked[sim.eui64] = loop.time()
                await asyncio.sleep(0.05)
        if traffic:
            loop = asyncio.get_running_loop()
            self._tasks = [
                loop.create_task(self._commands()),
                loop.create_task(self._alerts()),
                loop.create_task(self._ihd()),
            ]

    def waiting(self) -> list[SimDevice]:
        return [sim for sim in self.sims if not self.ready(sim)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def send_command(self, spec: LabCommand, target: bytes | None = None) -> str:
        """The supplier's command to `target` (default: the lab ESME) through the hub."""
        request_id = f"lab-{next(self._request_ids)}"
        device = self.esme.eui64 if target is None else target
        frame = self.supplier.command(device, spec)
        result = await self.hub.command_from_wan(request_id, device, frame)
        return result.status

    def raise_alert(self, spec: LabAlert) -> bytes:
        return self.esme.raise_alert(
            spec.alert_code,
            message_code=spec.message_code,
            critical=spec.critical,
            extra=spec.extra,
        )

    async def _commands(self) -> None:
        for spec in itertools.cycle(SUPPLIER_COMMANDS):
            await asyncio.sleep(self.config.command_interval)
            await self.send_command(spec)

    async def _alerts(self) -> None:
        for spec in itertools.cycle(METER_ALERTS):
            await asyncio.sleep(self.config.alert_interval)
            self.raise_alert(spec)

    async def _ihd(self) -> None:
        while True:
            await asyncio.sleep(max(self.config.command_interval, self.config.alert_interval) * 3)
            self.ihd.read_time()
