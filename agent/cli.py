"""han-agent: the command line.

Exit statuses: 0 success; 78 (EX_CONFIG) a configuration error, printed as one line naming the
file, the key and what was expected; 65 (EX_DATAERR) state that cannot be used (a state file
that cannot be trusted, or a state directory that cannot be read and written), printed as one
line naming the file and what is wrong (agent/state.py); 1 a command that failed (each command
says when).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

from agent.commands import conformance as conformance_command
from agent.commands import consent as consent_command
from agent.commands import decode as decode_command
from agent.commands import device_log as device_log_command
from agent.commands import firmware as firmware_command
from agent.commands import keys as keys_command
from agent.commands import radio as radio_command
from agent.commands import replay as replay_command
from agent.commands import run as run_command
from agent.commands import simulate as simulate_command
from agent.config import EX_CONFIG, ConfigError
from agent.state import StateError

EX_DATAERR = 65

COMMANDS: tuple[ModuleType, ...] = (
    run_command,
    decode_command,
    replay_command,
    simulate_command,
    conformance_command,
    radio_command,
    keys_command,
    consent_command,
    firmware_command,
    device_log_command,
)


class _Version(argparse.Action):
    """`--version`: the package metadata's version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> NoReturn:
        from agent import version

        print(f"han-agent {version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="han-agent",
        description="GB smart-metering Communications Hub emulator with a consent-restricted mode",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {command.NAME: command.run for command in COMMANDS}[args.command]
    try:
        return int(handler(args))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    except StateError as exc:
        print(exc, file=sys.stderr)
        return EX_DATAERR


if __name__ == "__main__":
    sys.exit(main())
