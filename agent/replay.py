"""Replay of captured GBCS traffic: what the hub would decide for each frame, without a radio.

A capture is either the pcapng file `han-agent run --capture` writes, or text, one frame a line,
in any of these forms (they may be mixed; each line is recognised on its own):

* `mosquitto_sub -v` output: the topic, a space, then the payload. An `up/<category>` envelope
  or a `down/gbcs` request gives its frame (base64 `frame`), with the direction the topic says,
  the envelope's `device` and `received_at`. Messages that carry no frame (`bridge/state`,
  `health`, `down/result`, ...) are skipped.
* a JSON object: `{"frame": ..., "time": ..., "direction": ..., "device": ...}`, where `frame`
  is hex or base64. The hub's own `up/<category>` envelope is such an object (base64 frame,
  `device`, `received_at`), so what a WAN consumer recorded can be replayed as it is; an object
  without `frame` is skipped.
* hex, optionally preceded by a time and a direction: `[TIME] [up|down] HEX`. TIME is any
  token with a character hex never has (`2026-11-28T10:00:00Z`, `10:00:01`, `12.5`); direction
  is `up`/`upstream` (HAN -> WAN) or `down`/`downstream` (WAN -> HAN). Spaces between hex bytes
  are allowed, as in `han-agent decode`.

Blank lines and lines starting with `#` are skipped. A line in none of the forms becomes an
unreadable frame in the output (decode's error for it); an input in which no line holds a frame
is refused as a whole (`NoFrames`). In a pcapng capture, every Tunneling TransferData that carries
a GBCS message is a frame, its direction from the packet's (the hub received it: up; sent it:
down) and its device from the frame's 64-bit NWK address.

Without a direction, the frame's CRA flag says it (commands down, responses and alerts up), as
in the live hub. With one, the policy is asked for that direction, so a command captured coming
*up* is judged as the live hub would judge it: blocked, wrong way.

Each frame becomes the object `han-agent decode` prints for it (agent.commands.decode.describe,
the same classify and decide the hub runs), plus `line` (the line, or the packet number in a
pcapng file), `time` and `device`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agent import pcapng, zigbee_frame
from agent.commands.decode import decode_line
from agent.consent import Mode
from agent.envelope import iso_utc_ms
from agent.policy import Direction, Profile
from gbcs.frame import FrameError
from gbcs.tunnel import parse_tunnel_data

DIRECTIONS = {
    "up": Direction.UPSTREAM,
    "upstream": Direction.UPSTREAM,
    "down": Direction.DOWNSTREAM,
    "downstream": Direction.DOWNSTREAM,
}
HEX_CHARS = frozenset("0123456789abcdefABCDEF")
FORMATS = (
    'mosquitto_sub -v lines (TOPIC {envelope}), JSON envelopes ({"frame": ...}), '
    "hex lines ([TIME] [up|down] HEX) and pcapng from han-agent run --capture"
)
LINKTYPE_IEEE802_15_4_WITHFCS = 195


class NoFrames(ValueError):
    """Not one frame in the whole input: it is not a capture replay reads."""


class CaptureError(ValueError):
    """A line of the capture that is not in either form; the line number says where."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class CapturedFrame:
    line: int
    hex: str
    time: str | None = None
    direction: Direction | None = None
    device: str | None = None

    @property
    def is_frame(self) -> bool:
        """Bytes were found (whether they are readable GBCS is replay's to say)."""
        return bool(self.hex) and set(self.hex) <= HEX_CHARS and len(self.hex) % 2 == 0


def read_capture(lines: Iterable[str]) -> Iterator[CapturedFrame]:
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        captured = _line(number, text)
        if captured is not None:
            yield captured


def _line(number: int, text: str) -> CapturedFrame | None:
    """The frame of one line, or None for a line that carries none (a `bridge/state`...)."""
    if text.startswith("{"):
        return _json_line(number, text)
    topic, _, payload = text.partition(" ")
    payload = payload.strip()
    if "/" in topic and payload.startswith("{"):
        return _mqtt_line(number, topic, payload)
    captured = _text_line(number, text)
    if "/" in topic and not captured.is_frame:
        return None  # mosquitto_sub -v of a message that is not JSON (`bridge/state online`)
    return captured


def _mqtt_line(number: int, topic: str, payload: str) -> CapturedFrame | None:
    """`mosquitto_sub -v`: the topic says the direction; the payload is the hub's envelope
    (`up/<category>`) or a WAN request (`down/gbcs`), or a message with no frame."""
    try:
        obj = json.loads(payload)
    except json.JSONDecodeError:
        return None  # a payload that only starts like JSON: not one of the hub's frames
    if not isinstance(obj, dict) or "frame" not in obj:
        return None
    levels = topic.split("/")
    if "up" in levels[:-1]:
        obj.setdefault("direction", "up")
    elif levels[-2:] == ["down", "gbcs"]:
        obj.setdefault("direction", "down")
    return _json_object(number, obj)


def _text_line(number: int, text: str) -> CapturedFrame:
    tokens = text.split()
    time: str | None = None
    direction: Direction | None = None
    while len(tokens) > 1:  # the last token is always (part of) the frame
        token = tokens[0]
        if token.lower() in DIRECTIONS and direction is None:
            direction = DIRECTIONS[token.lower()]
        elif time is None and direction is None and not set(token) <= HEX_CHARS:
            time = token
        else:
            break
        tokens.pop(0)
    return CapturedFrame(number, "".join(tokens), time, direction)


def _json_line(number: int, text: str) -> CapturedFrame | None:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaptureError(number, f"not JSON: {exc.msg}") from None
    if isinstance(obj, dict) and "frame" not in obj:
        return None  # another message of the hub's (a down/result, health...): no frame
    return _json_object(number, obj)


def _json_object(number: int, obj: Any) -> CapturedFrame:
    if not isinstance(obj, dict) or not isinstance(obj.get("frame"), str):
        raise CaptureError(number, "a JSON line needs a string 'frame' (hex or base64)")
    frame = obj["frame"].strip()
    if not (set(frame) <= HEX_CHARS and len(frame) % 2 == 0):
        try:
            frame = base64.b64decode(frame, validate=True).hex()
        except (binascii.Error, ValueError):
            raise CaptureError(number, "'frame' is neither hex nor base64") from None
    direction = obj.get("direction")
    if direction is not None and str(direction).lower() not in DIRECTIONS:
        raise CaptureError(number, f"'direction' must be up or down, not {direction!r}")
    when = obj.get("time", obj.get("received_at"))
    device = obj.get("device")
    return CapturedFrame(
        number,
        frame,
        None if when is None else str(when),
        None if direction is None else DIRECTIONS[str(direction).lower()],
        None if device is None else str(device).upper(),
    )


def read_pcapng_capture(data: bytes) -> Iterator[CapturedFrame]:
    """The GBCS messages of the Tunneling TransferData packets of a pcapng HAN capture.

    Raises pcapng.PcapngError for a file that is not readable pcapng. Packets on another link
    type, and frames that are not the hub's unsecured 802.15.4 frames (a sniffer's capture with
    NWK security on), are not frames here.
    """
    for number, packet in enumerate(pcapng.read(data).packets, start=1):
        frame = packet.data
        if packet.interface.link_type == LINKTYPE_IEEE802_15_4_WITHFCS:
            frame = frame[:-2]
        elif packet.interface.link_type != pcapng.LINKTYPE_IEEE802_15_4_NOFCS:
            continue
        try:
            han = zigbee_frame.parse(frame)
        except zigbee_frame.FrameError:
            continue
        transfer = zigbee_frame.transfer_data(han.cluster, han.payload)
        if transfer is None:
            continue
        try:
            if not parse_tunnel_data(transfer.data).message:
                continue  # a GSME's GET, or a GET-RESPONSE with nothing in it
        except FrameError:
            pass  # not GBCS: replay says so, as the hub did
        if packet.direction is pcapng.PacketDirection.UNKNOWN:
            direction = None
            device = None
        else:
            up = packet.direction is pcapng.PacketDirection.INBOUND
            direction = Direction.UPSTREAM if up else Direction.DOWNSTREAM
            device = han.source_eui64 if up else han.destination_eui64
        yield CapturedFrame(
            number,
            transfer.data.hex(),
            None if packet.timestamp_ns is None else iso_utc_ms(packet.timestamp_ns),
            direction,
            None if device is None else device.hex().upper(),
        )


def frames_of(frames: Iterable[CapturedFrame]) -> list[CapturedFrame]:
    """All of them; NoFrames when not one of them holds a frame."""
    found = list(frames)
    if not any(captured.is_frame for captured in found):
        raise NoFrames(f"no frame found; replay reads {FORMATS}")
    return found


def replay(
    frames: Iterable[CapturedFrame], profile: Profile, mode: Mode
) -> Iterator[dict[str, Any]]:
    """One decode-style report per captured frame, in input order."""
    for captured in frames:
        report = decode_line(captured.hex, profile, mode, direction=captured.direction)
        report["line"] = captured.line
        report["time"] = captured.time
        report["device"] = captured.device or _device(report)
        yield report


def _device(report: dict[str, Any]) -> str | None:
    """The HAN device of a frame: the sender of what goes up, the target of what comes down."""
    decision = report.get("decision")
    if not decision:
        return None
    key = "recipient" if decision["direction"] == "downstream" else "originator"
    return str(report[key])


@dataclass
class Totals:
    """Per category, how many frames were forwarded and blocked; and how many were unreadable."""

    forwarded: Counter[str] = field(default_factory=Counter)
    blocked: Counter[str] = field(default_factory=Counter)
    malformed: int = 0

    def add(self, report: dict[str, Any]) -> None:
        decision = report.get("decision")
        if not decision:
            self.malformed += 1
        elif decision["action"] == "forward":
            self.forwarded[report["category"]] += 1
        else:
            self.blocked[report["category"]] += 1

    def as_dict(self) -> dict[str, Any]:
        categories = sorted(set(self.forwarded) | set(self.blocked))
        return {
            "by_category": {
                c: {"forwarded": self.forwarded[c], "blocked": self.blocked[c]} for c in categories
            },
            "forwarded": sum(self.forwarded.values()),
            "blocked": sum(self.blocked.values()),
            "malformed": self.malformed,
        }


TABLE_COLUMNS = ("time", "device", "message code", "use case", "category", "decision", "reason")


def table_row(report: dict[str, Any]) -> tuple[str, ...]:
    decision = report.get("decision")
    if not decision:
        why = report.get("error") or "no GBCS frame in the tunnel data"
        offset = report.get("offset")
        reason = f"{why} (byte {offset})" if offset is not None else why
        return (report["time"] or "-", report["device"] or "-", "-", "-", "-", "dropped", reason)
    code = report["message_code"]
    if report.get("alert_code"):
        code = f"{code}/{report['alert_code']}"
    return (
        report["time"] or "-",
        report["device"] or "-",
        code,
        report["use_case"] or "-",
        report["category"],
        decision["action"],
        decision["reason"],
    )


def render_table(reports: list[dict[str, Any]], totals: Totals) -> str:
    rows = [TABLE_COLUMNS, *(table_row(r) for r in reports)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_COLUMNS) - 1)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1]
        for row in rows
    ]
    summary = totals.as_dict()
    lines.append("")
    lines.append("totals by category:")
    for category, counts in summary["by_category"].items():
        lines.append(
            f"  {category:<15} forwarded {counts['forwarded']:>5}  blocked {counts['blocked']:>5}"
        )
    lines.append(
        f"  {'all':<15} forwarded {summary['forwarded']:>5}  blocked {summary['blocked']:>5}"
        f"  malformed {summary['malformed']}"
    )
    return "\n".join(lines) + "\n"
