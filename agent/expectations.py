"""Judging a scenario's expectations against what the run observed, and reporting the verdicts.

Pure: the runner (agent.scenario) records what really happened — each decision the hub's view
hook reported, each frame a separate MQTT client saw arrive on up/<category>, each status on
down/result — and this module compares that record with what the scenario author wrote. Nothing
here decides what the hub *should* do; a verdict is only "what was written" against "what was
seen".

What each expectation observes (docs/lab-tools.md):

* `forward` (forward | block). A command: the hub's decision on it (forwarded down or blocked).
  An alert: forward when its bytes arrived on the broker on up/<category>; block when the hub
  decided to block it.
* `category`: a command's category as the hub decided it; an alert's up/<category> topic on the
  broker, or the hub's category for it when it was blocked.
* `result`: the last status down/result gave the command's request (a GSME's command is first
  `queued`, then `delivered` when served or `expired`).
* `hub_alert`: a frame the hub itself originated, with that alert code, arrived on the broker
  after the event was played.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET


@dataclass(frozen=True)
class Case:
    """One expectation of one played event: `key` and `device` say where it comes from."""

    key: str  # commands[0]
    device: str  # esme-1
    at: float  # scenario seconds
    kind: str  # command | alert
    what: str  # forward | category | result | hub_alert
    expected: str
    code: str  # "0x0027" (a command) or "0x8F74" (an alert's alert code)
    raw: bytes  # the frame played
    request_id: str = ""  # a command's down/gbcs request id
    played_at: float = 0.0  # loop time it was played

    @property
    def name(self) -> str:
        event = f"{self.kind} {self.code}"
        return f"{self.key} {self.device} {event} at {self.at:g} s: {self.what}"


@dataclass(frozen=True)
class Decided:
    """A decision the hub's view hook reported."""

    upstream: bool
    raw: bytes
    forwarded: bool
    category: str
    reason: str


@dataclass(frozen=True)
class Arrived:
    """A frame that arrived on up/<category> at the broker."""

    category: str
    raw: bytes
    originator: bytes
    alert_code: int | None
    at: float  # loop time


@dataclass
class Observed:
    hub_eui64: bytes
    decisions: list[Decided] = field(default_factory=list)
    ups: list[Arrived] = field(default_factory=list)
    results: dict[str, list[str]] = field(default_factory=dict)  # request id -> statuses


@dataclass(frozen=True)
class Verdict:
    case: Case
    observed: str
    passed: bool

    @property
    def line(self) -> str:
        word = "PASS" if self.passed else "FAIL"
        return f"{word} {self.case.name}: expected {self.case.expected}, observed {self.observed}"


def judge(cases: Iterable[Case], seen: Observed) -> list[Verdict]:
    return [_judge(case, seen) for case in cases]


def _judge(case: Case, seen: Observed) -> Verdict:
    value, detail = OBSERVERS[case.what](case, seen)
    observed = detail if value is None else f"{value} ({detail})"
    return Verdict(case, observed, value == case.expected)


# Each observer gives the value seen (None: nothing to compare) and where it was seen.
Seen = tuple[str | None, str]


def _decision(case: Case, seen: Observed) -> Decided | None:
    upstream = case.kind == "alert"
    for decided in seen.decisions:
        if decided.raw == case.raw and decided.upstream is upstream:
            return decided
    return None


def _arrival(case: Case, seen: Observed) -> Arrived | None:
    return next((a for a in seen.ups if a.raw == case.raw), None)


def _forward(case: Case, seen: Observed) -> Seen:
    decided = _decision(case, seen)
    if case.kind == "alert":
        arrived = _arrival(case, seen)
        if arrived is not None:
            return "forward", f"arrived on up/{arrived.category}"
        if decided is not None and decided.forwarded:
            return None, "forwarded by the hub but not on the broker"
    if decided is None:
        return None, "no decision by the hub (it never judged the frame)"
    return ("forward" if decided.forwarded else "block"), decided.reason


def _category(case: Case, seen: Observed) -> Seen:
    if case.kind == "alert":
        arrived = _arrival(case, seen)
        if arrived is not None:
            return arrived.category, f"arrived on up/{arrived.category}"
    decided = _decision(case, seen)
    if decided is None:
        return None, "no category: the hub never judged the frame"
    verb = "forwarded" if decided.forwarded else "blocked"
    return decided.category, f"the hub's decision, {verb}"


def _result(case: Case, seen: Observed) -> Seen:
    statuses = seen.results.get(case.request_id, [])
    if not statuses:
        return None, f"nothing on down/result for request {case.request_id}"
    return statuses[-1], f"down/result for {case.request_id}: {' then '.join(statuses)}"


def _hub_alert(case: Case, seen: Observed) -> Seen:
    own = [a for a in seen.ups if a.originator == seen.hub_eui64 and a.at >= case.played_at]
    codes = [f"0x{a.alert_code:04X}" for a in own if a.alert_code is not None]
    if case.expected in codes:
        return case.expected, "the hub's own alert, arrived on the broker"
    raised = ", ".join(codes) if codes else "none"
    return None, f"no such hub alert on the broker (the hub's alerts since: {raised})"


OBSERVERS = {
    "forward": _forward,
    "category": _category,
    "result": _result,
    "hub_alert": _hub_alert,
}


# -- reports -----------------------------------------------------------------------------------


def summary(scenario: str, verdicts: Sequence[Verdict]) -> str:
    failed = sum(not v.passed for v in verdicts)
    word = "FAILED" if failed else "PASSED"
    return (
        f"{word} scenario {scenario}: {len(verdicts)} expectations, "
        f"{len(verdicts) - failed} passed, {failed} failed"
    )


def to_json(scenario: str, verdicts: Sequence[Verdict], seconds: float) -> str:
    failed = sum(not v.passed for v in verdicts)
    body = {
        "scenario": scenario,
        "passed": failed == 0,
        "expectations": len(verdicts),
        "failures": failed,
        "time": round(seconds, 3),
        "cases": [
            {
                "name": v.case.name,
                "event": v.case.key,
                "device": v.case.device,
                "at": v.case.at,
                "kind": v.case.kind,
                "code": v.case.code,
                "expect": v.case.what,
                "expected": v.case.expected,
                "observed": v.observed,
                "passed": v.passed,
            }
            for v in verdicts
        ],
    }
    return json.dumps(body, indent=2) + "\n"


# Characters XML 1.0 cannot hold at all, even escaped (most C0 controls, FFFE, FFFF): a
# scenario name or a reason with one would make the whole report unreadable to a CI server.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return NOT_XML.sub("\ufffd", text)


def to_junit(scenario: str, verdicts: Sequence[Verdict], seconds: float, timestamp: str) -> str:
    """JUnit XML as Jenkins, GitLab and the like read it: testsuites > testsuite > testcase,
    a failure element per failed expectation (tests/data/junit.xsd)."""
    failed = sum(not v.passed for v in verdicts)
    counts = {"tests": str(len(verdicts)), "failures": str(failed), "errors": "0"}
    root = ET.Element(
        "testsuites",
        {"name": _xml(f"han-agent simulate {scenario}"), **counts, "time": f"{seconds:.3f}"},
    )
    suite = ET.SubElement(
        root,
        "testsuite",
        {"name": _xml(scenario), **counts, "skipped": "0", "time": f"{seconds:.3f}",
         "timestamp": timestamp},
    )  # fmt: skip
    for v in verdicts:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": _xml(f"scenario.{scenario}"), "name": _xml(v.case.name)},
        )
        if not v.passed:
            failure = ET.SubElement(
                case,
                "failure",
                {
                    "message": _xml(f"expected {v.case.expected}, observed {v.observed}"),
                    "type": "expectation",
                },
            )
            failure.text = _xml(v.line)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
