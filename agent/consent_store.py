"""The consent state on disk: one file for the record, the counters and the trust store, and an
append-only audit log beside it.

`<state>/consent.json` holds everything a change touches, so one atomic write (agent/state.py:
temporary file, fsync, rename, directory fsync) moves it from the old state to the new one: a
crash at any instant leaves the old or the new record with its matching counters, never a record
without the counter that protects it from replay.

`<state>/consent-audit.jsonl` gets one JSON line per accepted change and per refusal: time,
outcome, command kind, signer, counter, old and new mode, refusal code and message. Never meter
data. The line for an accepted change is appended after the state file is committed, and the
committed state carries a copy of it (`last_change`, with a sequence number); on start-up a line
missing from the log (a crash between the two writes) is appended again, marked `recovered`.

The log is bounded, because refusals come from whoever can publish on the broker: past
`AUDIT_MAX_BYTES` the file becomes `consent-audit.jsonl.1` (older ones shift up to
`.AUDIT_KEEP`; the oldest is deleted), so it never holds more than (AUDIT_KEEP + 1) files. A
refusal changes nothing, so its line is written but not fsynced: a flood of bad requests costs a
write each, not a flash sync each, and a power cut can lose only the last refusals' lines (the
hub's log has them too). An accepted change's line is fsynced.

The trust store starts from the PEM public keys in the config's `[trust] dir`, copied into the
state file on first start, and again at any later start while the persisted trust store is still
empty (a hub installed and started before its supplier key was put in place). Once it holds a
key, only a signed trust command changes it: a key dropped into the config directory later is
reported in the log and ignored. An empty store trusts nobody, so taking keys from the directory
(root's, like the config) into it can take nothing away from anyone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.consent import ConsentError, ConsentRecord, Mode, ProfileRef
from agent.consent_command import CommandError, ConsentState, public_key_b64, public_key_from_b64
from agent.state import StateError, atomic_write_json
from gbcs import signature

LOGGER = logging.getLogger(__name__)

STATE_FILE = "consent.json"
AUDIT_FILE = "consent-audit.jsonl"
AUDIT_MAX_BYTES = 1024 * 1024  # one file: 4,000 to 8,000 refusal lines
AUDIT_KEEP = 3  # rotated files kept beside the current one
FORMAT = 1


class TrustDirError(ValueError):
    """A file in the trust directory that is not an EC P-256 public key in PEM."""


def load_trust_dir(directory: Path) -> dict[str, str]:
    """The `*.pem` public keys in `directory`, by key id; an absent directory trusts nobody."""
    trust: dict[str, str] = {}
    if not directory.is_dir():
        return trust
    for path in sorted(directory.glob("*.pem")):
        try:
            key = signature.load_public_key(path.read_bytes())
        except (ValueError, OSError) as exc:
            raise TrustDirError(f"{path}: not an EC P-256 public key in PEM ({exc})") from None
        trust[signature.key_id(key)] = public_key_b64(key)
    return trust


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ConsentStore:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / STATE_FILE
        self.audit_path = state_dir / AUDIT_FILE
        self.changes = 0  # sequence number of the last accepted change

    # -- reading ----------------------------------------------------------------------------------

    def load(
        self,
        *,
        initial_mode: Mode,
        profile: ProfileRef,
        seed_trust: Mapping[str, str],
        trust_dir: Path | str = "the trust directory",
    ) -> ConsentState:
        """The state on disk; created from the configuration on first start. `seed_trust` (the
        keys in `trust_dir`, named in the log) fills the trust store on first start and at any
        start that finds the persisted store empty; a store holding a key is left as it is."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            record = ConsentRecord(
                mode=initial_mode,
                reason="initial mode from configuration",
                since=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                set_by="config",
                profile=profile,
            )
            state = ConsentState(record, {}, dict(seed_trust))
            self._write(state, last_change=None)
            if seed_trust:
                LOGGER.info(
                    "trust store created with %d key(s) from %s: %s",
                    len(seed_trust),
                    trust_dir,
                    ", ".join(sorted(seed_trust)),
                )
            return state
        try:
            data = json.loads(text)
            state, last_change = self._parse(data, seed_trust)
        except (ValueError, ConsentError, CommandError) as exc:
            raise StateError(f"state error: {self.path}: {exc}") from None
        if "format" not in data:  # the record-only file of earlier versions: upgrade it once
            self._write(state, last_change=None)
        self._recover_audit(last_change)
        if not state.trust and seed_trust:
            # Nobody can rely on an empty store, so seeding it now is what the first start would
            # have done. Counters and the record are kept; one atomic write, as for any change.
            state = ConsentState(state.record, dict(state.counters), dict(seed_trust))
            self._write(state, last_change=last_change)
            LOGGER.warning(
                "the trust store was empty: took in %d key(s) from %s (%s), as on a first start; "
                "from now on only a signed trust command changes it",
                len(seed_trust),
                trust_dir,
                ", ".join(sorted(seed_trust)),
            )
        extra = sorted(set(seed_trust) - set(state.trust))
        if extra:
            LOGGER.warning(
                "trust directory has key(s) %s that the trust store does not: ignored (only a "
                "signed trust command changes the trust store)",
                ", ".join(extra),
            )
        return state

    def _parse(
        self, data: object, seed_trust: Mapping[str, str]
    ) -> tuple[ConsentState, dict[str, Any] | None]:
        if not isinstance(data, dict):
            raise ValueError("must be a JSON object")
        if "format" not in data:
            return ConsentState(ConsentRecord.from_dict(data), {}, dict(seed_trust)), None
        if data["format"] != FORMAT:
            raise ValueError(f"format {data['format']!r} is not {FORMAT}")
        record = ConsentRecord.from_dict(data.get("record"))
        counters = data.get("counters")
        if not isinstance(counters, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counters.values()
        ):
            raise ValueError("counters must map key ids to non-negative integers")
        trust = data.get("trust")
        if not isinstance(trust, dict):
            raise ValueError("trust must map key ids to public keys")
        for kid, encoded in trust.items():
            if signature.key_id(public_key_from_b64(encoded, f"trust[{kid}]")) != kid:
                raise ValueError(f"trust[{kid}] does not match its key id")
        changes = data.get("changes", 0)
        if not isinstance(changes, int) or changes < 0:
            raise ValueError("changes must be a non-negative integer")
        self.changes = changes
        last_change = data.get("last_change")
        if last_change is not None and not isinstance(last_change, dict):
            raise ValueError("last_change must be an object or null")
        return ConsentState(record, counters, trust), last_change

    def _recover_audit(self, last_change: dict[str, Any] | None) -> None:
        if last_change is None:
            return
        # The change's line may have been rotated out of the current file by later refusals.
        seen = max(_highest_seq(path) for path in self._audit_files())
        if seen < last_change.get("seq", 0):
            self.audit({**last_change, "recovered": True})

    # -- writing ----------------------------------------------------------------------------------

    def commit(self, state: ConsentState, entry: dict[str, Any]) -> dict[str, Any]:
        """Persist an accepted change, then log it; returns the audit entry as written.

        An OSError from the state file means nothing changed, and the next change takes the
        same sequence number (no gap in the audit). Once the state is written the change holds:
        an audit line that cannot be written then is logged here and written at the next start
        from the state's `last_change`."""
        entry = {**entry, "seq": self.changes + 1}
        self._write(state, last_change=entry, changes=self.changes + 1)
        self.changes += 1
        try:
            self.audit(entry)
        except OSError as exc:
            LOGGER.error(
                "consent change %d saved, but its audit line could not be written (%s): it is "
                "written at the next start",
                entry["seq"],
                exc.strerror or exc,
            )
        return entry

    def _write(
        self, state: ConsentState, last_change: dict[str, Any] | None, changes: int | None = None
    ) -> None:
        atomic_write_json(
            self.path,
            {
                "format": FORMAT,
                "record": state.record.to_dict(),
                "counters": dict(state.counters),
                "trust": dict(state.trust),
                "changes": self.changes if changes is None else changes,
                "last_change": last_change,
            },
        )

    def audit(self, entry: Mapping[str, Any], *, durable: bool = True) -> None:
        """Append one line, fsynced if `durable`. A line torn by an earlier crash is ended first;
        a file that the line would take past AUDIT_MAX_BYTES is rotated first."""
        self.audit_path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, separators=(",", ":"), sort_keys=True, ensure_ascii=True)
        data = line.encode("ascii") + b"\n"
        with contextlib.suppress(FileNotFoundError):
            if self.audit_path.stat().st_size + len(data) + 1 > AUDIT_MAX_BYTES:
                self._rotate_audit()
        fd = os.open(self.audit_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            size = os.fstat(fd).st_size
            prefix = b""
            if size:
                with open(self.audit_path, "rb") as f:
                    f.seek(size - 1)
                    if f.read(1) != b"\n":
                        prefix = b"\n"
            os.write(fd, prefix + data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)

    def _audit_files(self) -> list[Path]:
        """The current file and its rotated predecessors, newest first."""
        rotated = [self.audit_path.with_name(f"{AUDIT_FILE}.{n}") for n in range(1, AUDIT_KEEP + 1)]
        return [self.audit_path, *rotated]

    def _rotate_audit(self) -> None:
        """current -> .1 -> .2 ... -> .AUDIT_KEEP; the oldest goes. Renames only, then one
        directory fsync, so a crash leaves every line in exactly one of the files."""
        files = self._audit_files()
        for n in range(AUDIT_KEEP, 0, -1):  # .2 -> .3 before .1 -> .2: only the oldest is lost
            with contextlib.suppress(FileNotFoundError):
                os.replace(files[n - 1], files[n])
        fd = os.open(self.state_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _highest_seq(path: Path) -> int:
    """The highest accepted-change `seq` in one audit file; 0 if none or no file."""
    seen = 0
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line torn by a crash
                if isinstance(entry, dict) and isinstance(entry.get("seq"), int):
                    seen = max(seen, entry["seq"])
    except FileNotFoundError:
        pass
    return seen
