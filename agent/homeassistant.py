"""Home Assistant MQTT discovery: the hub and its HAN devices as Home Assistant entities.

Opt-in (`[homeassistant] enabled = true`). The payload builders are pure: a hub id, its base
topic and the device log's EUI-64s in, a list of (topic, config) out. `Discovery` publishes them
retained through the uplink, and on a device-log change publishes the configs of the devices
added and an empty retained payload on each config topic of the devices removed (which is how
Home Assistant is told to delete an entity).

Every entity reads one of three retained topics under the hub's base: `bridge/state`,
`consent` and `health`. None reads `up/#` or `down/#`, so no entity can carry meter data
(consumption, tariff, balance) whatever the consent mode: discovery exposes the hub's own
status, never what the meters say. Templates are kept to `{{ value_json.a.b }}` paths (with a
`default`, an `== 'x'` test or `tojson` where needed) so that tests can check each one against
the payloads the hub really publishes. docs/homeassistant.md lists the entities.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Protocol

MANUFACTURER = "han-agent"
MODEL = "GB Communications Hub emulator"

Config = dict[str, Any]


class RetainedSink(Protocol):
    """What discovery needs of the uplink: a retained message on an absolute topic."""

    def set_retained_absolute(self, topic: str, payload: bytes) -> None: ...


def node_id(hub_id: str) -> str:
    return f"han_agent_{hub_id.lower()}"


def hub_device(hub_id: str, version: str) -> Config:
    return {
        "identifiers": [f"han_agent_{hub_id}"],
        "name": f"Communications Hub {hub_id}",
        "manufacturer": MANUFACTURER,
        "model": MODEL,
        "sw_version": version,
    }


def _availability(base: str) -> list[Config]:
    return [
        {
            "topic": f"{base}/bridge/state",
            "value_template": "{{ value_json.state }}",
            "payload_available": "online",
            "payload_not_available": "offline",
        }
    ]


def _entity(
    prefix: str,
    component: str,
    hub_id: str,
    key: str,
    name: str,
    base: str,
    device: Config,
    state_topic: str,
    value_template: str,
    **extra: Any,
) -> tuple[str, Config]:
    object_id = f"{node_id(hub_id)}_{key}"
    config: Config = {
        "name": name,
        "unique_id": object_id,
        "object_id": object_id,
        "state_topic": state_topic,
        "value_template": value_template,
        "availability": _availability(base),
        "device": device,
        **extra,
    }
    return f"{prefix}/{component}/{node_id(hub_id)}/{key}/config", config


def hub_configs(hub_id: str, base: str, prefix: str, version: str) -> list[tuple[str, Config]]:
    """The hub's own entities, all reading `bridge/state`, `consent` or `health`."""
    device = hub_device(hub_id, version)
    state, consent, health = f"{base}/bridge/state", f"{base}/consent", f"{base}/health"
    diagnostic = {"entity_category": "diagnostic"}

    def entity(
        component: str, key: str, name: str, topic: str, template: str, **extra: Any
    ) -> tuple[str, Config]:
        return _entity(prefix, component, hub_id, key, name, base, device, topic, template, **extra)

    return [
        entity(
            "binary_sensor",
            "connectivity",
            "Connectivity",
            state,
            "{{ value_json.state }}",
            payload_on="online",
            payload_off="offline",
            device_class="connectivity",
            **diagnostic,
        ),
        entity(
            "sensor",
            "consent_mode",
            "Consent mode",
            consent,
            "{{ value_json.mode }}",
            device_class="enum",
            options=["full", "restricted"],
            icon="mdi:shield-account",
        ),
        entity(
            "sensor",
            "consent_reason",
            "Consent reason",
            consent,
            "{{ value_json.reason }}",
            icon="mdi:text",
        ),
        entity(
            "sensor",
            "radio_state",
            "Radio state",
            health,
            "{{ value_json.radio.state }}",
            device_class="enum",
            options=["starting", "ok", "fault"],
            icon="mdi:zigbee",
            **diagnostic,
        ),
        entity(
            "sensor",
            "outbox_backlog",
            "Outbox backlog",
            health,
            "{{ value_json.outbox.records }}",
            state_class="measurement",
            unit_of_measurement="records",
            icon="mdi:tray-full",
            **diagnostic,
        ),
        entity(
            "sensor",
            "outbox_dropped",
            "Outbox drops",
            health,
            "{{ value_json.outbox.dropped_total }}",
            state_class="total_increasing",
            unit_of_measurement="records",
            icon="mdi:tray-remove",
            json_attributes_topic=health,
            json_attributes_template="{{ value_json.outbox.dropped | tojson }}",
            **diagnostic,
        ),
        entity(
            "sensor",
            "forwarded",
            "Frames forwarded",
            health,
            "{{ value_json.counters.forwarded }}",
            state_class="total_increasing",
            unit_of_measurement="frames",
            icon="mdi:upload-network",
            json_attributes_topic=health,
            json_attributes_template="{{ value_json.counters.forwarded_by_category | tojson }}",
        ),
        entity(
            "sensor",
            "blocked",
            "Frames blocked",
            health,
            "{{ value_json.counters.blocked }}",
            state_class="total_increasing",
            unit_of_measurement="frames",
            icon="mdi:shield-lock",
            json_attributes_topic=health,
            json_attributes_template="{{ value_json.counters.blocked_by_category | tojson }}",
        ),
        entity(
            "sensor",
            "firmware",
            "Firmware image",
            health,
            "{{ value_json.firmware.image.file_version | default('none') }}",
            icon="mdi:chip",
            **diagnostic,
        ),
        entity(
            "sensor",
            "health_status",
            "Health status",
            health,
            "{{ value_json.status }}",
            device_class="enum",
            options=["ok", "degraded"],
            icon="mdi:heart-pulse",
            json_attributes_topic=health,
            json_attributes_template="{{ {'problems': value_json.problems} | tojson }}",
            **diagnostic,
        ),
    ]


def device_configs(
    hub_id: str, base: str, prefix: str, version: str, eui64: str
) -> list[tuple[str, Config]]:
    """One HAN device on the device log: its own Home Assistant device, via the hub, with a
    presence and a last-seen entity read from its entry in `health`'s devices."""
    health = f"{base}/health"
    device = {
        "identifiers": [f"han_agent_{hub_id}_{eui64}"],
        "name": f"HAN device {eui64}",
        "manufacturer": MANUFACTURER,
        "model": "HAN device on the device log",
        "via_device": f"han_agent_{hub_id}",
    }
    # An EUI-64 starts with a digit, so it is a subscript, not a Jinja attribute name.
    entry = f"value_json.devices['{eui64}']"
    key = f"device_{eui64.lower()}"
    return [
        _entity(
            prefix,
            "binary_sensor",
            hub_id,
            f"{key}_presence",
            "Presence",
            base,
            device,
            health,
            f"{{{{ {entry}.state == 'ok' }}}}",
            payload_on="True",
            payload_off="False",
            device_class="presence",
            json_attributes_topic=health,
            json_attributes_template=f"{{{{ {entry} | tojson }}}}",
        ),
        _entity(
            prefix,
            "sensor",
            hub_id,
            f"{key}_last_seen",
            "Last seen",
            base,
            device,
            health,
            f"{{{{ {entry}.last_seen_s }}}}",
            device_class="duration",
            unit_of_measurement="s",
            state_class="measurement",
            entity_category="diagnostic",
        ),
    ]


def encode(config: Config) -> bytes:
    return json.dumps(config, separators=(",", ":"), sort_keys=True).encode()


class Discovery:
    """Publishes the discovery configs retained, and keeps the devices' in step with the log."""

    def __init__(
        self,
        sink: RetainedSink,
        hub_id: str,
        base: str,
        prefix: str,
        version: str,
        devices: Callable[[], Iterable[str]],
    ) -> None:
        self.sink = sink
        self.hub_id = hub_id
        self.base = base
        self.prefix = prefix
        self.version = version
        self.devices = devices
        self._hub_published = False
        self.published: set[str] = set()  # EUI-64s whose entities are published

    def _device(self, eui64: str) -> list[tuple[str, Config]]:
        return device_configs(self.hub_id, self.base, self.prefix, self.version, eui64)

    def sync(self) -> None:
        """Publish what is missing and remove what left the log; cheap when nothing changed."""
        if not self._hub_published:
            for topic, config in hub_configs(self.hub_id, self.base, self.prefix, self.version):
                self.sink.set_retained_absolute(topic, encode(config))
            self._hub_published = True
        current = set(self.devices())
        for eui64 in sorted(current - self.published):
            for topic, config in self._device(eui64):
                self.sink.set_retained_absolute(topic, encode(config))
        for eui64 in sorted(self.published - current):
            for topic, _config in self._device(eui64):
                self.sink.set_retained_absolute(topic, b"")
        self.published = current
