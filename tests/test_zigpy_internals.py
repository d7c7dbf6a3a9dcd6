"""The private zigpy and bellows internals the hub touches still exist in the installed versions.

pyproject.toml pins zigpy and bellows to the minor the hub was verified against, and
constraints.txt to exact versions; this is the check to run after moving either. Each
attribute is looked up on real objects (a virtual-radio application, a bellows application
that is never connected, a zigpy Device), never on mocks. Where the code touching it is:

- hal/tunnel_fast_path.py: Device._requests, Device._should_filter_packet(packet),
  ControllerApplication._req_listeners (a dict read with .get, of listeners with .matchers),
  zigpy.listeners.ANY_DEVICE
- hal/radio.py: ControllerApplication._load_db(), what ControllerApplication.new awaits
- hal/ezsp.py: bellows.uart.connect(config, api, use_thread), replaced in the module because
  bellows.ezsp calls it through the module; the bellows application's _ezsp; for fragmented
  sends, its _pending_requests (a dict of futures keyed (nwk, message tag) that its
  messageSentHandler handling resolves), _req_lock, _limit_concurrency and get_sequence, and
  bellows.zigbee.application's MESSAGE_SEND_TIMEOUT_MAINS / _BATTERY
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import bellows.ezsp
import bellows.uart
import bellows.zigbee.application
import pytest
import zigpy.application
import zigpy.device
import zigpy.listeners
import zigpy.types as t

import hal.ezsp
from hal.radio import RadioSettings, radio_class, zigpy_config

VERSIONS = f"zigpy {version('zigpy')}, bellows {version('bellows')}"


def broken(what: str, where: str) -> str:
    return (
        f"{what} is gone or changed in the installed {VERSIONS}: an upgrade broke what {where} "
        f"relies on. Pin back (constraints.txt, pyproject.toml) or adapt {where}."
    )


@pytest.fixture
def virtual_app(tmp_path: Path) -> Iterator[zigpy.application.ControllerApplication]:
    settings = RadioSettings(type="virtual", path="virtual://internals-check")
    yield radio_class("virtual")(zigpy_config(settings, tmp_path))


def test_zigpy_device_internals_of_the_tunnel_fast_path(
    virtual_app: zigpy.application.ControllerApplication,
) -> None:
    where = "hal/tunnel_fast_path.py"
    device = zigpy.device.Device(virtual_app, t.EUI64.convert("00:db:12:34:56:78:90:a0"), 0x1A01)
    requests: Any = getattr(device, "_requests", None)
    assert isinstance(requests, dict), broken("zigpy Device._requests (a dict)", where)
    should_filter = getattr(device, "_should_filter_packet", None)
    assert callable(should_filter), broken("zigpy Device._should_filter_packet", where)
    assert list(inspect.signature(should_filter).parameters) == ["packet"], broken(
        "zigpy Device._should_filter_packet(packet)", where
    )


def test_zigpy_application_internals(virtual_app: zigpy.application.ControllerApplication) -> None:
    where = "hal/tunnel_fast_path.py"
    listeners: Any = getattr(virtual_app, "_req_listeners", None)
    assert callable(getattr(listeners, "get", None)), broken(
        "zigpy ControllerApplication._req_listeners (a dict)", where
    )
    assert hasattr(zigpy.listeners, "ANY_DEVICE"), broken("zigpy.listeners.ANY_DEVICE", where)
    base = zigpy.listeners.BaseRequestListener
    assert "matchers" in inspect.get_annotations(base), broken("zigpy listener .matchers", where)
    for listener in (zigpy.listeners.FutureListener, zigpy.listeners.CallbackListener):
        assert issubclass(listener, base), broken(f"zigpy {listener.__name__}.matchers", where)

    where = "hal/radio.py"
    load_db = getattr(virtual_app, "_load_db", None)
    assert inspect.iscoroutinefunction(load_db), broken(
        "zigpy ControllerApplication._load_db() (a coroutine)", where
    )
    new = inspect.getsource(zigpy.application.ControllerApplication.new)
    assert "._load_db()" in new, broken("ControllerApplication.new awaiting _load_db()", where)


def test_bellows_internals(tmp_path: Path) -> None:
    where = "hal/ezsp.py"
    original = hal.ezsp._bellows_uart_connect  # bellows' own, before hal.ezsp replaced it
    assert inspect.getmodule(original) is bellows.uart, broken("bellows.uart.connect", where)
    params = list(inspect.signature(original).parameters)
    assert params == ["config", "api", "use_thread"], broken(
        "bellows.uart.connect(config, api, use_thread)", where
    )
    assert bellows.uart.connect is hal.ezsp._uart_connect_to_its_end
    assert "bellows.uart.connect(" in inspect.getsource(bellows.ezsp), broken(
        "bellows.ezsp calling bellows.uart.connect through the module (so the patch applies)",
        where,
    )
    settings = RadioSettings(type="ezsp", path="/dev/ttyUSB-internals-check")
    app = radio_class("ezsp")(zigpy_config(settings, tmp_path))
    assert hasattr(app, "_ezsp"), broken("the bellows ControllerApplication._ezsp", where)
    assert isinstance(getattr(app, "_pending_requests", None), dict), broken(
        "the bellows ControllerApplication._pending_requests (a dict)", where
    )
    assert isinstance(getattr(app, "_req_lock", None), asyncio.Lock), broken(
        "the bellows ControllerApplication._req_lock (an asyncio.Lock)", where
    )
    assert callable(getattr(app, "_limit_concurrency", None)), broken(
        "zigpy ControllerApplication._limit_concurrency", where
    )
    assert callable(getattr(app, "get_sequence", None)), broken("get_sequence", where)
    frame_sent = inspect.getsource(bellows.zigbee.application.ControllerApplication)
    assert "self._pending_requests[pending_tag]" in frame_sent and (
        "pending_tag = (destination, message_tag)" in frame_sent
    ), broken("bellows resolving _pending_requests[(nwk, tag)] on messageSentHandler", where)
