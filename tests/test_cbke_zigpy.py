"""CBKE through zigpy on the virtual radio: the hub's driver sends real Key Establishment cluster
commands (hal/key_establishment_cluster.py) to a simulated ESME that answers with its own
certificate and maths, while the hub's cryptography goes through bellows' EZSP CBKE frames to
the NCP-side library (tests/ezsp_loopback.py: bellows' schemas, no serial link)."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zigpy.device
from ezsp_loopback import LoopbackEzsp

from hal.cbke_driver import BellowsCbkeNcp, establish_link_key
from hal.cbke_math import ecqv
from hal.cbke_math.ncp import CbkeLibrary, EzspCbkeHandlers
from hal.key_establishment import TerminateStatus, Timing
from hal.key_establishment_cluster import CLUSTER_ID
from hal.radio import RadioSettings, open_radio
from hal.sim.esme import SimEsme
from hal.virtual import VirtualRadioApp

METER = bytes.fromhex("00db1234fa000001")
CA = ecqv.TestCa(b"LAB-CA01", ecqv.random_scalar())
COMMANDS = importlib.import_module("bellows.ezsp.v13.commands").COMMANDS
QUICK = Timing(initiate_response=1.0, transit_margin=5.0)


@dataclass
class Lab:
    app: VirtualRadioApp
    hub: bytes
    hub_library: CbkeLibrary
    ezsp: LoopbackEzsp

    async def join(self, esme: SimEsme) -> zigpy.device.Device:
        """The meter joins and zigpy interviews it (its Key Establishment server included)."""
        ready = asyncio.Event()

        class Listener:
            def device_initialized(self, device: zigpy.device.Device) -> None:
                if device.ieee == esme.ieee:
                    ready.set()

        listener = Listener()
        self.app.add_listener(listener)
        self.app.attach(esme)
        async with asyncio.timeout(30):
            await ready.wait()
        self.app.remove_listener(listener)
        return self.app.get_device(ieee=esme.ieee)


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    app = await open_radio(RadioSettings(type="virtual", channel=15), tmp_path)
    assert isinstance(app, VirtualRadioApp)
    hub = bytes(app.state.node_info.ieee)[::-1]
    issued = CA.mint(hub)
    library = CbkeLibrary(issued.certificate, issued.private_key, CA.public_key)
    try:
        yield Lab(app, hub, library, LoopbackEzsp(EzspCbkeHandlers(library, COMMANDS), COMMANDS))
    finally:
        await app.shutdown()


def meter(lab: Lab, issued: ecqv.IssuedKey, ca: ecqv.TestCa = CA, **kwargs: Any) -> SimEsme:
    return SimEsme(
        METER.hex(),
        0x3A01,
        cbke=CbkeLibrary(issued.certificate, issued.private_key, ca.public_key),
        trust_centre=lab.hub,
        **kwargs,
    )


async def test_hub_and_meter_establish_a_link_key_over_zigpy(lab: Lab) -> None:
    esme = meter(lab, CA.mint(METER))
    device = await lab.join(esme)
    assert CLUSTER_ID in device.endpoints[1].in_clusters
    outcome = await establish_link_key(device, BellowsCbkeNcp(lab.ezsp), timing=QUICK)
    assert outcome.ok, outcome.reason
    assert outcome.partner == METER
    assert lab.hub_library.link_keys == {METER: esme.link_key}
    assert lab.ezsp.sent == [
        "getCertificate283k1",
        "generateCbkeKeys283k1",
        "calculateSmacs283k1",
        "clearTemporaryDataMaybeStoreLinkKey283k1",
    ]


@pytest.mark.parametrize(
    ("make", "status", "reason"),
    [
        (
            lambda: (CA.mint(bytes.fromhex("00db1234fa0000ff")), CA),
            TerminateStatus.INVALID_CERTIFICATE,
            "subject 00db1234fa0000ff is not the device 00db1234fa000001",
        ),
        (
            lambda: (lambda ca: (ca.mint(METER), ca))(ecqv.TestCa(b"OTHER-CA", 12345)),
            TerminateStatus.UNKNOWN_ISSUER,
            "UNKNOWN_ISSUER (0x01)",
        ),
        (
            lambda: (lambda ca: (ca.mint(METER), ca))(ecqv.TestCa(CA.issuer, 12345)),
            TerminateStatus.BAD_KEY_CONFIRM,
            "BAD_KEY_CONFIRM (0x02)",
        ),
    ],
    ids=["wrong-subject", "unknown-issuer", "forged-under-our-issuer-id"],
)
async def test_refusals_over_zigpy_leave_no_key(
    lab: Lab, make: Any, status: TerminateStatus, reason: str
) -> None:
    issued, ca = make()
    esme = meter(lab, issued, ca)
    device = await lab.join(esme)
    outcome = await establish_link_key(device, BellowsCbkeNcp(lab.ezsp), timing=QUICK)
    assert not outcome.ok
    assert outcome.status == status and reason in outcome.reason
    assert lab.hub_library.link_keys == {} and esme.link_key is None
    assert lab.ezsp.sent[-1] == "clearTemporaryDataMaybeStoreLinkKey283k1"


async def test_a_bad_confirm_mac_over_zigpy_is_refused_and_terminated(lab: Lab) -> None:
    esme = meter(lab, CA.mint(METER))
    esme.key_establishment.corrupt_confirm = True  # type: ignore[union-attr]
    device = await lab.join(esme)
    outcome = await establish_link_key(device, BellowsCbkeNcp(lab.ezsp), timing=QUICK)
    assert not outcome.ok and outcome.status == TerminateStatus.BAD_KEY_CONFIRM
    assert "confirm MAC does not match" in outcome.reason
    assert lab.hub_library.link_keys == {}
    # The hub's Terminate reached the meter over the air.
    await asyncio.sleep(0)  # the virtual radio delivers on the next loop turn
    outcomes = esme.key_establishment.outcomes  # type: ignore[union-attr]
    assert outcomes[-1].status == TerminateStatus.BAD_KEY_CONFIRM


async def test_a_meter_that_stops_answering_times_out(lab: Lab) -> None:
    esme = meter(lab, CA.mint(METER))
    esme.key_establishment.silent = True  # type: ignore[union-attr]
    device = await lab.join(esme)
    outcome = await establish_link_key(device, BellowsCbkeNcp(lab.ezsp), timing=QUICK)
    assert not outcome.ok and outcome.status is None
    assert outcome.reason == "timed out waiting for Initiate Key Establishment Response"
    assert lab.hub_library.link_keys == {}


async def test_a_device_without_key_establishment_is_said_so(lab: Lab) -> None:
    device = await lab.join(SimEsme(METER.hex(), 0x3A01))
    outcome = await establish_link_key(device, BellowsCbkeNcp(lab.ezsp), timing=QUICK)
    assert not outcome.ok and outcome.reason == "device has no Key Establishment server cluster"
    assert lab.ezsp.sent == []
