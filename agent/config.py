"""The hub's configuration: one TOML file, checked completely before anything starts.

Every key is declared below with its type and default. An unknown key, a wrong type, a bad value
or a missing file raises ConfigError naming the file, the key and what was expected; the CLI
prints that one line and exits with status 78 (EX_CONFIG), which systemd shows as a config
failure rather than a crash. Relative paths in the file are relative to the file's directory,
so a config works the same whichever directory the agent is started from.
"""

from __future__ import annotations

import os
import re
import ssl
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.consent import Mode
from agent.consent_command import Site
from agent.device_log import DeviceLogEntry, parse_device_log
from agent.known_keys import known_key

EX_CONFIG = 78


class ConfigError(Exception):
    def __init__(self, path: Path | str, key: str, expected: str) -> None:
        super().__init__(f"config error: {path}: {key}: {expected}")
        self.path = str(path)
        self.key = key
        self.expected = expected


def unknown_key(
    path: Path | str,
    key: str,
    name: str,
    valid: Iterable[str],
    error: type[ConfigError] = ConfigError,
) -> ConfigError:
    """The error for a key `name` (shown as `key`) that its table does not have: one line
    naming the file, the key and the nearest valid one. Every TOML reader uses this (the
    restricted profile, which has no path of its own, through agent.known_keys)."""
    return error(path, key, f"expected {known_key(name, valid)}")


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int
    tls: bool
    base_topic: str
    client_id: str | None
    username: str | None
    password: str | None
    keepalive: int
    protocol: str
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True)
class RadioConfig:
    type: str
    path: str
    baudrate: int
    flow_control: str | None
    channel: int
    pan_id: int | None = None
    extended_pan_id: str | None = None
    network_key: str | None = None
    backup_hours: float = 24.0
    open_timeout: float = 60.0


@dataclass(frozen=True)
class LabConfig:
    enabled: bool
    esme: str
    ihd: str
    supplier: str
    command_interval: float
    alert_interval: float
    ncp_emulator: bool = False  # the lab's devices on an emulated EZSP NCP at [radio] path


@dataclass(frozen=True)
class OutboxConfig:
    max_bytes: int
    max_age: float
    window: float


@dataclass(frozen=True)
class GsmeConfig:
    queue_expiry: float = 24 * 3600.0  # seconds a command waits for the GSME's GET
    max_queued: int = 16  # commands waiting per GSME


@dataclass(frozen=True)
class HealthConfig:
    interval: float
    silent_after: float
    radio_recovery: float  # seconds the radio may be out of 'ok' before the watchdog stops


@dataclass(frozen=True)
class HomeAssistantConfig:
    enabled: bool = False  # opt-in: publish Home Assistant MQTT discovery configs
    discovery_prefix: str = "homeassistant"


@dataclass(frozen=True)
class Config:
    path: Path
    hub_id: str
    mqtt: MqttSettings
    radio: RadioConfig
    state_dir: Path
    initial_mode: Mode
    profile_path: Path
    lab: LabConfig
    health: HealthConfig
    outbox: OutboxConfig
    log_level: str
    trust_dir: Path
    site: Site
    acb_key_path: Path | None = None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    devices: tuple[DeviceLogEntry, ...] = ()
    gsme: GsmeConfig = field(default_factory=GsmeConfig)
    homeassistant: HomeAssistantConfig = field(default_factory=HomeAssistantConfig)
    capture_file: Path | None = None  # the HAN capture (pcapng); None: off

    @property
    def topic_base(self) -> str:
        return f"{self.mqtt.base_topic}/{self.hub_id}"


# -- the schema -----------------------------------------------------------------------------------

Check = Callable[[Any], str | None]
"""Returns None when the value is good, else what was expected."""


@dataclass(frozen=True)
class Key:
    types: tuple[type, ...]
    default: Any
    expected: str
    check: Check | None = None
    required: bool = False


EUI64_RE = re.compile(r"^[0-9A-F]{16}$")


def _eui64(value: Any) -> str | None:
    return None if EUI64_RE.match(value.upper()) else "an EUI-64 of 16 hex digits"


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else "one of " + ", ".join(repr(c) for c in choices)

    return check


def _between(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"a number from {low} to {high}"

    return check


def _hex_digits(count: int) -> Check:
    def check(value: Any) -> str | None:
        ok = len(value) == count and all(c in "0123456789abcdefABCDEF" for c in value)
        return None if ok else f"{count} hex digits"

    return check


def _or_credential(check: Check) -> Check:
    """A secret's check that also takes `credential:ID`, checked once the file is read."""

    def either(value: Any) -> str | None:
        return None if str(value).startswith(CREDENTIAL) else check(value)

    return either


def _device_log(value: Any) -> str | None:
    try:
        parse_device_log(value)
    except ValueError as exc:
        return f"[[devices]] entries with eui64 and install_code ({exc})"
    return None


def _mqtt_url(value: Any) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        return "a URL like mqtt://HOST:PORT or mqtts://HOST:PORT"
    try:
        _ = parts.port
    except ValueError:
        return "a URL with a numeric port"
    return None


def _topic(value: Any) -> str | None:
    if not value or any(c in value for c in "+#") or value.startswith("/") or value.endswith("/"):
        return "a topic prefix without wildcards or leading/trailing '/'"
    return None


STR = (str,)
INT = (int,)
NUM = (int, float)
BOOL = (bool,)

SCHEMA: dict[str, dict[str, Key] | Key] = {
    "hub_id": Key(STR, None, "the hub's EUI-64 (16 hex digits)", _eui64, required=True),
    "mqtt": {
        "url": Key(STR, "mqtt://127.0.0.1:1883", "a URL like mqtt://HOST:PORT", _mqtt_url),
        "base_topic": Key(STR, "gbcs-hub", "a topic prefix", _topic),
        "client_id": Key(STR, None, "a string"),
        "username": Key(STR, None, "a string"),
        "password": Key(STR, None, "a string, or credential:ID (a file systemd hands the service)"),
        "keepalive": Key(INT, 30, "whole seconds from 5 to 3600", _between(5, 3600)),
        "protocol": Key(STR, "5", "'5' or '3.1.1'", _one_of("5", "3.1.1")),
        "ca": Key(STR, None, "a path or credential:ID of the CA certificate(s) (PEM)"),
        "cert": Key(STR, None, "a path or credential:ID of the client certificate (PEM)"),
        "key": Key(STR, None, "a path or credential:ID of the client private key (PEM)"),
    },
    "radio": {
        "type": Key(STR, "virtual", "'virtual' or 'ezsp'", _one_of("virtual", "ezsp")),
        "path": Key(STR, "", "a serial device path or socket:// URL"),
        "baudrate": Key(INT, 115200, "a baud rate", _one_of(57600, 115200, 230400, 460800)),  # type: ignore[arg-type]
        "flow_control": Key(
            STR, "none", "'hardware', 'software' or 'none'", _one_of("hardware", "software", "none")
        ),
        "channel": Key(INT, 15, "a Zigbee channel from 11 to 26", _between(11, 26)),
        "pan_id": Key(INT, None, "a PAN id from 1 to 65534", _between(1, 0xFFFE)),
        "extended_pan_id": Key(STR, None, "16 hex digits", _hex_digits(16)),
        "network_key": Key(
            STR, None, "32 hex digits, or credential:ID", _or_credential(_hex_digits(32))
        ),
        "backup_hours": Key(NUM, 24, "hours from 0.1 to 720", _between(0.1, 720)),
        "open_timeout": Key(NUM, 60, "seconds from 5 to 600", _between(5, 600)),
    },
    "devices": Key((list,), [], "[[devices]] entries with eui64 and install_code", _device_log),
    "state": {
        "dir": Key(STR, "state", "a directory path"),
    },
    "consent": {
        "initial_mode": Key(STR, "full", "'full' or 'restricted'", _one_of("full", "restricted")),
        "profile": Key(STR, "restricted-profile.toml", "a path to the restricted profile"),
    },
    "trust": {
        "dir": Key(STR, "trust", "a directory of supplier public keys (PEM)"),
        "acb_key": Key(
            STR, "", "a path to the ACB's key-agreement public key or certificate (PEM), or ''"
        ),
    },
    "site": {
        "network_managed": Key(BOOL, False, "true or false"),
        "radio_teleswitched": Key(BOOL, False, "true or false"),
    },
    "lab": {
        "enabled": Key(BOOL, False, "true or false"),
        "esme": Key(STR, "00DB1234567890A0", "an EUI-64 of 16 hex digits", _eui64),
        "ihd": Key(STR, "00DB1234567890A5", "an EUI-64 of 16 hex digits", _eui64),
        "supplier": Key(STR, "90B3D51F30010000", "an EUI-64 of 16 hex digits", _eui64),
        "command_interval": Key(NUM, 2.0, "seconds from 0.001 to 3600", _between(0.001, 3600)),
        "alert_interval": Key(NUM, 3.0, "seconds from 0.001 to 3600", _between(0.001, 3600)),
        "ncp_emulator": Key(BOOL, False, "true or false"),
    },
    "outbox": {
        "max_bytes": Key(
            INT, 64 * 1024 * 1024, "bytes from 65536 to 2**40", _between(65536, 2**40)
        ),
        "max_age": Key(NUM, 7 * 86400, "seconds from 60 to 31536000", _between(60, 31536000)),
        "window": Key(NUM, 0.002, "seconds from 0.001 to 1", _between(0.001, 1)),
    },
    "gsme": {
        "queue_expiry": Key(NUM, 24 * 3600, "seconds from 0.1 to 604800", _between(0.1, 7 * 86400)),
        "max_queued": Key(INT, 16, "an integer from 1 to 255", _between(1, 255)),
    },
    "health": {
        "interval": Key(NUM, 60, "seconds from 1 to 86400", _between(1, 86400)),
        "silent_after": Key(NUM, 3600, "seconds from 1 to 604800", _between(1, 604800)),
        "radio_recovery": Key(NUM, 120, "seconds from 1 to 86400", _between(1, 86400)),
    },
    "homeassistant": {
        "enabled": Key(BOOL, False, "true or false"),
        "discovery_prefix": Key(STR, "homeassistant", "a topic prefix", _topic),
    },
    "capture": {
        "file": Key(STR, "", "a pcapng file path for the HAN capture, or '' (off)"),
    },
    "log": {
        "level": Key(
            STR,
            "info",
            "one of debug, info, warning, error",
            _one_of("debug", "info", "warning", "error"),
        ),
    },
}


def _type_name(value: Any) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)


def _checked(path: Path | str, name: str, spec: Key, value: Any) -> Any:
    wrong_type = not isinstance(value, spec.types) or (
        isinstance(value, bool) and bool not in spec.types
    )
    if wrong_type:
        raise ConfigError(path, name, f"expected {spec.expected}, got {_type_name(value)}")
    if spec.check is not None:
        problem = spec.check(value)
        if problem is not None:
            raise ConfigError(path, name, f"expected {problem}, got {value!r}")
    return value


def validate(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Every key checked against SCHEMA; returns the values with defaults filled in."""
    out: dict[str, Any] = {}
    for key in data:
        if key not in SCHEMA:
            raise unknown_key(path, key, key, SCHEMA)
    for name, spec in SCHEMA.items():
        if isinstance(spec, Key):
            if name not in data:
                if spec.required:
                    raise ConfigError(path, name, f"missing (expected {spec.expected})")
                out[name] = spec.default
            else:
                out[name] = _checked(path, name, spec, data[name])
            continue
        out[name] = _section(path, name, spec, data.get(name, {}))
    return out


def _section(path: Path | str, name: str, spec: dict[str, Key], table: Any) -> dict[str, Any]:
    """One table checked against its part of SCHEMA, with defaults filled in."""
    if not isinstance(table, dict):
        raise ConfigError(path, f"[{name}]", f"expected a table, got {_type_name(table)}")
    for key in table:
        if key not in spec:
            raise unknown_key(path, f"[{name}] {key}", key, spec)
    return {
        key: _checked(path, f"[{name}] {key}", key_spec, table[key])
        if key in table
        else key_spec.default
        for key, key_spec in spec.items()
    }


def load_config(
    path: Path,
    *,
    mqtt_url: str | None = None,
    state_dir: str | None = None,
    hub_id: str | None = None,
    mqtt: dict[str, str] | None = None,
    capture: str | None = None,
) -> Config:
    """Read and check the config file; command-line overrides are checked like file values.
    `mqtt` replaces keys of the [mqtt] table (paths in it absolute: they are not the file's);
    `capture` sets [capture] file (relative to the working directory)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "file not found") from None
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot be read ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "(file)", f"not valid TOML ({exc})") from None
    if mqtt_url is not None:
        data.setdefault("mqtt", {})["url"] = mqtt_url
    if mqtt:
        table = data.setdefault("mqtt", {})
        if isinstance(table, dict):
            table.update(mqtt)
    if state_dir is not None:
        data.setdefault("state", {})["dir"] = str(Path(state_dir).resolve())
    if hub_id is not None:
        data["hub_id"] = hub_id
    if capture is not None:
        data.setdefault("capture", {})["file"] = str(Path(capture).resolve()) if capture else ""
    values = validate(path, data)
    base = path.resolve().parent
    radio = values["radio"]
    if radio["type"] == "ezsp" and not radio["path"]:
        raise ConfigError(path, "[radio] path", "required when type is 'ezsp'")
    lab = values["lab"]
    if lab["ncp_emulator"]:
        if not lab["enabled"] or radio["type"] != "ezsp":
            raise ConfigError(
                path, "[lab] ncp_emulator", "only with [lab] enabled and [radio] type = 'ezsp'"
            )
        # where the emulator publishes its pty
        radio["path"] = os.path.normpath(base / radio["path"])
    return Config(
        path=path,
        hub_id=values["hub_id"].upper(),
        mqtt=_mqtt_settings(path, base, values["mqtt"]),
        radio=RadioConfig(
            type=radio["type"],
            path=radio["path"],
            baudrate=radio["baudrate"],
            flow_control=None if radio["flow_control"] == "none" else radio["flow_control"],
            channel=radio["channel"],
            pan_id=radio["pan_id"],
            extended_pan_id=radio["extended_pan_id"],
            network_key=_secret(path, "[radio] network_key", radio["network_key"], _hex_digits(32)),
            backup_hours=float(radio["backup_hours"]),
            open_timeout=float(radio["open_timeout"]),
        ),
        state_dir=base / values["state"]["dir"],
        initial_mode=Mode(values["consent"]["initial_mode"]),
        profile_path=base / values["consent"]["profile"],
        lab=LabConfig(
            enabled=lab["enabled"],
            esme=lab["esme"].upper(),
            ihd=lab["ihd"].upper(),
            supplier=lab["supplier"].upper(),
            command_interval=float(lab["command_interval"]),
            alert_interval=float(lab["alert_interval"]),
            ncp_emulator=lab["ncp_emulator"],
        ),
        health=HealthConfig(
            interval=float(values["health"]["interval"]),
            silent_after=float(values["health"]["silent_after"]),
            radio_recovery=float(values["health"]["radio_recovery"]),
        ),
        outbox=OutboxConfig(
            max_bytes=values["outbox"]["max_bytes"],
            max_age=float(values["outbox"]["max_age"]),
            window=float(values["outbox"]["window"]),
        ),
        gsme=GsmeConfig(
            queue_expiry=float(values["gsme"]["queue_expiry"]),
            max_queued=values["gsme"]["max_queued"],
        ),
        homeassistant=HomeAssistantConfig(
            enabled=values["homeassistant"]["enabled"],
            discovery_prefix=values["homeassistant"]["discovery_prefix"],
        ),
        log_level=values["log"]["level"],
        trust_dir=base / values["trust"]["dir"],
        acb_key_path=base / values["trust"]["acb_key"] if values["trust"]["acb_key"] else None,
        site=Site(
            network_managed=values["site"]["network_managed"],
            radio_teleswitched=values["site"]["radio_teleswitched"],
        ),
        raw=values,
        devices=parse_device_log(values["devices"]),
        capture_file=_capture_file(path, base, values["capture"]["file"]),
    )


def _capture_file(path: Path, base: Path, value: str) -> Path | None:
    """[capture] file: off when empty; else a file (not a directory) in an existing directory.
    Whether it can be written is found when the hub opens it (agent/hub.py), as for the state."""
    if not value:
        return None
    file = base / value
    if file.is_dir() or not file.parent.is_dir():
        raise ConfigError(
            path, "[capture] file", f"a file in an existing directory, got {str(file)!r}"
        )
    return file


def _mqtt_settings(path: Path, base: Path, mqtt: dict[str, Any]) -> MqttSettings:
    """The [mqtt] table, checked, as settings; relative TLS paths are relative to `base`."""
    url = urlsplit(mqtt["url"])
    tls = url.scheme == "mqtts"
    return MqttSettings(
        host=url.hostname or "127.0.0.1",
        port=url.port or (8883 if tls else 1883),
        tls=tls,
        base_topic=mqtt["base_topic"],
        client_id=mqtt["client_id"],
        username=mqtt["username"] or (url.username if url.username else None),
        password=_secret(path, "[mqtt] password", mqtt["password"])
        or (url.password if url.password else None),
        keepalive=mqtt["keepalive"],
        protocol=mqtt["protocol"],
        **_tls_files(path, base, mqtt, tls),
    )


def load_mqtt(source: str, table: dict[str, Any]) -> MqttSettings:
    """Broker settings without a config file (a client command given flags or environment
    variables): `table` is checked exactly as a config's [mqtt] table is, relative paths are
    relative to the working directory, and errors name `source` as the file."""
    checked = _section(source, "mqtt", SCHEMA["mqtt"], table)  # type: ignore[arg-type]
    return _mqtt_settings(Path(source), Path.cwd(), checked)


CREDENTIAL = "credential:"


def _credential(path: Path, key: str, value: str) -> Path:
    """`credential:ID`: the file systemd's `LoadCredential=ID:...` gives the service, in
    $CREDENTIALS_DIRECTORY. It lets a key stay root-only in /etc while a DynamicUser= service,
    whose user does not exist until it runs, reads its copy (docs/operations.md)."""
    credential = value.removeprefix(CREDENTIAL)
    if not credential or "/" in credential or credential in (".", ".."):
        raise ConfigError(path, key, f"credential:ID with a plain ID, got {value!r}")
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        raise ConfigError(
            path,
            key,
            f"a credential the service loads (LoadCredential={credential}:/path/to/file in the "
            "unit), but CREDENTIALS_DIRECTORY is not set",
        )
    return Path(directory) / credential


def _secret(path: Path, key: str, value: str | None, check: Check | None = None) -> str | None:
    """A secret as written, or the content of its `credential:ID` file (one line; surrounding
    whitespace dropped), so it need not sit in a config file others can read."""
    if value is None or not value.startswith(CREDENTIAL):
        return value
    file = _credential(path, key, value)
    try:
        secret = file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, key, f"a readable credential file ({exc})") from None
    why = check(secret) if check is not None else None if secret else "a non-empty value"
    if why is not None:
        raise ConfigError(path, key, f"{why} in {file}")
    return secret


def _tls_files(path: Path, base: Path, mqtt: dict[str, Any], tls: bool) -> dict[str, Path | None]:
    """The TLS files, checked now so a bad one stops start-up instead of failing every reconnect.

    The client key must be readable by its owner only: a key others can read is a key others
    can use to be this hub.
    """
    files: dict[str, Path | None] = {}
    for name in ("ca", "cert", "key"):
        value = mqtt[name]
        if value is None:
            files[name] = None
            continue
        if not tls:
            raise ConfigError(path, f"[mqtt] {name}", "set only with an mqtts:// url")
        credential = value.startswith(CREDENTIAL)
        file = _credential(path, f"[mqtt] {name}", value) if credential else base / value
        if not file.is_file():
            raise ConfigError(path, f"[mqtt] {name}", f"an existing file, got {str(file)!r}")
        files[name] = file
    if (files["cert"] is None) != (files["key"] is None):
        missing = "key" if files["key"] is None else "cert"
        raise ConfigError(path, f"[mqtt] {missing}", "set together with the other of cert/key")
    key = files["key"]
    if key is not None:
        mode = key.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigError(
                path,
                "[mqtt] key",
                f"a file readable only by its owner (chmod 600), got mode {mode:04o}",
            )
    try:
        context = ssl.create_default_context(cafile=str(files["ca"]) if files["ca"] else None)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(path, "[mqtt] ca", f"PEM CA certificate(s) ({exc})") from None
    if files["cert"] is not None and key is not None:
        try:
            context.load_cert_chain(str(files["cert"]), str(key))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                path, "[mqtt] cert", f"a PEM certificate matching [mqtt] key ({exc})"
            ) from None
    return files
