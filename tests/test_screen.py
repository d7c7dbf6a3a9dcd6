"""The live view of `simulate` (and `run`, which builds its view the same way): a redrawn screen
on a terminal (a real pty), plain decision lines on a pipe; progress on both."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, Broker, write_config

from agent import screen

TRUST_LAB = f'[trust]\ndir = "{ROOT / "config/lab/trust"}"\n'
SCENARIO = ROOT / "config/scenarios/firmware-campaign.toml"
ESME = "00DB1234567890A0"
DECISION_LINE = re.compile(
    rf"^\d\d:\d\d:\d\d (up  |down) {ESME} (command|response|alert) +0x[0-9A-F]{{4}} .*"
    r"(FORWARDED|BLOCKED)"
)


def _command(config: Path) -> list[str]:
    return [sys.executable, "-m", "agent.cli", "simulate", str(SCENARIO), "--config", str(config)]


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_terminal_gets_a_redrawn_screen(tmp_path: Path, broker: Broker) -> None:
    config = write_config(tmp_path, broker, mode="restricted", extra=TRUST_LAB)
    master, slave = os.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "40"}
    with subprocess.Popen(
        [*_command(config), "--time-scale", "40"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
    ) as process:
        os.close(slave)
        output = _read_all(master).decode(errors="replace")
        assert process.wait(timeout=60) == 0, output[-2000:]
    os.close(master)
    for sequence in (screen.HIDE_CURSOR, screen.CLEAR, screen.ERASE_BELOW, screen.SHOW_CURSOR):
        assert sequence in output
    frames = output.split(screen.HOME)
    assert len(frames) >= 3  # drawn, redrawn on decisions and on the clock
    assert output.index(screen.SHOW_CURSOR) > output.rindex(screen.HOME)
    last = frames[-1].split(screen.SHOW_CURSOR)[0]
    lines = [line.replace(screen.ERASE_LINE, "").rstrip("\r") for line in last.split("\n")]
    text = "\n".join(lines)
    assert "mode RESTRICTED" in text
    assert re.search(rf"^  {ESME}  \S+ +ok ", text, re.M), text
    assert re.search(r"^  firmware +3 +0$", text, re.M), text  # 2 version reads, 1 receipt alert
    assert "commands blocked 1, delivered 2" in text
    assert sum(bool(DECISION_LINE.match(line.strip())) for line in lines) == 6
    assert re.search(r"\[#+-*\] scenario firmware-campaign: \d+/60 s", text), text
    summary = json.loads(output.strip().splitlines()[-1])
    assert summary["counters"]["forwarded_by_category"] == {"firmware": 3}


def test_pipe_gets_plain_lines(tmp_path: Path, broker: Broker) -> None:
    config = write_config(tmp_path, broker, mode="restricted", extra=TRUST_LAB)
    result = subprocess.run(
        [*_command(config), "--time-scale", "40"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "\033[" not in result.stdout and "\033[" not in result.stderr
    lines = result.stdout.strip().splitlines()
    decisions = [line for line in lines if DECISION_LINE.match(line)]
    assert len(decisions) == 6
    assert sum("BLOCKED" in line for line in decisions) == 1  # the 0x0027 read, not delivered
    assert json.loads(lines[-1])["scenario"] == "firmware-campaign"
    progress = [
        line for line in result.stderr.splitlines() if "scenario firmware-campaign:" in line
    ]
    assert progress and progress[0].endswith(" 0/60 s of scenario time")
    assert len(progress) == len(set(progress)) <= 11  # every 10%, not every tick


def test_render_fits_the_terminal_and_lists_every_category_seen() -> None:
    snapshot = {
        "mode": "full",
        "reason": "consumer choice",
        "uptime_s": 3.0,
        "radio": {"state": "ok", "for_s": 2.0},
        "devices": {ESME: {"model": "SimEsme", "state": "silent", "last_seen_s": 70.0}},
        "counters": {
            "forwarded": 4,
            "blocked": 1,
            "malformed": 0,
            "forwarded_by_category": {"security": 3, "read": 1},
            "blocked_by_category": {"alert": 1},
            "commands": {},
        },
    }
    lines = screen.render(
        snapshot, hub_id="00DB1234567890A2", set_by="", recent=[], progress=(0.5, "x"), width=30
    )
    assert all(len(line) <= 30 for line in lines)
    full = screen.render(snapshot, hub_id="H", set_by="K", recent=["a"], progress=None, width=200)
    assert "mode FULL: consumer choice (set by K)" in full
    assert [line.split()[0] for line in full if re.match(r"^  [a-z_]+ +\d+ +\d+$", line)] == [
        "security",
        "alert",
        "read",
    ]
    assert any("silent" in line for line in full)


def test_run_on_a_terminal_redraws_until_stopped(tmp_path: Path, broker: Broker) -> None:
    """`run` (the lab default) builds its view the same way: a screen on a pty, then SIGINT."""
    config = write_config(tmp_path, broker, mode="restricted", lab=True, interval=0.2)
    master, slave = os.openpty()
    env = {**os.environ, "COLUMNS": "120"}
    with subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(config)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
    ) as process:
        os.close(slave)
        output = b""
        deadline = time.monotonic() + 30
        while output.count(b"FORWARDED") < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                output += os.read(master, 65536)
        process.send_signal(signal.SIGINT)
        output += _read_all(master)
        assert process.wait(timeout=30) == 0
    os.close(master)
    text = output.decode(errors="replace")
    assert screen.HIDE_CURSOR + screen.CLEAR + screen.HOME in text  # after any early log line
    assert text.count(screen.HOME) >= 2 and screen.SHOW_CURSOR in text
    last = text.split(screen.HOME)[-1]
    assert "mode RESTRICTED" in last and ESME in last and "FORWARDED" in last
    assert text.rstrip().endswith("stopping")  # after the screen, plain lines again


def test_plain_view_is_a_table_under_a_header_that_names_the_exceptions() -> None:
    import io

    from test_policy import PROFILE, make

    from agent.consent import Mode
    from agent.policy import Direction, decide
    from agent.view import HEADER, LiveView
    from gbcs.classify import classify
    from gbcs.frame import Cra

    stream = io.StringIO()
    view = LiveView(stream, color=False)
    view.header_every = 3
    billing = make(Cra.ALERT, 0x0061, 0x8F0A, signed=True)
    clock = make(Cra.COMMAND, 0x0062, signed=True)
    device = bytes.fromhex(ESME)
    for frame, direction in [(billing, Direction.UPSTREAM), (clock, Direction.DOWNSTREAM)] * 2:
        decision = decide(frame, classify(frame), Mode.RESTRICTED, direction, PROFILE)
        view.decision(direction, device, frame, decision)
    lines = stream.getvalue().splitlines()
    assert [line == HEADER for line in lines] == [True, False, False, False, True, False]
    billing_row, clock_row = lines[1], lines[2]
    # Every column starts where its header says.
    for name, value in [("category", "critical_alert"), ("alert", "0x8F0A"), ("use", "ECS68")]:
        assert billing_row.index(value) == HEADER.index(name), name
    assert clock_row.index("config") == HEADER.index("category")
    assert billing_row.endswith(
        "BLOCKED   restricted by consumer choice: billing-data alert held back in restricted mode"
    )
    assert clock_row.endswith("FORWARDED clock set: hub management (ECS70)")
