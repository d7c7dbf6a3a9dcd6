"""The conformance report: the run's results as Markdown (for people) and JSON (for tools).

The Markdown is a summary table, one row per case and mode, then the reasons for every case that
did not pass; the JSON carries everything observed, frame bytes included (CaseResult.as_dict).
"""

from __future__ import annotations

from typing import Any

from agent.conformance import CaseResult, HubDecision, Observed, verdict
from agent.policy import Direction


def report_json(results: list[CaseResult], meta: dict[str, Any]) -> dict[str, Any]:
    return {
        **meta,
        "passed": sum(r.passed for r in results),
        "total": len(results),
        "all_passed": all(r.passed for r in results),
        "cases": [r.as_dict() for r in results],
    }


def report_markdown(results: list[CaseResult], meta: dict[str, Any]) -> str:
    passed = sum(r.passed for r in results)
    lines = [
        f"# Conformance report: {meta['device']}",
        "",
        f"- hub {meta['hub_id']}, profile {meta['profile']} v{meta['profile_version']} "
        f"(sha256 {meta['profile_sha256'][:12]}...)",
        f"- run at {meta['run_at']}, radio {meta['radio']}",
        f"- **{passed} of {len(results)} passed**"
        + ("" if passed == len(results) else f", {len(results) - passed} not passed"),
        "",
        "| case | covers | mode | sent | hub decided | upstream | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        decided = "; ".join(_cell(d) for d in r.hub) or "-"
        up = ", ".join(_up_cell(o) for o in r.upstream) or "nothing"
        lines.append(
            f"| {r.case.id} | {r.case.covers} | {r.mode.value} | {_sent_cell(r.sent)} "
            f"| {decided} | {up} | {verdict(r)} |"
        )
    failing = [r for r in results if not r.passed]
    if failing:
        lines += ["", "## Not passed", ""]
        for r in failing:
            why = "; ".join(r.failures) or "not run: a real meter raises alerts on its own"
            lines.append(f"- {r.case.id} ({r.mode.value}): {why}")
    return "\n".join(lines) + "\n"


def _sent_cell(sent: dict[str, Any]) -> str:
    alert = f"/{sent['alert_code']}" if sent.get("alert_code") else ""
    kind = "signed" if sent.get("critical") else "unsigned"
    verb = "command" if sent["direction"] == "down" else "alert asked"
    return f"{verb} {sent['message_code']}{alert} {kind}"


def _cell(d: HubDecision) -> str:
    arrow = "down" if d.direction == Direction.DOWNSTREAM else "up"
    if d.decision is None or d.shape is None:
        return f"{arrow} dropped ({d.note})"
    alert = "" if d.shape.alert_code is None else f"/0x{d.shape.alert_code:04X}"
    verdict = f"{d.decision.action.value} {d.decision.category.value}"
    return f"{arrow} {d.shape.cra.label} 0x{d.shape.message_code:04X}{alert}: {verdict}"


def _up_cell(o: Observed) -> str:
    if o.topic == "down/result":
        return f"down/result {o.payload.get('status')}"
    return o.topic
