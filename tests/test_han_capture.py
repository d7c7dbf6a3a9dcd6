"""The HAN capture (`han-agent run --capture`, `[capture] file`) and replay of what a lab records.

A lab run through the real CLI (virtual radio, real zigpy, a real mosquitto, a real
`mosquitto_sub -v` watching the WAN) writes a capture; it is read back with the project's own
pcapng reader (block types, link type, time order, a comment on every packet, the GBCS bytes in
the Tunneling frames against what the broker carried), opened with Wireshark's tshark (which must
decode every Tunneling TransferData: CI installs it, scripts/setup.sh says how), and replayed,
as are the `mosquitto_sub -v` output and its JSON envelopes. An in-process hub checks the
capture against exactly what the simulated meter sent, and a capture on a full disk.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, Broker, cli, write_config
from mqtt_helpers import recording
from test_e2e import running_hub, ups

from agent import pcapng, zigbee_frame
from agent.config import load_config
from agent.lab import METER_ALERTS, SUPPLIER_COMMANDS
from gbcs.frame import parse_frame
from gbcs.tunnel import parse_tunnel_data

MOSQUITTO_SUB = ("mosquitto_sub", "-v", "-q", "1")  # -v: the README's way to watch the WAN
HAN_AGENT = (sys.executable, "-m", "agent.cli")
ESME = "00DB1234567890A0"  # the lab's meter (config [lab] esme default)


@dataclass
class LabRun:
    capture: Path
    wan: Path  # what `mosquitto_sub -v` printed
    hub_id: str
    hub_log: str


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory: pytest.TempPathFactory, broker: Broker) -> Iterator[LabRun]:
    """`han-agent run --capture` on the lab config until a cycle of the lab's commands and
    alerts has crossed the hub, with `mosquitto_sub -v` recording the hub's topics."""
    directory = tmp_path_factory.mktemp("lab-capture")
    config = write_config(directory, broker, mode="restricted", lab=True, interval=0.15)
    hub_id = load_config(config).hub_id
    capture, wan, log = directory / "han.pcapng", directory / "wan.txt", directory / "hub.log"
    with open(wan, "wb") as out:
        sub = subprocess.Popen(
            [*MOSQUITTO_SUB, "-h", broker.host, "-p", str(broker.port), "-t", f"test/{hub_id}/#"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        marker = f"test/{hub_id}/marker"
        _wait(
            lambda: cli_publish(broker, marker) and marker in wan.read_text(),
            15,
            "mosquitto_sub to subscribe",
        )
        with open(log, "wb") as err:
            hub = subprocess.Popen(
                [*HAN_AGENT, "run", "--config", str(config), "--capture", str(capture), "--quiet"],
                cwd=ROOT,
                stdout=err,
                stderr=subprocess.STDOUT,
            )
        try:

            def lab_cycle_done() -> bool:
                lines = wan.read_text().splitlines()
                results = sum("/down/result " in line for line in lines)
                upstream = sum("/up/" in line for line in lines)
                return results > len(SUPPLIER_COMMANDS) and upstream > len(METER_ALERTS)

            _wait(lab_cycle_done, 90, "a cycle of lab traffic on the broker")
            hub.send_signal(signal.SIGINT)
            assert hub.wait(timeout=60) == 0, log.read_text()
        finally:
            if hub.poll() is None:
                hub.kill()
                hub.wait(timeout=10)
        time.sleep(0.5)  # the hub's last messages reach mosquitto_sub
    finally:
        sub.terminate()
        sub.wait(timeout=10)
    yield LabRun(capture, wan, hub_id, log.read_text())


def cli_publish(broker: Broker, topic: str) -> bool:
    subprocess.run(
        ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-t", topic, "-m", "x"],
        check=True,
        timeout=10,
    )
    return True


@dataclass(frozen=True)
class Tunnelled:
    number: int  # packet number in the file, from 1, as Wireshark counts
    inbound: bool
    message: bytes  # the GBCS message (a GSME's tunnel header taken off)
    comment: str


def tunnelled(capture: pcapng.Capture) -> list[Tunnelled]:
    """Every Tunneling TransferData that carries a GBCS message."""
    found = []
    for number, packet in enumerate(capture.packets, start=1):
        han = zigbee_frame.parse(packet.data)
        data = zigbee_frame.transfer_data(han.cluster, han.payload)
        if data is None:
            continue
        message = parse_tunnel_data(data.data).message
        if message:
            inbound = packet.direction is pcapng.PacketDirection.INBOUND
            found.append(Tunnelled(number, inbound, message, packet.comments[0]))
    return found


def wan_messages(run: LabRun) -> list[tuple[str, str]]:
    """(topic, payload) of every line `mosquitto_sub -v` printed."""
    return [
        (topic, payload)
        for topic, _, payload in (line.partition(" ") for line in run.wan.read_text().splitlines())
    ]


def test_lab_capture_is_pcapng_with_the_hubs_decisions(lab_run: LabRun) -> None:
    data = lab_run.capture.read_bytes()
    capture = pcapng.read(data)
    assert capture.block_types[:2] == [pcapng.SHB, pcapng.IDB], "one section, one interface"
    assert set(capture.block_types[2:]) == {pcapng.EPB}
    assert capture.application.startswith("han-agent ")
    assert [i.link_type for i in capture.interfaces] == [pcapng.LINKTYPE_IEEE802_15_4_NOFCS]
    packets = capture.packets
    assert len(packets) > 30
    times = [p.timestamp_ns for p in packets]
    assert all(t is not None for t in times)
    assert times == sorted(times), "timestamps never go back"  # type: ignore[type-var]
    assert all(p.comments and p.comments[0] for p in packets), "a comment on every packet"
    assert {p.direction for p in packets} == {
        pcapng.PacketDirection.INBOUND,
        pcapng.PacketDirection.OUTBOUND,
    }
    # Not only GBCS: the interview (ZDO), the IHD's Time reads and the tunnel set-up.
    comments = [p.comments[0] for p in packets]
    assert any(c.startswith("ZDO 0x") for c in comments)
    assert any("cluster 0x000A Time" in c for c in comments)

    gbcs = tunnelled(capture)
    up = [t for t in gbcs if t.inbound]
    down = [t for t in gbcs if not t.inbound]
    assert all(t.comment.startswith("GBCS up from ") for t in up)
    assert all(t.comment.startswith("GBCS down to ") for t in down)
    # What the hub forwarded is, byte for byte, what the broker carried on up/<category>.
    forwarded = Counter(t.message for t in up if ": FORWARDED in restricted mode" in t.comment)
    on_wan = Counter(
        base64.b64decode(json.loads(payload)["frame"])
        for topic, payload in wan_messages(lab_run)
        if "/up/" in topic
    )
    assert forwarded == on_wan
    blocked = [t for t in up if ": BLOCKED in restricted mode" in t.comment]
    assert blocked, "restricted mode holds some of the lab's alerts back"
    assert len(blocked) + forwarded.total() == len(up), "each one forwarded or blocked"
    for t in blocked:
        assert "restricted by consumer choice" in t.comment, t.comment
    # A command is on the HAN only if the hub let it down: one delivered result for each.
    results = [
        json.loads(payload)["status"]
        for topic, payload in wan_messages(lab_run)
        if topic.endswith("/down/result")
    ]
    assert down and all(": FORWARDED in restricted mode" in t.comment for t in down)
    assert len(down) == results.count("delivered")
    assert "blocked" in results
    for t in down:
        assert parse_frame(t.message).cra.label == "command"


def test_wireshark_decodes_the_tunneling_frames(lab_run: LabRun) -> None:
    tshark = shutil.which("tshark")
    assert tshark, "tshark is not installed: `bash scripts/setup.sh --test` installs it"
    fields = [
        "frame.number",
        "zbee_aps.cluster",
        "zbee_aps.profile",
        "zbee_zcl_se.tun.cmd.srv_tx.id",
        "zbee_zcl_se.tun.cmd.srv_rx.id",
        "zbee_zcl_se.tun.tunnel_id",
        "frame.comment",
    ]
    out = subprocess.run(
        [tshark, "-r", str(lab_run.capture), "-T", "fields", "-E", "separator=|"]
        + [arg for name in fields for arg in ("-e", name)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    rows = {int(row.split("|")[0]): row.split("|") for row in out.splitlines()}
    expected = tunnelled(pcapng.read(lab_run.capture.read_bytes()))
    assert expected
    for t in expected:
        _number, cluster, profile, from_server, to_server, tunnel_id, comment = rows[t.number]
        assert (cluster, profile) == ("0x0704", "0x0109"), rows[t.number]
        # TransferData: 0x01 from the tunnel server (the meter), 0x02 to it (the hub's command).
        assert (from_server, to_server) == (("0x01", "") if t.inbound else ("", "0x02"))
        assert tunnel_id.startswith("0x")
        assert comment == t.comment
    # And Wireshark's GBCS dissector reads the message code of every one of them.
    verbose = subprocess.run(
        [tshark, "-r", str(lab_run.capture), "-V", "-Y", TRANSFER_DATA],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert verbose.count("Cluster: Tunneling (0x0704)") == len(expected)
    assert verbose.count("Command: Transfer Data (0x0") == len(expected)
    assert verbose.count("GBCS Message") >= len(expected)


TRANSFER_DATA = "zbee_zcl_se.tun.cmd.srv_tx.id == 0x01 || zbee_zcl_se.tun.cmd.srv_rx.id == 0x02"


def replay_json(source: Path) -> list[dict[str, object]]:
    result = cli("replay", str(source), "--format", "json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_replay_of_the_pcapng_capture_decides_as_the_live_hub(lab_run: LabRun) -> None:
    gbcs = tunnelled(pcapng.read(lab_run.capture.read_bytes()))
    reports = replay_json(lab_run.capture)
    assert [r["line"] for r in reports] == [t.number for t in gbcs], "packet numbers, in order"
    for report, t in zip(reports, gbcs, strict=True):
        decision = report["decision"]
        assert isinstance(decision, dict)
        live = "FORWARDED" if ": FORWARDED in " in t.comment else "BLOCKED"
        assert {"forward": "FORWARDED", "block": "BLOCKED"}[decision["action"]] == live
        assert decision["direction"] == ("upstream" if t.inbound else "downstream")
        assert f"rule {decision['rule']}: {decision['reason']}" in t.comment
        assert report["counter"] == parse_frame(t.message).counter
        assert report["device"] == ESME, "the meter: sender of what comes up, target of commands"
        assert str(report["time"]).endswith("Z")


def test_replay_of_mosquitto_sub_output_and_its_json_envelopes(
    lab_run: LabRun, tmp_path: Path
) -> None:
    messages = wan_messages(lab_run)
    frames = [
        base64.b64decode(json.loads(payload)["frame"])
        for topic, payload in messages
        if "/up/" in topic
    ]
    other = [topic for topic, _ in messages if "/up/" not in topic]
    assert frames and any(t.endswith("/bridge/state") for t in other)
    assert any(t.endswith("/down/result") for t in other)

    reports = replay_json(lab_run.wan)  # the `mosquitto_sub -v` output as it is
    assert [(r["counter"], r["originator"]) for r in reports] == [
        (f.counter, f.originator.hex().upper()) for f in map(parse_frame, frames)
    ]
    for report in reports:
        decision = report["decision"]
        assert isinstance(decision, dict)
        assert decision["action"] == "forward", report  # the hub forwarded each one
        assert decision["direction"] == "upstream"

    envelopes = tmp_path / "envelopes.jsonl"  # the payloads alone: JSON lines of envelopes
    envelopes.write_text("".join(payload + "\n" for topic, payload in messages if "/up/" in topic))
    assert [r["decision"] for r in replay_json(envelopes)] == [r["decision"] for r in reports]


async def test_capture_holds_exactly_what_the_meter_sent(tmp_path: Path, broker: Broker) -> None:
    capture_file = tmp_path / "han.pcapng"
    config = load_config(
        write_config(
            tmp_path, broker, mode="restricted", extra=f'[capture]\nfile = "{capture_file}"'
        )
    )
    assert config.capture_file == capture_file
    async with running_hub(config) as (hub, lab):
        statuses = [await lab.send_command(spec) for spec in SUPPLIER_COMMANDS]
        for alert in METER_ALERTS:
            lab.raise_alert(alert)
        await asyncio.sleep(0.5)
        sent = list(lab.esme.sent)
        health = hub.health_snapshot()["capture"]
    assert health == {"state": "writing", "packets": health["packets"], "dropped": 0, "error": None}
    gbcs = tunnelled(pcapng.read(capture_file.read_bytes()))
    assert [t.message for t in gbcs if t.inbound] == sent, "every frame, in order, unchanged"
    assert len([t for t in gbcs if not t.inbound]) == statuses.count("delivered")


async def test_a_full_disk_stops_the_capture_not_the_hub(
    tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(
        write_config(tmp_path, broker, mode="full", extra='[capture]\nfile = "/dev/full"')
    )
    caplog.set_level(logging.INFO)
    async with (
        recording(broker.host, broker.port, f"test/{config.hub_id}/#") as rec,
        running_hub(config) as (hub, lab),
    ):
        for alert in METER_ALERTS:
            lab.raise_alert(alert)
        await rec.wait_for(lambda _m: len(ups(rec)) >= len(METER_ALERTS), timeout=15)
        # The writer thread finds out on its first flush.
        await asyncio.to_thread(
            _wait, lambda: hub.capture.stats()["state"] == "stopped", 15, "the capture to stop"
        )
        health = hub.health_snapshot()["capture"]
    assert health["state"] == "stopped"
    assert health["error"] == "No space left on device"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.name for r in errors] == ["agent.han_capture"], "one ERROR line, nothing else"
    assert "HAN capture stopped: /dev/full: No space left on device" in errors[0].getMessage()
    assert len(ups(rec)) == len(METER_ALERTS), "the hub forwarded every alert all the same"


def test_capture_file_in_no_directory_is_a_config_error(tmp_path: Path, broker: Broker) -> None:
    config = write_config(tmp_path, broker)
    result = cli("run", "--config", str(config), "--capture", str(tmp_path / "nope" / "x.pcapng"))
    assert result.returncode == 78
    assert result.stderr.strip() == (
        f"config error: {config}: [capture] file: a file in an existing directory, "
        f"got {str(tmp_path / 'nope' / 'x.pcapng')!r}"
    )


async def test_a_gas_meters_get_put_and_queued_command_in_the_capture(
    tmp_path: Path, broker: Broker
) -> None:
    """A GSME's tunnel carries a header (GET, GET-RESPONSE, PUT): the capture notes a GET as
    HAN-local, and gives the queued command and the PUT answer the hub's decisions."""
    from test_gsme_e2e import GSME, READ_FIRMWARE, joined_gsme, until

    capture_file = tmp_path / "gas.pcapng"
    config = load_config(
        write_config(tmp_path, broker, extra=f'[capture]\nfile = "{capture_file}"')
    )
    async with running_hub(config) as (hub, lab):
        gsme = await joined_gsme(hub)
        command = lab.supplier.command(GSME, READ_FIRMWARE)
        assert (await hub.command_from_wan("g-1", GSME, command)).status == "queued"
        gsme.poll()  # GET; the hub answers GET-RESPONSE with the command; the GSME PUTs its answer
        await until(lambda: len(gsme.sent) == 1, "the GSME's answer")
        gsme.poll()  # nothing left: an empty GET-RESPONSE
        await until(lambda: len(gsme.get_responses) == 2, "the second GET-RESPONSE")
        answer = gsme.sent[0]
    capture = pcapng.read(capture_file.read_bytes())
    gas = [
        (p.direction, zigbee_frame.transfer_data(h.cluster, h.payload), p.comments[0])
        for p in capture.packets
        if (h := zigbee_frame.parse(p.data)).source_eui64 == GSME or h.destination_eui64 == GSME
    ]
    data = [(d, t.data, c) for d, t, c in gas if t is not None]
    inbound, outbound = pcapng.PacketDirection.INBOUND, pcapng.PacketDirection.OUTBOUND
    assert [(d, payload[:1]) for d, payload, _ in data] == [
        (inbound, b"\x01"),  # GET
        (outbound, b"\x02"),  # GET-RESPONSE with the command
        (inbound, b"\x03"),  # PUT with the answer
        (inbound, b"\x01"),  # GET
        (outbound, b"\x02"),  # GET-RESPONSE, empty
    ]
    notes = [c for _, _, c in data]
    assert notes[0] == notes[3] == "GSME GET: asks the hub for queued commands (HAN-local)"
    assert data[1][1] == b"\x02\x00" + command
    assert notes[1].startswith("GBCS down to 00DB1234567890C7: command 0x0059 ECS52, firmware: ")
    assert data[2][1] == b"\x03" + answer
    assert notes[2].startswith("GBCS up from 00DB1234567890C7: response 0x0059 ECS52, firmware: ")
    assert "FORWARDED in restricted mode" in notes[1] and "FORWARDED" in notes[2]
    assert notes[4] == "GSME GET-RESPONSE: nothing to deliver, 0 queued (HAN-local)"
