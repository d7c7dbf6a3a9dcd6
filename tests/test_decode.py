"""`han-agent decode`: the JSON it prints for real frames, malformed lines and the batch."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from reference_data import gbcs_examples

from agent.cli import main
from gbcs import tunnel

EXAMPLES: list[dict[str, Any]] = gbcs_examples()
REQUIRED = {
    "cra",
    "counter",
    "originator",
    "recipient",
    "message_code",
    "alert_code",
    "use_case",
    "critical",
    "category",
    "decision",
}


def decode(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    status = main(["decode", *argv])
    out = capsys.readouterr().out
    return status, [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["source"][-40:] for e in EXAMPLES])
def test_reference_frame_decodes_to_its_published_fields(
    capsys: pytest.CaptureFixture[str], example: dict[str, Any]
) -> None:
    status, [report] = decode(capsys, example["hex"])
    assert status == 0
    assert set(report) >= REQUIRED
    for key in ("cra", "counter", "originator", "recipient", "message_code", "alert_code"):
        assert report[key] == example[key], key
    assert report["critical"] is example["critical"]
    assert report["decision"]["action"] in ("forward", "block")
    assert report["decision"]["reason"]
    assert report["decision"]["mode"] == "restricted"


def test_decision_follows_the_shipped_restricted_profile(
    capsys: pytest.CaptureFixture[str],
) -> None:
    by_source = {e["source"].rsplit(": ", 1)[-1]: e["hex"] for e in EXAMPLES}
    cases = {
        "ECS52_11.2_SUCCESS_RESPONSE_GBCS.HEX": ("firmware", "forward"),
        "ECS17d_4.1.2_SINGLE_SUCCESS_RESPONSE_GBCS.HEX": ("read", "block"),
        "GCA-ZigBee_NA_8F30_ALERT_GBCS.HEX": ("security", "forward"),
        "ECS80_NA_8F36_ALERT_GBCS.HEX": ("safety", "forward"),
        # A signed critical alert reporting that a GCS01b tariff command ran: an outcome, not
        # tariff data, so it goes up (docs/gbcs-notes.md 7.3).
        "GCS01b_1.2.1_8F66_FUTURE_DATED_BLOCK_SUCCESS_ALERT_PUBLISH_PRICE_MATRIX_GBCS.HEX": (
            "critical_alert",
            "forward",
        ),
    }
    for source, (category, action) in cases.items():
        _, [report] = decode(capsys, by_source[source])
        assert (report["category"], report["decision"]["action"]) == (category, action), source
        if action == "block":
            assert report["decision"]["reason"].startswith("restricted by consumer choice")
    _, [report] = decode(capsys, "--mode", "full", by_source[next(iter(cases))])
    assert report["decision"]["action"] == "forward"


def test_batch_keeps_order_and_reports_malformed_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = [e["hex"] for e in EXAMPLES[:3]]
    spaced = " ".join(good[1][i : i + 2] for i in range(0, len(good[1]), 2))
    lines = [
        good[0],
        "DF09 07",
        spaced,
        "xyz",
        "",
        good[2][:-1],
        tunnel.put(bytes.fromhex(good[2])).hex(),
    ]
    path = tmp_path / "frames.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    status, reports = decode(capsys, "--jsonl", str(path))
    assert status == 0
    assert len(reports) == len(lines)
    assert reports[0]["counter"] == EXAMPLES[0]["counter"]
    assert reports[1] == {"error": "CRA flag 0x07 is not 1, 2 or 3", "offset": 2}
    assert reports[2]["counter"] == EXAMPLES[1]["counter"]
    assert reports[3] == {"error": "not hex: 'x'", "offset": 0}
    assert reports[4] == {"error": "empty line", "offset": 0}
    assert reports[5] == {"error": "odd number of hex digits", "offset": len(good[2]) // 2 - 1}
    assert reports[6]["tunnel"] == {"header": "put", "queued": None}
    assert reports[6]["counter"] == EXAMPLES[2]["counter"]


def test_error_offsets_count_the_tunnel_header(capsys: pytest.CaptureFixture[str]) -> None:
    _, [report] = decode(capsys, "03DF0907")
    assert report == {"error": "CRA flag 0x07 is not 1, 2 or 3", "offset": 3}


def test_stdin_and_the_installed_command(tmp_path: Path) -> None:
    han_agent = Path(sys.executable).parent / "han-agent"
    frames = "\n".join(e["hex"] for e in EXAMPLES) + "\nnot a frame\n"
    done = subprocess.run(
        [str(han_agent), "decode", "--jsonl", "-"],
        input=frames,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r.get("counter") for r in reports] == [e["counter"] for e in EXAMPLES] + [None]
    assert reports[-1]["error"].startswith("not hex")


def test_unreadable_inputs_fail_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["decode", "--jsonl", str(tmp_path / "missing.txt")]) == 66
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "profile.toml"
    bad.write_text('name = "x"\nversion = 0\n', encoding="utf-8")
    assert main(["decode", "--profile", str(bad), EXAMPLES[0]["hex"]]) == 78
    assert "version" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO(EXAMPLES[0]["hex"] + "\n"))
    assert main(["decode", "--jsonl", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["counter"] == EXAMPLES[0]["counter"]
