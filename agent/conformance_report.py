"""The conformance report: the run's results as Markdown (for people) and JSON (for tools).

The Markdown has one summary table per case file (the shipped cases first, then each `--cases`
file), one row per case and mode, then the reasons for every case that did not pass; the JSON
carries everything observed, frame bytes included (CaseResult.as_dict), and a count per file.
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
        "sources": [
            {"file": source, "passed": sum(r.passed for r in group), "total": len(group)}
            for source, group in by_source(results).items()
        ],
        "cases": [r.as_dict() for r in results],
    }


def by_source(results: list[CaseResult]) -> dict[str, list[CaseResult]]:
    """The results grouped by the file their case came from, files in the order first seen."""
    groups: dict[str, list[CaseResult]] = {}
    for r in results:
        groups.setdefault(r.case.source, []).append(r)
    return groups


def report_markdown(results: list[CaseResult], meta: dict[str, Any]) -> str:
    passed = sum(r.passed for r in results)
    devices = ", ".join(
        f"{kind} {eui}" + (" (simulated)" if kind in meta.get("simulated", ()) else "")
        for kind, eui in meta["devices"].items()
    )
    lines = [
        "# Conformance report",
        "",
        f"- devices: {devices}",
        f"- hub {meta['hub_id']}, profile {meta['profile']} v{meta['profile_version']} "
        f"(sha256 {meta['profile_sha256'][:12]}...)",
        f"- run at {meta['run_at']}, radio {meta['radio']}"
        + (
            f", GSME queue expiry {meta['gsme_queue_expiry']:g} s for the run"
            if "gsme_queue_expiry" in meta
            else ""
        ),
        f"- **{passed} of {len(results)} passed**"
        + ("" if passed == len(results) else f", {len(results) - passed} not passed"),
    ]
    for source, group in by_source(results).items():
        shipped = " (shipped)" if source == meta.get("shipped_cases") else ""
        ok = sum(r.passed for r in group)
        lines += [
            "",
            f"## Cases from {source}{shipped}: {ok} of {len(group)} passed",
            "",
            "| case | device | covers | mode | sent | hub decided | upstream | result |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in group:
            decided = "; ".join(_cell(d) for d in r.hub) or "-"
            up = ", ".join(_up_cell(o) for o in r.upstream) or "nothing"
            lines.append(
                f"| {r.case.id} | {r.case.device} | {r.case.covers} | {r.mode.value} "
                f"| {_sent_cell(r.sent)} | {decided} | {up} | {verdict(r)} |"
            )
    failing = [r for r in results if not r.passed]
    if failing:
        lines += ["", "## Not passed", ""]
        for r in failing:
            why = "; ".join(r.failures) if r.ran else f"not run: {r.why_not_run}"
            lines.append(f"- {r.case.id} ({r.mode.value}, {r.case.source}): {why}")
    return "\n".join(lines) + "\n"


def _sent_cell(sent: dict[str, Any]) -> str:
    if sent["direction"] == "han":
        return f"HAN-local {sent['action']}"
    alert = f"/{sent['alert_code']}" if sent.get("alert_code") else ""
    kind = "signed" if sent.get("critical") else "unsigned"
    verb = "command" if sent["direction"] == "down" else "alert asked"
    wakes = f", GSME wakes {sent['gsme_wakes']}" if sent.get("gsme_wakes") else ""
    return f"{verb} {sent['message_code']}{alert} {kind}{wakes}"


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
