"""`han-agent conformance`: a meter through every conformance case in both modes, and a report.

The hub starts on the given config (the lab default: the virtual radio and a simulated ESME) with
a state dir of its own, so the run's consent changes never touch a running hub's record. The
report is written as conformance.md and conformance.json in --out; the Markdown is also printed.
Progress goes to stderr, one line a case. Exit 0 when every case passed, 1 otherwise; a run that
cannot go on is one line on stderr, never a traceback.
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
from agent.shipped import LAB_CONFIG
from agent.state import StateError

NAME = "conformance"
DEVICES = ("esme",)


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
        "--device", default="esme", help="the simulated device on the virtual radio (esme)"
    )
    cmd.add_argument("--device-eui", help="with a real radio: the meter's EUI-64 (16 hex digits)")
    cmd.add_argument("--mqtt-url", help="override [mqtt] url")
    cmd.add_argument("--state-dir", help="state dir for the run (default: a fresh temporary one)")


def run(args: argparse.Namespace) -> int:
    if args.device not in DEVICES:
        raise ConfigError(args.config, "--device", f"one of {', '.join(DEVICES)}")
    with tempfile.TemporaryDirectory(prefix="han-agent-conformance-") as scratch:
        config = load_config(
            args.config, mqtt_url=args.mqtt_url, state_dir=args.state_dir or scratch
        )
        device: bytes | None = None
        if config.radio.type != "virtual":
            try:
                device = bytes.fromhex(args.device_eui or "")
            except ValueError:
                device = b""
            if len(device) != 8:
                raise ConfigError(args.config, "--device-eui", "the real meter's EUI-64 (16 hex)")
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"conformance: cannot create {args.out}: {exc.strerror}", file=sys.stderr)
            return 1
        from agent import conformance, conformance_report  # zigpy loads only when the hub runs
        from hal.sim.esme import SimEsme

        meter = None
        if device is None:
            first = int(datetime.now(UTC).timestamp() * 1000)  # never reuse a dedup id
            meter = SimEsme(bytes.fromhex(config.lab.esme), 0x1A01, first_alert_counter=first)

        from agent.progress import Progress

        bar = Progress(sys.stderr)

        def progress(done: int, total: int, text: str) -> None:
            line = f"[{done}/{total}] {text}"
            if bar.tty and not line.endswith(": pass"):
                bar.note(line)  # a failure stays on the terminal
            bar.update(done, total, line)

        try:
            results, profile = asyncio.run(
                conformance.run_conformance(config, meter=meter, device=device, progress=progress)
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
    name = f"simulated {args.device} {config.lab.esme}" if meter else f"meter {args.device_eui}"
    meta = {
        "device": name,
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
