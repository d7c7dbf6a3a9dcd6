"""Tests for agent.consent: the consent record's pure model (no files, no clock)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.consent import ConsentError, ConsentRecord, Mode, ProfileRef

RECORD = ConsentRecord(
    mode=Mode.RESTRICTED,
    reason="consumer declined a fully smart meter",
    since="2024-03-01T12:30:00+00:00",
    set_by="0123456789ABCDEF",
    counter=1709296200000,
    profile=ProfileRef("gb-restricted-default", 1, "ab" * 32),
)


def test_to_dict_is_plain_json_data() -> None:
    data = RECORD.to_dict()
    assert data == {
        "mode": "restricted",
        "reason": "consumer declined a fully smart meter",
        "since": "2024-03-01T12:30:00+00:00",
        "set_by": "0123456789ABCDEF",
        "counter": 1709296200000,
        "profile": {"name": "gb-restricted-default", "version": 1, "sha256": "ab" * 32},
    }
    assert type(data["mode"]) is str
    assert json.loads(json.dumps(data)) == data


@given(
    mode=st.sampled_from(list(Mode)),
    reason=st.text(),
    since=st.text(),
    set_by=st.text(),
    counter=st.integers(0, 2**64 - 1),
    name=st.text(),
    version=st.integers(0, 2**31),
)
def test_round_trip(
    mode: Mode, reason: str, since: str, set_by: str, counter: int, name: str, version: int
) -> None:
    profile = ProfileRef(name, version, "00" * 32)
    record = ConsentRecord(mode, reason, since, set_by, counter, profile)
    assert ConsentRecord.from_dict(record.to_dict()) == record
    assert ConsentRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert ConsentRecord.from_dict(record.to_dict()).mode is mode


@pytest.mark.parametrize("mode", ["full", "restricted"])
def test_mode_strings(mode: str) -> None:
    record = ConsentRecord.from_dict({"mode": mode, "reason": "", "since": "", "set_by": ""})
    assert record.mode is Mode(mode)
    assert record.mode == mode


def test_missing_fields_read_as_empty() -> None:
    record = ConsentRecord.from_dict({"mode": "full"})
    assert record == ConsentRecord(mode=Mode.FULL, reason="", since="", set_by="")


def test_unknown_fields_are_ignored() -> None:
    data: dict[str, Any] = {**RECORD.to_dict(), "profile_in_force": {"name": "x"}}
    assert ConsentRecord.from_dict(data) == RECORD


@pytest.mark.parametrize(
    "mode", ["partial", "FULL", "Restricted", "", None, 1, True, ["full"], {"mode": "full"}]
)
def test_bad_mode_is_an_error(mode: object) -> None:
    data = {**RECORD.to_dict(), "mode": mode}
    with pytest.raises(ConsentError, match="mode must be 'full' or 'restricted'"):
        ConsentRecord.from_dict(data)


def test_missing_mode_is_an_error_not_full() -> None:
    data = RECORD.to_dict()
    del data["mode"]
    with pytest.raises(ConsentError, match="mode"):
        ConsentRecord.from_dict(data)


@pytest.mark.parametrize("data", [None, [], ["restricted"], "restricted", 1, b"{}"])
def test_non_dict_is_an_error(data: object) -> None:
    with pytest.raises(ConsentError, match="JSON object"):
        ConsentRecord.from_dict(data)


@pytest.mark.parametrize("key", ["reason", "since", "set_by"])
@pytest.mark.parametrize("value", [None, 1, 1.5, False, ["x"], {"x": "y"}])
def test_non_string_field_is_an_error(key: str, value: object) -> None:
    data = {**RECORD.to_dict(), key: value}
    with pytest.raises(ConsentError, match=f"{key} must be a string"):
        ConsentRecord.from_dict(data)


def test_consent_error_is_a_value_error() -> None:
    assert issubclass(ConsentError, ValueError)


def test_record_is_frozen() -> None:
    with pytest.raises(AttributeError):
        RECORD.mode = Mode.FULL  # type: ignore[misc]


@pytest.mark.parametrize("counter", [-1, 1.5, "1", True, None])
def test_bad_counter_is_an_error(counter: object) -> None:
    with pytest.raises(ConsentError, match="counter must be a non-negative integer"):
        ConsentRecord.from_dict({**RECORD.to_dict(), "counter": counter})


@pytest.mark.parametrize(
    ("profile", "match"),
    [
        ("gb-restricted-default", "profile must be an object"),
        ({"name": 1}, "name and sha256 must be strings"),
        ({"version": -1}, "version must be a non-negative integer"),
        ({"version": True}, "version must be a non-negative integer"),
    ],
)
def test_bad_profile_is_an_error(profile: object, match: str) -> None:
    with pytest.raises(ConsentError, match=match):
        ConsentRecord.from_dict({**RECORD.to_dict(), "profile": profile})
