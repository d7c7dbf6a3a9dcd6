"""`han-agent conformance` on a real hub: virtual radio, real zigpy, real mosquitto, modes switched
by consent commands signed with the lab TEST key. The simulated ESME passes every case; a meter
that breaks one GBCS rule fails exactly that case, in the modes where it shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import PROFILE, ROOT, Broker, write_config

from agent import cli, conformance
from agent.config import load_config
from agent.conformance_cases import AlertSpec
from agent.consent import Mode
from agent.lab import LabCommand, LabSupplier
from agent.policy import parse_profile
from agent.shipped import CONFORMANCE_CASES
from gbcs.codes import ALERT_CODES, Category
from gbcs.frame import Frame, parse_frame
from hal.sim import esme
from hal.sim.gsme import SimGsme

TRUST_LAB = f'[trust]\ndir = "{ROOT / "config/lab/trust"}"\n'
DEVICE = bytes.fromhex("00DB1234567890A0")


def _meter(cls: type[esme.SimEsme], config_path: Path) -> esme.SimEsme:
    config = load_config(config_path)
    eui = conformance.LAB_GSME if cls.kind == "gsme" else bytes.fromhex(config.lab.esme)
    return cls(eui, 0x1A01, first_alert_counter=int(time.time() * 1e3))


EXAMPLE = ROOT / "config/conformance/example-manufacturer-cases.toml"


def test_shipped_and_manufacturer_cases_pass_for_every_meter_type(
    tmp_path: Path, broker: Broker
) -> None:
    """The manufacturer's example file runs beside the shipped cases through the real CLI:
    one simulated ESME, GSME, PPMID and IHD on the virtual radio, every case passing in both modes,
    the report grouped by file."""
    config = write_config(tmp_path, broker, mode="restricted", extra=TRUST_LAB)
    out = tmp_path / "report"
    scratch = tmp_path / "tmp"  # where the run's own temporary state dir goes
    scratch.mkdir()
    command = ["conformance", "--config", str(config), "--out", out, "--cases", EXAMPLE]
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The hub's own state dir was never used, and the temporary one is gone.
    assert not (config.parent / "state").exists()
    assert list(scratch.iterdir()) == []
    report = json.loads((out / "conformance.json").read_text())
    markdown = (out / "conformance.md").read_text()
    assert result.stdout == markdown
    shipped = conformance.shipped_cases()
    extra = conformance.read_case_files([EXAMPLE])
    total = (len(shipped) + len(extra)) * 2
    assert (report["passed"], report["total"], report["all_passed"]) == (total, total, True)
    assert f"**{total} of {total} passed**" in markdown
    progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert progress[0].startswith(f"[1/{total}] ") and progress[-1].startswith(f"[{total}/{total}]")
    # The report shows the manufacturer's cases beside the shipped ones, file by file.
    shipped_file = str(CONFORMANCE_CASES)
    assert report["sources"] == [
        {"file": shipped_file, "passed": len(shipped) * 2, "total": len(shipped) * 2},
        {"file": str(EXAMPLE), "passed": len(extra) * 2, "total": len(extra) * 2},
    ]
    assert markdown.index(f"## Cases from {shipped_file} (shipped)") < markdown.index(
        f"## Cases from {EXAMPLE}: {len(extra) * 2} of {len(extra) * 2} passed"
    )
    assert "| acme-esme-cover-removed | esme | " in markdown
    cases = {(c["case"], c["mode"]): c for c in report["cases"]}
    assert set(cases) == {(c.id, m) for c in [*shipped, *extra] for m in ("full", "restricted")}
    assert {c["source"] for c in report["cases"] if c["case"].startswith("acme-")} == {str(EXAMPLE)}
    assert report["devices"].keys() == {"esme", "gsme", "ppmid", "ihd"}
    # Every category is exercised, and every distinctive rule of the profile decides one case.
    categories = {d["category"] for c in report["cases"] for d in c["hub_decided"]}
    assert categories == {c.value for c in Category}
    rules = {d["rule"] for c in report["cases"] for d in c["hub_decided"] if c["mode"] != "full"}
    assert {
        "upstream.block_alert_codes",
        "upstream.allow_alert_codes",
        "upstream.response_to_allowed_command",
        "upstream.unknown",
        "downstream.unknown",
        "downstream.blocked",
        "downstream.allow_message_codes",
    } <= rules
    # What came out upstream was observed on the broker, not inferred.
    billing = cases[("critical-billing-data", "restricted")]
    assert billing["upstream"] == [] and billing["hub_decided"][0]["action"] == "block"
    assert billing["stated"] == "block"
    assert [u["topic"] for u in cases[("critical-billing-data", "full")]["upstream"]] == [
        "up/critical_alert"
    ]
    read = cases[("read-import-energy", "restricted")]
    assert [(u["topic"], u["status"]) for u in read["upstream"]] == [("down/result", "blocked")]
    clock = cases[("set-clock", "restricted")]
    assert sorted(u["topic"] for u in clock["upstream"]) == ["down/result", "up/config"]
    # The GSME: served on its GET, its answer up by PUT; a read blocked before the queue; a
    # command that expires is answered so and reported by the hub's own signed 0x00D5.
    served = cases[("gsme-firmware-version-read", "restricted")]
    assert [u["status"] for u in served["upstream"] if u["topic"] == "down/result"] == [
        "queued",
        "delivered",
    ]
    assert [u["topic"] for u in served["upstream"] if u["topic"].startswith("up/")] == [
        "up/firmware"
    ]
    gas_read = cases[("gsme-read-consumption", "restricted")]
    assert [u["status"] for u in gas_read["upstream"]] == ["blocked"]
    for mode in ("full", "restricted"):
        expired = cases[("gsme-command-expires", mode)]
        statuses = [u["status"] for u in expired["upstream"] if u["topic"] == "down/result"]
        assert statuses == ["queued", "expired"]
        [own] = [d for d in expired["hub_decided"] if d["device"] == report["hub_id"]]
        assert (own["message_code"], own["alert_code"], own["critical"]) == (
            "0x00D5",
            "0x8F84",
            True,
        )
        assert [d["device"] for d in expired["hub_decided"] if d["direction"] == "upstream"] == [
            report["hub_id"]
        ]  # the GSME, finding nothing at its GET, sent nothing
    alert = cases[("gsme-access-attempt-alert", "restricted")]
    assert [u["topic"] for u in alert["upstream"]] == ["up/security"]
    assert alert["hub_decided"][0]["device"] == report["devices"]["gsme"]
    # The PPMID: its CS08 firmware read answered and up, its CS09 activation alert up.
    for name, topics in (
        ("ppmid-firmware-version-read", ["down/result", "up/firmware"]),
        ("ppmid-firmware-activation-alert", ["up/firmware"]),
    ):
        ppmid = cases[(name, "restricted")]
        assert sorted(u["topic"] for u in ppmid["upstream"]) == topics
        assert ppmid["hub_decided"][-1]["device"] == report["devices"]["ppmid"]
    # The IHD: answered on the HAN, nothing decided, nothing upstream, in either mode.
    for mode in ("full", "restricted"):
        ihd = cases[("ihd-reads-hub-time", mode)]
        assert (ihd["hub_decided"], ihd["upstream"], ihd["result"]) == ([], [], "pass")


class BillingDataAsNonCriticalAlert(esme.SimEsme):
    """Sends its billing-data log as an unsigned generic alert instead of a signed ECS68."""

    def alert(self, alert_code: int, **kwargs: Any) -> bytes:
        if alert_code == 0x8F0A:
            kwargs.update(message_code=0x1001, critical=False)
        return super().alert(alert_code, **kwargs)


class AnswersClockWithConsumption(esme.SimEsme):
    """Answers a set-clock command (allowed down) with an energy-register read response."""

    def response_to(self, command: Frame) -> bytes:
        if command.message_code == 0x0062:
            command = command._replace(message_code=0x0027)
        return super().response_to(command)


MADE_UP = next(c for c in range(0x8FFE, 0x8000, -1) if c not in ALERT_CODES)


class MadeUpAlertCode(esme.SimEsme):
    """Raises an over-current alert under an alert code that GBCS does not have."""

    def alert(self, alert_code: int, **kwargs: Any) -> bytes:
        return super().alert(MADE_UP if alert_code == 0x8010 else alert_code, **kwargs)


class GsmeAnswersFirmwareReadWithConsumption(SimGsme):
    """Served a firmware-version read on its GET, answers with a consumption read response."""

    def response_to(self, command: Frame) -> bytes:
        if command.message_code == 0x0084:
            command = command._replace(message_code=0x0074)
        return super().response_to(command)


@pytest.mark.parametrize(
    ("meter_class", "broken", "why"),
    [
        (AnswersClockWithConsumption, "set-clock", "the meter sent signed response 0x0027"),
        (GsmeAnswersFirmwareReadWithConsumption, "gsme-firmware-version-read", "the meter sent unsigned response 0x0074"),  # noqa: E501
        (MadeUpAlertCode, "over-current-alert", f"the meter sent unsigned alert 0x1001 alert 0x{MADE_UP:04X}"),  # noqa: E501
    ],
)  # fmt: skip
async def test_misbehaving_meter_fails_exactly_the_case_it_breaks(
    tmp_path: Path, broker: Broker, meter_class: type[esme.SimEsme], broken: str, why: str
) -> None:
    config_path = write_config(tmp_path, broker, mode="full", extra=TRUST_LAB)
    config = load_config(config_path)
    results, _profile = await conformance.run_conformance(
        config,
        cases=[c for c in conformance.shipped_cases() if c.device == meter_class.kind],
        meters=[_meter(meter_class, config_path)],
        settle=0.05,
        wait=2.0,
    )
    assert {r.case.device for r in results} == {meter_class.kind}
    failing = {(r.case.id, r.mode.value) for r in results if not r.passed}
    assert failing == {(broken, "full"), (broken, "restricted")}
    for r in results:
        if not r.passed:
            assert any(f.startswith(why) for f in r.failures), r.failures


def test_misbehaving_meter_makes_the_command_exit_1(
    tmp_path: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI path with a meter that sends billing data as a non-critical alert."""
    monkeypatch.setattr(esme, "SimEsme", BillingDataAsNonCriticalAlert)
    config = write_config(tmp_path, broker, mode="restricted", extra=TRUST_LAB)
    out = tmp_path / "report"
    status = cli.main(
        ["conformance", "--config", str(config), "--out", str(out), "--device", "esme"]
    )
    assert status == 1
    report = json.loads((out / "conformance.json").read_text())
    failing = {(c["case"], c["mode"]) for c in report["cases"] if c["result"] != "pass"}
    assert failing == {("critical-billing-data", "full"), ("critical-billing-data", "restricted")}
    assert {c["device"] for c in report["cases"]} == {"esme"}  # --device esme: its cases only
    full = next(c for c in report["cases"] if c["case"] == "critical-billing-data")
    assert full["upstream"][0]["topic"] == "up/alert"  # observed: it went up as a plain alert
    assert "## Not passed" in (out / "conformance.md").read_text()


async def test_a_stated_expectation_the_profile_contradicts_fails_naming_both(
    tmp_path: Path, broker: Broker
) -> None:
    """A manufacturer who believes their low-credit alert goes up in restricted mode is told
    the profile holds it back: the case fails in that mode only, saying what each side says,
    although the meter and the hub both behaved."""
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(
        'format = 1\n[[case]]\nname = "acme-low-credit"\ndevice = "esme"\nalert = "0x810D"\n'
        'critical = false\nexpect = { full = "forward", restricted = "forward" }\n'
    )
    config_path = write_config(tmp_path, broker, mode="full", extra=TRUST_LAB)
    config = load_config(config_path)
    results, meta = await conformance.run_conformance(
        config,
        cases=conformance.read_case_files([wrong]),
        meters=[_meter(esme.SimEsme, config_path)],
        settle=0.05,
    )
    verdicts = {r.mode: r.failures for r in results}
    assert verdicts[Mode.FULL] == []
    assert verdicts[Mode.RESTRICTED] == [
        f"the case file expects forward in restricted mode, but profile {meta['profile']} "
        f"v{meta['profile_version']} decides block prepayment (upstream.blocked)"
    ]
    [restricted] = [r for r in results if r.mode is Mode.RESTRICTED]
    assert restricted.upstream == []  # the hub did block it, as its profile says


def test_expected_outcomes_follow_the_profile_file() -> None:
    """Change the profile and the expectation changes with it: nothing is written per case."""
    shipped = parse_profile(PROFILE.read_text())
    billing_rule = '{ code = "0x8F0A", why = "billing-data alert held back in restricted mode" },'
    assert billing_rule in PROFILE.read_text()
    text = PROFILE.read_text().replace(billing_rule, "")
    down = 'allow_categories = ["firmware", "security", "safety"]\n'
    text = text.replace(down, down.replace('"safety"', '"safety", "tariff"'))
    changed = parse_profile(text)
    billing = AlertSpec(0x8F0A, 0x0061, critical=True)
    assert not conformance.expect_alert(billing, DEVICE, Mode.RESTRICTED, shipped).up.forwarded  # type: ignore[union-attr]
    assert conformance.expect_alert(billing, DEVICE, Mode.RESTRICTED, changed).up.forwarded  # type: ignore[union-attr]
    supplier = LabSupplier(bytes.fromhex("90B3D51F30010000"))
    tariff = parse_frame(supplier.command(DEVICE, LabCommand(0x0019, critical=True)))
    blocked = conformance.expect_command(tariff, DEVICE, Mode.RESTRICTED, shipped)
    assert blocked.down is not None and not blocked.down.forwarded and blocked.reply is None
    allowed = conformance.expect_command(tariff, DEVICE, Mode.RESTRICTED, changed)
    assert allowed.reply is not None and allowed.reply.critical  # a signed command: signed reply
    assert allowed.up is not None and allowed.up.rule == "upstream.response_to_allowed_command"


def test_untrusted_lab_key_is_a_one_line_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, None, extra=f'[trust]\ndir = "{tmp_path / "none"}"\n')
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "conformance", "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78
    expected = f"config error: {config}: [trust] dir: a trust store holding the lab TEST key"
    assert result.stderr.strip().splitlines()[-1].startswith(expected), result.stderr
    assert sum("error" in line for line in result.stderr.splitlines()) == 1
