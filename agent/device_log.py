"""The device log: the HAN devices this hub may admit, each with its install code.

In GBCS the CHF admits to its HAN only devices on its device log, each joining with the link
key derived from its install code (the code printed on the meter, with a CRC-16/X.25 at the end;
the key is its AES-MMO hash). The log is the `[[devices]]` list of the config:

    [[devices]]
    eui64 = "00DB1234567890A0"
    install_code = "83FED3407A939723A5C639B26916D505C3B5"

Both are checked when the config is read (a bad install code names its entry and says whether
the length or the CRC is wrong), and the link key is derived once, then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# zigpy is imported where it is used: agent.config imports this module, and the commands that
# read no device log (han-agent --help, decode) must not pay for zigpy (agent/cli.py).
if TYPE_CHECKING:
    import zigpy.types as t

from agent.known_keys import known_key

EUI64_RE = re.compile(r"^[0-9A-F]{16}$")
SEPARATORS = re.compile(r"[\s:\-]")


@dataclass(frozen=True)
class DeviceLogEntry:
    eui64: str  # 16 hex digits, most significant first (as GBCS and the config write it)
    install_code: bytes
    link_key: t.KeyData

    @property
    def ieee(self) -> t.EUI64:
        import zigpy.types

        return zigpy.types.EUI64(bytes.fromhex(self.eui64)[::-1])


def parse_entry(item: Any) -> DeviceLogEntry:
    """One `[[devices]]` table; ValueError says what is wrong with it."""
    if not isinstance(item, dict):
        raise ValueError("each entry must be a table with eui64 and install_code")
    unknown = set(item) - {"eui64", "install_code"}
    if unknown:
        name = sorted(unknown)[0]
        raise ValueError(
            f"unknown key {name!r}: expected {known_key(name, ('eui64', 'install_code'))}"
        )
    eui64 = item.get("eui64")
    code = item.get("install_code")
    if not isinstance(eui64, str) or not EUI64_RE.match(eui64.upper()):
        raise ValueError("eui64 must be an EUI-64 of 16 hex digits")
    if not isinstance(code, str):
        raise ValueError(f"{eui64}: install_code must be a string of hex digits")
    try:
        raw = bytes.fromhex(SEPARATORS.sub("", code))
    except ValueError:
        raise ValueError(f"{eui64}: install_code must be hex digits") from None
    import zigpy.util

    try:
        key = zigpy.util.convert_install_code(raw)
    except ValueError as exc:
        problem = "wrong length" if "length" in str(exc) else "CRC does not match"
        raise ValueError(
            f"{eui64}: install_code {problem} (expected 6, 8, 12 or 16 bytes of code "
            f"followed by its 2-byte CRC)"
        ) from None
    return DeviceLogEntry(eui64=eui64.upper(), install_code=raw, link_key=key)


def parse_device_log(items: list[Any]) -> tuple[DeviceLogEntry, ...]:
    entries = tuple(parse_entry(item) for item in items)
    seen: set[str] = set()
    for entry in entries:
        if entry.eui64 in seen:
            raise ValueError(f"{entry.eui64} is listed twice")
        seen.add(entry.eui64)
    return entries
