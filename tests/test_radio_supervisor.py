"""The radio's fault and recovery path, and real bellows against serial ends that are no dongle.

The fault side uses no mock of zigpy: a named virtual dongle is unplugged through zigpy's own
`ControllerApplication.connection_lost` (the path bellows takes when the serial port goes), an
NCP failure is bellows' real `NcpFailure` exception class, and a stalled NCP is a watchdog feed
that never answers. The serial side runs the real bellows EzspRadioApp against a pty that
answers nothing, a pty that answers garbage and a TCP socket on 127.0.0.1 that accepts and stays
silent: each must fail with a message that says what is wrong, be retried, and never hang.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import bellows.types as bt
import pytest
from bellows.ash import NcpFailure

from agent.health import Health
from agent.radio_supervisor import RadioSupervisor, SupervisorTiming
from hal import virtual_dongle
from hal.radio import RadioSettings, open_radio
from hal.virtual import VirtualRadioApp

FAST = SupervisorTiming(
    open_timeout=10, probe_interval=0.2, probe_timeout=0.5, retry_min=0.1, retry_max=0.4
)


class RecordingHealth(Health):
    """The real Health, remembering every radio state change and when it happened."""

    def __init__(self) -> None:
        super().__init__(3600)
        self.changes: list[tuple[float, str, str]] = []

    def radio(self, state: str, detail: str = "") -> None:
        if state != self.radio_state:
            self.changes.append((time.monotonic(), state, detail))
        super().radio(state, detail)


async def wait_for(predicate: Any, within: float) -> None:
    """Poll a condition on state the supervisor changes (health has no change event)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@pytest.fixture
def dongle_path(request: pytest.FixtureRequest) -> Iterator[str]:
    path = f"virtual://test-{request.node.name}"
    yield path
    virtual_dongle.forget(path)


@pytest.fixture
async def supervised(
    tmp_path: Path, dongle_path: str
) -> AsyncIterator[tuple[RadioSupervisor, Health, list[str]]]:
    health = Health(3600)
    events: list[str] = []
    sup = RadioSupervisor(
        RadioSettings(type="virtual", path=dongle_path, channel=15),
        tmp_path,
        health,
        on_up=lambda app: events.append("up"),
        on_down=lambda: events.append("down"),
        timing=FAST,
    )
    await sup.start()
    try:
        yield sup, health, events
    finally:
        await sup.stop()


async def test_unplugged_dongle_is_a_fault_at_once_and_comes_back(
    supervised: tuple[RadioSupervisor, Health, list[str]], dongle_path: str
) -> None:
    sup, health, events = supervised
    assert health.radio_state == "ok"
    first = sup.app
    assert isinstance(first, VirtualRadioApp)
    network = first.state.network_info

    virtual_dongle.unplug(dongle_path)
    # zigpy's connection_lost ran synchronously: health already says so.
    assert health.radio_state == "fault"
    assert "no serial port at " + dongle_path in health.radio_detail
    assert "FileNotFoundError" in health.radio_detail

    await asyncio.sleep(0.6)  # several retries against the missing port
    assert health.radio_state == "fault"
    assert sup.app is None
    assert sup.failures >= 2
    assert events == ["up", "down"]

    virtual_dongle.replug(dongle_path)
    await wait_for(lambda: health.radio_state == "ok", 3)
    assert events == ["up", "down", "up"]
    second = sup.app
    assert second is not None and second is not first
    # The dongle kept its network: the same PAN and key, not a new network.
    assert second.state.network_info.extended_pan_id == network.extended_pan_id
    assert second.state.network_info.network_key.key == network.network_key.key


async def test_ncp_failure_reported_by_bellows_marks_fault_and_reopens(
    supervised: tuple[RadioSupervisor, Health, list[str]], dongle_path: str
) -> None:
    sup, health, events = supervised
    app = sup.app
    assert app is not None
    app.connection_lost(NcpFailure(code=bt.NcpResetCode.ERROR_EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT))
    assert health.radio_state == "fault"
    assert "ERROR_EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT" in health.radio_detail
    # The dongle is still plugged: the next attempt succeeds.
    await wait_for(lambda: health.radio_state == "ok" and events.count("up") == 2, 3)
    assert sup.app is not None and sup.app is not app


class StalledNcp(VirtualRadioApp):
    """An NCP that stops answering: its watchdog feed never completes (ASH timeouts)."""

    stalled = False

    async def _watchdog_feed(self) -> None:
        if StalledNcp.stalled:
            await asyncio.Event().wait()


class FailingNcp(VirtualRadioApp):
    """An NCP whose watchdog feed fails the way bellows' does after ASH gives up."""

    failing = False

    async def _watchdog_feed(self) -> None:
        if FailingNcp.failing:
            raise NcpFailure(code=bt.NcpResetCode.RESET_SOFTWARE)


async def _open_as(cls: type[VirtualRadioApp], settings: RadioSettings, state: Path) -> Any:
    from hal.radio import zigpy_config

    app = await cls.new(zigpy_config(settings, state), start_radio=False)
    await app.startup(auto_form=True)
    return app


@pytest.mark.parametrize("cls", [StalledNcp, FailingNcp])
async def test_silent_or_failing_ncp_is_caught_by_the_probe(
    tmp_path: Path, dongle_path: str, cls: type[Any]
) -> None:
    health = RecordingHealth()
    timing = SupervisorTiming(
        open_timeout=5, probe_interval=0.3, probe_timeout=0.5, retry_min=0.1, retry_max=0.2
    )
    sup = RadioSupervisor(
        RadioSettings(type="virtual", path=dongle_path),
        tmp_path,
        health,
        timing=timing,
        opener=lambda s, d: _open_as(cls, s, d),
    )
    await sup.start()
    try:
        assert health.radio_state == "ok"
        setattr(cls, "stalled" if cls is StalledNcp else "failing", True)
        started = time.monotonic()
        await wait_for(lambda: any(state == "fault" for _, state, _ in health.changes), 5)
        when, _, detail = next(c for c in health.changes if c[1] == "fault")
        # Within one probe interval plus the probe deadline (and scheduling slack).
        assert when - started < timing.probe_interval + timing.probe_timeout + 0.5
        expected = "unanswered for 0.5 s" if cls is StalledNcp else "RESET_SOFTWARE"
        assert expected in detail
        setattr(cls, "stalled" if cls is StalledNcp else "failing", False)
        await wait_for(lambda: health.radio_state == "ok", 5)
    finally:
        StalledNcp.stalled = FailingNcp.failing = False
        await sup.stop()


async def test_radio_missing_at_start_does_not_block_and_is_retried(
    tmp_path: Path, dongle_path: str
) -> None:
    virtual_dongle.named(dongle_path)
    virtual_dongle.unplug(dongle_path)
    health = Health(3600)
    sup = RadioSupervisor(
        RadioSettings(type="virtual", path=dongle_path), tmp_path, health, timing=FAST
    )
    async with asyncio.timeout(2):
        await sup.start()  # returns after the first failed attempt
    try:
        assert health.radio_state == "fault"
        assert sup.app is None
        virtual_dongle.replug(dongle_path)
        await wait_for(lambda: health.radio_state == "ok", 3)
        assert sup.attempts >= 2
    finally:
        await sup.stop()


# -- real bellows against serial ends that are not a dongle ----------------------------------------


def _bellows_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("bellows")]


async def test_bellows_on_a_silent_pty_fails_by_itself_with_a_clear_message(
    tmp_path: Path,
) -> None:
    """No supervisor deadline: bellows' own EZSP reset timeouts end the attempt (~7.5 s)."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    try:
        started = time.monotonic()
        async with asyncio.timeout(20):
            with pytest.raises(TimeoutError) as caught:
                await open_radio(RadioSettings(type="ezsp", path=path), tmp_path)
        assert time.monotonic() - started < 15
        from hal.radio_errors import explain

        message = explain(caught.value, path)
        assert message.startswith(f"no EZSP answer from {path} in time")
        assert "TimeoutError" in message
        await asyncio.sleep(0.2)
        assert _bellows_threads() == []  # the serial thread was stopped, the port released
    finally:
        os.close(master)
        os.close(slave)


async def _spew_garbage(fd: int, stop: asyncio.Event) -> None:
    rng = bytes(range(256))
    i = 0
    while not stop.is_set():
        try:
            os.write(fd, rng[i % 200 : i % 200 + 40])
        except OSError:
            return
        i += 37
        await asyncio.sleep(0.02)


async def _supervise_until_two_failures(settings: RadioSettings, state: Path) -> Health:
    health = Health(3600)
    sup = RadioSupervisor(
        settings,
        state,
        health,
        timing=SupervisorTiming(open_timeout=5, retry_min=0.2, retry_max=0.2),
    )
    try:
        async with asyncio.timeout(20):
            await sup.start()
            assert health.radio_state == "fault"
            await wait_for(lambda: sup.failures >= 2, 20)
    finally:
        await sup.stop()
    assert sup.app is None
    await asyncio.sleep(0.2)
    assert _bellows_threads() == []
    return health


async def test_bellows_on_a_pty_answering_garbage_fails_and_is_retried(tmp_path: Path) -> None:
    master, slave = os.openpty()
    stop = asyncio.Event()
    spew = asyncio.get_running_loop().create_task(_spew_garbage(master, stop))
    path = os.ttyname(slave)
    try:
        health = await _supervise_until_two_failures(
            RadioSettings(type="ezsp", path=path), tmp_path
        )
    finally:
        stop.set()
        await spew
        os.close(master)
        os.close(slave)
    assert health.radio_state == "fault"
    assert health.radio_detail.startswith(f"no EZSP answer from {path} in time")


async def test_bellows_on_a_silent_tcp_socket_fails_and_is_retried(tmp_path: Path) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    port = server.getsockname()[1]
    accepted: list[socket.socket] = []

    async def accept_and_stay_silent() -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(server)
            accepted.append(conn)

    acceptor = asyncio.get_running_loop().create_task(accept_and_stay_silent())
    url = f"socket://127.0.0.1:{port}"
    try:
        health = await _supervise_until_two_failures(RadioSettings(type="ezsp", path=url), tmp_path)
    finally:
        acceptor.cancel()
        for conn in accepted:
            conn.close()
        server.close()
    assert len(accepted) >= 2  # bellows really connected, twice
    assert health.radio_detail.startswith(f"no EZSP answer from {url} in time")


async def test_bellows_on_a_missing_port_says_so(tmp_path: Path) -> None:
    path = str(tmp_path / "ttyUSB-not-here")
    health = Health(3600)
    sup = RadioSupervisor(RadioSettings(type="ezsp", path=path), tmp_path, health, timing=FAST)
    async with asyncio.timeout(5):
        await sup.start()
    await sup.stop()
    assert health.radio_state == "fault"
    assert health.radio_detail.startswith(f"no serial port at {path}")
