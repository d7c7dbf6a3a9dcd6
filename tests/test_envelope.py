"""The upstream envelope is written field by field for speed; it must be exactly the JSON the
documented contract describes, byte for byte what json.dumps gives for the same fields."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from reference_data import gbcs_examples

from agent.consent import Mode
from agent.envelope import dedup_id, upstream_envelope
from agent.policy import Action, Decision
from gbcs.codes import Category, message_code_info
from gbcs.frame import Frame, parse_frame

FRAMES = [parse_frame(bytes.fromhex(e["hex"])) for e in gbcs_examples()]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ns(when: datetime) -> int:
    """Exact: integer microseconds, no float on the way."""
    return (when - EPOCH) // timedelta(microseconds=1) * 1000


def reference(frame: Frame, device: bytes, decision: Decision, mode: Mode, when: datetime) -> bytes:
    """The contract of docs/mqtt.md, written the obvious way."""
    info = message_code_info(frame.message_code)
    fields = {
        "id": f"{frame.originator.hex().upper()}-{frame.recipient.hex().upper()}-"
        f"{int(frame.cra)}-{frame.counter}",
        "device": device.hex().upper(),
        "category": decision.category.value,
        "cra": frame.cra.label,
        "message_code": None if frame.message_code is None else f"0x{frame.message_code:04X}",
        "use_case": info.use_case if info is not None else None,
        "alert_code": None if frame.alert_code is None else f"0x{frame.alert_code:04X}",
        "critical": frame.critical,
        "counter": frame.counter,
        "originator": frame.originator.hex().upper(),
        "recipient": frame.recipient.hex().upper(),
        "mode": mode.value,
        "rule": decision.rule,
        "received_at": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "frame": base64.b64encode(frame.raw).decode("ascii"),
    }
    return json.dumps(fields, separators=(",", ":")).encode()


@settings(max_examples=400, deadline=None)
@given(
    frame=st.sampled_from(FRAMES),
    message_code=st.integers(0, 0xFFFF),  # known and unknown codes: use_case null or text
    alert_code=st.none() | st.integers(0, 0xFFFF),
    counter=st.integers(0, 2**64 - 1),
    device=st.binary(min_size=8, max_size=8),
    parties=st.none()
    | st.tuples(st.binary(min_size=8, max_size=8), st.binary(min_size=8, max_size=8)),
    category=st.sampled_from(list(Category)),
    mode=st.sampled_from(list(Mode)),
    rule=st.text(),  # quotes, backslashes, control characters, non-ASCII: all escaped
    when=st.datetimes(min_value=datetime(1970, 1, 1), timezones=st.just(UTC)),
    sub_us=st.integers(0, 999),  # the nanoseconds a datetime cannot hold, truncated away
)
def test_the_envelope_is_byte_for_byte_the_documented_json(
    frame: Frame,
    message_code: int,
    alert_code: int | None,
    counter: int,
    device: bytes,
    parties: tuple[bytes, bytes] | None,
    category: Category,
    mode: Mode,
    rule: str,
    when: datetime,
    sub_us: int,
) -> None:
    frame = frame._replace(message_code=message_code, alert_code=alert_code, counter=counter)
    if parties is not None:  # the parts of the envelope cached by originator and recipient
        frame = frame._replace(originator=parties[0], recipient=parties[1])
    decision = Decision(Action.FORWARD, category, rule, "a reason")
    received_ns = epoch_ns(when) + sub_us
    envelope_id, payload = upstream_envelope(frame, device, decision, mode, received_ns)
    assert payload == reference(frame, device, decision, mode, when)
    assert envelope_id == dedup_id(frame) == json.loads(payload)["id"]


def test_escaped_text_and_the_time_read_back_as_written() -> None:
    # The property test's frames are critical and not: both spellings of the boolean.
    assert any(f.critical for f in FRAMES) and any(not f.critical for f in FRAMES)
    now = datetime(2026, 11, 28, 23, 59, 59, 999_999, tzinfo=UTC)
    decision = Decision(Action.FORWARD, Category.SECURITY, 'a "quoted" rule\n', "r")
    _id, payload = upstream_envelope(
        FRAMES[0], bytes(8), decision, Mode.RESTRICTED, epoch_ns(now) + 999
    )
    parsed = json.loads(payload)
    assert parsed["rule"] == 'a "quoted" rule\n'
    assert parsed["received_at"] == "2026-11-28T23:59:59.999Z"
    assert parsed["mode"] == "restricted"
