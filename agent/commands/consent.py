"""`han-agent consent sign|sign-trust|send|show`: the supplier's side of the consent flag.

`sign` and `sign-trust` write a signed command to a file (nothing leaves the machine); `send`
publishes a file on `<base>/<hub-id>/bridge/request/consent` and prints the hub's answer
(exit 0 on ok, 1 on a refusal, 75 when no answer came or the broker could not be reached);
`show` prints the record, from the retained `consent` topic or, with `--state`, from a hub's
state directory. The broker options are agent/broker_client.py's.

The hub signs its answers and its retained record (agent/signed_answer.py): `send` and `show`
check the signature with the key given by `--hub-key`, else the one the hub publishes in
`bridge/info`, and say which. Anything that does not verify is printed as UNVERIFIED and exits
1: anyone with publish rights on the broker could have sent it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import aiomqtt
from cryptography.hazmat.primitives.asymmetric import ec

from agent.broker_client import (
    EX_TEMPFAIL,
    Broker,
    add_broker_args,
    add_hub_key_arg,
    broker_from_args,
    client,
    hub_id,
    hub_signing_key,
    no_broker,
    pinned_hub_key,
    signed_json,
)
from agent.consent import Mode
from agent.consent_command import (
    CommandError,
    SignedCommand,
    iso_utc,
    parse_command,
    sign_consent,
    sign_trust,
)
from gbcs import signature

NAME = "consent"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    consent = sub.add_parser(NAME, help="sign, send and show consent commands")
    actions = consent.add_subparsers(dest="consent_action", required=True)

    sign = actions.add_parser("sign", help="write a signed consent command to a file")
    _common_sign_args(sign)
    sign.add_argument("--mode", required=True, choices=[m.value for m in Mode])
    sign.add_argument("--reason", default="", help="why (published in the record; no PII)")

    trust = actions.add_parser(
        "sign-trust", help="write a signed trust-store update (change of supplier) to a file"
    )
    _common_sign_args(trust)
    trust.add_argument(
        "--add", action="append", default=[], type=Path, help="a public key PEM to trust"
    )
    trust.add_argument("--remove", action="append", default=[], help="a key id to stop trusting")

    send = actions.add_parser("send", help="publish a signed command and print the answer")
    send.add_argument("file", type=Path)
    send.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (default 10)")
    add_hub_key_arg(send)
    add_broker_args(send)

    show = actions.add_parser("show", help="print the consent record")
    show.add_argument("--hub", help="hub id (default: --config's hub_id)")
    show.add_argument(
        "--state",
        action="store_true",
        help="read the record from --config's state dir instead of the broker's retained topic",
    )
    show.add_argument("--timeout", type=float, default=5.0)
    add_hub_key_arg(show)
    add_broker_args(show, hub_help="hub id")


def _common_sign_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", required=True, type=Path, help="the signer's private key PEM")
    parser.add_argument("--hub", required=True, help="the target hub id (16 hex digits)")
    parser.add_argument(
        "--expires-in", type=int, default=3600, help="seconds until it expires (default 3600)"
    )
    parser.add_argument(
        "--counter", type=int, help="default: the time in milliseconds (strictly increasing)"
    )
    parser.add_argument("--out", required=True, type=Path, help="file to write")


def run(args: argparse.Namespace) -> int:
    action = args.consent_action
    if action in ("sign", "sign-trust"):
        return _sign(args)
    if action == "send":
        return _send(args)
    return _show(args)


def _fail(text: str) -> int:
    print(f"consent {text}", file=sys.stderr)
    return 1


def _sign(args: argparse.Namespace) -> int:
    try:
        key = signature.load_private_key(args.key.read_bytes())
    except (OSError, ValueError) as exc:
        return _fail(f"{args.consent_action}: --key {args.key}: {exc}")
    hub = args.hub.upper()
    if args.expires_in <= 0:
        return _fail(f"{args.consent_action}: --expires-in must be positive")
    now = int(time.time())
    counter = args.counter if args.counter is not None else time.time_ns() // 1_000_000
    times = {"counter": counter, "issued_at": now, "expires_at": now + args.expires_in}
    if args.consent_action == "sign":
        command = sign_consent(key, hub_id=hub, mode=Mode(args.mode), reason=args.reason, **times)
    else:
        try:
            added = tuple(signature.load_public_key(p.read_bytes()) for p in args.add)
        except (OSError, ValueError) as exc:
            return _fail(f"sign-trust: --add: {exc}")
        command = sign_trust(
            key, hub_id=hub, add=added, remove=tuple(k.upper() for k in args.remove), **times
        )
    try:  # what the hub will check first: never write a file the hub must refuse as malformed
        parse_command(command.to_dict())
    except CommandError as exc:
        return _fail(f"{args.consent_action}: {exc}")
    args.out.write_text(json.dumps(command.to_dict(), indent=2) + "\n", encoding="utf-8")
    print(_describe(command))
    print(f"wrote {args.out}")
    return 0


def _describe(command: SignedCommand) -> str:
    what = (
        f"mode {command.mode.value}"
        if command.mode is not None
        else f"trust +{len(command.add)} -{len(command.remove)}"
    )
    return (
        f"{command.kind.value} command for hub {command.hub_id}: {what}, signer {command.signer}, "
        f"counter {command.counter}, expires {iso_utc(command.expires_at)}"
    )


def _send(args: argparse.Namespace) -> int:
    try:
        data = json.loads(args.file.read_text(encoding="utf-8"))
        command = parse_command(data)
    except (OSError, ValueError) as exc:
        return _fail(f"send: {args.file}: {exc}")
    broker = broker_from_args(args)
    pinned = pinned_hub_key(args.hub_key)
    transaction = secrets.token_hex(6)
    base = f"{broker.settings.base_topic}/{command.hub_id}"
    try:
        answer, why, source = asyncio.run(
            _request(broker, base, {**data, "transaction": transaction}, pinned, args.timeout)
        )
    except aiomqtt.MqttError as exc:
        return no_broker("consent send", broker, exc)
    if answer is None:
        print(
            f"consent send: no answer on {base}/bridge/response/consent within {args.timeout} s",
            file=sys.stderr,
        )
        return EX_TEMPFAIL
    print(json.dumps(answer, indent=2))
    if why is not None:
        return _unverified("send: the answer", why, source)
    print(f"consent send: answer signed by the hub, {source}", file=sys.stderr)
    return 0 if answer.get("status") == "ok" else 1


def _unverified(what: str, why: str, source: str) -> int:
    """A message the hub's key does not verify: anyone who can publish could have sent it."""
    return _fail(f"{what} is UNVERIFIED ({why}; {source}): do not rely on it")


async def _request(
    broker: Broker,
    base: str,
    request: dict[str, Any],
    pinned: ec.EllipticCurvePublicKey | None,
    wait_s: float,
) -> tuple[dict[str, Any] | None, str | None, str]:
    async with client(broker) as mqtt:
        key, source = await hub_signing_key(mqtt, base, pinned, min(wait_s, 5.0))
        topic = f"{base}/bridge/response/consent"
        await mqtt.subscribe(topic, qos=1)
        await mqtt.publish(f"{base}/bridge/request/consent", json.dumps(request), qos=1)
        transaction = request["transaction"]
        answer, why = await signed_json(
            mqtt, topic, lambda a: a.get("transaction") == transaction, key, wait_s
        )
        return answer, why, source


def _show(args: argparse.Namespace) -> int:
    if args.state:
        from agent.config import ConfigError, load_config
        from agent.consent_store import STATE_FILE

        if args.config is None:
            raise ConfigError("(command line)", "--state", "--config, the hub's config")
        config = load_config(args.config)
        path = config.state_dir / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return _fail(f"show: {path}: {exc}")
        shown = {
            "record": data.get("record", data),
            "trusted_keys": sorted(data.get("trust", {})),
            "counters": data.get("counters", {}),
            "last_change": data.get("last_change"),
        }
        print(json.dumps(shown, indent=2))
        return 0
    broker = broker_from_args(args)
    pinned = pinned_hub_key(args.hub_key)
    base = f"{broker.settings.base_topic}/{hub_id(args, broker, 'consent show')}"
    try:
        record, why, source = asyncio.run(_retained(broker, base, pinned, args.timeout))
    except aiomqtt.MqttError as exc:
        return no_broker("consent show", broker, exc)
    if record is None:
        print(f"consent show: nothing retained on {base}/consent", file=sys.stderr)
        return 1
    print(json.dumps(record, indent=2))
    if why is not None:
        return _unverified("show: the retained record", why, source)
    print(f"consent show: record signed by the hub, {source}", file=sys.stderr)
    return 0


async def _retained(
    broker: Broker, base: str, pinned: ec.EllipticCurvePublicKey | None, wait_s: float
) -> tuple[dict[str, Any] | None, str | None, str]:
    async with client(broker) as mqtt:
        key, source = await hub_signing_key(mqtt, base, pinned, wait_s)
        topic = f"{base}/consent"
        await mqtt.subscribe(topic, qos=1)
        # Retained: it comes at once if there is one; a short wait more lets the hub's own
        # record come after a spoofed one it is re-asserting.
        record, why = await signed_json(mqtt, topic, lambda _r: True, key, wait_s)
        return record, why, source
