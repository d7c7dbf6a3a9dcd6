"""han-agent: the command line.

Exit statuses: 0 clean stop; 78 (EX_CONFIG) a configuration error, printed as one line naming
the file, the key and what was expected; 65 (EX_DATAERR) a state file that cannot be trusted;
1 anything else unexpected.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from agent.config import EX_CONFIG, Config, ConfigError, load_config
from agent.state import StateError

EX_DATAERR = 65

LOGGER = logging.getLogger("han-agent")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="han-agent",
        description="GB smart-metering Communications Hub emulator with a consent-restricted mode",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the hub (the lab default runs simulated meters)")
    run.add_argument("--config", required=True, type=Path, help="the TOML config file")
    run.add_argument("--mqtt-url", help="override [mqtt] url, e.g. mqtt://127.0.0.1:1883")
    run.add_argument("--state-dir", help="override [state] dir")
    run.add_argument("--hub-id", help="override hub_id (16 hex digits)")
    run.add_argument("--quiet", action="store_true", help="no live view, log lines only")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            config = load_config(
                args.config, mqtt_url=args.mqtt_url, state_dir=args.state_dir, hub_id=args.hub_id
            )
            if config.lab.enabled and config.radio.type != "virtual":
                raise ConfigError(
                    config.path, "[lab] enabled", "true only with [radio] type = 'virtual'"
                )
            _setup_logging(config.log_level)
            return asyncio.run(_run(config, quiet=args.quiet))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    except StateError as exc:
        print(exc, file=sys.stderr)
        return EX_DATAERR
    return 0


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="<%(levelno)s>%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # zigpy is chatty at INFO about every interview step; the hub logs what matters.
    for noisy in ("zigpy", "bellows", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


async def _run(config: Config, *, quiet: bool) -> int:
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


if __name__ == "__main__":
    sys.exit(main())
