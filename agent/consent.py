"""The consent flag: which mode the consumer chose, as an enduring record.

Pure model: no files, no clocks. Reading and writing the record is agent/state.py's job; signed
changes arrive with the consent-command work. A record that does not parse is an error, never a
silent fallback to full mode: a hub that cannot tell what the consumer chose must not assume
they chose everything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Mode(StrEnum):
    FULL = "full"
    RESTRICTED = "restricted"


class ConsentError(ValueError):
    """A consent record that cannot be read."""


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    mode: Mode
    reason: str
    since: str
    set_by: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["mode"] = self.mode.value
        return out

    @classmethod
    def from_dict(cls, data: object) -> ConsentRecord:
        if not isinstance(data, dict):
            raise ConsentError("consent record must be a JSON object")
        try:
            mode = Mode(str(data.get("mode")))
        except ValueError:
            raise ConsentError(
                f"consent record: mode must be 'full' or 'restricted', got {data.get('mode')!r}"
            ) from None
        fields: dict[str, str] = {}
        for key in ("reason", "since", "set_by"):
            value = data.get(key, "")
            if not isinstance(value, str):
                raise ConsentError(f"consent record: {key} must be a string")
            fields[key] = value
        return cls(mode=mode, **fields)
