"""`han-agent decode`: what the hub would make of a GBCS frame, as one JSON object per frame.

Input is hex: one frame as an argument, or one frame per line of a file (`--jsonl FILE`, `-`
for stdin). Spaces between bytes are allowed, and a frame may keep its GSME tunnel header
(`01`, `02 nn`, `03`). Output is one JSON line per input line, in input order. A line that is
not a frame gives `{"error": reason, "offset": byte}` on its line and the batch goes on: exit
status 0 whatever the frames were, because a bad frame is data, not a failure of the command.

`decision` is what restricted mode (or `--mode full`) does with the frame under the shipped
profile (config/restricted-profile.toml, package data: agent/shipped.py; or `--profile`), in
the direction the frame travels: commands down, responses and alerts up. It is the hub's own
`classify` and `decide`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from agent import shipped
from agent.config import ConfigError
from agent.consent import Mode
from agent.policy import Direction, Profile, ProfileError, decide, parse_profile
from gbcs.alert_details import FirmwareReceipt, FirmwareTransfer, FutureDatedOutcome
from gbcs.classify import classify
from gbcs.codes import ALERT_CODES, MESSAGE_CODES
from gbcs.frame import Cra, Frame, FrameError, parse_frame
from gbcs.tunnel import TunnelKind, parse_tunnel_data

NAME = "decode"
EX_NOINPUT = 66
SHIPPED_PROFILE = shipped.PROFILE


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(NAME, help="decode GBCS frames (hex) to JSON with the policy decision")
    source = cmd.add_mutually_exclusive_group(required=True)
    source.add_argument("frame", nargs="?", help="one frame in hex")
    source.add_argument(
        "--jsonl", metavar="FILE", help="a file of hex frames, one per line (- for stdin)"
    )
    cmd.add_argument("--profile", type=Path, default=SHIPPED_PROFILE, help="the restricted profile")
    cmd.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        default=Mode.RESTRICTED.value,
        help="consent mode to decide in (default restricted)",
    )


def run(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    mode = Mode(args.mode)
    if args.frame is not None:
        lines: Iterable[str] = [args.frame]
    elif args.jsonl == "-":
        lines = sys.stdin
    else:
        try:
            lines = Path(args.jsonl).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"decode: cannot read {args.jsonl}: {exc}", file=sys.stderr)
            return EX_NOINPUT
    for report in decode_lines(lines, profile, mode):
        sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    return 0


def load_profile(path: Path) -> Profile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "--profile", f"a readable profile file ({exc.strerror})") from None
    try:
        return parse_profile(text)
    except ProfileError as exc:
        raise ConfigError(path, exc.key, f"expected {exc.expected}") from None


def decode_lines(lines: Iterable[str], profile: Profile, mode: Mode) -> Iterator[dict[str, Any]]:
    for line in lines:
        yield decode_line(line, profile, mode)


def decode_line(
    line: str, profile: Profile, mode: Mode, direction: Direction | None = None
) -> dict[str, Any]:
    """`direction` None: the frame's CRA says it (commands down, the rest up), as decode does."""
    try:
        data = hex_bytes(line)
        tunnel = parse_tunnel_data(data)
        if not tunnel.message:
            return {"tunnel": _tunnel(tunnel.kind, tunnel.queued), "frame": None}
        try:
            frame = parse_frame(tunnel.message)
        except FrameError as exc:
            raise FrameError(exc.offset + tunnel.message_offset, exc.reason) from None
    except FrameError as exc:
        return {"error": exc.reason, "offset": exc.offset}
    report = describe(frame, profile, mode, direction)
    if tunnel.kind is not TunnelKind.BARE:
        report["tunnel"] = _tunnel(tunnel.kind, tunnel.queued)
    return report


def hex_bytes(line: str) -> bytes:
    """Hex digits, whitespace between them ignored; FrameError with the byte offset if not."""
    digits = "".join(line.split())
    if not digits:
        raise FrameError(0, "empty line")
    for i, char in enumerate(digits):
        if char not in "0123456789abcdefABCDEF":
            raise FrameError(i // 2, f"not hex: {char!r}")
    if len(digits) % 2:
        raise FrameError(len(digits) // 2, "odd number of hex digits")
    return bytes.fromhex(digits)


def describe(
    frame: Frame, profile: Profile, mode: Mode, direction: Direction | None = None
) -> dict[str, Any]:
    category = classify(frame)
    if direction is None:
        direction = Direction.DOWNSTREAM if frame.cra is Cra.COMMAND else Direction.UPSTREAM
    decision = decide(frame, category, mode, direction, profile)
    info = MESSAGE_CODES.get(frame.message_code)
    alert = ALERT_CODES.get(frame.alert_code) if frame.alert_code is not None else None
    fields = frame.supplementary_fields
    report: dict[str, Any] = {
        "cra": frame.cra.label,
        "counter": frame.counter,
        "originator": frame.originator.hex().upper(),
        "recipient": frame.recipient.hex().upper(),
        "message_code": _code(frame.message_code),
        "alert_code": _code(frame.alert_code),
        "use_case": " ".join(filter(None, (info.use_case, info.name))) if info else None,
        "alert": alert.name if alert else None,
        "critical": frame.critical,
        "category": category.value,
        "decision": {
            "action": decision.action.value,
            "reason": decision.reason,
            "rule": decision.rule,
            "mode": mode.value,
            "direction": direction.value,
            "profile": f"{profile.name} v{profile.version}",
        },
        "framing": frame.framing,
        "length": len(frame.raw),
        "date_time": frame.date_time.hex().upper() if frame.date_time is not None else None,
        "supplementary": {
            key: value
            for key, value in (
                ("remote_party_id", _hex(fields.remote_party_id)),
                ("remote_party_counter", fields.remote_party_counter),
                ("originator_counter", fields.originator_counter),
                ("certificate", _hex(fields.certificate)),
            )
            if value is not None
        },
    }
    detail = _detail(frame)
    if detail is not None:
        report["alert_detail"] = detail
    if frame.gbt is not None:
        block = frame.gbt
        report["gbt"] = {
            "block_number": block.number,
            "block_number_ack": block.number_ack,
            "last": block.last,
            "streaming": block.streaming,
            "window": block.window,
            "block_data_length": len(block.data),
        }
    return report


def _detail(frame: Frame) -> dict[str, Any] | None:
    detail = frame.alert_detail
    if isinstance(detail, FutureDatedOutcome):
        reported = (
            MESSAGE_CODES.get(detail.message_code) if detail.message_code is not None else None
        )
        return {
            "kind": "future_dated_outcome",
            "actioned": detail.actioned,
            "reported_message_code": _code(detail.message_code),
            "reported_use_case": reported.use_case or reported.name if reported else None,
            "reported_counter": detail.counter,
        }
    if isinstance(detail, FirmwareReceipt):
        return {
            "kind": "firmware_receipt",
            "verified": detail.verified,
            "image_hash": detail.image_hash.hex().upper(),
        }
    if isinstance(detail, FirmwareTransfer):
        return {
            "kind": "firmware_transfer",
            "success": detail.success,
            "target": detail.target.hex().upper(),
            "firmware_version": detail.firmware_version.hex().upper(),
            "result": detail.result,
            "result_name": detail.result_name,
        }
    return None


def _tunnel(kind: TunnelKind, queued: int | None) -> dict[str, Any]:
    return {"header": kind.label, "queued": queued}


def _code(code: int | None) -> str | None:
    return None if code is None else f"0x{code:04X}"


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex().upper()
