"""`han-agent simulate SCENARIO`: the full hub on the virtual radio, driven by a scenario file.

The hub runs as `run` runs it (same config, the configured broker), with the scenario's devices
attached instead of the lab default's traffic; at the end it prints the counters and stops.
Its state dir is a fresh temporary one, removed afterwards, unless `--state-dir` names one: a
scenario changes the consent record and the network, and must not leave the lab's `state/` in
another mode or with its devices. A bad scenario file exits 78 with one line naming the file and
the key; any other failure is one line too (75 when the broker did not answer, else 1).

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
from pathlib import Path

from agent.config import ConfigError, load_config
from agent.shipped import LAB_CONFIG, SCENARIOS, scenario_names
from agent.state import StateError

NAME = "simulate"


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
    config = load_config(config_path, mqtt_url=args.mqtt_url, state_dir=state_dir)
    if config.radio.type != "virtual":
        raise ConfigError(config.path, "[radio] type", "'virtual' (scenarios simulate devices)")
    from agent.hub import Hub
    from agent.scenario import run_scenario
    from agent.screen import bind_view, close_view, make_view, scenario_clock

    async def main() -> dict[str, object]:
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
            lab = await run_scenario(hub, scenario, config.lab, time_scale=args.time_scale)
            await lab.stop()
            return hub.health_snapshot()
        finally:
            if clock is not None:
                clock.cancel()
            close_view(view)
            await hub.stop()

    try:
        snapshot = asyncio.run(main())
    except RunError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return exc.status
    except (ConfigError, StateError):
        raise  # one line from agent/cli.py, with its own status
    except Exception as exc:  # never a traceback: say what failed, in one line
        print(f"simulate: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {"scenario": scenario.name, "mode": snapshot["mode"], "counters": snapshot["counters"]}
        )
    )
    return 0
