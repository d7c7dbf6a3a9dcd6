"""The MQTT contract as a machine-checkable JSON Schema (config/mqtt-contract.schema.json, shipped
as package data): every message a lab run puts on the broker validates against its topic's
schema, every request the WAN side sends validates against the accepted one, and the schema's
topics are exactly docs/mqtt.md's topic table."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path
from typing import Any

import aiomqtt
import jsonschema
import pytest
from conftest import ROOT, Broker, write_config
from mqtt_helpers import recording
from test_consent_mqtt import TRUST_LAB, signed
from test_e2e import running_hub

from agent.config import load_config
from agent.consent import Mode
from agent.lab import METER_ALERTS, SUPPLIER_COMMANDS
from agent.shipped import DATA

SCHEMA_FILE = ROOT / "config" / "mqtt-contract.schema.json"


def contract() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_FILE.read_text()))


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = contract()
    assert name in schema["$defs"], name
    return jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{name}"})


def schema_for(suffix: str, table: dict[str, str]) -> str | None:
    for topic, name in table.items():
        if re.fullmatch(topic.replace("+", "[^/]+"), suffix):
            return name
    return None


def test_the_schema_is_valid_json_schema_and_shipped() -> None:
    schema = contract()
    jsonschema.Draft202012Validator.check_schema(schema)
    for name in [*schema["published"].values(), *schema["accepted"].values()]:
        assert name in schema["$defs"], name
    assert (DATA / "mqtt-contract.schema.json").read_bytes() == SCHEMA_FILE.read_bytes()


def test_the_schemas_topics_are_the_documented_ones() -> None:
    text = (ROOT / "docs" / "mqtt.md").read_text()
    table = text[text.index("| Topic (after") : text.index("\n\n", text.index("| Topic (after"))]
    documented = {
        re.sub(r"<[^>]+>", "+", m) for m in re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE)
    }
    schema = contract()
    assert documented == set(schema["published"]) | set(schema["accepted"])


def documented_fields(heading: str) -> set[str]:
    """The top-level names in the first column of the field tables under `heading`."""
    text = (ROOT / "docs" / "mqtt.md").read_text()
    section = text[text.index(f"\n## {heading}\n") + 1 :]
    section = section[: section.find("\n## ", 1)]
    return {m.split(".")[0] for m in re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE)}


@pytest.mark.parametrize(
    ("heading", "name"),
    [
        ("`up/<category>`", "envelope"),
        ("`down/gbcs`", "down_gbcs"),
        ("`down/result`", "down_result"),
        ("`bridge/devices`", "bridge_devices"),
        ("`bridge/info`", "bridge_info"),
        ("`consent`", "consent"),
    ],
)
def test_the_docs_field_tables_name_the_schemas_fields(heading: str, name: str) -> None:
    definition = contract()["$defs"][name]
    fields = set((definition.get("items") or definition)["properties"])
    documented = documented_fields(heading)
    # up/<category> also has a table of the categories; every field must be documented.
    assert fields <= documented, fields - documented
    if heading != "`up/<category>`":
        assert documented == fields, documented ^ fields


def test_a_wrong_payload_is_refused() -> None:
    envelope = validator("envelope")
    with pytest.raises(jsonschema.ValidationError):
        envelope.validate({"device": "00db1234567890a0"})
    with pytest.raises(jsonschema.ValidationError):
        validator("permit_join_answer").validate({"status": "ok", "data": {"time": 1}})  # unsigned


async def test_every_message_of_a_lab_run_validates(tmp_path: Path, broker: Broker) -> None:
    schema = contract()
    config = load_config(write_config(tmp_path, broker, mode="restricted", extra=TRUST_LAB))
    base = f"test/{config.hub_id}"
    requests: list[tuple[str, dict[str, Any]]] = []
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, lab),
        aiomqtt.Client(broker.host, broker.port) as wan,
    ):

        async def send(suffix: str, body: dict[str, Any]) -> None:
            requests.append((suffix, body))
            await wan.publish(f"{base}/{suffix}", json.dumps(body), qos=1)

        for phase in ("restricted", "full"):
            for spec in SUPPLIER_COMMANDS:
                await lab.send_command(spec)
            for alert in METER_ALERTS:
                lab.raise_alert(alert)
            frame = lab.supplier.command(lab.esme.eui64, SUPPLIER_COMMANDS[2])
            device = lab.esme.eui64.hex().upper()
            await send(
                "down/gbcs",
                {"id": phase, "device": device, "frame": base64.b64encode(frame).decode()},
            )
            await send("bridge/request/permit_join", {"time": 0, "transaction": f"t-{phase}"})
            await send("bridge/request/permit_join", {"seconds": 0, "transaction": 7})
            await send(
                "bridge/request/firmware",
                {"image": "AA==", "targets": [device], "transaction": f"f-{phase}"},
            )
            if phase == "restricted":
                await send("bridge/request/consent", {**signed(hub.config.hub_id, Mode.FULL, 3)})
                await rec.wait_for(lambda _m: hub.consent.mode is Mode.FULL, 10)
        await send("down/gbcs", {"id": 1, "device": "00DB1234567890FF", "frame": "AA=="})
        await asyncio.sleep(1.5)
        hub._publish_devices()
        await rec.wait_for(lambda _m: bool(rec.on("/bridge/devices")), 5)

    seen: dict[str, int] = {}
    for message in rec.messages:
        suffix = message.topic.removeprefix(f"{base}/")
        # The recorder hears the WAN side's requests too: those are checked as accepted.
        name = schema_for(suffix, schema["published"]) or schema_for(suffix, schema["accepted"])
        assert name is not None, f"no schema for the topic {suffix}"
        validator(name).validate(json.loads(message.payload))
        seen[name] = seen.get(name, 0) + 1
    for suffix, body in requests:
        name = schema_for(suffix, schema["accepted"])
        assert name is not None, suffix
        validator(name).validate(body)
    # The run covered the contract, but for firmware progress (no image is transferred here:
    # tests/test_firmware_e2e.py does that).
    assert set(schema["published"].values()) - set(seen) == {"firmware_event"}, seen
    assert set(schema["accepted"].values()) <= set(seen), seen
