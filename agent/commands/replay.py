"""`han-agent replay CAPTURE`: what the hub would decide for every frame of captured traffic.

No radio and no broker: each frame goes through the hub's own classify and decide (the same
per-frame function as `han-agent decode`). Output is a decision table with totals per category,
or `--format csv`, or `--format json` (JSON lines, one object per input frame, in input order,
with the keys `decode` prints plus `line`, `time` and `device`). The capture forms (pcapng from
`run --capture`, `mosquitto_sub -v` lines, JSON envelopes, hex) are described in agent/replay.py
and docs/lab-tools.md. Exit 0 whatever the frames were (an unreadable frame is data); 66 if the
capture cannot be read; 65 if a JSON line is malformed, if a pcapng file is, or if no line of the
input holds a frame (one line naming the forms replay reads).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from agent import pcapng
from agent.commands.decode import SHIPPED_PROFILE, load_profile
from agent.consent import Mode
from agent.replay import (
    TABLE_COLUMNS,
    CapturedFrame,
    CaptureError,
    NoFrames,
    Totals,
    frames_of,
    read_capture,
    read_pcapng_capture,
    render_table,
    replay,
    table_row,
)

NAME = "replay"
EX_DATAERR = 65
EX_NOINPUT = 66


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(NAME, help="decide captured GBCS traffic offline: a decision table")
    cmd.add_argument(
        "capture",
        help="the capture: pcapng from run --capture, mosquitto_sub -v output, JSON envelopes "
        "or hex lines (- for stdin)",
    )
    cmd.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        default=Mode.RESTRICTED.value,
        help="consent mode to decide in (default restricted)",
    )
    cmd.add_argument("--profile", type=Path, default=SHIPPED_PROFILE, help="the restricted profile")
    cmd.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table (default), csv, or json (JSON lines, one object per frame)",
    )


def run(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    mode = Mode(args.mode)
    try:
        data = sys.stdin.buffer.read() if args.capture == "-" else Path(args.capture).read_bytes()
        frames = _frames(data)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"replay: cannot read {args.capture}: {exc}", file=sys.stderr)
        return EX_NOINPUT
    except (CaptureError, NoFrames) as exc:
        print(f"replay: {args.capture}: {exc}", file=sys.stderr)
        return EX_DATAERR
    except pcapng.PcapngError as exc:
        print(f"replay: {args.capture}: not readable pcapng: {exc}", file=sys.stderr)
        return EX_DATAERR
    reports = list(replay(frames, profile, mode))
    out = sys.stdout
    if args.format == "json":
        for report in reports:
            out.write(json.dumps(report) + "\n")
    elif args.format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([c.replace(" ", "_") for c in TABLE_COLUMNS])
        writer.writerows(table_row(r) for r in reports)
    else:
        totals = Totals()
        for report in reports:
            totals.add(report)
        out.write(f"mode {mode.value}, profile {profile.name} v{profile.version}\n")
        out.write(render_table(reports, totals))
    out.flush()
    return 0


def _frames(data: bytes) -> list[CapturedFrame]:
    """The frames of a capture, whichever form it is in (pcapng is told by its first block)."""
    if pcapng.is_pcapng(data):
        return frames_of(read_pcapng_capture(data))
    return frames_of(read_capture(data.decode("utf-8").splitlines()))
