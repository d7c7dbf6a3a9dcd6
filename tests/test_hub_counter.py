"""The hub's own alerts never reuse a counter, even when the clock is behind after a restart
(a Pi keeps no time while it is off): the WAN would take such an alert for a duplicate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent import hub_alerts
from agent.hub_alerts import HubAlerts
from agent.state import StateError
from gbcs import signature
from gbcs.frame import parse_frame

HUB = bytes.fromhex("00DB1234567890A2")
METER = bytes.fromhex("00DB1234567890A0")


def counters(alerts: HubAlerts, n: int) -> list[int]:
    return [parse_frame(alerts.join_refused(METER)).counter for _ in range(n)]


def test_a_restart_with_the_clock_behind_never_reuses_a_counter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_alerts, "COUNTER_BLOCK", 5)
    path = tmp_path / "hub-counter.json"
    key = signature.generate_key()
    first = counters(HubAlerts(HUB, key, state_path=path, now_ms=lambda: 1_000_000), 12)
    assert first == list(range(1_000_001, 1_000_013))
    # Rebooted with the clock behind (996,400 ms, below every counter the first run used): the
    # clock alone would reuse them; the kept mark is above all of them.
    second = counters(HubAlerts(HUB, key, state_path=path, now_ms=lambda: 996_400), 3)
    assert min(second) > max(first)
    assert second == sorted(second)
    # A clock ahead of the mark still wins: counters track the time when they can.
    third = counters(HubAlerts(HUB, key, state_path=path, now_ms=lambda: 5_000_000), 1)
    assert third == [5_000_001]


def test_an_unreadable_mark_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "hub-counter.json"
    path.write_text(json.dumps({"reserved_up_to": "1000"}))
    with pytest.raises(StateError, match=r"^state error: .*hub-counter\.json: unreadable"):
        HubAlerts(HUB, signature.generate_key(), state_path=path)
    assert json.loads(path.read_text()) == {"reserved_up_to": "1000"}
