"""`bridge/request/consent`: signed consent and trust commands in, Zigbee2MQTT-style answers out.

A request is the signed command's JSON (what `han-agent consent sign` writes) with an optional
`transaction` beside it, which is not signed and is echoed in the answer. The answer is
`{"status": "ok", "data": {...}, "transaction": ...}` or
`{"status": "error", "data": {"refusal": CODE}, "error": MESSAGE, "transaction": ...}`.

Requests are handled one at a time, off the event loop (verification and fsync take
milliseconds the per-frame path should not wait for). The answer is sent only after the new state
is on disk, so an acknowledged change survives any crash. Every outcome, refusals included, goes
to the audit log and to the hub's log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.config import Config, ConfigError
from agent.consent import ConsentRecord, ProfileRef
from agent.consent_command import (
    Accepted,
    CommandError,
    ConsentState,
    Kind,
    Refusal,
    SignedCommand,
    Site,
    judge,
    parse_command,
)
from agent.consent_store import ConsentStore, TrustDirError, load_trust_dir, now_iso
from agent.logs import RepeatLimiter
from agent.wan_input import Oversize, RequestError, Transaction, parse_object
from agent.wan_input import transaction as checked_transaction

LOGGER = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 16384
ABSENT = object()  # no `transaction` in the request: none in the answer
NOT_SAVED = "not_saved"
"""The refusal code of a change that was valid but could not be written to the state directory
(read-only, full, failing): nothing changed, and the sender may try again."""


@dataclass(frozen=True)
class Answer:
    body: dict[str, Any]  # the answer for bridge/response/consent (the hub signs it)
    changed: bool  # the consent record changed (a trust update leaves it as it was)
    accepted: bool


class ConsentService:
    def __init__(
        self,
        store: ConsentStore,
        state: ConsentState,
        *,
        hub_id: str,
        site: Site,
        profile: ProfileRef,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.state = state
        self.hub_id = hub_id
        self.site = site
        self.profile = profile
        self.clock = clock
        self._lock = asyncio.Lock()
        self._warn = RepeatLimiter()
        self._audit_junk = RepeatLimiter()

    @property
    def record(self) -> ConsentRecord:
        return self.state.record

    async def handle(self, payload: bytes | Oversize) -> Answer:
        async with self._lock:
            # A request that is not a command (most of a flood) is answered here, at parsing
            # cost: a thread hop each would put seconds of junk ahead of a real change. Only
            # its audit line, once every few seconds, is written on the thread.
            try:
                command, transaction = _parse(payload)
            except _Malformed as bad:
                audit = self._junk_audit(bad.message)
                if audit is None:
                    return self._refuse(Refusal.MALFORMED, bad.message, None, bad.transaction)
                return await asyncio.to_thread(
                    self._refuse, Refusal.MALFORMED, bad.message, None, bad.transaction, audit
                )
            return await asyncio.to_thread(self._decide, command, transaction)

    def handle_sync(self, payload: bytes | Oversize) -> Answer:
        try:
            command, transaction = _parse(payload)
        except _Malformed as bad:
            audit = self._junk_audit(bad.message)
            return self._refuse(Refusal.MALFORMED, bad.message, None, bad.transaction, audit)
        return self._decide(command, transaction)

    def _decide(self, command: SignedCommand, transaction: Transaction | object) -> Answer:
        """Judge a well-formed command; persist and audit what is accepted (on a thread)."""
        verdict = judge(
            command,
            self.state,
            hub_id=self.hub_id,
            now=self.clock(),
            site=self.site,
            profile=self.profile,
        )
        if not isinstance(verdict, Accepted):
            return self._refuse(verdict.code, verdict.message, command, transaction)
        old = self.state.record
        try:
            entry = self.store.commit(
                verdict.state,
                {
                    **_entry_base(command),
                    "outcome": "accepted",
                    "old_mode": old.mode.value,
                    "new_mode": verdict.state.record.mode.value,
                    "summary": verdict.summary,
                },
            )
        except OSError as exc:
            # Valid, but not on disk: it is not in force (an answer of ok must survive a crash).
            why = f"could not save: {exc.strerror or exc}"
            LOGGER.error(
                "%s command %d from key %s not applied: the state directory %s",
                command.kind.value,
                command.counter,
                command.signer,
                why,
            )
            return self._refuse(NOT_SAVED, why, command, transaction)
        self.state = verdict.state
        LOGGER.info(
            "accepted %s command %d from key %s: %s",
            command.kind.value,
            command.counter,
            command.signer,
            verdict.summary,
        )
        data_out: dict[str, Any] = {
            "command": command.kind.value,
            "summary": verdict.summary,
            "seq": entry["seq"],
            "record": self.state.record.to_dict(),
        }
        if command.kind is Kind.TRUST:
            data_out["trusted_keys"] = sorted(self.state.trust)
        return Answer(
            _response("ok", data_out, None, transaction),
            changed=command.kind is Kind.CONSENT,
            accepted=True,
        )

    def _junk_audit(self, message: str) -> dict[str, Any] | None:
        """For a request that is not a command at all (junk, a flood): the fields its audit
        line gets, or None when it gets none. The same junk is audited once every few seconds
        with a count, so that junk cannot rotate the accepted changes out of the audit's
        bounded files; every signed command's outcome is still audited."""
        key = f"audit {message[:48]}"
        if not self._audit_junk.allow(key):
            return None
        repeats = self._audit_junk.suppressed(key)
        return {"repeats_not_audited": repeats} if repeats else {}

    def _refuse(
        self,
        code: Refusal | str,
        message: str,
        command: Any,
        transaction: Any,
        junk_audit: dict[str, Any] | None = None,
    ) -> Answer:
        """The refusal's answer, its log line (rate-limited) and its audit line: always for a
        command, and for junk (`command` None) only with `junk_audit` (see `_junk_audit`)."""
        code_text = str(code)
        # One line per refusal; the same refusal repeated (a flood, a stuck sender) is written
        # once every few seconds, while the audit keeps every signed command's outcome.
        self._warn.warn_refusal(LOGGER, f"a consent request ({code_text})", message)
        entry: dict[str, Any] = {
            **(_entry_base(command) if command is not None else {"time": now_iso()}),
            "outcome": "refused",
            "refusal": code_text,
            "message": message,
            "mode": self.state.record.mode.value,
        }
        if command is None:
            if junk_audit is None:
                return self._answer_refusal(code_text, message, transaction)
            entry.update(junk_audit)
        try:
            self.store.audit(entry, durable=False)  # a refusal changes nothing: no flash sync
        except OSError as exc:
            if self._warn.allow("audit"):
                LOGGER.error("could not write the consent audit log: %s", exc.strerror or exc)
        return self._answer_refusal(code_text, message, transaction)

    def _answer_refusal(self, code: str, message: str, transaction: Any) -> Answer:
        return Answer(
            _response("error", {"refusal": code}, message, transaction),
            changed=False,
            accepted=False,
        )


class _Malformed(Exception):
    """A request that is not a well-formed command; `transaction` is what may be echoed."""

    def __init__(self, message: str, transaction: Transaction | object) -> None:
        super().__init__(message)
        self.message = message
        self.transaction = transaction


def _parse(payload: bytes | Oversize) -> tuple[SignedCommand, Transaction | object]:
    """The command and its transaction (ABSENT when there is none), or _Malformed."""
    transaction: Transaction | object = ABSENT
    try:
        data = parse_object(payload, MAX_REQUEST_BYTES)
        if "transaction" in data:
            transaction = checked_transaction(data)
            del data["transaction"]
        return parse_command(data), transaction
    except (RequestError, CommandError) as exc:
        raise _Malformed(str(exc), transaction) from None


def _entry_base(command: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "time": now_iso(),
        "command": command.kind.value,
        "signer": command.signer,
        "counter": command.counter,
    }
    if command.kind is Kind.CONSENT:
        entry["requested_mode"] = command.mode.value
    else:
        entry["add"] = len(command.add)
        entry["remove"] = list(command.remove)
    return entry


def _response(
    status: str, data: dict[str, Any], error: str | None, transaction: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status, "data": data}
    if error is not None:
        out["error"] = error
    if transaction is not ABSENT:
        out["transaction"] = transaction
    return out


def open_consent(config: Config, profile: ProfileRef) -> ConsentService:
    """The service over the state directory, seeded from the config on first start."""
    try:
        seed = load_trust_dir(config.trust_dir)
    except TrustDirError as exc:
        raise ConfigError(config.path, "[trust] dir", f"only public keys in PEM ({exc})") from None
    if config.site.refuses_restricted() and config.initial_mode.value == "restricted":
        raise ConfigError(
            config.path,
            "[consent] initial_mode",
            f"'full', because {config.site.refuses_restricted()}",
        )
    store = ConsentStore(config.state_dir)
    state = store.load(
        initial_mode=config.initial_mode,
        profile=profile,
        seed_trust=seed,
        trust_dir=config.trust_dir,
    )
    if not state.trust:
        LOGGER.warning(
            "the trust store is empty: no consent command or firmware image can be accepted (put "
            "the supplier's public key, PEM, in %s and restart: while the store is empty, keys "
            "there are taken in at start)",
            config.trust_dir,
        )
    return ConsentService(store, state, hub_id=config.hub_id, site=config.site, profile=profile)
