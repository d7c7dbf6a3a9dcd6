"""han-agent: the command line.

Exit statuses: 0 success; 78 (EX_CONFIG) a configuration error, printed as one line naming the
file, the key and what was expected; 65 (EX_DATAERR) state that cannot be used (a state file
that cannot be trusted, or a state directory that cannot be read and written), printed as one
line naming the file and what is wrong (agent/state.py); 1 a command that failed (each command
says when).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

from agent.config import EX_CONFIG, ConfigError
from agent.state import StateError

EX_DATAERR = 65

# Every subcommand: its module under agent/commands (with `register(sub)` and `run(args)`), and
# its line in `han-agent --help`. Only the module of the command being run is imported: the
# others pull in zigpy, bellows or aiomqtt (0.6 s of imports) that `--help` and `decode` do
# not need. Each help line must be the one the module registers (tests/test_packaging.py).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "run the hub (the lab default runs simulated meters)"),
    "decode": ("decode", "decode GBCS frames (hex) to JSON with the policy decision"),
    "replay": ("replay", "decide captured GBCS traffic offline: a decision table"),
    "simulate": ("simulate", "run the hub on the virtual radio through a scenario file"),
    "conformance": ("conformance", "run a meter through the conformance cases; write a report"),
    "radio": ("radio", "find, check and back up the Zigbee radio"),
    "ncp-emulator": ("ncp_emulator", "serve an emulated EZSP NCP on a pty (lab and tests)"),
    "keys": ("keys", "supplier signing keys"),
    "consent": ("consent", "sign, send and show consent commands"),
    "firmware": ("firmware", "build and send signed firmware images"),
    "device-log": ("device_log", "add a device to, or remove one from, a hub's device log"),
}


def command_module(name: str) -> ModuleType:
    return importlib.import_module(f"agent.commands.{COMMANDS[name][0]}")


class _Version(argparse.Action):
    """`--version`: the package metadata's version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> NoReturn:
        from agent import version

        print(f"han-agent {version()}")
        parser.exit()


def chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand named in argv: its first word that is not an option.

    Right as long as no top-level option takes a value (there are only --help and --version).
    """
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with `command`'s arguments; every other command is its help line only."""
    parser = argparse.ArgumentParser(
        prog="han-agent",
        description="GB smart-metering Communications Hub emulator with a consent-restricted mode",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_line) in COMMANDS.items():
        if name == command:
            command_module(name).register(sub)
        else:
            sub.add_parser(name, help=help_line)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    command = chosen_command(argv)
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    # argparse exits on a command that is not in COMMANDS, so here args.command == command.
    try:
        return int(command_module(args.command).run(args))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    except StateError as exc:
        print(exc, file=sys.stderr)
        return EX_DATAERR


if __name__ == "__main__":
    sys.exit(main())
