"""Home Assistant MQTT discovery: the payload builders, and a lab hub's configs on a real broker.

Each config is checked against Home Assistant's documented MQTT discovery schema for its
component (the allowed keys are written out below from the docs, not taken from the code), each
template is rendered against the retained payloads the hub really published, and no entity may
read anything but `bridge/state`, `consent` and `health`: never `up/#` or `down/#`, so never
meter data.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from conftest import Broker, write_config
from mqtt_helpers import recording
from test_device_log_e2e import GOOD_CODE, NEW_METER, ccs, result, send_down
from test_e2e import running_hub

from agent import version
from agent.config import ConfigError, load_config
from agent.homeassistant import Discovery, device_configs, hub_configs

HUB = "00DB1234567890A2"
BASE = f"gbcs-hub/{HUB}"
ESME, IHD = "00DB1234567890A0", "00DB1234567890A5"

# Home Assistant's MQTT discovery schema, written out from its documentation.
# https://www.home-assistant.io/integrations/sensor.mqtt/#configuration-variables
# https://www.home-assistant.io/integrations/binary_sensor.mqtt/#configuration-variables
COMMON_KEYS = {
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "device",
    "device_class",
    "enabled_by_default",
    "encoding",
    "entity_category",
    "entity_picture",
    "expire_after",
    "force_update",
    "icon",
    "json_attributes_template",
    "json_attributes_topic",
    "name",
    "object_id",
    "default_entity_id",
    "payload_available",
    "payload_not_available",
    "platform",
    "qos",
    "state_topic",
    "unique_id",
    "value_template",
}
ALLOWED_KEYS = {
    "sensor": COMMON_KEYS
    | {
        "last_reset_value_template",
        "options",
        "state_class",
        "suggested_display_precision",
        "unit_of_measurement",
    },
    "binary_sensor": COMMON_KEYS | {"off_delay", "payload_off", "payload_on"},
}
# https://www.home-assistant.io/integrations/mqtt/#availability (the `availability` list)
AVAILABILITY_KEYS = {"topic", "payload_available", "payload_not_available", "value_template"}
# https://www.home-assistant.io/integrations/sensor.mqtt/#device (the `device` map)
DEVICE_KEYS = {
    "configuration_url",
    "connections",
    "hw_version",
    "identifiers",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "serial_number",
    "suggested_area",
    "sw_version",
    "via_device",
}
# https://www.home-assistant.io/integrations/sensor/#device-class
SENSOR_DEVICE_CLASSES = {
    "apparent_power", "aqi", "area", "atmospheric_pressure", "battery",
    "blood_glucose_concentration", "carbon_dioxide", "carbon_monoxide", "current", "data_rate",
    "data_size", "date", "distance", "duration", "energy", "energy_distance", "energy_storage",
    "enum", "frequency", "gas", "humidity", "illuminance", "irradiance", "moisture", "monetary",
    "nitrogen_dioxide", "nitrogen_monoxide", "nitrous_oxide", "ozone", "ph", "pm1", "pm10",
    "pm25", "power_factor", "power", "precipitation", "precipitation_intensity", "pressure",
    "reactive_energy", "reactive_power", "signal_strength", "sound_pressure", "speed",
    "sulphur_dioxide", "temperature", "timestamp", "volatile_organic_compounds",
    "volatile_organic_compounds_parts", "voltage", "volume", "volume_flow_rate",
    "volume_storage", "water", "weight", "wind_direction", "wind_speed",
}  # fmt: skip
# https://www.home-assistant.io/integrations/binary_sensor/#device-class
BINARY_DEVICE_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
    "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy",
    "opening", "plug", "power", "presence", "problem", "running", "safety", "smoke", "sound",
    "tamper", "update", "vibration", "window",
}  # fmt: skip
# https://developers.home-assistant.io/docs/core/entity/sensor/#available-state-classes
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
# https://www.home-assistant.io/integrations/sensor/#device-class (duration's units)
DURATION_UNITS = {"d", "h", "min", "s", "ms", "µs"}

# The templates allowed: a `value_json` path (`.name` or `['key']` steps), alone, with
# `| default('x')`, compared `== 'x'`, or as attributes `| tojson` / `{'name': path} | tojson`.
STEP = r"(?:\.[A-Za-z_][A-Za-z_0-9]*|\['[^']+'\])"
PATH = rf"value_json{STEP}+"
TEMPLATE = re.compile(
    rf"^\{{\{{ (?:(?P<path>{PATH})(?: \| default\('(?P<default>[^']*)'\)| == '(?P<eq>[^']*)'|"
    rf" (?P<tojson>\| tojson))?|\{{'(?P<name>\w+)': (?P<named>{PATH})\}} \| tojson) \}}\}}$"
)


class Undefined:
    """What Jinja gives for a missing key or an attribute of None: fine at the end of a path
    (it renders through `default`), an error if the path goes on from it."""


def walk(payload: Any, path: str) -> Any:
    steps = re.findall(r"\.([A-Za-z_][A-Za-z_0-9]*)|\['([^']+)'\]", path.removeprefix("value_json"))
    value = payload
    for attribute, key in steps:
        assert not isinstance(value, Undefined), f"{path}: a step past an undefined value"
        name = attribute or key
        value = value.get(name, Undefined()) if isinstance(value, dict) else Undefined()
    return value


def render(template: str, payload: Any) -> str:
    match = TEMPLATE.match(template)
    assert match, f"not one of the simple template forms: {template!r}"
    if match["named"]:
        value = walk(payload, match["named"])
        assert not isinstance(value, Undefined), template
        return json.dumps({match["name"]: value})
    value = walk(payload, match["path"])
    if isinstance(value, Undefined):
        assert match["default"] is not None, f"{template}: undefined in {payload}"
        return match["default"]
    if match["eq"] is not None:
        return str(value == match["eq"])
    if match["tojson"]:
        return json.dumps(value)
    return str(value)


def check_schema(topic: str, config: dict[str, Any], prefix: str) -> str:
    """Checks one config against HA's schema for its component; returns the component."""
    component = topic.removeprefix(prefix + "/").split("/")[0]
    assert component in ALLOWED_KEYS, topic
    assert re.fullmatch(rf"{re.escape(prefix)}/{component}/\w+/\w+/config", topic), topic
    assert not set(config) - ALLOWED_KEYS[component], (topic, set(config) - ALLOWED_KEYS[component])
    assert "name" in config and (config["name"] is None or isinstance(config["name"], str))
    assert isinstance(config["unique_id"], str) and config["unique_id"]
    assert isinstance(config["state_topic"], str)
    device = config["device"]
    assert not set(device) - DEVICE_KEYS, set(device) - DEVICE_KEYS
    assert isinstance(device["identifiers"], list) and device["identifiers"]
    (availability,) = config["availability"]
    assert set(availability) <= AVAILABILITY_KEYS
    assert availability["topic"].endswith("/bridge/state")
    assert availability["value_template"] == "{{ value_json.state }}"
    assert availability["payload_available"] == "online"
    assert config.get("entity_category", "diagnostic") == "diagnostic"
    if component == "binary_sensor":
        assert config.get("device_class", "connectivity") in BINARY_DEVICE_CLASSES
    else:
        device_class = config.get("device_class")
        assert device_class is None or device_class in SENSOR_DEVICE_CLASSES, device_class
        assert config.get("state_class", "measurement") in STATE_CLASSES
        if device_class == "enum":
            assert config["options"] and "state_class" not in config
            assert "unit_of_measurement" not in config
        else:
            assert "options" not in config
        if device_class == "duration":
            assert config["unit_of_measurement"] in DURATION_UNITS
    return component


# -- the builders ---------------------------------------------------------------------------------


def test_hub_configs_are_one_device_with_unique_stable_ids() -> None:
    configs = hub_configs(HUB, BASE, "homeassistant", "1.2.3")
    ids = [c["unique_id"] for _t, c in configs]
    assert len(set(ids)) == len(ids) == 10
    assert all(i.startswith("han_agent_00db1234567890a2_") for i in ids)
    assert [c["object_id"] for _t, c in configs] == ids
    for topic, config in configs:
        check_schema(topic, config, "homeassistant")
        assert config["device"] == {
            "identifiers": [f"han_agent_{HUB}"],
            "name": f"Communications Hub {HUB}",
            "manufacturer": "han-agent",
            "model": "GB Communications Hub emulator",
            "sw_version": "1.2.3",
        }
    # The same inputs give the same topics and payloads: Home Assistant keeps its entities.
    assert hub_configs(HUB, BASE, "homeassistant", "1.2.3") == configs
    topics = {t.split("/")[-2]: (t.split("/")[1], c) for t, c in configs}
    assert topics["connectivity"][0] == "binary_sensor"
    assert topics["connectivity"][1]["device_class"] == "connectivity"
    assert topics["connectivity"][1]["payload_on"] == "online"
    assert topics["forwarded"][1]["state_class"] == "total_increasing"
    assert topics["outbox_backlog"][1]["state_class"] == "measurement"


def test_builder_templates_render_against_documented_payloads() -> None:
    # The health example of docs/mqtt.md, cut to what the entities read.
    health = {
        "radio": {"state": "ok"},
        "devices": {ESME: {"model": "Sim-ESME", "state": "ok", "last_seen_s": 0.3}},
        "counters": {
            "forwarded": 24,
            "blocked": 6,
            "forwarded_by_category": {"security": 7},
            "blocked_by_category": {"prepayment": 2},
        },
        "status": "degraded",
        "problems": ["outbox: writer stopped"],
        "outbox": {"records": 43, "dropped": {"p0_full": 1}, "dropped_total": 1},
        "firmware": {"image": None},
    }
    payloads = {
        f"{BASE}/bridge/state": {"state": "online"},
        f"{BASE}/consent": {"mode": "restricted", "reason": "consumer opted out"},
        f"{BASE}/health": health,
    }
    configs = hub_configs(HUB, BASE, "ha", "1") + device_configs(HUB, BASE, "ha", "1", ESME)
    rendered = {
        t.split("/")[-2]: render(c["value_template"], payloads[c["state_topic"]])
        for t, c in configs
    }
    assert rendered == {
        "connectivity": "online",
        "consent_mode": "restricted",
        "consent_reason": "consumer opted out",
        "radio_state": "ok",
        "outbox_backlog": "43",
        "outbox_dropped": "1",
        "forwarded": "24",
        "blocked": "6",
        "firmware": "none",
        "health_status": "degraded",
        "device_00db1234567890a0_presence": "True",
        "device_00db1234567890a0_last_seen": "0.3",
    }
    attributes = {
        t.split("/")[-2]: json.loads(render(c["json_attributes_template"], health))
        for t, c in configs
        if "json_attributes_template" in c
    }
    assert attributes["forwarded"] == {"security": 7}
    assert attributes["blocked"] == {"prepayment": 2}
    assert attributes["health_status"] == {"problems": ["outbox: writer stopped"]}
    health["firmware"] = {"image": {"file_version": "0x00020001"}}
    firmware = next(c for t, c in configs if t.endswith("/firmware/config"))
    assert render(firmware["value_template"], health) == "0x00020001"


def test_device_configs_are_their_own_device_via_the_hub() -> None:
    configs = device_configs(HUB, BASE, "homeassistant", "1", IHD)
    assert [t for t, _c in configs] == [
        "homeassistant/binary_sensor/han_agent_00db1234567890a2/device_00db1234567890a5_presence/config",
        "homeassistant/sensor/han_agent_00db1234567890a2/device_00db1234567890a5_last_seen/config",
    ]
    for topic, config in configs:
        check_schema(topic, config, "homeassistant")
        assert config["device"]["identifiers"] == [f"han_agent_{HUB}_{IHD}"]
        assert config["device"]["via_device"] == f"han_agent_{HUB}"
        assert config["state_topic"] == f"{BASE}/health"


class Sink:
    """The uplink's retained-absolute interface, recording in order (what the broker would get)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def set_retained_absolute(self, topic: str, payload: bytes) -> None:
        self.sent.append((topic, payload))


def test_discovery_follows_the_device_log() -> None:
    sink, log = Sink(), [ESME]
    discovery = Discovery(sink, HUB, BASE, "ha", "1", lambda: log)
    discovery.sync()
    assert len(sink.sent) == 10 + 2 and all(payload for _t, payload in sink.sent)
    sink.sent.clear()
    discovery.sync()
    assert sink.sent == []  # nothing changed, nothing said
    log.append(IHD)
    discovery.sync()
    assert [t for t, _p in sink.sent] == [t for t, _c in device_configs(HUB, BASE, "ha", "1", IHD)]
    sink.sent.clear()
    log.remove(ESME)
    discovery.sync()
    esme_topics = [t for t, _c in device_configs(HUB, BASE, "ha", "1", ESME)]
    assert sink.sent == [(t, b"") for t in esme_topics]


def test_config_section_is_opt_in_and_checked(tmp_path: Path) -> None:
    path = write_config(tmp_path, None)
    config = load_config(path)
    assert not config.homeassistant.enabled
    assert config.homeassistant.discovery_prefix == "homeassistant"
    path = write_config(tmp_path, None, extra="[homeassistant]\nenabeld = true\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == "[homeassistant] enabeld"
    assert "did you mean 'enabled'" in err.value.expected
    path = write_config(tmp_path, None, extra='[homeassistant]\ndiscovery_prefix = "ha/#"\n')
    with pytest.raises(ConfigError, match=r"\[homeassistant\] discovery_prefix"):
        load_config(path)


# -- end to end -----------------------------------------------------------------------------------


async def retained(broker: Broker, topic_filter: str, settle: float = 0.5) -> dict[str, bytes]:
    """What the broker holds retained under `topic_filter`, as a new subscriber gets it."""
    held: dict[str, bytes] = {}
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic_filter, qos=1)
        try:
            async with asyncio.timeout(settle):
                async for message in client.messages:
                    if message.retain and isinstance(message.payload, bytes):
                        held[str(message.topic)] = message.payload
        except TimeoutError:
            pass
    return held


async def test_lab_hub_publishes_valid_discovery_and_follows_the_log(
    tmp_path: Path, broker: Broker
) -> None:
    counter = int(time.time() * 1000)
    prefix = f"ha-test-{counter}"  # its own, on the session's shared broker
    extra = (
        f'[homeassistant]\nenabled = true\ndiscovery_prefix = "{prefix}"\n'
        "[health]\ninterval = 1\n"  # health again each second, with both lab devices in it
    )
    config = load_config(write_config(tmp_path, broker, mode="restricted", extra=extra))
    base = config.topic_base
    allowed_topics = {f"{base}/bridge/state", f"{base}/consent", f"{base}/health"}
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (
            hub,
            lab,
        ),
    ):
        # Both lab devices in health, so every device entity has a value to read.
        await rec.wait_for(
            lambda ms: any(
                m.topic.endswith("/health") and {ESME, IHD} <= set(m.json()["devices"]) for m in ms
            ),
            timeout=15,
        )
        configs = await retained(broker, f"{prefix}/#")
        state = {t: json.loads(p) for t, p in (await retained(broker, f"{base}/#")).items()}

        # A CCS01 adds a device and its entities; a CCS02 of a lab device removes its entities.
        hub_eui = hub.hub_eui64
        await send_down(
            broker, base, "add", hub_eui, ccs(counter + 1, hub_eui, NEW_METER, GOOD_CODE)
        )
        await rec.wait_for(lambda _m: result(rec, "add") is not None, timeout=10)
        ihd = lab.ihd.eui64
        await send_down(broker, base, "rm", hub_eui, ccs(counter + 2, hub_eui, ihd, None))
        await rec.wait_for(lambda _m: result(rec, "rm") is not None, timeout=10)
        assert result(rec, "rm")["status"] == "delivered"  # type: ignore[index]
        await asyncio.sleep(0.3)  # the retained publishes follow the result
        after = await retained(broker, f"{prefix}/#")

    decoded = {t: json.loads(p) for t, p in configs.items()}
    components = [check_schema(t, c, prefix) for t, c in decoded.items()]
    assert components.count("binary_sensor") == 1 + 2  # connectivity, two presences
    assert len(decoded) == 10 + 2 * 2
    assert {c["device"]["sw_version"] for c in decoded.values() if "sw_version" in c["device"]} == {
        version()
    }
    hub_ident = f"han_agent_{config.hub_id}"
    for topic, c in decoded.items():
        # Restricted mode, and any mode: never meter data, only the hub's three status topics.
        assert c["state_topic"] in allowed_topics, topic
        assert c.get("json_attributes_topic", c["state_topic"]) in allowed_topics, topic
        assert c["availability"][0]["topic"] == f"{base}/bridge/state"
        rendered = render(c["value_template"], state[c["state_topic"]])
        if "json_attributes_template" in c:
            attributes = render(c["json_attributes_template"], state[c["json_attributes_topic"]])
            assert isinstance(json.loads(attributes), dict), topic
        if topic.split("/")[1] == "binary_sensor":
            assert rendered == c["payload_on"], (topic, rendered)  # online, devices ok
        elif c.get("device_class") == "enum":
            assert rendered in c["options"], (topic, rendered)
        elif "state_class" in c:
            float(rendered)  # a number, as a measurement or a total must be
        if c["device"]["identifiers"] != [hub_ident]:
            assert c["device"]["via_device"] == hub_ident
    assert state[f"{base}/consent"]["mode"] == "restricted"

    ihd_topics = [t for t, _c in device_configs(config.hub_id, base, prefix, "", IHD)]
    new_topics = [
        t for t, _c in device_configs(config.hub_id, base, prefix, "", NEW_METER.hex().upper())
    ]
    assert set(ihd_topics) <= set(configs)
    assert not set(ihd_topics) & set(after), "a removed device's configs are emptied"
    assert set(new_topics) <= set(after), "an added device's configs are published"
    assert len(after) == len(configs)  # one device in, one out
