"""Log lines: syslog priority prefix or JSON, one line per event, no meter bytes in restricted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_config

from agent.config import ConfigError, load_config
from agent.hub import Hub
from agent.logs import LogControl, redact, setup_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def _setup(fmt: str) -> tuple[io.StringIO, LogControl]:
    out = io.StringIO()
    return out, setup_logging("info", fmt, stream=out)


def test_journal_lines_carry_the_syslog_priority(restore_root: None) -> None:
    out, control = _setup("journal")
    control.set_restricted(lambda: False)
    log = logging.getLogger("agent.test")
    log.info("hello")
    log.warning("careful")
    log.error("broken")
    log.debug("hidden at info")
    assert out.getvalue().splitlines() == [
        "<6>INFO agent.test: hello",
        "<4>WARNING agent.test: careful",
        "<3>ERROR agent.test: broken",
    ]
    control.set_level("debug")
    log.debug("now shown")
    assert out.getvalue().splitlines()[-1] == "<7>DEBUG agent.test: now shown"
    assert logging.getLogger("zigpy").level == logging.WARNING, "zigpy stays quiet"


def test_a_traceback_is_one_line(restore_root: None) -> None:
    out, _control = _setup("journal")
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        logging.getLogger("agent.test").exception("failed")
    [line] = out.getvalue().splitlines()
    assert line.startswith("<3>ERROR agent.test: failed\\nTraceback")
    assert "RuntimeError: boom\\nsecond line" in line


def test_json_lines(restore_root: None) -> None:
    out, control = _setup("json")
    control.set_restricted(lambda: False)
    try:
        raise ValueError("bad")
    except ValueError:
        logging.getLogger("agent.hub").warning("dropped %d", 3, exc_info=True)
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "warning" and record["priority"] == 4
    assert record["logger"] == "agent.hub" and record["msg"] == "dropped 3"
    assert "ValueError: bad" in record["exc"]
    assert record["ts"].endswith("+00:00")


def test_restricted_mode_redacts_bytes_and_long_hex(restore_root: None) -> None:
    out, control = _setup("journal")
    restricted = {"on": True}
    control.set_restricted(lambda: restricted["on"])
    log = logging.getLogger("zigpy.test")
    frame = bytes.fromhex("DF0900000000000000011122334455667788")
    log.warning("packet %r from 00DB1234567890A0", frame)
    log.warning("raw %s", frame.hex())
    restricted["on"] = False
    log.warning("packet %r", frame)
    lines = out.getvalue().splitlines()
    assert lines[0] == "<4>WARNING zigpy.test: packet <redacted> from 00DB1234567890A0"
    assert lines[1] == "<4>WARNING zigpy.test: raw <redacted>"
    assert repr(frame) in lines[2], "full mode logs as before"
    assert redact("bytearray(b'\\x01') and 0x0027 and 00DB1234567890A0") == (
        "<redacted> and 0x0027 and 00DB1234567890A0"
    )


def test_bad_format_or_level_is_a_clear_error(restore_root: None) -> None:
    with pytest.raises(ValueError, match="log format must be one of journal, json"):
        setup_logging("info", "xml")
    _out, control = _setup("journal")
    with pytest.raises(ValueError, match="log level must be one of"):
        control.set_level("loud")


@pytest.mark.parametrize("mode", ["restricted", "full"])
def test_malformed_frame_warning_quotes_no_payload_when_restricted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    hub = Hub(load_config(write_config(tmp_path, None, mode=mode)))
    # A frame the parser rejects (CRA flag 0): restricted logs where, not what it read.
    data = bytes.fromhex("DF09") + bytes(5)
    with caplog.at_level(logging.WARNING, logger="agent.hub"):
        hub.on_frame(bytes.fromhex("00DB1234567890A0"), data)
    [record] = [r for r in caplog.records if r.name == "agent.hub"]
    text = record.getMessage()
    assert text.startswith("dropped a malformed frame from 00DB1234567890A0: ")
    if mode == "restricted":
        assert text.endswith(": 7 bytes, unreadable at byte 2")
        assert "malformed GBCS frame" not in text
    else:
        assert "malformed GBCS frame at byte" in text
    assert hub.counters.malformed == 1


def test_radio_recovery_is_checked(tmp_path: Path) -> None:
    path = write_config(tmp_path, None, extra="[health]\nradio_recovery = 0")
    with pytest.raises(ConfigError, match=r"\[health\] radio_recovery: expected a number from 1"):
        load_config(path)
    ok = write_config(tmp_path / "b", None, extra="[health]\nradio_recovery = 45")
    assert load_config(ok).health.radio_recovery == 45.0
