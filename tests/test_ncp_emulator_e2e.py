"""The whole hub through real bellows against the emulated EZSP NCP (hal/ncp_emulator).

Real mosquitto on loopback, real zigpy and bellows: bellows speaks ASH over a pty to the emulator,
which carries the simulated ESME and IHD on its air. What the virtual radio proves (test_e2e.py)
is proven here across the serial link: the install-code join, alerts up in both modes, a read the
restricted profile blocks, a consent change, a radio pulled and plugged back with the tunnel
re-opened; and what only a real NCP does: an over-long unfragmented APS payload refused with
MESSAGE_TOO_LONG, and a command the emulator does not know logged loudly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import bellows.types as bt
import bellows.types as t
import pytest
from bellows.exception import InvalidCommandError
from conftest import Broker, write_config
from mqtt_helpers import Recorder, recording
from test_consent_mqtt import TRUST_LAB, ask, signed
from test_e2e import ALERT_CATEGORY, RESTRICTED_ALERTS_FORWARDED
from zigpy.util import convert_install_code

from agent.config import Config, load_config
from agent.consent import Mode
from agent.hub import Hub
from agent.lab import (
    METER_ALERTS,
    SUPPLIER_COMMANDS,
    Lab,
    LabCommand,
    join_until_admitted,
    plug_lab_ncp,
)
from agent.radio_supervisor import SupervisorTiming
from gbcs.frame import parse_frame
from hal.ncp_emulator.emulator import NcpEmulator
from hal.ncp_emulator.limits import max_aps_payload
from hal.radio import RadioSettings
from hal.radio_check import check_radio
from hal.sim.esme import SimEsme

READS = [c for c in SUPPLIER_COMMANDS if not c.critical]  # unsigned: each fits one APS frame
NEW_METER = bytes.fromhex("00DB1234567890B7")
GOOD_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")
OTHER_CODE = bytes.fromhex("1122334455667788112233445566778821E4")  # a valid code, CRC included


def ezsp_at(path: Path, link: str) -> Path:
    """A test config turned to [radio] type = "ezsp" at `link` (relative to the config)."""
    text = path.read_text().replace('type = "virtual"', 'type = "ezsp"')
    path.write_text(text.replace('path = ""', f'path = "{link}"', 1))
    return path


def emulated_config(tmp_path: Path, broker: Broker, *, mode: str = "restricted") -> Config:
    path = write_config(tmp_path, broker, mode=mode, lab=True, extra="ncp_emulator = true\n")
    return load_config(ezsp_at(path, "ncp"))


@contextlib.asynccontextmanager
async def emulated_hub(config: Config) -> AsyncIterator[tuple[Hub, Lab, NcpEmulator]]:
    ncp = plug_lab_ncp(config)
    assert ncp is not None
    hub = Hub(config)
    lab = Lab(hub, config.lab, ncp=ncp)
    try:
        await hub.start()
        await lab.start(traffic=False, join_timeout=40)
        async with asyncio.timeout(10):
            await hub.uplink.connected.wait()
        yield hub, lab, ncp
    finally:
        await lab.stop()
        await hub.stop()
        ncp.close()


async def eventually(check: Callable[[], object], seconds: float = 15.0) -> None:
    """Poll a condition the hub exposes no event for (radio state, a join decision)."""
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {seconds} s")


def ups(rec: Recorder) -> list[tuple[str, dict[str, Any]]]:
    return [(m.topic.split("/up/")[1], m.json()) for m in rec.messages if "/up/" in m.topic]


async def test_full_mode_reads_down_and_alerts_up_through_bellows(
    tmp_path: Path, broker: Broker
) -> None:
    config = emulated_config(tmp_path, broker, mode="full")
    async with (
        recording(broker.host, broker.port, f"test/{config.hub_id}/#") as rec,
        emulated_hub(config) as (hub, lab, ncp),
    ):
        assert lab.esme.ieee in hub.app.devices  # joined and interviewed over the serial link
        statuses = [await lab.send_command(spec) for spec in READS]
        for alert in METER_ALERTS:
            lab.raise_alert(alert)
        expected = len(READS) + len(METER_ALERTS)
        await rec.wait_for(lambda _m: len(ups(rec)) >= expected, timeout=20)
        sent = list(lab.esme.sent)
        commands = ncp.command_counts()
        unknown = dict(ncp.server.unknown)

    assert statuses == ["delivered"] * len(READS)
    received = {base64.b64decode(str(env["frame"])): topic for topic, env in ups(rec)}
    assert set(received) == set(sent), "every frame the meter sent arrives, bytes unchanged"
    assert max(len(f) for f in sent) > max_aps_payload(), "some came up as APS fragments"
    for raw, topic in received.items():
        frame = parse_frame(raw)
        if frame.alert_code is not None:
            assert topic == ALERT_CATEGORY[frame.alert_code]
    # The serial link carried it: the commands bellows sent for it, and none the NCP lacks.
    assert unknown == {}
    assert commands["version"] >= 2  # the legacy-format probe, then v13 in the extended format
    assert commands["importTransientKey"] >= 1  # the install-code key window
    assert commands["sendUnicast"] >= len(READS)
    assert commands["sendReply"] >= 2  # bellows' acknowledgements of the fragments it reassembled


async def test_restricted_mode_blocks_a_read_and_forwards_the_allowed_alerts(
    tmp_path: Path, broker: Broker
) -> None:
    config = emulated_config(tmp_path, broker, mode="restricted")
    async with (
        recording(broker.host, broker.port, f"test/{config.hub_id}/#") as rec,
        emulated_hub(config) as (_hub, lab, ncp),
    ):
        unicasts_before = len(ncp.firmware.sent)
        assert await lab.send_command(LabCommand(0x0027, critical=False)) == "blocked"
        assert len(ncp.firmware.sent) == unicasts_before, "a blocked read never reaches the NCP"
        assert await lab.send_command(LabCommand(0x0059, critical=False)) == "delivered"
        for alert in METER_ALERTS:
            lab.raise_alert(alert)
        sentinel = lab.esme.raise_alert(0x8F3D, critical=True)
        await rec.wait_for(
            lambda _m: any(base64.b64decode(str(e["frame"])) == sentinel for _t, e in ups(rec)),
            timeout=20,
        )
        await asyncio.sleep(0.3)

    got = set()
    for _topic, env in ups(rec):
        frame = parse_frame(base64.b64decode(str(env["frame"])))
        got.add((frame.cra.label, frame.message_code, frame.alert_code))
        assert env["mode"] == "restricted"
    want = {("response", 0x0059, None), ("alert", 0x1000, 0x8F3D)}
    want |= {
        ("alert", a.message_code or (0x1000 if a.critical else 0x1001), a.alert_code)
        for a in METER_ALERTS
        if a.alert_code in RESTRICTED_ALERTS_FORWARDED
    }
    assert got == want
    results = [m.json() for m in rec.on("/down/result")]
    assert [r["status"] for r in results] == ["blocked", "delivered"]
    assert "restricted by consumer choice" in results[0]["reason"]


async def test_consent_change_applies_over_the_emulated_ncp(tmp_path: Path, broker: Broker) -> None:
    path = write_config(
        tmp_path, broker, mode="full", lab=True, extra=f"ncp_emulator = true\n{TRUST_LAB}"
    )
    config = load_config(ezsp_at(path, "ncp"))
    base = f"test/{config.hub_id}"
    read = LabCommand(0x0027, critical=False)
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        emulated_hub(config) as (hub, lab, _ncp),
        aiomqtt.Client(broker.host, broker.port) as wan,
    ):
        assert await lab.send_command(read) == "delivered"
        answer = await ask(wan, rec, base, signed(config.hub_id, Mode.RESTRICTED, 7100), "c1")
        assert answer["status"] == "ok"
        assert await lab.send_command(read) == "blocked"
        assert hub.health_snapshot()["mode"] == "restricted"


async def test_install_code_join_of_a_device_log_entry(tmp_path: Path, broker: Broker) -> None:
    config = emulated_config(tmp_path, broker)
    async with emulated_hub(config) as (hub, _lab, ncp):
        stranger = SimEsme(NEW_METER, 0x2B07)
        # Not on the device log: the trust centre has no install-code key for it.
        assert ncp.attach(stranger, GOOD_CODE) == "no install-code key"
        assert hub.device_log.add(NEW_METER, GOOD_CODE)  # what CCS01 does
        # The key window opens at once (not at the next re-arm, minutes later): a device with
        # another install code is still refused, the right one joins.
        impostor = SimEsme(NEW_METER, 0x2B07)
        decisions: list[str] = []
        await eventually(
            lambda: (
                decisions.append(ncp.attach(impostor, OTHER_CODE))
                or decisions[-1] != "no install-code key"
            )
        )
        assert decisions[-1] == "wrong install-code key"
        meter = SimEsme(NEW_METER, 0x2B07)
        async with asyncio.timeout(20):
            await join_until_admitted(ncp, meter, GOOD_CODE)
            assert hub.router is not None
            await hub.router.tunnel_ready.setdefault(meter.eui64, asyncio.Event()).wait()
        assert meter.ieee in hub.app.devices
        key = ncp.firmware.nvram.key_table.get(meter.ieee)
        assert key is None or bytes(key) == bytes(convert_install_code(GOOD_CODE))


async def test_radio_pulled_and_plugged_back_reopens_the_tunnel(
    tmp_path: Path, broker: Broker
) -> None:
    config = emulated_config(tmp_path, broker, mode="full")
    firmware_read = LabCommand(0x0059, critical=False)
    async with emulated_hub(config) as (hub, lab, ncp):
        # close_timeout: closing the lost bellows application never finishes (its serial thread
        # stopped with the port; docs/architecture.md, known defects), so the supervisor waits
        # this long before it reconnects.
        hub.radio.timing = SupervisorTiming(retry_min=0.1, retry_max=0.2, close_timeout=2.0)
        assert await lab.send_command(firmware_read) == "delivered"
        first_app = hub.app
        assert hub.router is not None
        tunnel = hub.router.tunnel_ready[lab.esme.eui64]

        ncp.unplug()  # the pty master closes: bellows' reads fail as for a pulled USB dongle
        await eventually(lambda: hub.health.radio_state == "fault")
        assert not tunnel.is_set() or hub.app is None
        assert await lab.send_command(firmware_read) == "refused"

        ncp.replug()  # a new pty behind the same path
        await eventually(
            lambda: hub.app not in (None, first_app) and hub.health.radio_state == "ok", 30
        )
        async with asyncio.timeout(30):
            await hub.router.tunnel_ready[lab.esme.eui64].wait()
        assert ncp.plugged_count == 2
        assert await lab.send_command(firmware_read) == "delivered"


async def test_a_signed_command_goes_as_fragments_and_the_ncp_refuses_one_unfragmented(
    tmp_path: Path, broker: Broker
) -> None:
    config = emulated_config(tmp_path, broker, mode="full")
    tariff = LabCommand(0x0019, critical=True)  # ECS01a: signed, about 140 bytes with its headers
    async with emulated_hub(config) as (_hub, lab, ncp):
        answered_before = len(lab.esme.sent)
        assert await lab.send_command(tariff) == "delivered"
        deadline = asyncio.get_running_loop().time() + 10
        while len(lab.esme.sent) == answered_before:
            assert asyncio.get_running_loop().time() < deadline, "the meter never answered"
            await asyncio.sleep(0.05)
        # The NCP saw it in blocks, each within the fragment limit, and put it together whole.
        assert not ncp.firmware.refused
        [(nwk, _aps, whole)] = [e for e in ncp.firmware.sent if len(e[2]) > max_aps_payload()]
        assert nwk == lab.esme.nwk
        # The same payload handed over in one unfragmented sendUnicast is refused as a real
        # NCP refuses it (limits.py), before anything goes on the air.
        aps = t.EmberApsFrame(
            profileId=t.uint16_t(0x0109),
            clusterId=t.uint16_t(0x0704),
            sourceEndpoint=t.uint8_t(1),
            destinationEndpoint=t.uint8_t(1),
            options=t.EmberApsOption.APS_OPTION_RETRY,
            groupId=t.uint16_t(0),
            sequence=t.uint8_t(7),
        )
        answer = ncp.firmware.cmd_sendUnicast(
            {"indexOrDestination": nwk, "apsFrame": aps, "messageContents": whole}
        )
        assert answer["status"] == t.EmberStatus.MESSAGE_TOO_LONG
        [(_nwk, _aps, size, why)] = ncp.firmware.refused
        assert size == len(whole) > max_aps_payload() and why == "MESSAGE_TOO_LONG"


async def test_unknown_command_is_logged_loudly(
    tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    config = emulated_config(tmp_path, broker)
    async with emulated_hub(config) as (hub, _lab, ncp):
        ezsp: Any = hub.app._ezsp  # type: ignore[union-attr]
        with (
            caplog.at_level(logging.ERROR, logger="hal.ncp_emulator"),
            pytest.raises(InvalidCommandError),
        ):
            await ezsp.echo(data=b"hello")
    assert ncp.server.unknown == {"echo": 1}
    assert any(
        r.levelno == logging.ERROR and "unknown EZSP command echo" in r.getMessage()
        for r in caplog.records
    )


async def test_radio_check_reports_what_the_ncp_is_ready_for(tmp_path: Path) -> None:
    ncp = NcpEmulator(tmp_path / "ncp")
    ncp.plug()
    try:
        report = await check_radio(RadioSettings(type="ezsp", path=str(tmp_path / "ncp")))
        firmware = report.firmware
        assert firmware["ezsp_protocol"] == 13
        assert firmware["stack_version"] == "7.4.4.0"
        assert firmware["firmware"] == "7.4.4.0 build 0"
        assert firmware["cbke_library"] == "absent (LIBRARY_NOT_PRESENT)"
        assert firmware["cbke_cert_283k1"] == "absent (LIBRARY_NOT_PRESENT)"
        assert firmware["max_aps_payload"] == 82
        assert not report.formed
        # A CBKE library plugged into the emulator by name: its certificate is then reported.
        cert = bytes(range(74))
        ncp.server.register(
            "getCertificate283k1",
            lambda _args: {
                "status": bt.EmberStatus.SUCCESS,
                "localCert": bt.EmberCertificate283k1Data(cert),
            },
        )
        report = await check_radio(RadioSettings(type="ezsp", path=str(tmp_path / "ncp")))
        assert report.firmware["cbke_library"] == "present"
        assert report.firmware["cbke_cert_283k1"] == "present"
        assert any("max_aps_payload: 82" in line.replace("  ", " ") for line in report.lines())
    finally:
        ncp.close()


def test_radio_check_command_against_the_ncp_emulator_command(tmp_path: Path) -> None:
    """The two commands a lab engineer types: the emulator in one process, `radio check` in
    another, over the pty."""
    exe = Path(sys.executable).parent / "han-agent"
    link = tmp_path / "ncp"
    server = subprocess.Popen(
        [str(exe), "ncp-emulator", "--link", str(link)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith(f"EZSP v13 NCP emulator on {link} (/dev/pts/"), first
        check = subprocess.run(
            [str(exe), "radio", "check", "--path", str(link), "--timeout", "60"],
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert check.returncode == 2, check.stderr  # a working radio with no network yet
        lines = check.stdout.splitlines()
        assert "ezsp_protocol: 13" in lines
        assert any(line.split() == ["stack_version:", "7.4.4.0"] for line in lines), lines
        assert any(line.split()[:2] == ["cbke_library:", "absent"] for line in lines), lines
        assert any(line.split() == ["max_aps_payload:", "82"] for line in lines), lines
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert server.returncode == 0
    # bellows' probe (legacy format, then v13 extended) and radio check's stack version query
    assert "  version 3" in out.splitlines(), out
    assert "  maximumPayloadLength 1" in out.splitlines()
    assert "  getCertificate283k1 1" in out.splitlines()
