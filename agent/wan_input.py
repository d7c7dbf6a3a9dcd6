"""What the hub accepts from the WAN: every request checked before a handler, storage or the log
sees it.

Rules of this module:

* Anyone with publish rights on the broker can send anything, so nothing from the WAN is trusted
  in shape, size or encoding. Each check raises `RequestError` with a reason fit to send back
  and to log: it names what is wrong and where, and never quotes the offending bytes.
* A request is one JSON object (RFC 8259) in UTF-8, within its topic's byte limit, nested at
  most MAX_DEPTH levels deep. `NaN`, `Infinity` and `-Infinity` are refused: they are not JSON,
  and an answer that echoed one would not be JSON either. Nesting too deep for the parser (the
  C scanner recurses) is refused like nesting over the limit, not raised as RecursionError.
* A string the hub keeps, logs or echoes (a command `id`, a `transaction`) is printable text of
  bounded length. That excludes lone UTF-16 surrogates (`"\\ud800"` is valid JSON and decodes to
  one): UTF-8, SQLite and the log cannot store them. An `id` is such a string or a non-negative
  integer; `true` is not an integer here, though Python's bool is one.
* A device is an EUI-64 written as exactly 16 hex digits (`bytes.fromhex` alone would take
  spaces between them).

Pure: no I/O, no asyncio; the hub's request handlers call it on the event loop (a request is at
most tens of KiB, and the checks are linear in it).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 8
"""Levels of nesting a request may have. The deepest real request (a consent trust command) has
three."""
MAX_ID = 64
"""Characters in a command `id`."""
MAX_ID_INT = 2**63 - 1
MAX_TRANSACTION = 64
"""Characters in a `transaction` string (Zigbee2MQTT's are short tokens)."""
MAX_TRANSACTION_INT = 2**53
"""A numeric transaction must survive a round trip through a JSON double."""

EUI64_HEX = re.compile(r"[0-9A-Fa-f]{16}")

Transaction = str | int | None


class RequestError(ValueError):
    """A request the hub refuses; the message is the reason, fit for the answer and the log."""


@dataclass(frozen=True, slots=True)
class Oversize:
    """A message over its topic's byte limit, as the uplink hands it on in place of the
    payload: it is answered as refused, while the bytes themselves are never held."""

    size: int
    limit: int


def _no_constant(name: str) -> Any:
    raise RequestError(f"{name} is not a JSON number")


def parse_object(payload: bytes | Oversize, max_bytes: int) -> dict[str, Any]:
    """The request as a dict, or RequestError saying why it is not one the hub can take."""
    if isinstance(payload, Oversize):
        raise RequestError(f"request is {payload.size} bytes, over this topic's {payload.limit}")
    if len(payload) > max_bytes:
        raise RequestError(f"request is {len(payload)} bytes, over this topic's {max_bytes}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"request is not UTF-8 (invalid byte at offset {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise RequestError(f"request is nested more than {MAX_DEPTH} levels deep") from None
    except RequestError:
        raise
    except ValueError:
        raise RequestError("request is not JSON") from None
    if not isinstance(value, dict):
        raise RequestError(f"request must be a JSON object, not {json_kind(value)}")
    if depth_exceeds(value, MAX_DEPTH):
        raise RequestError(f"request is nested more than {MAX_DEPTH} levels deep")
    return value


def depth_exceeds(value: object, limit: int) -> bool:
    """True if `value` (parsed JSON) nests containers more than `limit` levels deep; iterative,
    and stops at the first container past the limit."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def json_kind(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def text(value: object, name: str, max_chars: int) -> str:
    """A string the hub may keep, log and echo: printable, 1 to `max_chars` characters."""
    if not isinstance(value, str):
        raise RequestError(f"{name} must be a string, not {json_kind(value)}")
    if not value:
        raise RequestError(f"{name} must not be empty")
    if len(value) > max_chars:
        raise RequestError(f"{name} must be at most {max_chars} characters")
    if not value.isprintable():
        raise RequestError(
            f"{name} must be printable text (no control characters or lone surrogates)"
        )
    return value


def request_id(value: object) -> str:
    """A command's `id`: a printable string of at most MAX_ID characters, or a non-negative
    integer (as its decimal text)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= MAX_ID_INT:
            raise RequestError(f"id must be an integer from 0 to {MAX_ID_INT}")
        return str(value)
    if not isinstance(value, str):
        raise RequestError(f"id must be a string or an integer, not {json_kind(value)}")
    return text(value, "id", MAX_ID)


def transaction(request: dict[str, Any]) -> Transaction:
    """The request's `transaction`, checked for echoing: absent or null gives None; else a
    printable string of at most MAX_TRANSACTION characters or an integer a double holds."""
    value = request.get("transaction")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_TRANSACTION_INT:
            raise RequestError("transaction must be an integer within +/-2^53, or a string")
        return value
    if isinstance(value, str):
        return text(value, "transaction", MAX_TRANSACTION)
    raise RequestError(f"transaction must be a string or an integer, not {json_kind(value)}")


def echo_transaction(request: object) -> Transaction:
    """The transaction of a request being refused, if it is one that may be echoed; else None
    (a refusal must not fail on a bad transaction, and must not echo one)."""
    if not isinstance(request, dict):
        return None
    try:
        return transaction(request)
    except RequestError:
        return None


def eui64(value: object, name: str = "device") -> bytes:
    """An EUI-64 given as exactly 16 hex digits, as 8 bytes (most significant first)."""
    if not isinstance(value, str) or not EUI64_HEX.fullmatch(value):
        raise RequestError(f"{name} must be an EUI-64 of exactly 16 hex digits")
    return bytes.fromhex(value)


def base64_field(request: dict[str, Any], name: str, what: str) -> bytes:
    """The request's `name`, strict base64 text of `what`, decoded."""
    value = request.get(name)
    if not isinstance(value, str):
        raise RequestError(f"{name} must be {what} in base64")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise RequestError(f"{name} is not valid base64") from None
