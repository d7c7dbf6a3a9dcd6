"""`han-agent device-log add|remove`: change a hub's device log as the WAN does, with CCS01/CCS02.

The command builds the GBCS command to the hub (CCS01 add with the device's install code, or CCS02
remove), publishes it on `<base>/<hub>/down/gbcs` and prints the hub's answer from `down/result`.
With `--acb-key` (the ACB's key-agreement private key, PEM) it MACs the command as the ACB does,
with the key it shares with the hub (the hub's KA key read from the retained `bridge/info`): what
a hub with `[trust] acb_key` asks for. Without it the command carries the lab's fixed MAC, which
only a hub without `[trust] acb_key` accepts. The originator counter is the time in
milliseconds, so each command is newer than the last. The broker options (and the hub id, from
`--config`) are agent/broker_client.py's. Exit 0 when the hub actioned it, 1 when it refused
it, 75 when no answer came in time or the broker could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import aiomqtt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from agent.broker_client import (
    EX_TEMPFAIL,
    Broker,
    add_broker_args,
    broker_from_args,
    client,
    first_json,
    hub_id,
    no_broker,
)
from gbcs import chf_commands, mac_key, signature
from gbcs.frame import Cra, build_frame
from hal.sim.esme import LAB_MAC_KEY  # the lab's fixed MAC, for a hub that checks none

NAME = "device-log"
LAB_ACB = "90B3D51F30000002"  # the DCC test data's ACB / Network Operator originator


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    log = sub.add_parser(NAME, help="add a device to, or remove one from, a hub's device log")
    actions = log.add_subparsers(dest="device_log_action", required=True)
    add = actions.add_parser("add", help="CCS01: add a device with its install code")
    remove = actions.add_parser("remove", help="CCS02: remove a device")
    add.add_argument("--install-code", required=True, help="hex, with its CRC (as on the label)")
    for parser in (add, remove):
        parser.add_argument("--eui64", required=True, help="the device (16 hex digits)")
        parser.add_argument("--hub", help="the hub id (16 hex digits; default: --config's)")
        parser.add_argument(
            "--acb-key", type=Path, help="the ACB's key-agreement private key (PEM): MAC as the ACB"
        )
        parser.add_argument(
            "--originator", default=LAB_ACB, help=f"originator system title (default {LAB_ACB})"
        )
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (30)")
        add_broker_args(parser, hub_help="hub id")


def _fail(text: str) -> int:
    print(f"device-log: {text}", file=sys.stderr)
    return 1


def _eui64(text: str, what: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != 8:
        raise ValueError(f"{what} {text!r}: expected 16 hex digits")
    return value


def _acb_key(path: Path | None) -> ec.EllipticCurvePrivateKey | None:
    if path is None:
        return None
    try:
        return signature.load_private_key(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"--acb-key {path}: {exc.strerror}") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        expected = "not an unencrypted EC P-256 private key (PEM)"
        raise ValueError(f"--acb-key {path}: {expected}") from None


def run(args: argparse.Namespace) -> int:
    broker = broker_from_args(args)
    try:
        hub = _eui64(hub_id(args, broker, "device-log"), "--hub")
        device = _eui64(args.eui64, "--eui64")
        originator = _eui64(args.originator, "--originator")
        install_code = None
        if args.device_log_action == "add":
            install_code = bytes.fromhex(args.install_code)
        acb_key = _acb_key(args.acb_key)
    except ValueError as exc:
        return _fail(str(exc))
    base = f"{broker.settings.base_topic}/{hub.hex().upper()}"
    try:
        answer = asyncio.run(
            _send(broker, base, hub, device, install_code, originator, acb_key, args.timeout)
        )
    except ValueError as exc:
        return _fail(str(exc))
    except aiomqtt.MqttError as exc:
        return no_broker("device-log", broker, exc)
    if answer is None:
        print(
            f"device-log: no answer on {base}/down/result within {args.timeout} s", file=sys.stderr
        )
        return EX_TEMPFAIL
    print(json.dumps(answer, indent=2))
    return 0 if answer.get("status") == "delivered" else 1


async def _send(
    broker: Broker,
    base: str,
    hub: bytes,
    device: bytes,
    install_code: bytes | None,
    originator: bytes,
    acb_key: ec.EllipticCurvePrivateKey | None,
    wait_s: float,
) -> dict[str, Any] | None:
    request_id = f"device-log-{secrets.token_hex(4)}"
    async with client(broker) as mqtt:
        await mqtt.subscribe(f"{base}/down/result", qos=1)
        mac = LAB_MAC_KEY
        counter = int(time.time() * 1000)
        if acb_key is not None:
            hub_ka = await _hub_ka_key(mqtt, base, wait_s)
            mac = mac_key.for_message(
                acb_key,
                hub_ka,
                cra=Cra.COMMAND,
                counter=counter,
                originator=originator,
                recipient=hub,
            )
        frame = build_frame(
            cra=Cra.COMMAND,
            counter=counter,
            originator=originator,
            recipient=hub,
            message_code=chf_commands.CCS01_ADD if install_code else chf_commands.CCS02_REMOVE,
            payload=chf_commands.build_payload(counter, device, install_code),
            mac_key=mac,
        )
        body = {
            "id": request_id,
            "device": hub.hex().upper(),
            "frame": base64.b64encode(frame).decode(),
        }
        await mqtt.publish(f"{base}/down/gbcs", json.dumps(body), qos=1)
        return await first_json(
            mqtt, f"{base}/down/result", lambda a: a.get("id") == request_id, wait_s
        )


async def _hub_ka_key(mqtt: aiomqtt.Client, base: str, wait_s: float) -> ec.EllipticCurvePublicKey:
    """The hub's key-agreement public key, from its retained bridge/info."""
    topic = f"{base}/bridge/info"
    await mqtt.subscribe(topic, qos=1)
    info = await first_json(mqtt, topic, lambda _info: True, wait_s)
    if info is None:
        raise ValueError(f"no hub_ka_key on {topic} within {wait_s} s: is the hub running?")
    try:
        return signature.load_public_key(info["hub_ka_key"]["public_key_pem"].encode())
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(f"{topic} carries no readable hub_ka_key") from None
