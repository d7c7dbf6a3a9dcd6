"""The broker a client command talks to (`consent send|show`, `device-log`, `firmware send`), and
its MQTT client: one set of options for all of them.

Each setting is taken from the first of:

1. a flag: `--mqtt-url`, `--username`, `--cafile`, `--cert`, `--key`, `--base-topic`;
2. an environment variable: `HAN_AGENT_MQTT_URL`, `HAN_AGENT_MQTT_USERNAME`,
   `HAN_AGENT_MQTT_PASSWORD`, `HAN_AGENT_MQTT_CAFILE`, `HAN_AGENT_MQTT_CERT`,
   `HAN_AGENT_MQTT_KEY`, `HAN_AGENT_MQTT_BASE_TOPIC`;
3. `--config FILE`, the hub's own config: its [mqtt] url, TLS files, username and password (a
   `credential:ID` value too, where the service's credentials are), base topic, and its hub id
   for the commands that need one;
4. the default, `mqtt://127.0.0.1:1883` with base topic `gbcs-hub`.

The password has no flag, so it never shows in `ps` or a shell history; a password in the URL
still works (at the URL's level) but is best avoided. Everything is checked by agent/config.py's
own [mqtt] checks, so a bad value is the same one line (exit 78) the hub would give, naming the
flag or variable it came from. Not reaching the broker is one line and exit 75.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
from cryptography.hazmat.primitives.asymmetric import ec

from agent.config import CREDENTIAL, ConfigError, MqttSettings, load_config, load_mqtt
from agent.signed_answer import verify
from gbcs import signature

EX_TEMPFAIL = 75
DEFAULT_URL = "mqtt://127.0.0.1:1883"
CLI = "(command line)"
ENVIRONMENT = "(environment)"

# [mqtt] key -> its flag (None: no flag, the password) and its environment variable
FLAGS: dict[str, str | None] = {
    "url": "--mqtt-url",
    "username": "--username",
    "password": None,
    "ca": "--cafile",
    "cert": "--cert",
    "key": "--key",
    "base_topic": "--base-topic",
}
ENV = {
    "url": "HAN_AGENT_MQTT_URL",
    "username": "HAN_AGENT_MQTT_USERNAME",
    "password": "HAN_AGENT_MQTT_PASSWORD",
    "ca": "HAN_AGENT_MQTT_CAFILE",
    "cert": "HAN_AGENT_MQTT_CERT",
    "key": "HAN_AGENT_MQTT_KEY",
    "base_topic": "HAN_AGENT_MQTT_BASE_TOPIC",
}
PATHS = ("ca", "cert", "key")


def add_broker_args(parser: argparse.ArgumentParser, *, hub_help: str | None = None) -> None:
    """The broker options (all default to None, so what was not given is known)."""
    group = parser.add_argument_group(
        "broker",
        "each setting from the first of: its flag, its HAN_AGENT_MQTT_* environment variable "
        f"(the password only there or in --config), --config, the default {DEFAULT_URL}",
    )
    group.add_argument(
        "--config",
        type=Path,
        help="the hub's TOML config: its broker URL, TLS files, credentials, base topic"
        + (f" and {hub_help}" if hub_help else ""),
    )
    group.add_argument("--mqtt-url", help=f"mqtt://HOST:PORT or mqtts://HOST:PORT ({DEFAULT_URL})")
    group.add_argument("--username", help="broker user name (password: HAN_AGENT_MQTT_PASSWORD)")
    group.add_argument("--cafile", help="CA certificate(s) (PEM) that signed the broker's")
    group.add_argument("--cert", help="client certificate (PEM), for a broker that wants one")
    group.add_argument("--key", help="the client certificate's private key (PEM, mode 0600)")
    group.add_argument("--base-topic", help="topic prefix (gbcs-hub)")


@dataclass(frozen=True)
class Broker:
    settings: MqttSettings
    hub_id: str | None  # from --config
    # what the MQTT library logged (a TLS alert, say): the reason behind a bare "timed out"
    problems: list[str] = field(default_factory=list, compare=False)

    @property
    def where(self) -> str:
        """The broker, for messages (no credentials)."""
        scheme = "mqtts" if self.settings.tls else "mqtt"
        return f"{scheme}://{self.settings.host}:{self.settings.port}"


def broker_from_args(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Broker:
    """The broker settings by precedence (module docstring); ConfigError names the source."""
    env_layer = _layer({k: environ.get(v) or None for k, v in ENV.items()})
    flag_layer = _layer({k: getattr(args, f[2:].replace("-", "_"), None) if f else None
                         for k, f in FLAGS.items()})  # fmt: skip
    table: dict[str, str] = {}
    sources: dict[str, str] = {}
    for layer, name in ((env_layer, ENVIRONMENT), (flag_layer, CLI)):
        for key, value in layer.items():
            table[key] = value
            sources[key] = name
    for key in PATHS:  # a file named on the command line is relative to where it was typed
        if key in table and not table[key].startswith(CREDENTIAL):
            table[key] = str(Path(table[key]).absolute())
    try:
        if args.config is not None:
            config = load_config(args.config, mqtt=table)
            return Broker(config.mqtt, config.hub_id)
        return Broker(load_mqtt(CLI, table), None)
    except ConfigError as exc:
        raise _blame(exc, sources) from None


def _layer(values: dict[str, str | None]) -> dict[str, str]:
    """One level's settings; a user or password in its URL counts at the URL's level."""
    layer = {k: v for k, v in values.items() if v is not None}
    url = urlsplit(layer.get("url", ""))
    with contextlib.suppress(ValueError):
        if url.username and "username" not in layer:
            layer["username"] = url.username
        if url.password and "password" not in layer:
            layer["password"] = url.password
    return layer


def _blame(exc: ConfigError, sources: dict[str, str]) -> ConfigError:
    """An error in a value that came from a flag or the environment names that flag or variable."""
    for key, source in sources.items():
        if exc.key == f"[mqtt] {key}":
            name = FLAGS[key] if source == CLI else ENV[key]
            return ConfigError(source, name or ENV[key], exc.expected)
    return exc


def hub_id(args: argparse.Namespace, broker: Broker, command: str) -> str:
    """--hub, else the hub id of --config; ConfigError when neither is given."""
    if getattr(args, "hub", None):
        return str(args.hub).upper()
    if broker.hub_id is not None:
        return broker.hub_id
    raise ConfigError(CLI, "--hub", f"the hub id for {command} (or --config, the hub's config)")


def client(broker: Broker) -> aiomqtt.Client:
    """A client of the broker. Its own random client id, never the hub's `[mqtt] client_id`:
    a second connection with the hub's id would make the broker drop the hub."""
    s = broker.settings
    logger = logging.getLogger(__name__ + ".mqtt")
    logger.propagate = False  # no stray "failed to receive on socket" lines on stderr
    logger.handlers[:] = [_Problems(broker.problems)]
    tls_context = None
    if s.tls:
        tls_context = ssl.create_default_context(cafile=str(s.ca) if s.ca else None)
        if s.cert is not None and s.key is not None:
            tls_context.load_cert_chain(str(s.cert), str(s.key))
    return aiomqtt.Client(
        s.host,
        s.port,
        username=s.username,
        password=s.password,
        keepalive=s.keepalive,
        protocol=aiomqtt.ProtocolVersion.V5 if s.protocol == "5" else aiomqtt.ProtocolVersion.V311,
        tls_context=tls_context,
        timeout=10,
        logger=logger,
    )


class _Problems(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


def no_broker(command: str, broker: Broker, exc: aiomqtt.MqttError) -> int:
    """One line for a broker that could not be reached or dropped the client; exit 75."""
    why = str(exc) or type(exc).__name__
    if broker.problems:  # the cause, where the exception only says the connect timed out
        why = f"{broker.problems[-1]} ({why})"
    if broker.settings.tls and "alert" in why.lower() and broker.settings.cert is None:
        why += " (does the broker want a client certificate? --cert/--key or [mqtt] cert/key)"
    print(f"{command}: broker {broker.where}: {why}", file=sys.stderr)
    return EX_TEMPFAIL


async def json_objects(
    client: aiomqtt.Client, topic: str, wait_s: float
) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects that arrive on `topic` (subscribed already) within `wait_s` seconds;
    anything else on the client, or not a JSON object, is passed over."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait_s):
            async for message in client.messages:
                if not message.topic.matches(topic):
                    continue
                try:
                    body = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                except ValueError:
                    continue
                if isinstance(body, dict):
                    yield body


async def first_json(
    client: aiomqtt.Client,
    topic: str,
    wanted: Callable[[dict[str, Any]], bool],
    wait_s: float,
) -> dict[str, Any] | None:
    """The first JSON object on `topic` (subscribed already) that `wanted` accepts, or None
    when none comes within `wait_s` seconds."""
    async for body in json_objects(client, topic, wait_s):
        if wanted(body):
            return body
    return None


def add_hub_key_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hub-key",
        type=Path,
        help="the hub's signing key to check its answers with: a public key PEM, or the hub's "
        "own <state dir>/hub-key.pem (default: the key the hub publishes in bridge/info)",
    )


def pinned_hub_key(path: Path | None) -> ec.EllipticCurvePublicKey | None:
    """--hub-key: a public key PEM, or the hub's own key file; None when not given."""
    if path is None:
        return None
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            CLI, "--hub-key", f"a readable PEM file ({path}: {exc.strerror})"
        ) from None
    with contextlib.suppress(ValueError):
        return signature.load_public_key(pem)
    try:
        return signature.load_private_key(pem).public_key()
    except ValueError:
        raise ConfigError(
            CLI, "--hub-key", f"an EC P-256 public or private key in PEM ({path})"
        ) from None


async def hub_signing_key(
    mqtt: aiomqtt.Client, base: str, pinned: ec.EllipticCurvePublicKey | None, wait_s: float
) -> tuple[ec.EllipticCurvePublicKey | None, str]:
    """The key the hub's answers must be signed with, and where it came from. A pinned key is
    trusted as given; one read from `bridge/info` on the same broker is only as good as the
    broker's access control (and the hub re-asserts that topic if anyone else changes it)."""
    if pinned is not None:
        return pinned, f"the pinned key {signature.key_id(pinned)} (--hub-key)"
    topic = f"{base}/bridge/info"
    await mqtt.subscribe(topic, qos=1)
    info = await first_json(mqtt, topic, lambda _info: True, wait_s)
    await mqtt.unsubscribe(topic)
    try:
        pem_text = info["hub_key"]["public_key_pem"] if info is not None else None
        key = signature.load_public_key(str(pem_text).encode()) if pem_text else None
    except (KeyError, TypeError, ValueError):
        key = None
    if key is None:
        return None, f"no hub key: nothing usable retained on {topic} (--hub-key pins one)"
    return key, f"key {signature.key_id(key)} from {topic} (not pinned: --hub-key pins it)"


async def signed_json(
    mqtt: aiomqtt.Client,
    topic: str,
    wanted: Callable[[dict[str, Any]], bool],
    key: ec.EllipticCurvePublicKey | None,
    wait_s: float,
) -> tuple[dict[str, Any] | None, str | None]:
    """The first answer on `topic` that `wanted` accepts and `key` verifies, with None; or, when
    none verifies within `wait_s`, the first unverified one with why (anyone who can publish
    could have sent it); or (None, None) when nothing came."""
    unverified: tuple[dict[str, Any], str] | None = None
    async for body in json_objects(mqtt, topic, wait_s):
        if not wanted(body):
            continue
        why = "no hub key to check it with" if key is None else verify(key, body)
        if why is None:
            return body, None
        if unverified is None:
            unverified = (body, why)
    if unverified is not None:
        return unverified
    return None, None
