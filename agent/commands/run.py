"""`han-agent run`: the hub itself (on the lab default, with simulated meters and a live view).

Lifecycle, signals and systemd notification live in agent/service.py; logging in agent/logs.py.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import threading
from pathlib import Path

from agent.config import Config, ConfigError, load_config
from agent.logs import FORMATS, setup_logging

NAME = "run"
LOGGER = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(NAME, help="run the hub (the lab default runs simulated meters)")
    run.add_argument("--config", required=True, type=Path, help="the TOML config file")
    run.add_argument("--mqtt-url", help="override [mqtt] url, e.g. mqtt://127.0.0.1:1883")
    run.add_argument("--state-dir", help="override [state] dir")
    run.add_argument("--hub-id", help="override hub_id (16 hex digits)")
    run.add_argument(
        "--capture",
        metavar="FILE",
        help="write every HAN packet to FILE as pcapng (overrides [capture] file; '' for off)",
    )
    run.add_argument("--quiet", action="store_true", help="no live view, log lines only")
    run.add_argument(
        "--log-format",
        choices=FORMATS,
        default="journal",
        help="journal: '<priority>LEVEL logger: message' lines (default); json: one object a line",
    )


def _load(args: argparse.Namespace) -> Config:
    config = load_config(
        args.config,
        mqtt_url=args.mqtt_url,
        state_dir=args.state_dir,
        hub_id=args.hub_id,
        capture=args.capture,
    )
    if config.lab.enabled and config.radio.type != "virtual" and not config.lab.ncp_emulator:
        raise ConfigError(
            config.path,
            "[lab] enabled",
            "true only with [radio] type = 'virtual', or with [lab] ncp_emulator = true",
        )
    return config


def run(args: argparse.Namespace) -> int:
    config = _load(args)
    logs = setup_logging(config.log_level, args.log_format)
    from agent.service import Service  # zigpy and friends load only when the hub runs

    service = Service(config, quiet=args.quiet, reread=lambda: _load(args), logs=logs)
    try:
        return asyncio.run(service.serve())
    finally:
        say_threads_left()


def say_threads_left() -> None:
    """Name any thread still running once the hub has stopped.

    Python waits for every non-daemon thread before the process exits. A thread that a library
    leaves running would keep a stopped hub alive until systemd kills it (TimeoutStopSec), with
    nothing in the journal to say why. The hub and the outbox stop their own threads, and the
    radio open is safe to cancel (hal/radio.py), so this line means a bug worth reporting.
    """
    left = [
        thread.name
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.daemon
    ]
    if left:
        LOGGER.error(
            "stopped, but the process cannot exit: threads still running: %s", ", ".join(left)
        )
