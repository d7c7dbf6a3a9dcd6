"""`han-agent consent sign|sign-trust|send|show`: the supplier's side of the consent flag.

`sign` and `sign-trust` write a signed command to a file (nothing leaves the machine); `send`
publishes a file on `<base>/<hub-id>/bridge/request/consent` and prints the hub's answer
(exit 0 on ok, 1 on a refusal, 75 when no answer came); `show` prints the record, from the
retained `consent` topic or from a hub's state directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

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
EX_TEMPFAIL = 75
DEFAULT_URL = "mqtt://127.0.0.1:1883"


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
    send.add_argument("--mqtt-url", default=DEFAULT_URL, help=f"default {DEFAULT_URL}")
    send.add_argument("--base-topic", default="gbcs-hub", help="default gbcs-hub")
    send.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (default 10)")

    show = actions.add_parser("show", help="print the consent record")
    show.add_argument("--mqtt-url", default=DEFAULT_URL, help=f"default {DEFAULT_URL}")
    show.add_argument("--base-topic", default="gbcs-hub", help="default gbcs-hub")
    show.add_argument("--hub", help="hub id: read the retained consent topic")
    show.add_argument("--config", type=Path, help="read the record from this hub's state dir")
    show.add_argument("--timeout", type=float, default=5.0)


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


def _client(url: str) -> aiomqtt.Client:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"--mqtt-url {url!r}: expected mqtt://HOST:PORT")
    tls = parts.scheme == "mqtts"
    import ssl

    return aiomqtt.Client(
        parts.hostname,
        parts.port or (8883 if tls else 1883),
        username=parts.username,
        password=parts.password,
        tls_context=ssl.create_default_context() if tls else None,
        timeout=10,
    )


def _send(args: argparse.Namespace) -> int:
    try:
        data = json.loads(args.file.read_text(encoding="utf-8"))
        command = parse_command(data)
    except (OSError, ValueError) as exc:
        return _fail(f"send: {args.file}: {exc}")
    transaction = secrets.token_hex(6)
    base = f"{args.base_topic}/{command.hub_id}"
    try:
        answer = asyncio.run(
            _request(args.mqtt_url, base, {**data, "transaction": transaction}, args.timeout)
        )
    except (ValueError, aiomqtt.MqttError) as exc:
        return _fail(f"send: {exc}")
    if answer is None:
        print(
            f"consent send: no answer on {base}/bridge/response/consent within {args.timeout} s",
            file=sys.stderr,
        )
        return EX_TEMPFAIL
    print(json.dumps(answer, indent=2))
    return 0 if answer.get("status") == "ok" else 1


async def _request(
    url: str, base: str, request: dict[str, Any], wait_s: float
) -> dict[str, Any] | None:
    async with _client(url) as client:
        topic = f"{base}/bridge/response/consent"
        await client.subscribe(topic, qos=1)
        await client.publish(f"{base}/bridge/request/consent", json.dumps(request), qos=1)
        transaction = request["transaction"]
        return await first_json(
            client, topic, lambda a: a.get("transaction") == transaction, wait_s
        )


async def first_json(
    client: aiomqtt.Client,
    topic: str,
    wanted: Callable[[dict[str, Any]], bool],
    wait_s: float,
) -> dict[str, Any] | None:
    """The first JSON object on `topic` (subscribed already) that `wanted` accepts, or None
    when none comes within `wait_s` seconds. Anything else on the client is passed over."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait_s):
            async for message in client.messages:
                if not message.topic.matches(topic):
                    continue
                with contextlib.suppress(ValueError):
                    body = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                    if isinstance(body, dict) and wanted(body):
                        return body
    return None


def _show(args: argparse.Namespace) -> int:
    if args.config is not None:
        from agent.config import load_config
        from agent.consent_store import STATE_FILE

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
    if args.hub is None:
        return _fail("show: give --hub ID (read the retained topic) or --config FILE")
    topic = f"{args.base_topic}/{args.hub.upper()}/consent"
    try:
        record = asyncio.run(_retained(args.mqtt_url, topic, args.timeout))
    except (ValueError, aiomqtt.MqttError) as exc:
        return _fail(f"show: {exc}")
    if record is None:
        print(f"consent show: nothing retained on {topic}", file=sys.stderr)
        return 1
    print(json.dumps(record, indent=2))
    return 0


async def _retained(url: str, topic: str, wait_s: float) -> Any:
    async with _client(url) as client:
        await client.subscribe(topic, qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                async for message in client.messages:
                    return json.loads(bytes(message.payload))  # type: ignore[arg-type]
    return None
