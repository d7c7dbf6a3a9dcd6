"""The consent audit log stays bounded under a flood of refusals and loses no accepted change.

Refusals come from whoever can publish on the broker, so the log rotates at a size and keeps a
fixed number of old files; an accepted change's line is fsynced, a refusal's is not. These run
the real store on a real directory; only the size limit is made small so a test rotates quickly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from agent import consent_store
from agent.consent import Mode, ProfileRef
from agent.consent_store import AUDIT_FILE, AUDIT_KEEP, ConsentStore


def _store(state_dir: Path) -> tuple[ConsentStore, Any]:
    store = ConsentStore(state_dir)
    state = store.load(initial_mode=Mode.RESTRICTED, profile=ProfileRef(), seed_trust={})
    return store, state


def _refusal(n: int) -> dict[str, Any]:
    return {"time": "2026-11-29T07:00:00.000Z", "outcome": "refused", "message": f"bad {n}"}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="ascii").splitlines()]


def test_a_flood_of_refusals_rotates_and_keeps_the_newest_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consent_store, "AUDIT_MAX_BYTES", 2000)
    store, _state = _store(tmp_path)
    for n in range(1000):
        store.audit(_refusal(n), durable=False)

    files = sorted(tmp_path.glob(f"{AUDIT_FILE}*"))
    assert len(files) == AUDIT_KEEP + 1  # the current file and AUDIT_KEEP rotated ones
    assert not (tmp_path / f"{AUDIT_FILE}.{AUDIT_KEEP + 1}").exists()
    for path in files:
        assert path.stat().st_size <= 2000
    # Oldest file first: the kept lines are the newest refusals, whole and in order, ending
    # with the last one written.
    kept = [
        entry["message"]
        for n in range(AUDIT_KEEP, 0, -1)
        for entry in _lines(tmp_path / f"{AUDIT_FILE}.{n}")
    ] + [entry["message"] for entry in _lines(tmp_path / AUDIT_FILE)]
    assert kept[-1] == "bad 999"
    numbers = [int(m.split()[1]) for m in kept]
    assert numbers == list(range(numbers[0], 1000))
    assert numbers[0] > 0  # the oldest were rotated out


def test_an_accepted_change_rotated_out_by_refusals_is_not_recovered_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consent_store, "AUDIT_MAX_BYTES", 2000)
    store, state = _store(tmp_path)
    entry = store.commit(state, {"time": "2026-11-29T07:00:00.000Z", "outcome": "accepted"})
    n = 0
    while not (tmp_path / f"{AUDIT_FILE}.1").exists():  # until the change's line is rotated
        store.audit(_refusal(n), durable=False)
        n += 1
    assert all(line.get("seq") is None for line in _lines(tmp_path / AUDIT_FILE))

    _store(tmp_path)  # a restart: the change's line is found in consent-audit.jsonl.1
    every = [line for path in tmp_path.glob(f"{AUDIT_FILE}*") for line in _lines(path)]
    assert [line["seq"] for line in every if "seq" in line] == [entry["seq"]]
    assert not any(line.get("recovered") for line in every)


def test_an_accepted_change_missing_from_every_file_is_recovered(tmp_path: Path) -> None:
    store, state = _store(tmp_path)
    entry = store.commit(state, {"time": "2026-11-29T07:00:00.000Z", "outcome": "accepted"})
    (tmp_path / AUDIT_FILE).unlink()  # as if the process died between the two writes

    _store(tmp_path)
    (recovered,) = _lines(tmp_path / AUDIT_FILE)
    assert recovered["seq"] == entry["seq"] and recovered["recovered"] is True


def test_a_refusal_line_is_not_synced_an_accepted_change_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _state = _store(tmp_path)
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(consent_store.os, "fsync", counting_fsync)
    store.audit(_refusal(1), durable=False)
    assert synced == []
    store.audit({"time": "2026-11-29T07:00:00.000Z", "outcome": "accepted"})
    assert len(synced) == 1
    assert [line["outcome"] for line in _lines(tmp_path / AUDIT_FILE)] == ["refused", "accepted"]
