"""The consent flag: which mode the consumer chose, as an enduring record.

Pure model: no files, no clocks. Reading and writing the record is agent/consent_store.py's job;
signed changes are judged by agent/consent_command.py. A record that does not parse is an error,
never a silent fallback to full mode: a hub that cannot tell what the consumer chose must not
assume they chose everything.

The record says who set it (`set_by`: a signer's key id, or `config` for the record created from
`[consent] initial_mode` on first start), the counter of the command that set it (0 for `config`)
and the restricted profile in force when it was set (name, version and the SHA-256 of its text),
so a reader knows exactly what "restricted" meant at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Mode(StrEnum):
    FULL = "full"
    RESTRICTED = "restricted"


class ConsentError(ValueError):
    """A consent record that cannot be read."""


@dataclass(frozen=True, slots=True)
class ProfileRef:
    """Which restricted profile a record was set under."""

    name: str = ""
    version: int = 0
    sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: object) -> ProfileRef:
        if not isinstance(data, dict):
            raise ConsentError("consent record: profile must be an object")
        name, version, sha256 = data.get("name", ""), data.get("version", 0), data.get("sha256", "")
        if not isinstance(name, str) or not isinstance(sha256, str):
            raise ConsentError("consent record: profile name and sha256 must be strings")
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ConsentError("consent record: profile version must be a non-negative integer")
        return cls(name=name, version=version, sha256=sha256)


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    mode: Mode
    reason: str
    since: str
    set_by: str
    counter: int = 0
    profile: ProfileRef = ProfileRef()

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "reason": self.reason,
            "since": self.since,
            "set_by": self.set_by,
            "counter": self.counter,
            "profile": self.profile.to_dict(),
        }

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
        counter = data.get("counter", 0)
        if not isinstance(counter, int) or isinstance(counter, bool) or counter < 0:
            raise ConsentError("consent record: counter must be a non-negative integer")
        profile = ProfileRef.from_dict(data.get("profile", {}))
        return cls(mode=mode, counter=counter, profile=profile, **fields)
