"""`han-agent simulate SCENARIO`: the full hub on the virtual radio, driven by a scenario file.

The hub runs as `run` runs it (same config, the configured broker), with the scenario's devices
attached instead of the lab default's traffic. At the end it prints one PASS/FAIL line per
expectation the scenario states, a summary line, and the hub's counters as one JSON line, and
writes the verdicts as JUnit XML (`--junit FILE`) and JSON (`--json FILE`) for a lab's CI.
Its state dir is a fresh temporary one, removed afterwards, unless `--state-dir` names one: a
scenario changes the consent record and the network, and must not leave the lab's `state/` in
another mode or with its devices.

Exit status: 0 when the run completed and every expectation passed; 3 when it completed and at
least one expectation failed (EXPECTATION_FAILED); 78 for a bad scenario file (one line naming
the file and the key); 75 when the broker did not answer; 1 for any other failure (one line).

SCENARIO is a file, or the name of a shipped scenario (config/scenarios/NAME.toml, package data)
when no such file exists. Without --config the hub runs on the shipped lab config, so an
installed hub can run a scenario from anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from agent.config import ConfigError, load_config
from agent.shipped import LAB_CONFIG, SCENARIOS, scenario_names
from agent.state import StateError

if TYPE_CHECKING:
    from agent.expectations import Verdict

NAME = "simulate"
EXPECTATION_FAILED = 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(NAME, help="run the hub on the virtual radio through a scenario file")
    cmd.add_argument(
        "scenario",
        type=Path,
        help=f"the scenario TOML, or a shipped one by name ({', '.join(scenario_names())})",
    )
    cmd.add_argument(
        "--config",
        type=Path,
        help="the hub's TOML config (default: the lab config with a temporary state dir)",
    )
    cmd.add_argument("--mqtt-url", help="override [mqtt] url")
    cmd.add_argument(
        "--state-dir", help="state dir for the run (default: a fresh temporary one, then removed)"
    )
    cmd.add_argument("--time-scale", type=float, default=1.0, help="run N times faster (default 1)")
    cmd.add_argument("--quiet", action="store_true", help="no live view")
    cmd.add_argument("--junit", type=Path, help="write the expectations' verdicts as JUnit XML")
    cmd.add_argument("--json", type=Path, help="write the expectations' verdicts as JSON")
    cmd.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="seconds to wait after the run for expectations still unmet (default 5)",
    )


def scenario_path(arg: Path) -> Path:
    """The file named; else the shipped scenario of that name; else the argument (unreadable)."""
    shipped = SCENARIOS / f"{arg.name.removesuffix('.toml')}.toml"
    if not arg.exists() and arg.parent == Path() and shipped.is_file():
        return shipped
    return arg


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="han-agent-simulate-") as scratch:
        return simulate(args, args.config or LAB_CONFIG, args.state_dir or scratch)


def simulate(args: argparse.Namespace, config_path: Path, state_dir: str) -> int:
    from agent.scenario import (  # imports the hub: zigpy loads only when it runs
        RunError,
        load_scenario,
    )

    scenario = load_scenario(scenario_path(args.scenario))
    if args.time_scale <= 0:
        raise ConfigError(args.scenario, "--time-scale", "a number > 0")
    if args.settle < 0:
        raise ConfigError(args.scenario, "--settle", "a number >= 0")
    config = load_config(config_path, mqtt_url=args.mqtt_url, state_dir=state_dir)
    if config.radio.type != "virtual":
        raise ConfigError(config.path, "[radio] type", "'virtual' (scenarios simulate devices)")
    from agent.hub import Hub
    from agent.scenario import run_scenario, scenario_config
    from agent.screen import bind_view, close_view, make_view, scenario_clock

    config = scenario_config(config, scenario, args.time_scale)
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")

    async def main() -> tuple[dict[str, object], list[Verdict]]:
        view = None if args.quiet else make_view()
        hub = Hub(config, view=view)
        bind_view(view, hub)
        clock = None
        try:
            await hub.start()
            clock = asyncio.get_running_loop().create_task(
                scenario_clock(view, scenario.name, scenario.duration, args.time_scale)
            )
            hub.event(f"scenario {scenario.name}: {scenario.description}")
            run = await run_scenario(hub, scenario, config.lab, time_scale=args.time_scale)
            try:
                verdicts = await run.verdicts(settle=args.settle)
            finally:
                await run.stop()
            return hub.health_snapshot(), verdicts
        finally:
            if clock is not None:
                clock.cancel()
            close_view(view)
            await hub.stop()

    try:
        snapshot, verdicts = asyncio.run(main())
    except RunError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return exc.status
    except (ConfigError, StateError):
        raise  # one line from agent/cli.py, with its own status
    except Exception as exc:  # never a traceback: say what failed, in one line
        print(f"simulate: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return report(args, scenario.name, snapshot, verdicts, time.monotonic() - started, stamp)


def report(
    args: argparse.Namespace,
    name: str,
    snapshot: dict[str, object],
    verdicts: list[Verdict],
    seconds: float,
    stamp: str,
) -> int:
    from agent.expectations import summary, to_json, to_junit

    for verdict in verdicts:
        print(verdict.line)
    failed = sum(not v.passed for v in verdicts)
    if verdicts:
        print(summary(name, verdicts))
    for option, text in (
        ("--junit", to_junit(name, verdicts, seconds, stamp) if args.junit else ""),
        ("--json", to_json(name, verdicts, seconds) if args.json else ""),
    ):
        path = args.junit if option == "--junit" else args.json
        if path is None:
            continue
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"simulate: cannot write {option} {path}: {exc.strerror}", file=sys.stderr)
            return 1
    expectations = {"passed": len(verdicts) - failed, "failed": failed}
    print(
        json.dumps(
            {
                "scenario": name,
                "mode": snapshot["mode"],
                "counters": snapshot["counters"],
                "expectations": expectations,
            }
        )
    )
    return EXPECTATION_FAILED if failed else 0
