"""`han-agent firmware build|send`: make a signed GBCS OTA image; send one to a hub.

`build` signs a manufacturer image with a Supplier key (the lab's TEST key for the bench) into
the GBCS OTA layout (docs/gbcs-notes.md 4.1); nothing leaves the machine. `send` publishes the image
on `<base>/<hub-id>/bridge/request/firmware`, shows a progress bar per target from
`bridge/event/firmware` (plain lines when stdout is not a terminal) and prints the hub's answer
from `bridge/response/firmware`. Exit 0 when every target took the image, 1 on a refusal or a
failed transfer, 75 when no answer came in time. The answer must carry the hub's signature
(agent/signed_answer.py; `--hub-key` pins the key, else `bridge/info`'s): one that does not
verify is printed as UNVERIFIED and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import secrets
import sys
from pathlib import Path
from typing import Any, TextIO

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
)
from agent.signed_answer import verify
from gbcs import signature
from gbcs.firmware_image import ImageError, build_image, parse_image

NAME = "firmware"
BAR_WIDTH = 30


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    firmware = sub.add_parser(NAME, help="build and send signed firmware images")
    actions = firmware.add_subparsers(dest="firmware_action", required=True)

    build = actions.add_parser("build", help="sign a manufacturer image into a GBCS OTA file")
    build.add_argument("--key", required=True, type=Path, help="the Supplier's private key PEM")
    build.add_argument("--image", required=True, type=Path, help="the manufacturer image")
    build.add_argument("--out", required=True, type=Path, help="file to write")
    build.add_argument(
        "--version", default="0x00020001", help="file version, hex (default 0x00020001)"
    )
    build.add_argument("--manufacturer", default="0x121D", help="manufacturer code (0x121D)")
    build.add_argument("--image-type", default="0x0000", help="image type (0x0000)")

    send = actions.add_parser("send", help="send an image to a hub and follow the transfer")
    send.add_argument("image", type=Path)
    send.add_argument("--targets", required=True, help="EUI-64s, comma-separated")
    send.add_argument("--hub", help="the hub id (16 hex digits; default: --config's)")
    send.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (600)")
    add_hub_key_arg(send)
    add_broker_args(send, hub_help="hub id")


def run(args: argparse.Namespace) -> int:
    return _build(args) if args.firmware_action == "build" else _send(args)


def _fail(text: str) -> int:
    print(f"firmware {text}", file=sys.stderr)
    return 1


def _build(args: argparse.Namespace) -> int:
    try:
        key = signature.load_private_key(args.key.read_bytes())
        body = args.image.read_bytes()
        data = build_image(
            body,
            lambda d: signature.sign(key, d),
            file_version=int(args.version, 16),
            manufacturer_id=int(args.manufacturer, 16),
            image_type=int(args.image_type, 16),
        )
    except (OSError, ValueError) as exc:
        return _fail(f"build: {exc}")
    args.out.write_bytes(data)
    image = parse_image(data)
    print(
        f"{args.out}: {len(data)} bytes, version 0x{image.file_version:08X}, "
        f"sha256 {image.image_hash.hex()}, signed by {signature.key_id(key.public_key())}"
    )
    return 0


def _send(args: argparse.Namespace) -> int:
    broker = broker_from_args(args)
    hub = hub_id(args, broker, "firmware send")
    try:
        data = args.image.read_bytes()
        parse_image(data)  # a clear local error before anything is published
        targets = [x.strip().upper() for x in args.targets.split(",") if x.strip()]
        for eui in targets:
            if len(bytes.fromhex(eui)) != 8:
                raise ValueError(f"target {eui} is not 16 hex digits")
        if not targets:
            raise ValueError("--targets is empty")
    except (OSError, ValueError, ImageError) as exc:
        return _fail(f"send: {exc}")
    transaction = secrets.token_hex(6)
    request = {
        "transaction": transaction,
        "image": base64.b64encode(data).decode(),
        "targets": targets,
    }
    base = f"{broker.settings.base_topic}/{hub}"
    progress = Progress(sys.stdout)
    pinned = pinned_hub_key(args.hub_key)
    try:
        answer, why, source = asyncio.run(
            _request(broker, base, request, args.timeout, progress, pinned)
        )
    except aiomqtt.MqttError as exc:
        progress.close()
        return no_broker("firmware send", broker, exc)
    progress.close()
    if answer is None:
        print(
            f"firmware send: no answer on {base}/bridge/response/firmware in {args.timeout} s",
            file=sys.stderr,
        )
        return EX_TEMPFAIL
    print(json.dumps(answer, indent=2))
    if why is not None:
        return _fail(f"send: the answer is UNVERIFIED ({why}; {source}): do not rely on it")
    print(f"firmware send: answer signed by the hub, {source}", file=sys.stderr)
    return 0 if answer.get("status") == "ok" else 1


class Progress:
    """One bar per target on a terminal; a plain line per event otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._open = False

    def update(self, event: dict[str, Any]) -> None:
        size = int(event.get("size") or 0)
        offset = int(event.get("offset") or 0)
        percent = 100.0 * offset / size if size else 0.0
        what = f"{event.get('target')} {event.get('state')} {offset}/{size} bytes"
        if self.tty:
            filled = int(BAR_WIDTH * percent / 100)
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self.out.write(f"\r[{bar}] {percent:5.1f}% {what}")
            self._open = True
            if event.get("state") in ("transferred", "failed"):
                self.out.write("\n")
                self._open = False
        else:
            self.out.write(f"{percent:5.1f}% {what}\n")
        self.out.flush()

    def close(self) -> None:
        if self._open:
            self.out.write("\n")
            self._open = False


async def _request(
    broker: Broker,
    base: str,
    request: dict[str, Any],
    wait_s: float,
    progress: Progress,
    pinned: ec.EllipticCurvePublicKey | None = None,
) -> tuple[dict[str, Any] | None, str | None, str]:
    """The hub's answer, why it does not verify (None when it does), and where the key came
    from. Progress events are shown as they come; they are not signed (they only inform)."""
    async with client(broker) as mqtt:
        key, source = await hub_signing_key(mqtt, base, pinned, min(wait_s, 5.0))
        unverified: tuple[dict[str, Any], str] | None = None
        await mqtt.subscribe(f"{base}/bridge/response/firmware", qos=1)
        await mqtt.subscribe(f"{base}/bridge/event/firmware", qos=0)
        await mqtt.publish(f"{base}/bridge/request/firmware", json.dumps(request), qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                async for message in mqtt.messages:
                    with contextlib.suppress(ValueError):
                        body = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                        if not isinstance(body, dict):
                            continue
                        if body.get("transaction") != request["transaction"]:
                            continue
                        if message.topic.matches(f"{base}/bridge/event/firmware"):
                            progress.update(body)
                            continue
                        why = "no hub key to check it with" if key is None else verify(key, body)
                        if why is None:
                            return body, None, source
                        unverified = unverified or (body, why)
        if unverified is not None:
            return unverified[0], unverified[1], source
        return None, None, source
