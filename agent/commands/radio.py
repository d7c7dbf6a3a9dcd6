"""`han-agent radio list|check|backup|restore`: find, test and back up the Zigbee radio.

Exit statuses: 0 success; 1 the radio could not be opened or the operation failed (one line
says why); 2 `check` found a working radio with no network yet (the hub forms one on its first
start); 78 a configuration error. `check`, `backup` and `restore` open the serial port, so stop
the service first (`systemctl stop han-agent`): a port has one owner.

The open join window is not a subcommand here, because the running hub owns the radio: ask the
hub with an MQTT request on `<base>/<hub id>/bridge/request/permit_join`, payload
`{"seconds": N}` (0 to 254; docs/mqtt.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from agent.config import Config, ConfigError, load_config
from agent.radio_backup import backup_now, read_backup, write_backup
from hal.ports import system_candidates
from hal.radio import RadioSettings, load_radio_app, open_radio
from hal.radio_check import check_radio
from hal.radio_errors import explain

NAME = "radio"

EX_NO_NETWORK = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    radio = sub.add_parser(NAME, help="find, check and back up the Zigbee radio")
    actions = radio.add_subparsers(dest="radio_command", required=True)
    actions.add_parser("list", help="list serial ports that may be a Zigbee dongle")
    check = actions.add_parser("check", help="open the radio and print what it is")
    check.add_argument("--config", type=Path, help="the TOML config file ([radio] section)")
    check.add_argument("--path", help="a serial device, /dev/serial/by-id path or socket:// URL")
    check.add_argument("--baudrate", type=int, help="override the baud rate")
    check.add_argument(
        "--flow-control", choices=("hardware", "software", "none"), help="override flow control"
    )
    check.add_argument("--timeout", type=float, default=30.0, help="give up after this (s)")
    backup = actions.add_parser("backup", help="write a network backup into the state dir")
    backup.add_argument("--config", type=Path, required=True, help="the TOML config file")
    restore = actions.add_parser("restore", help="write a network backup onto the radio")
    restore.add_argument("--config", type=Path, required=True, help="the TOML config file")
    restore.add_argument("backup", type=Path, help="a backup JSON file (from `radio backup`)")


def run(args: argparse.Namespace) -> int:
    if args.radio_command == "list":
        return _list()
    if args.radio_command == "check":
        return asyncio.run(_check(args))
    config = load_config(args.config)
    if config.radio.type != "ezsp" and not config.radio.path.startswith("virtual://"):
        print(
            "backup/restore need [radio] type = 'ezsp' (or a named virtual dongle)", file=sys.stderr
        )
    if args.radio_command == "backup":
        return asyncio.run(_backup(config))
    return asyncio.run(_restore(config, args.backup))


def _list() -> int:
    found = system_candidates()
    if not found:
        print("no serial ports found (is the dongle plugged in?)")
        return 1
    for c in found:
        print(f"{c.path}")
        print(f"  by-id:   {c.by_id or '- (no /dev/serial/by-id link: not a USB device?)'}")
        print(f"  USB id:  {c.usb_id}  {c.product or c.description}")
        print(f"  guess:   {c.name}; stack {c.stack}")
    print("use the by-id path in [radio] path; `han-agent radio check --path PATH` tests it")
    return 0


def _settings(args: argparse.Namespace) -> RadioSettings:
    if args.config is not None:
        config = load_config(args.config)
        from agent.hub import radio_settings

        settings = radio_settings(config)
    elif args.path:
        settings = RadioSettings(type="ezsp", path=args.path)
    else:
        raise ConfigError("(command line)", "--config or --path", "one of them is required")
    changes: dict[str, object] = {}
    if args.path:
        changes["path"] = args.path
        changes["type"] = "virtual" if args.path.startswith("virtual://") else "ezsp"
    if args.baudrate is not None:
        changes["baudrate"] = args.baudrate
    if args.flow_control is not None:
        changes["flow_control"] = None if args.flow_control == "none" else args.flow_control
    return RadioSettings(**{**settings.__dict__, **changes})


async def _check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    where = settings.path or f"{settings.type}://"
    try:
        report = await check_radio(settings, deadline=args.timeout)
    except Exception as exc:
        print(f"radio check failed: {explain(exc, where)}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0 if report.formed else EX_NO_NETWORK


async def _backup(config: Config) -> int:
    from agent.hub import radio_settings

    settings = radio_settings(config)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        app = await open_radio(settings, config.state_dir, auto_form=False)
    except Exception as exc:
        print(f"backup failed: {explain(exc, settings.path)}", file=sys.stderr)
        return 1
    try:
        path = await backup_now(app, config.state_dir, "manual")
    finally:
        await app.shutdown()
    print(path)
    return 0


async def _restore(config: Config, file: Path) -> int:
    from agent.hub import radio_settings

    try:
        backup = read_backup(file)
    except ValueError as exc:
        print(f"restore refused: {exc}", file=sys.stderr)
        return 1
    settings = radio_settings(config)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    app = await load_radio_app(settings, config.state_dir)
    try:
        await app.connect()
        try:
            current = await app.backups.create_backup(load_devices=True)
        except Exception:
            current = None  # a blank radio: nothing to save first
        if current is not None:
            saved = write_backup(config.state_dir, current, "before-restore")
            print(f"the radio's current network saved to {saved}")
        await app.backups.restore_backup(backup)
    except Exception as exc:
        print(f"restore failed: {explain(exc, settings.path)}", file=sys.stderr)
        return 1
    finally:
        await app.shutdown()
    network = backup.network_info
    print(
        f"restored: channel {network.channel}, PAN 0x{int(network.pan_id):04X}, "
        f"extended PAN {network.extended_pan_id}"
    )
    return 0
