"""`han-agent run`: the hub itself (on the lab default, with simulated meters and a live view)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from agent.config import Config, ConfigError, load_config

NAME = "run"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(NAME, help="run the hub (the lab default runs simulated meters)")
    run.add_argument("--config", required=True, type=Path, help="the TOML config file")
    run.add_argument("--mqtt-url", help="override [mqtt] url, e.g. mqtt://127.0.0.1:1883")
    run.add_argument("--state-dir", help="override [state] dir")
    run.add_argument("--hub-id", help="override hub_id (16 hex digits)")
    run.add_argument("--quiet", action="store_true", help="no live view, log lines only")


def run(args: argparse.Namespace) -> int:
    config = load_config(
        args.config, mqtt_url=args.mqtt_url, state_dir=args.state_dir, hub_id=args.hub_id
    )
    if config.lab.enabled and config.radio.type != "virtual":
        raise ConfigError(config.path, "[lab] enabled", "true only with [radio] type = 'virtual'")
    setup_logging(config.log_level)
    return asyncio.run(_serve(config, quiet=args.quiet))


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="<%(levelno)s>%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # zigpy is chatty at INFO about every interview step; the hub logs what matters.
    for noisy in ("zigpy", "bellows", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


async def _serve(config: Config, *, quiet: bool) -> int:
    from agent.hub import Hub
    from agent.lab import Lab
    from agent.view import LiveView

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    hub = Hub(config, view=None if quiet else LiveView())
    lab: Lab | None = None
    try:
        await hub.start()
        if config.lab.enabled:
            lab = Lab(hub, config.lab)
            await lab.start()
            hub.event(
                f"lab: ESME {config.lab.esme}, IHD {config.lab.ihd}, "
                f"supplier {config.lab.supplier}; Ctrl-C stops"
            )
        await stop.wait()
    finally:
        if lab is not None:
            await lab.stop()
        with contextlib.suppress(Exception):
            await hub.stop()
    return 0
