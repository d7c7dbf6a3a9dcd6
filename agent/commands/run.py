"""`han-agent run`: the hub itself (on the lab default, with simulated meters and a live view).

Lifecycle, signals and systemd notification live in agent/service.py; logging in agent/logs.py.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from agent.config import Config, ConfigError, load_config
from agent.logs import FORMATS, setup_logging

NAME = "run"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(NAME, help="run the hub (the lab default runs simulated meters)")
    run.add_argument("--config", required=True, type=Path, help="the TOML config file")
    run.add_argument("--mqtt-url", help="override [mqtt] url, e.g. mqtt://127.0.0.1:1883")
    run.add_argument("--state-dir", help="override [state] dir")
    run.add_argument("--hub-id", help="override hub_id (16 hex digits)")
    run.add_argument("--quiet", action="store_true", help="no live view, log lines only")
    run.add_argument(
        "--log-format",
        choices=FORMATS,
        default="journal",
        help="journal: '<priority>LEVEL logger: message' lines (default); json: one object a line",
    )


def _load(args: argparse.Namespace) -> Config:
    config = load_config(
        args.config, mqtt_url=args.mqtt_url, state_dir=args.state_dir, hub_id=args.hub_id
    )
    if config.lab.enabled and config.radio.type != "virtual":
        raise ConfigError(config.path, "[lab] enabled", "true only with [radio] type = 'virtual'")
    return config


def run(args: argparse.Namespace) -> int:
    config = _load(args)
    logs = setup_logging(config.log_level, args.log_format)
    from agent.service import Service  # zigpy and friends load only when the hub runs

    service = Service(config, quiet=args.quiet, reread=lambda: _load(args), logs=logs)
    return asyncio.run(service.serve())
