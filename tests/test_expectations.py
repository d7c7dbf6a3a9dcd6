"""agent.expectations on its own: each observer reads only the record of what happened, and the
JUnit XML it writes is valid against tests/data/junit.xsd whatever the text holds."""

from __future__ import annotations

from pathlib import Path

import xmlschema
from hypothesis import given
from hypothesis import strategies as st

from agent.expectations import Arrived, Case, Decided, Observed, judge, to_junit

ROOT = Path(__file__).resolve().parent.parent
HUB = bytes.fromhex("90B3D51F30010000")
SCHEMA = xmlschema.XMLSchema(str(ROOT / "tests/data/junit.xsd"))


def case(what: str, expected: str, kind: str = "alert", raw: bytes = b"A", at: float = 5.0) -> Case:
    return Case("alerts[0]", "esme-1", 1.0, kind, what, expected, "0x8F3E", raw, "r-1", at)


def test_an_alert_the_hub_forwarded_that_never_reached_the_broker_is_not_forward() -> None:
    seen = Observed(HUB, decisions=[Decided(True, b"A", True, "security", "security is allowed")])
    [verdict] = judge([case("forward", "forward")], seen)
    assert not verdict.passed
    assert verdict.observed == "forwarded by the hub but not on the broker"
    seen.ups.append(Arrived("security", b"A", b"M", 0x8F3E, 6.0))
    [verdict] = judge([case("forward", "forward")], seen)
    assert verdict.passed and verdict.observed == "forward (arrived on up/security)"


def test_a_blocked_command_and_its_last_result() -> None:
    seen = Observed(HUB, decisions=[Decided(False, b"C", False, "read", "read not allowed")])
    seen.results["r-1"] = ["queued", "expired"]
    verdicts = judge(
        [
            case("forward", "block", kind="command", raw=b"C"),
            case("category", "read", kind="command", raw=b"C"),
            case("result", "queued", kind="command", raw=b"C"),
        ],
        seen,
    )
    assert [v.passed for v in verdicts] == [True, True, False]
    assert verdicts[2].observed == "expired (down/result for r-1: queued then expired)"


def test_a_hub_alert_counts_only_after_the_event_and_only_the_hubs() -> None:
    seen = Observed(
        HUB,
        ups=[
            Arrived("critical_alert", b"X", HUB, 0x8F84, 1.0),  # before the event
            Arrived("critical_alert", b"Y", b"M" * 8, 0x8F84, 9.0),  # a meter's, not the hub's
        ],
    )
    [verdict] = judge([case("hub_alert", "0x8F84", at=5.0)], seen)
    assert not verdict.passed
    seen.ups.append(Arrived("critical_alert", b"Z", HUB, 0x8F84, 7.0))
    assert judge([case("hub_alert", "0x8F84", at=5.0)], seen)[0].passed


@given(st.text(), st.text(min_size=1), st.booleans())
def test_junit_is_valid_whatever_the_text(observed_reason: str, name: str, forwarded: bool) -> None:
    seen = Observed(HUB, decisions=[Decided(False, b"C", forwarded, "read", observed_reason)])
    verdicts = judge([case("forward", "block", kind="command", raw=b"C")], seen)
    xml = to_junit(name, verdicts, 1.5, "2026-01-01T00:00:00")
    SCHEMA.validate(xml)
