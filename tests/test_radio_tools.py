"""Port listing, the device log, install-code joins, `radio check` and backup/restore.

Ports are pyserial's own ListPortInfo objects, filled in as the Linux enumeration fills them,
with real symlinks standing in for /dev/serial/by-id. Joins run on the real zigpy application of
the virtual radio; only the radio-level permit calls are recorded (the dongle is not here).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
import zigpy.types as t
from conftest import PROFILE
from serial.tools.list_ports_common import ListPortInfo
from zigpy.backups import NetworkBackup

from agent.cli import main
from agent.config import ConfigError, load_config
from agent.device_log import parse_device_log
from agent.joins import JoinManager
from hal import virtual_dongle
from hal.ports import by_id_links, candidates, guess, resolve
from hal.radio import RadioSettings, open_radio, zigpy_config
from hal.virtual import VirtualRadioApp

# The install-code test vector of the Zigbee specification (docs/gbcs-notes.md 8.3).
CODE = "83FED3407A939723A5C639B26916D505C3B5"
KEY = bytes.fromhex("66b6900981e1ee3ca4206b6b861c02bb")


def port(device: str, vid: int | None, pid: int | None, product: str | None) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid, info.product = vid, pid, product
    info.description = product or "n/a"
    return info


def test_ports_get_their_by_id_names_and_a_stack_guess(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    by_id = tmp_path / "by-id"
    dev.mkdir()
    by_id.mkdir()
    for name in ("ttyACM0", "ttyUSB0", "ttyS0"):
        (dev / name).touch()
    (by_id / "usb-ITead_Sonoff_Zigbee_3.0_USB_Dongle_Plus_V2_a1-if00").symlink_to(dev / "ttyACM0")
    (by_id / "usb-Nabu_Casa_SkyConnect_v1.0_b2-if00-port0").symlink_to("../dev/ttyUSB0")
    links = by_id_links(by_id)
    ports = [
        port(str(dev / "ttyS0"), None, None, None),
        port(str(dev / "ttyUSB0"), 0x10C4, 0xEA60, "SkyConnect v1.0"),
        port(str(dev / "ttyACM0"), 0x1A86, 0x55D4, "Sonoff Zigbee 3.0 USB Dongle Plus V2"),
    ]
    found = candidates(ports, links)
    assert [c.path for c in found] == [str(dev / n) for n in ("ttyACM0", "ttyUSB0", "ttyS0")]
    sonoff, sky, uart = found
    assert sonoff.by_id == str(by_id / "usb-ITead_Sonoff_Zigbee_3.0_USB_Dongle_Plus_V2_a1-if00")
    assert (sonoff.usb_id, sonoff.name, sonoff.stack) == ("1A86:55D4", "Sonoff ZBDongle-E", "ezsp")
    assert sky.by_id == str(by_id / "usb-Nabu_Casa_SkyConnect_v1.0_b2-if00-port0")
    assert (sky.usb_id, sky.name, sky.stack) == ("10C4:EA60", "Home Assistant SkyConnect", "ezsp")
    assert (uart.by_id, uart.usb_id, uart.stack) == (None, "-", "unknown")
    # A by-id path resolves to the device it names; URLs are left alone.
    assert resolve(sonoff.by_id) == str(dev / "ttyACM0")
    assert resolve("socket://127.0.0.1:6638") == "socket://127.0.0.1:6638"


def test_stack_guess_by_usb_id_alone_and_ambiguous_bridges() -> None:
    assert guess(0x1A86, 0x55D4, None).stack == "ezsp"
    assert guess(0x10C4, 0xEA60, "CP2102N USB to UART Bridge Controller").stack == "ezsp or znp"
    assert guess(0x10C4, 0xEA60, "Sonoff Zigbee 3.0 USB Dongle Plus").stack.startswith("znp")
    assert guess(0x1CF1, 0x0030, "ConBee II").stack.startswith("deconz")
    assert guess(0x1234, 0x5678, None).name == "unknown"
    assert by_id_links(Path("/nonexistent/by-id")) == {}


def test_device_log_derives_the_install_code_key_and_rejects_bad_entries() -> None:
    (entry,) = parse_device_log([{"eui64": "00db1234567890a0", "install_code": CODE}])
    assert entry.eui64 == "00DB1234567890A0"
    assert bytes(entry.link_key) == KEY
    assert entry.ieee == t.EUI64.convert("00:db:12:34:56:78:90:a0")
    spaced = " ".join(CODE[i : i + 4] for i in range(0, len(CODE), 4))
    assert parse_device_log([{"eui64": "00DB1234567890A0", "install_code": spaced}]) == (entry,)
    bad_crc = CODE[:-1] + ("4" if CODE[-1] != "4" else "5")
    with pytest.raises(ValueError, match="CRC does not match"):
        parse_device_log([{"eui64": "00DB1234567890A0", "install_code": bad_crc}])
    with pytest.raises(ValueError, match="wrong length"):
        parse_device_log([{"eui64": "00DB1234567890A0", "install_code": "83FED340"}])
    with pytest.raises(ValueError, match="listed twice"):
        parse_device_log([{"eui64": "00DB1234567890A0", "install_code": CODE}] * 2)
    with pytest.raises(ValueError, match="eui64"):
        parse_device_log([{"eui64": "xyz", "install_code": CODE}])


def _config(tmp_path: Path, radio: str, devices: str = "") -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(
        f'hub_id = "00DB1234567890A2"\n[mqtt]\nurl = "mqtt://127.0.0.1:1"\n'
        f'[radio]\n{radio}\n[state]\ndir = "state"\n[consent]\nprofile = "{PROFILE}"\n{devices}'
    )
    return path


def test_config_errors_name_the_device_log_entry(tmp_path: Path) -> None:
    bad_code = CODE[:-1] + "4"
    bad = f'[[devices]]\neui64 = "00DB1234567890A0"\ninstall_code = "{bad_code}"\n'
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, 'type = "virtual"', bad))
    assert "devices" in str(caught.value) and "CRC does not match" in str(caught.value)
    with pytest.raises(ConfigError, match="32 hex digits"):
        load_config(_config(tmp_path, 'type = "virtual"\nnetwork_key = "00"'))
    good = f'[[devices]]\neui64 = "00DB1234567890A0"\ninstall_code = "{CODE}"\n'
    config = load_config(_config(tmp_path, 'type = "virtual"\npan_id = 4660', good))
    assert config.radio.pan_id == 0x1234
    assert [d.eui64 for d in config.devices] == ["00DB1234567890A0"]


class RecordingRadio(VirtualRadioApp):
    """The virtual radio, remembering the radio-level join calls a dongle would receive."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.keyed: list[tuple[t.EUI64, bytes, int]] = []
        self.opened: list[int] = []

    async def permit_with_link_key(
        self, node: t.EUI64, link_key: t.KeyData, time_s: int = 60
    ) -> None:
        self.keyed.append((node, bytes(link_key), time_s))

    async def permit(self, time_s: int = 60, node: Any = None) -> None:
        self.opened.append(time_s)


async def test_only_logged_devices_get_a_keyed_window_and_no_open_join(tmp_path: Path) -> None:
    app = await RecordingRadio.new(
        zigpy_config(RadioSettings(type="virtual"), tmp_path), start_radio=False
    )
    await app.startup(auto_form=True)
    try:
        app.opened.clear()  # zigpy's own startup closes joining with permit(0)
        devices = parse_device_log(
            [
                {"eui64": "00DB1234567890A0", "install_code": CODE},
                {"eui64": "00DB1234567890A5", "install_code": CODE},
            ]
        )
        app.add_device(t.EUI64.convert("00:db:12:34:56:78:90:a5"), t.NWK(0x1A05))  # joined
        joins = JoinManager(devices, lambda: app, rearm=0.05)
        joins.radio_up()
        await asyncio.sleep(0.12)
        await joins.close()
        ieee = t.EUI64.convert("00:db:12:34:56:78:90:a0")
        assert len(app.keyed) >= 2  # re-armed while the meter has not joined
        assert set(app.keyed) == {(ieee, KEY, 254)}
        assert app.opened == []  # never an open join on its own
        with pytest.raises(ValueError, match="from 0"):
            await joins.permit_open(255)
        with pytest.raises(ValueError, match="whole number"):
            await joins.permit_open("60")  # type: ignore[arg-type]
        await joins.permit_open(60)
        assert app.opened == [60]
    finally:
        await app.shutdown()


def test_radio_check_on_a_silent_pty_fails_in_time(capsys: pytest.CaptureFixture[str]) -> None:
    master, slave = os.openpty()
    name = os.ttyname(slave)
    try:
        status = main(["radio", "check", "--path", name, "--timeout", "3"])
    finally:
        os.close(master)
        os.close(slave)
    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith(f"radio check failed: no EZSP answer from {name} in time")


def test_radio_check_backup_and_restore_on_a_named_dongle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = "virtual://tools-backup"
    config = _config(tmp_path, f'type = "virtual"\npath = "{path}"\nchannel = 20')
    state = tmp_path / "state"
    state.mkdir()
    try:
        assert main(["radio", "check", "--config", str(config)]) == 2  # blank: no network
        assert "none (formed on first start)" in capsys.readouterr().out

        async def first_start() -> Any:
            app = await open_radio(RadioSettings(type="virtual", path=path, channel=20), state)
            info = app.state.network_info
            await app.shutdown()
            return info

        network = asyncio.run(first_start())
        assert main(["radio", "check", "--config", str(config)]) == 0
        out = capsys.readouterr().out
        assert "channel:      20" in out and f"{network.extended_pan_id}" in out

        assert main(["radio", "backup", "--config", str(config)]) == 0
        backup_file = Path(capsys.readouterr().out.strip())
        saved = json.loads(backup_file.read_text())
        # The open coordinator backup format, which zigpy-cli, ZHA and Zigbee2MQTT read.
        assert saved["metadata"]["format"] == "zigpy/open-coordinator-backup"
        assert saved["metadata"]["version"] == 1
        assert saved["metadata"]["han_agent"]["reason"] == "manual"
        assert saved["channel"] == 20
        by_zigpy = NetworkBackup.from_open_coordinator_json(saved)  # zigpy's own reader
        assert by_zigpy.network_info.extended_pan_id == network.extended_pan_id
        assert by_zigpy.network_info.network_key.key == network.network_key.key
        assert by_zigpy.node_info.ieee == virtual_dongle.DONGLES[path].network[1].ieee
        assert oct(backup_file.stat().st_mode & 0o777) == "0o600"

        virtual_dongle.forget(path)  # a new, blank dongle at the same path
        assert main(["radio", "check", "--config", str(config)]) == 2
        capsys.readouterr()
        assert main(["radio", "restore", "--config", str(config), str(backup_file)]) == 0
        assert "restored: channel 20" in capsys.readouterr().out
        restored = virtual_dongle.DONGLES[path].network
        assert restored is not None
        assert restored[0].extended_pan_id == network.extended_pan_id
        assert restored[0].network_key.key == network.network_key.key
        # zigpy moves the frame counter on so no counter is ever reused.
        assert restored[0].network_key.tx_counter >= network.network_key.tx_counter + 10000

        # A backup zigpy wrote in the open format, and one in this hub's earlier format, both
        # restore onto a blank dongle.
        by_zigpy_file = tmp_path / "zigpy-open.json"
        by_zigpy_file.write_text(json.dumps(by_zigpy.as_open_coordinator_json(), default=str))
        legacy_file = tmp_path / "legacy.json"
        legacy = {"reason": "manual", "written_at": "x", "backup": by_zigpy.as_dict()}
        legacy_file.write_text(json.dumps(legacy, default=str))
        for file in (by_zigpy_file, legacy_file):
            virtual_dongle.forget(path)
            assert main(["radio", "restore", "--config", str(config), str(file)]) == 0, file
            assert "restored: channel 20" in capsys.readouterr().out
            again = virtual_dongle.DONGLES[path].network
            assert again is not None and again[0].network_key.key == network.network_key.key

        (tmp_path / "junk.json").write_text("{}")
        assert main(["radio", "restore", "--config", str(config), str(tmp_path / "junk.json")])
        assert "not a zigpy network backup" in capsys.readouterr().err
    finally:
        virtual_dongle.forget(path)
