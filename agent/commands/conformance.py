"""`han-agent conformance`: meters through every conformance case in both modes, and a report.

The cases are the shipped file's (config/conformance/cases.toml) and those of every `--cases`
file. The hub starts on the given config (the lab default: the virtual radio, with one simulated
device of each kind the cases drive) with a state dir of its own, so the run's consent changes
never touch a running hub's record. The report is written as conformance.md and
conformance.json in --out; the Markdown is also printed. Progress goes to stderr, one line a
case. Exit 0 when every case passed, 1 otherwise; a bad case file or option is one line and
exit 78, and a run that cannot go on is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from agent.config import ConfigError, load_config
from agent.shipped import CONFORMANCE_CASES, LAB_CONFIG
from agent.state import StateError

NAME = "conformance"
SIMULATED = (
    "esme",
    "gsme",
    "ppmid",
    "ihd",
)  # the kinds the virtual radio has a simulated device for


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(NAME, help="run a meter through the conformance cases; write a report")
    cmd.add_argument(
        "--config",
        type=Path,
        default=LAB_CONFIG,
        help="the hub's TOML config (default: the lab config, virtual radio)",
    )
    cmd.add_argument("--out", type=Path, default=Path("conformance-report"), help="report dir")
    cmd.add_argument(
        "--cases",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a case file of your own, run after the shipped cases (repeatable)",
    )
    cmd.add_argument(
        "--device",
        action="append",
        default=[],
        help=f"run only this device kind's cases (repeatable; {', '.join(SIMULATED)}; "
        "default: every kind the cases name; with a real radio: the meter's kind, default esme)",
    )
    cmd.add_argument("--device-eui", help="with a real radio: the meter's EUI-64 (16 hex digits)")
    cmd.add_argument("--mqtt-url", help="override [mqtt] url")
    cmd.add_argument("--state-dir", help="state dir for the run (default: a fresh temporary one)")


def run(args: argparse.Namespace) -> int:
    from agent import conformance, conformance_report  # zigpy loads only when the hub runs

    for kind in args.device:
        if kind not in SIMULATED:
            raise ConfigError(args.config, "--device", f"one of {', '.join(SIMULATED)}")
    cases = conformance.read_case_files([CONFORMANCE_CASES, *args.cases])
    if args.device:
        cases = [c for c in cases if c.device in args.device]
    if not cases:
        raise ConfigError(args.config, "--device", "a device kind the case files have cases for")
    with tempfile.TemporaryDirectory(prefix="han-agent-conformance-") as scratch:
        config = load_config(
            args.config, mqtt_url=args.mqtt_url, state_dir=args.state_dir or scratch
        )
        device: bytes | None = None
        kinds = sorted({c.device for c in cases})
        if config.radio.type != "virtual":
            if len(args.device) > 1:
                raise ConfigError(args.config, "--device", "one device kind with a real radio")
            try:
                device = bytes.fromhex(args.device_eui or "")
            except ValueError:
                device = b""
            if len(device) != 8:
                raise ConfigError(args.config, "--device-eui", "the real meter's EUI-64 (16 hex)")
            kinds = (args.device or ["esme"])[:1]  # one meter: only its own cases can run
            cases = [c for c in cases if c.device in kinds]
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"conformance: cannot create {args.out}: {exc.strerror}", file=sys.stderr)
            return 1
        meters = [] if device is not None else conformance.simulated_devices(config, kinds)

        from agent.progress import Progress

        bar = Progress(sys.stderr)

        def progress(done: int, total: int, text: str) -> None:
            line = f"[{done}/{total}] {text}"
            if bar.tty and not line.endswith(": pass"):
                bar.note(line)  # a failure stays on the terminal
            bar.update(done, total, line)

        try:
            results, profile = asyncio.run(
                conformance.run_conformance(
                    config,
                    cases=cases,
                    meters=meters,
                    device=device,
                    device_kind=kinds[0],
                    progress=progress,
                )
            )
        except conformance.NotReady as exc:
            bar.close()
            print(f"conformance: {exc}", file=sys.stderr)
            return exc.status
        except (ConfigError, StateError):
            raise  # one line from agent/cli.py, with its own status
        except Exception as exc:  # never a traceback: say what failed, in one line
            bar.close()
            print(f"conformance: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        finally:
            bar.close()
    meta = {
        "shipped_cases": str(CONFORMANCE_CASES),
        "hub_id": config.hub_id,
        "radio": config.radio.type,
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **profile,
    }
    markdown = conformance_report.report_markdown(results, meta)
    (args.out / "conformance.md").write_text(markdown, encoding="utf-8")
    (args.out / "conformance.json").write_text(
        json.dumps(conformance_report.report_json(results, meta), indent=2) + "\n", encoding="utf-8"
    )
    print(markdown, end="")
    return 0 if all(r.passed for r in results) else 1
