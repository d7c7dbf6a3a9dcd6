"""The watchdog's judgement and its pings, with a real Health and a real notify socket."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agent.health import Health
from agent.notify import Notifier
from agent.watchdog import Watchdog, judge


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_radio_may_recover_within_the_allowed_time_then_not() -> None:
    clock = Clock()
    health = Health(3600, clock)
    health.radio("ok")
    assert judge(health, 60).ok
    health.radio("fault", "dongle unplugged")
    clock.now += 60
    assert judge(health, 60).ok, "60 s away is still within the 60 s allowed"
    clock.now += 1
    verdict = judge(health, 60)
    assert not verdict.ok
    assert verdict.source == "radio"
    assert "radio fault for 61s" in verdict.reason and "dongle unplugged" in verdict.reason
    health.radio("ok")
    assert judge(health, 60).ok


def test_registered_checks_must_pass_and_a_raising_check_fails() -> None:
    health = Health(3600, Clock())
    health.radio("ok")
    state = {"ok": True}
    health.add_check("outbox", lambda: (state["ok"], "" if state["ok"] else "writer stuck"))
    assert judge(health, 60).ok
    state["ok"] = False
    assert judge(health, 60).reason == "outbox: writer stuck"

    def broken() -> tuple[bool, str]:
        raise RuntimeError("database is locked")

    health.checks.clear()
    health.add_check("outbox", broken)
    verdict = judge(health, 60)
    assert not verdict.ok and "RuntimeError: database is locked" in verdict.reason


def test_pings_only_while_healthy(tmp_path: Path) -> None:
    path = str(tmp_path / "n.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(1)
    clock = Clock()
    health = Health(3600, clock)
    health.radio("ok")
    dog = Watchdog(Notifier({"NOTIFY_SOCKET": path}), health, 10, 0.5)
    try:
        assert dog.tick().ok
        assert sock.recv(100) == b"WATCHDOG=1"
        health.radio("fault", "gone")
        clock.now += 11
        assert not dog.tick().ok
        status = sock.recv(200)
        assert status.startswith(b"STATUS=unhealthy: radio fault for 11s")
        assert not dog.tick().ok
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(100)  # no ping, and the same failure is not reported twice
        health.radio("ok")
        assert dog.tick().ok
        assert sock.recv(100) == b"WATCHDOG=1"
        assert sock.recv(100) == b"STATUS=running"
        assert (dog.pings, dog.withheld) == (2, 2)
    finally:
        sock.close()


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Watchdog(Notifier({}), Health(1), 10, 0)
