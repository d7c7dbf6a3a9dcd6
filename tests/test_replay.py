"""`han-agent replay`: the capture forms, the outputs, and the same decisions as the live hub.

The live comparison runs one capture's worth of frames of every code family through a running
hub (virtual radio, real zigpy, real mosquitto) and then through `han-agent replay` as a
subprocess, and requires the two to agree frame by frame: a command replay forwards is one the
hub delivered, a response or alert replay forwards is one that arrived on `up/<its category>`,
and the blocked counts per category match the hub's counters.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Broker, cli, write_config
from mqtt_helpers import recording
from test_e2e import running_hub, ups

from agent import pcapng
from agent.config import load_config
from agent.lab import LabCommand
from gbcs.codes import ALERT_MESSAGE_CODES, MESSAGE_CODES, Category
from gbcs.frame import parse_frame

DECODE_KEYS = {
    "cra",
    "counter",
    "originator",
    "recipient",
    "message_code",
    "alert_code",
    "use_case",
    "alert",
    "critical",
    "category",
    "decision",
    "framing",
    "length",
    "date_time",
    "supplementary",
}

# One alert per alert family (docs/gbcs-notes.md 3.2), critical and not, and the billing-data one.
ALERTS = (
    (0x8F3E, None, True),  # security
    (0x8F74, None, True),  # tamper -> security
    (0x8F35, 0x0067, True),  # outage restored, ECS80 -> safety
    (0x81BD, None, True),  # supply connect failure -> safety
    (0x8F72, 0x00CE, True),  # firmware receipt -> firmware
    (0x8010, None, False),  # over current -> non-critical alert
    (0x810D, None, False),  # low credit -> prepayment
    (0x81A0, 0x00F0, False),  # integrity fault
    (0x8F0A, 0x0061, True),  # billing-data critical alert
    (0x8F3D, None, True),  # last: the sentinel, allowed in both modes
)


def command_codes() -> list[int]:
    """One command message code of each category the code table has."""
    chosen: dict[Category, int] = {}
    for code, info in sorted(MESSAGE_CODES.items()):
        if code not in ALERT_MESSAGE_CODES and info.category not in chosen:
            chosen[info.category] = code
    return sorted(chosen.values())


def replay_json(capture: Path, mode: str) -> list[dict[str, object]]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "replay",
            str(capture),
            "--mode",
            mode,
            "--format",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("mode", ["restricted", "full"])
async def test_replay_decides_as_the_live_hub(tmp_path: Path, broker: Broker, mode: str) -> None:
    config = load_config(write_config(tmp_path, broker, mode=mode))
    codes = command_codes()
    assert len(codes) >= 6, "the code table has commands of many categories"
    lines: list[str] = []
    status: dict[bytes, str] = {}
    async with (
        recording(broker.host, broker.port, f"test/{config.hub_id}/#") as rec,
        running_hub(config) as (hub, lab),
    ):
        for code in codes:
            command = lab.supplier.command(lab.esme.eui64, LabCommand(code, critical=True))
            lines.append(f"down {command.hex()}")
            status[command] = (
                await hub.command_from_wan(f"r{code}", lab.esme.eui64, command)
            ).status
            if status[command] != "delivered":
                # A meter answering a command anyway: the live hub judges the response too.
                lab.esme.send_gbcs(lab.esme.response_to(parse_frame(command)))
        wrong_way = lab.supplier.command(lab.esme.eui64, LabCommand(0x0059, critical=False))
        lab.esme.send_gbcs(wrong_way)  # a command coming up from the HAN
        lab.esme.send_gbcs(b"\xdf\x09\x07" + bytes(40))  # malformed
        for alert_code, message_code, critical in ALERTS:
            sentinel = lab.esme.raise_alert(
                alert_code, message_code=message_code, critical=critical
            )
        await rec.wait_for(
            lambda _m: any(base64.b64decode(str(e["frame"])) == sentinel for _t, e in ups(rec)),
            timeout=15,
        )
        await asyncio.sleep(0.3)
        sent_up = list(lab.esme.sent)
        counters = hub.counters
    lines += [f"up {frame.hex()}" for frame in sent_up]
    capture = tmp_path / "capture.txt"
    capture.write_text("\n".join(lines) + "\n")

    reports = replay_json(capture, mode)
    assert len(reports) == len(lines), "one object per input frame"
    assert [r["line"] for r in reports] == list(range(1, len(lines) + 1)), "in input order"
    upstream = {base64.b64decode(str(env["frame"])): topic for topic, env in ups(rec)}
    commands = list(status)
    blocked_up: dict[str, int] = {}
    for line, report in zip(lines, reports, strict=True):
        raw = bytes.fromhex(line.split()[1])
        if "error" in report:
            assert raw not in upstream
            continue
        assert set(report) >= DECODE_KEYS
        decision = report["decision"]
        assert isinstance(decision, dict)
        forward = decision["action"] == "forward"
        if line.startswith("down"):
            assert forward == (status[raw] == "delivered"), report
        else:
            assert forward == (raw in upstream), report
            if forward:
                assert upstream[raw] == report["category"]
            else:
                category = str(report["category"])
                blocked_up[category] = blocked_up.get(category, 0) + 1
    assert blocked_up == dict(counters.blocked_by_category)
    assert counters.malformed == sum("error" in r for r in reports) == 1
    assert len(commands) == len(codes)
    if mode == "restricted":
        assert blocked_up, "restricted mode blocks some of every-family traffic"
        assert {status[c] for c in commands} == {"delivered", "blocked"}
    else:
        # Full mode forwards everything but the command that came up the wrong way.
        assert blocked_up == {"firmware": 1}
        assert {status[c] for c in commands} == {"delivered"}
    [wrong] = [r for r in reports if r.get("cra") == "command" and "up " in lines[r["line"] - 1]]
    assert wrong["decision"]["rule"] == "direction"


def lab_frames() -> tuple[bytes, bytes, bytes]:
    """A read command, the meter's answer, and a low-credit alert, built by the lab's code."""
    from agent.lab import LabSupplier
    from hal.sim.esme import SimEsme

    esme = SimEsme(bytes.fromhex("00DB1234567800AA"), 0x1A01)
    command = LabSupplier(bytes.fromhex("90B3D51F30010000")).command(
        esme.eui64, LabCommand(0x0027, critical=False)
    )
    response = esme.response_to(parse_frame(command))
    alert = esme.alert(0x810D, critical=False)
    return command, response, alert


def test_capture_forms_table_totals_and_csv(tmp_path: Path) -> None:
    command, response, alert = lab_frames()
    envelope = {
        "frame": base64.b64encode(alert).decode(),
        "device": "00db1234567800aa",
        "received_at": "2026-11-28T10:00:02.000Z",
    }
    capture = tmp_path / "capture.txt"
    capture.write_text(
        "# a comment\n"
        f"2026-11-28T10:00:00Z down {command.hex(' ')}\n"
        f"10:00:01 up {response.hex()}\n"
        f"{json.dumps(envelope)}\n"
        "\n"
        "zz\n"
    )
    result = cli("replay", str(capture), "--format", "json")
    assert result.returncode == 0, result.stderr
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in reports] == [2, 3, 4, 6]
    assert [r["time"] for r in reports] == [
        "2026-11-28T10:00:00Z",
        "10:00:01",
        "2026-11-28T10:00:02.000Z",
        None,
    ]
    assert [r.get("category") for r in reports] == ["read", "read", "prepayment", None]
    assert [r["decision"]["action"] for r in reports[:3]] == ["block"] * 3
    assert reports[0]["decision"]["direction"] == "downstream"
    assert reports[2]["device"] == "00DB1234567800AA"
    assert reports[3]["error"] == "not hex: 'z'"

    table = cli("replay", str(capture), "--mode", "full")
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("mode full, profile gb-restricted-default v2\n")
    assert "  read            forwarded     2  blocked     0" in table.stdout
    assert "  prepayment      forwarded     1  blocked     0" in table.stdout
    assert "  all             forwarded     3  blocked     0  malformed 1" in table.stdout

    csv_out = cli("replay", str(capture), "--format", "csv").stdout.splitlines()
    assert csv_out[0] == "time,device,message_code,use_case,category,decision,reason"
    assert csv_out[1].startswith("2026-11-28T10:00:00Z,00DB1234567800AA,0x0027,ECS17b ")
    assert len(csv_out) == 5


def test_bad_capture_lines_are_named(tmp_path: Path) -> None:
    capture = tmp_path / "bad.txt"
    capture.write_text('{"frame": 5}\n')
    result = cli("replay", str(capture))
    assert result.returncode == 65
    assert result.stderr.strip() == (
        f"replay: {capture}: line 1: a JSON line needs a string 'frame' (hex or base64)"
    )
    missing = cli("replay", str(tmp_path / "nope.txt"))
    assert missing.returncode == 66
    assert "cannot read" in missing.stderr


def test_each_line_is_read_in_its_own_form(tmp_path: Path) -> None:
    """`mosquitto_sub -v` lines (an up envelope, a down/gbcs request, messages with no frame),
    a bare envelope, and hex lines, one of them timed with slashes, in one file."""
    command, response, alert = lab_frames()
    up = {"frame": base64.b64encode(alert).decode(), "device": "00DB1234567800AA"}
    down = {"id": "r-1", "device": "00DB1234567800AA", "frame": base64.b64encode(command).decode()}
    capture = tmp_path / "mixed.txt"
    capture.write_text(
        "gbcs-hub/00DB1234567890A2/bridge/state online\n"
        f"gbcs-hub/00DB1234567890A2/up/prepayment {json.dumps(up)}\n"
        'gbcs-hub/00DB1234567890A2/down/result {"id":"r-1","status":"blocked"}\n'
        f"gbcs-hub/00DB1234567890A2/down/gbcs {json.dumps(down)}\n"
        '{"id":"r-2","status":"delivered","message_code":"0x0027","reason":"x"}\n'
        f"2026/11/28 up {response.hex()}\n"
    )
    result = cli("replay", str(capture), "--format", "json")
    assert result.returncode == 0, result.stderr
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in reports] == [2, 4, 6], "lines without a frame are skipped"
    assert [r["decision"]["direction"] for r in reports] == ["upstream", "downstream", "upstream"]
    assert [r["category"] for r in reports] == ["prepayment", "read", "read"]
    assert [r["time"] for r in reports] == [None, None, "2026/11/28"]
    assert reports[1]["device"] == "00DB1234567800AA"


def test_an_input_with_no_frame_is_refused_naming_the_forms(tmp_path: Path) -> None:
    formats = (
        "no frame found; replay reads mosquitto_sub -v lines (TOPIC {envelope}), JSON envelopes "
        '({"frame": ...}), hex lines ([TIME] [up|down] HEX) and pcapng from han-agent run --capture'
    )
    prose = tmp_path / "notes.txt"
    prose.write_text("the meter was quiet today\nnothing to see\n")
    status = tmp_path / "status.txt"  # mosquitto_sub -v of topics that never carry a frame
    status.write_text('gbcs-hub/X/bridge/state online\ngbcs-hub/X/health {"mode":"full"}\n')
    empty_pcapng = tmp_path / "empty.pcapng"
    empty_pcapng.write_bytes(pcapng.section_header("x") + pcapng.interface_description(230, "h"))
    for source in (prose, status, empty_pcapng):
        result = cli("replay", str(source))
        assert result.returncode == 65, (source, result.stdout)
        assert result.stderr == f"replay: {source}: {formats}\n"
        assert result.stdout == ""
    stdin = cli("replay", "-", stdin="hello\n")
    assert (stdin.returncode, stdin.stderr) == (65, f"replay: -: {formats}\n")


def test_a_damaged_pcapng_is_one_line(tmp_path: Path) -> None:
    damaged = tmp_path / "cut.pcapng"
    damaged.write_bytes((pcapng.section_header("x") + pcapng.interface_description(230, "h"))[:-6])
    result = cli("replay", str(damaged))
    assert result.returncode == 65
    assert result.stderr == (
        f"replay: {damaged}: not readable pcapng: byte 40: block length 40 does not fit the file\n"
    )
