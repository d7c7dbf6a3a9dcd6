"""The NCP side of CBKE behind bellows' EZSP frame schemas, and the hub's bellows adapter
driving it: for an EZSP version with EmberStatus (v13) and one with sl_Status (v14 onwards)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from typing import Any

import bellows.types as bt
import pytest
from ezsp_loopback import LoopbackEzsp

from hal.cbke_driver import BellowsCbkeNcp, NcpCbkeError, cbke_unavailable_reason
from hal.cbke_math import ecqv
from hal.cbke_math.ncp import EZSP_FRAMES, CbkeLibrary, EzspCbkeHandlers

HUB = bytes.fromhex("90b3d51f30010000")
METER = bytes.fromhex("00db1234fa000001")
CA = ecqv.TestCa(b"LAB-CA01", ecqv.random_scalar())


def commands(version: int) -> dict[str, Any]:
    return importlib.import_module(f"bellows.ezsp.v{version}.commands").COMMANDS


@pytest.mark.parametrize(("version", "status_type"), [(13, bt.EmberStatus), (18, bt.sl_Status)])
def test_replies_carry_exactly_bellows_schema_types(version: int, status_type: type) -> None:
    issued = CA.mint(HUB)
    handlers = EzspCbkeHandlers(
        CbkeLibrary(issued.certificate, issued.private_key, CA.public_key), commands(version)
    )
    reply = handlers.handle("getCertificate283k1", {})
    assert isinstance(reply.response["status"], status_type) and reply.response["status"] == 0
    assert isinstance(reply.response["localCert"], bt.EmberCertificate283k1Data)
    assert bytes(reply.response["localCert"]) == issued.certificate
    reply = handlers.handle("generateCbkeKeys283k1", {})
    assert reply.response["status"].name in ("OPERATION_IN_PROGRESS", "IN_PROGRESS")
    [(name, values)] = reply.callbacks
    assert name == "generateCbkeKeysHandler283k1"
    assert isinstance(values["ephemeralPublicKey"], bt.EmberPublicKey283k1Data)
    # Every frame's values serialise with the version's schema, field for field.
    for frame in EZSP_FRAMES:
        assert frame in commands(version)
    with pytest.raises(KeyError, match="not a CBKE frame"):
        handlers.handle("dsaSign", {})


@pytest.mark.parametrize("version", [13, 18])
async def test_the_bellows_adapter_drives_both_ends_to_one_key(version: int) -> None:
    hub_key, meter_key = CA.mint(HUB), CA.mint(METER)
    hub_lib = CbkeLibrary(hub_key.certificate, hub_key.private_key, CA.public_key)
    meter_lib = CbkeLibrary(meter_key.certificate, meter_key.private_key, CA.public_key)
    ezsp = LoopbackEzsp(EzspCbkeHandlers(hub_lib, commands(version)), commands(version))
    ncp = BellowsCbkeNcp(ezsp, callback_timeout=10)
    assert await ncp.get_certificate() == hub_key.certificate
    hub_eph = await ncp.generate_keys()
    meter_eph = meter_lib.generate_keys()
    smacs = await ncp.calculate_smacs(True, meter_key.certificate, meter_eph)
    assert smacs == tuple(
        vars(meter_lib.calculate_smacs(False, hub_key.certificate, hub_eph)).values()
    )
    await ncp.clear_temporary_data(True)
    meter_lib.clear_temporary_data(True)
    assert hub_lib.link_keys[METER] == meter_lib.link_keys[HUB]
    assert ezsp.sent == [
        "getCertificate283k1",
        "generateCbkeKeys283k1",
        "calculateSmacs283k1",
        "clearTemporaryDataMaybeStoreLinkKey283k1",
    ]
    assert ezsp._callbacks == {}  # the adapter removed its callback listeners


async def test_ncp_failures_are_named() -> None:
    hub_key = CA.mint(HUB)
    hub_lib = CbkeLibrary(hub_key.certificate, hub_key.private_key, CA.public_key)
    ezsp = LoopbackEzsp(EzspCbkeHandlers(hub_lib, commands(13)), commands(13))
    ncp = BellowsCbkeNcp(ezsp, callback_timeout=10)
    await ncp.generate_keys()
    with pytest.raises(NcpCbkeError, match="calculateSmacsHandler283k1: ERR_FATAL"):
        await ncp.calculate_smacs(True, hub_key.certificate[:-1] + b"\x00", bytes(37))
    with pytest.raises(NcpCbkeError, match="clearTemporaryDataMaybeStoreLinkKey283k1: ERR_FATAL"):
        await ncp.clear_temporary_data(True)


async def test_an_ncp_without_the_cbke_library_is_reported_once_with_the_reason() -> None:
    class NoCbke:
        async def getCertificate283k1(self) -> list[Any]:
            return [bt.EmberStatus.LIBRARY_NOT_PRESENT, bt.EmberCertificate283k1Data([0] * 74)]

    reason = await cbke_unavailable_reason(BellowsCbkeNcp(NoCbke()))
    assert reason == "no CBKE: getCertificate283k1: LIBRARY_NOT_PRESENT"
    hub_key = CA.mint(HUB)
    lib = CbkeLibrary(hub_key.certificate, hub_key.private_key, CA.public_key)
    ezsp = LoopbackEzsp(EzspCbkeHandlers(lib, commands(13)), commands(13))
    assert await cbke_unavailable_reason(BellowsCbkeNcp(ezsp)) is None


def test_the_hubs_cbke_code_never_imports_the_lab_mathematics() -> None:
    code = (
        "import sys, hal.cbke_driver, hal.key_establishment, hal.key_establishment_cluster, "
        "agent.hub; print(sorted(m for m in sys.modules if m.startswith('hal.cbke_math')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
