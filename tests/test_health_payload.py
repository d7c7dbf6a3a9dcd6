"""The `health` payload and its contract in docs/mqtt.md (section "`health`") cannot drift apart.

The field tables of that section name every field by its full path (`radio.state`,
`counters.failed`, `devices.<EUI>.model`); `<EUI>` stands for a key that is a device's EUI-64.
These tests build a real Hub (no broker, not started) and check that the keys of its
`health_snapshot()` are exactly the documented ones, object by object, and that the section's
example payload has the same shape. Adding a key to `Counters.as_dict`, `Health.snapshot` or a
section's `stats` without a row in the doc (or the reverse) fails here.

Not covered: the fields of `firmware.image` and `firmware.targets.<EUI>`, which exist only while a
signed image is being distributed (tests/test_firmware_e2e.py drives that).
"""

from __future__ import annotations

import json
import re
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, write_config

from agent.config import load_config
from agent.gsme import GsmeState
from agent.hub import Hub

DOC = ROOT / "docs" / "mqtt.md"
HEADING = "## `health`"
EUI = "<EUI>"
DEVICE = "00DB1234567890A0"

FieldPath = tuple[str, ...]


def health_section(text: str) -> str:
    start = text.index(f"\n{HEADING}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def documented_fields(section: str) -> set[FieldPath]:
    """Every backquoted name in the first cell of a table row of the section, split on dots."""
    fields: set[FieldPath] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            fields.update(tuple(name.split(".")) for name in re.findall(r"`([^`]+)`", first_cell))
    return fields


def children(fields: set[FieldPath], prefix: FieldPath) -> set[str]:
    """The documented keys directly under `prefix` (() for the top level)."""
    n = len(prefix)
    return {f[n] for f in fields if len(f) > n and f[:n] == prefix}


@pytest.fixture(scope="module")
def section() -> str:
    return health_section(DOC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def fields(section: str) -> set[FieldPath]:
    found = documented_fields(section)
    assert found, f"no field table found under {HEADING!r} in {DOC}"
    return found


@pytest.fixture
def snapshot(tmp_path: Path) -> dict[str, Any]:
    hub = Hub(load_config(write_config(tmp_path, None, mode="restricted")))
    # A device with a fault and a GSME, so the per-EUI objects are present with all their keys.
    hub.health.device_seen(DEVICE, "Sim-ESME")
    hub.health.device_fault(DEVICE, "test fault")
    gsme = bytes.fromhex(DEVICE)
    hub.gsme.meters[gsme] = GsmeState(gsme, cluster=None, queue=deque())
    snap = hub.health_snapshot()
    return json.loads(json.dumps(snap))  # what goes on the wire


def test_top_level_keys_are_the_documented_ones(
    fields: set[FieldPath], snapshot: dict[str, Any]
) -> None:
    assert set(snapshot) == children(fields, ())


def test_counters_keys_are_the_documented_ones(
    fields: set[FieldPath], snapshot: dict[str, Any]
) -> None:
    assert set(snapshot["counters"]) == children(fields, ("counters",))


@pytest.mark.parametrize("name", ["radio", "outbox", "device_log", "firmware"])
def test_section_keys_are_the_documented_ones(
    fields: set[FieldPath], snapshot: dict[str, Any], name: str
) -> None:
    assert set(snapshot[name]) == children(fields, (name,))


@pytest.mark.parametrize("name", ["devices", "gsme"])
def test_per_device_keys_are_the_documented_ones(
    fields: set[FieldPath], snapshot: dict[str, Any], name: str
) -> None:
    assert children(fields, (name,)) == {EUI}
    assert set(snapshot[name]) == {DEVICE}
    assert set(snapshot[name][DEVICE]) == children(fields, (name, EUI))


def test_the_example_payload_has_the_documented_shape(
    section: str, snapshot: dict[str, Any]
) -> None:
    block = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert block is not None, f"no example payload under {HEADING!r}"
    example = json.loads(block.group(1))
    assert list(example) == list(snapshot)  # same keys, in the order the hub writes them
    for name in ("radio", "counters", "outbox", "device_log", "firmware"):
        assert list(example[name]) == list(snapshot[name]), name
