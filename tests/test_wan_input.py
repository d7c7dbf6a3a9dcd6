"""agent/wan_input.py: whatever the WAN sends, the checks either return a clean value or raise
RequestError with a reason; never another exception, never a value that storage, the log or a
JSON answer cannot take."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import wan_input
from agent.wan_input import MAX_DEPTH, Oversize, RequestError, parse_object

EXAMPLES = int(os.environ.get("HYPOTHESIS_FUZZ_EXAMPLES", "300"))

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


@settings(max_examples=EXAMPLES)
@given(st.binary(max_size=300))
def test_any_bytes_give_an_object_or_a_reason(payload: bytes) -> None:
    try:
        value = parse_object(payload, 16384)
    except RequestError as exc:
        assert str(exc)
        return
    assert isinstance(value, dict)


@settings(max_examples=EXAMPLES)
@given(json_values)
def test_json_values_are_taken_only_as_objects_within_the_depth(value: Any) -> None:
    text = json.dumps(value)  # NaN and Infinity written as such, as a careless client would
    try:
        parsed = parse_object(text.encode("utf-8", "surrogatepass"), 1 << 20)
    except RequestError as exc:
        assert (
            not isinstance(value, dict)
            or depth(value) > MAX_DEPTH
            or any(word in text for word in ("NaN", "Infinity"))
            or "UTF-8" in str(exc)
        ), str(exc)
        return
    assert isinstance(value, dict)
    assert depth(value) <= MAX_DEPTH
    assert parsed == json.loads(text)


def test_nesting_too_deep_for_the_parser_is_a_reason_not_a_recursion_error() -> None:
    for opener in ("[", '{"a":'):
        payload = (opener * 100_000).encode()
        with pytest.raises(RequestError, match="nested more than 8 levels"):
            parse_object(payload, 1 << 20)
    nine = b'{"a":' * 9 + b"1" + b"}" * 9
    with pytest.raises(RequestError, match="nested more than 8 levels"):
        parse_object(nine, 1 << 20)
    eight = b'{"a":' * 8 + b"1" + b"}" * 8
    assert parse_object(eight, 1 << 20)["a"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[1,2]", "must be a JSON object, not an array"),
        (b'"x"', "must be a JSON object, not a string"),
        (b"null", "must be a JSON object, not null"),
        (b"{", "request is not JSON"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"transaction": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"a": "\xff"}', r"not UTF-8 \(invalid byte at offset 7\)"),
        (b'{"a": "\xed\xa0\x80"}', "not UTF-8"),  # a surrogate encoded raw is not UTF-8 either
    ],
)
def test_malformed_requests_say_what_is_wrong(payload: bytes, reason: str) -> None:
    with pytest.raises(RequestError, match=reason):
        parse_object(payload, 16384)


def test_size_is_checked_before_anything_else() -> None:
    with pytest.raises(RequestError, match="request is 17 bytes, over this topic's 16"):
        parse_object(b'{"a":"0123456789"', 16)
    with pytest.raises(RequestError, match="request is 70000 bytes, over this topic's 16384"):
        parse_object(Oversize(70000, 16384), 16384)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("\ud800", "printable"),
        ("a\nb", "printable"),
        ("", "must not be empty"),
        ("x" * 65, "at most 64"),
        (True, "not a boolean"),
        (None, "not null"),
        (1.5, "not a number"),
        (-1, "from 0 to"),
        (2**63, "from 0 to"),
        ([1], "not an array"),
    ],
)
def test_bad_ids_are_refused(value: object, reason: str) -> None:
    with pytest.raises(RequestError, match=reason):
        wan_input.request_id(value)


def test_good_ids() -> None:
    assert wan_input.request_id("cmd-1 é") == "cmd-1 é"
    assert wan_input.request_id(42) == "42"
    assert wan_input.request_id(0) == "0"


@settings(max_examples=EXAMPLES)
@given(json_scalars | st.lists(st.integers(), max_size=2))
def test_an_accepted_id_can_be_stored_logged_and_echoed(value: object) -> None:
    try:
        out = wan_input.request_id(value)
    except RequestError:
        return
    assert 1 <= len(out) <= 64
    out.encode("utf-8")  # SQLite and the log take it
    assert out.isprintable()


@settings(max_examples=EXAMPLES)
@given(json_values)
def test_an_echoed_transaction_is_valid_bounded_json(value: Any) -> None:
    request = {"transaction": value}
    try:
        out = wan_input.transaction(request)
    except RequestError:
        assert wan_input.echo_transaction(request) is None
        return
    text = json.dumps(out, allow_nan=False)  # RFC 8259: no NaN or Infinity
    assert len(text.encode()) <= 64 * 6 + 2
    assert json.loads(text) == out


@pytest.mark.parametrize(
    "value",
    ["00DB1234567890A0 ", "00 DB 12 34 56 78 90 A0", "00DB1234567890A", "00DB1234567890AG", 7],
)
def test_eui64_must_be_sixteen_hex_digits(value: object) -> None:
    with pytest.raises(RequestError, match="exactly 16 hex digits"):
        wan_input.eui64(value)
    assert wan_input.eui64("00db1234567890a0") == bytes.fromhex("00DB1234567890A0")
