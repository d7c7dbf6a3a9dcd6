"""The decision: does this GBCS frame cross the hub, given the consumer's choice?

Rules of this module (h11-style: the hard decision lives here and nowhere else):

* `decide` is a pure function of (frame, category, mode, direction, profile). No I/O, no clock,
  no state: the same inputs always give the same Decision, so a manufacturer can replay a
  capture and get exactly what the hub did.
* The profile is data (config/restricted-profile.toml) with a name and a version; this module
  only interprets it. A code in a list may carry a `why` (`{ code = "0x0062", why = "clock set:
  hub management" }`): the decision's reason is then that text, so the live view and the log
  name the exception wherever a rule departs from the category summary.
* Full mode forwards every well-formed frame that travels in its proper direction. Restricted
  mode forwards only what the profile allows and fails closed: an unknown code never goes up.
* Direction is checked in both modes: commands (CRA 1) only travel down, responses and alerts
  only travel up. A frame in the wrong direction is blocked whatever the mode.

Order of the upstream rules in restricted mode, first match wins:
  1. block_alert_codes          explicit exceptions (billing data in a critical alert)
  2. unknown category           fail closed
  3. allow_alert_codes          integrity faults, the CHF's HAN membership alerts
  4. allow_message_codes
  5. allow_categories           firmware, security, safety, critical alerts
  6. response to a command the downstream rules let through (the WAN never waits on it)
  7. otherwise blocked, restricted by consumer choice
Downstream: unknown fails closed, then allow_message_codes, then allow_categories, else blocked.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from agent.consent import Mode
from agent.known_keys import known_key
from gbcs.codes import Category
from gbcs.frame import Cra, Frame

CONSUMER_CHOICE = "restricted by consumer choice"


class Direction(StrEnum):
    UPSTREAM = "upstream"  # HAN -> WAN: responses and alerts
    DOWNSTREAM = "downstream"  # WAN -> HAN: commands


class Action(StrEnum):
    FORWARD = "forward"
    BLOCK = "block"


class Decision(NamedTuple):
    """A NamedTuple, not a frozen dataclass, for speed alone: one is made per frame, and the
    dataclass's __init__ was a third of decide()'s cost (BENCHMARKS.md). Just as immutable."""

    action: Action
    category: Category
    rule: str
    reason: str

    @property
    def forwarded(self) -> bool:
        return self.action is _FORWARD


# Module constants, not `Action.FORWARD`, `Mode.FULL`... at each use: on Python 3.11 every enum
# member lookup through its class is a descriptor call, and decide runs once per frame (as
# classify does).
_FORWARD = Action.FORWARD
_BLOCK = Action.BLOCK
_FULL = Mode.FULL
_UPSTREAM = Direction.UPSTREAM
_DOWNSTREAM = Direction.DOWNSTREAM
_COMMAND = Cra.COMMAND
_RESPONSE = Cra.RESPONSE
_UNKNOWN = Category.UNKNOWN


class ProfileError(ValueError):
    """A profile file that does not say what the hub needs; names the key and what was expected."""

    def __init__(self, key: str, expected: str) -> None:
        super().__init__(f"{key}: expected {expected}")
        self.key = key
        self.expected = expected


@dataclass(frozen=True, slots=True)
class DirectionRules:
    allow_categories: frozenset[Category]
    allow_message_codes: frozenset[int]
    allow_alert_codes: frozenset[int]
    block_alert_codes: frozenset[int]
    # The profile's `why` for a code, by list: {"allow_message_codes": {0x0062: "clock set..."}}.
    why: Mapping[str, Mapping[int, str]] = field(default_factory=dict)

    def reason(self, key: str, code: int, default: str) -> str:
        return self.why.get(key, {}).get(code, default)


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    version: int
    digest: str
    upstream: DirectionRules
    downstream: DirectionRules
    allow_responses_to_allowed_commands: bool

    def allows_command(self, message_code: int, category: Category) -> bool:
        rules = self.downstream
        return category is not Category.UNKNOWN and (
            message_code in rules.allow_message_codes or category in rules.allow_categories
        )


def decide(
    frame: Frame, category: Category, mode: Mode, direction: Direction, profile: Profile
) -> Decision:
    wrong_way = _wrong_direction(frame.cra, direction)
    if wrong_way is not None:
        return Decision(_BLOCK, category, "direction", wrong_way)
    if mode is _FULL:
        return Decision(_FORWARD, category, "full", "full mode forwards everything")
    if direction is _UPSTREAM:
        return _decide_upstream(frame, category, profile)
    return _decide_downstream(frame, category, profile)


def _wrong_direction(cra: Cra, direction: Direction) -> str | None:
    if direction is _UPSTREAM and cra is _COMMAND:
        return "a command does not travel upstream"
    if direction is _DOWNSTREAM and cra is not _COMMAND:
        return f"{cra.article} does not travel downstream"
    return None


def _decide_upstream(frame: Frame, category: Category, profile: Profile) -> Decision:
    rules = profile.upstream
    alert = frame.alert_code
    if alert is not None and alert in rules.block_alert_codes:
        why = rules.reason("block_alert_codes", alert, f"alert 0x{alert:04X} is excluded")
        return _block(category, "upstream.block_alert_codes", why)
    if category is _UNKNOWN:
        return _block(category, "upstream.unknown", "unknown message or alert code (fail closed)")
    if alert is not None and alert in rules.allow_alert_codes:
        why = rules.reason("allow_alert_codes", alert, f"alert 0x{alert:04X} is allowed")
        return _forward(category, "upstream.allow_alert_codes", why)
    code = frame.message_code
    if code in rules.allow_message_codes:
        why = rules.reason("allow_message_codes", code, f"message code 0x{code:04X} is allowed")
        return _forward(category, "upstream.allow_message_codes", why)
    if category in rules.allow_categories:
        return _forward(category, "upstream.allow_categories", f"{category} is allowed")
    if (
        frame.cra is _RESPONSE
        and profile.allow_responses_to_allowed_commands
        and profile.allows_command(code, category)
    ):
        why = profile.downstream.reason("allow_message_codes", code, "")
        return _forward(
            category,
            "upstream.response_to_allowed_command",
            f"response to a command the profile lets down{f' ({why})' if why else ''}",
        )
    return _block(category, "upstream.blocked", f"{category} is not allowed upstream")


def _decide_downstream(frame: Frame, category: Category, profile: Profile) -> Decision:
    rules = profile.downstream
    if category is _UNKNOWN:
        return _block(category, "downstream.unknown", "unknown message code (fail closed)")
    code = frame.message_code
    if code in rules.allow_message_codes:
        why = rules.reason("allow_message_codes", code, f"message code 0x{code:04X} is allowed")
        return _forward(category, "downstream.allow_message_codes", why)
    if category in rules.allow_categories:
        return _forward(category, "downstream.allow_categories", f"{category} is allowed")
    return _block(category, "downstream.blocked", f"{category} commands are not allowed")


def _forward(category: Category, rule: str, reason: str) -> Decision:
    return Decision(_FORWARD, category, rule, reason)


def _block(category: Category, rule: str, reason: str) -> Decision:
    return Decision(_BLOCK, category, rule, f"{CONSUMER_CHOICE}: {reason}")


# -- the profile as data --------------------------------------------------------------------------


def parse_profile(text: str) -> Profile:
    """Read a profile from TOML text; every problem names its key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError("(file)", f"valid TOML ({exc})") from None
    known = {"name", "version", "description", "upstream", "downstream"}
    for key in data:
        if key not in known:
            raise ProfileError(key, known_key(key, sorted(known)))
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ProfileError("name", "a non-empty string")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ProfileError("version", "a positive integer")
    upstream_table = _table(data, "upstream")
    allow_responses = upstream_table.pop("allow_responses_to_allowed_commands", True)
    if not isinstance(allow_responses, bool):
        raise ProfileError("upstream.allow_responses_to_allowed_commands", "true or false")
    return Profile(
        name=name,
        version=version,
        digest=hashlib.sha256(text.encode()).hexdigest(),
        upstream=_rules("upstream", upstream_table, ("allow_responses_to_allowed_commands",)),
        downstream=_rules("downstream", _table(data, "downstream")),
        allow_responses_to_allowed_commands=allow_responses,
    )


def _table(data: dict[str, object], key: str) -> dict[str, object]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ProfileError(key, "a table")
    return dict(value)


_RULE_KEYS = ("allow_categories", "allow_message_codes", "allow_alert_codes", "block_alert_codes")


def _rules(section: str, table: dict[str, object], extra: tuple[str, ...] = ()) -> DirectionRules:
    for key in table:
        if key not in _RULE_KEYS:
            raise ProfileError(f"{section}.{key}", known_key(key, _RULE_KEYS + extra))
    categories = _strings(f"{section}.allow_categories", table.get("allow_categories", []))
    try:
        allow_categories = frozenset(Category(c) for c in categories)
    except ValueError:
        raise ProfileError(
            f"{section}.allow_categories",
            "category names from: " + ", ".join(c.value for c in Category),
        ) from None
    lists = {key: _code_list(f"{section}.{key}", table.get(key, [])) for key in _RULE_KEYS[1:]}
    return DirectionRules(
        allow_categories=allow_categories,
        allow_message_codes=frozenset(lists["allow_message_codes"]),
        allow_alert_codes=frozenset(lists["allow_alert_codes"]),
        block_alert_codes=frozenset(lists["block_alert_codes"]),
        why={key: {c: w for c, w in codes.items() if w} for key, codes in lists.items()},
    )


def _strings(key: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProfileError(key, "a list of strings")
    return [str(v) for v in value]


def _code_list(key: str, value: object) -> dict[int, str]:
    """A list of codes, each '0x0062' or { code = '0x0062', why = 'clock set: ...' }: every
    code it covers, with its `why` ('' when none)."""
    if not isinstance(value, list):
        raise ProfileError(key, "a list of codes")
    codes: dict[int, str] = {}
    for item in value:
        text, why = _code_item(key, item)
        codes.update(dict.fromkeys(_expand(key, [text]), why))
    return codes


def _code_item(key: str, item: object) -> tuple[str, str]:
    if isinstance(item, str):
        return item, ""
    entry = "{ code = '0x0062', why = 'clock set: hub management' }"
    if not isinstance(item, dict) or set(item) - {"code", "why"} or "code" not in item:
        raise ProfileError(key, f"codes as strings or tables like {entry}, got {item!r}")
    code, why = item["code"], item.get("why", "")
    if not isinstance(code, str) or not isinstance(why, str) or not why.isprintable():
        raise ProfileError(key, f"code and why as one-line strings, like {entry}")
    return code, why


_CODE_ITEM = re.compile(r"(0[xX][0-9A-Fa-f]{1,4})(?:-(0[xX][0-9A-Fa-f]{1,4}))?")


def _expand(key: str, items: Iterable[str]) -> Iterable[int]:
    """'0x81A0' or a range '0x81AC-0x81B3', both ends included.

    Strictly that shape: `int(text, 16)` alone would also take '1234' (a decimal slip read as
    0x1234), '0x1_0', surrounding spaces and a dangling '0x81A0-', none of which say one code.
    """
    for item in items:
        match = _CODE_ITEM.fullmatch(item)
        if match is None:
            raise ProfileError(key, f"hex codes like '0x81A0' or '0x81AC-0x81B3', got {item!r}")
        low = int(match.group(1), 16)
        high = int(match.group(2), 16) if match.group(2) else low
        if not low <= high:
            raise ProfileError(key, f"16-bit codes with low <= high, got {item!r}")
        yield from range(low, high + 1)
