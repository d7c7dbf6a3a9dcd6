"""A simulated device's end of CBKE: the same Key Establishment machine the hub runs, with its
NCP operations carried out at once by the device's own CBKE library (its own certificate and
private key, hal/cbke_math), as a meter's single chip does them.

Two lab faults make the hub's refusals testable: `silent` (the meter takes the request but never
answers, so the hub times out) and `corrupt_confirm` (the meter's confirm MAC has one bit
changed, so the hub sees a bad key confirmation).
"""

from __future__ import annotations

from hal.cbke_math.ncp import CbkeLibrary, CbkeLibraryError
from hal.key_establishment import (
    Action,
    ConfirmKeyRequest,
    ConfirmKeyResponse,
    Finished,
    KeyEstablishment,
    Message,
    NcpCalculateSmacs,
    NcpClear,
    NcpGenerateKeys,
    Role,
    Send,
    StartTimer,
    Timing,
)


class SimKeyEstablishment:
    def __init__(self, library: CbkeLibrary, *, timing: Timing = Timing()) -> None:  # noqa: B008
        self.library = library
        self.timing = timing
        self.machine: KeyEstablishment | None = None
        self.silent = False
        self.corrupt_confirm = False
        self.timer: float | None = None
        """Seconds of the last timer the machine asked for (the simulator does not run it)."""
        self.outcomes: list[Finished] = []

    @property
    def link_keys(self) -> dict[bytes, bytes]:
        return self.library.link_keys

    def start(self, partner: bytes) -> list[Message]:
        """Begin an exchange as initiator with `partner` (EUI-64, most significant byte first)."""
        self.machine = KeyEstablishment(
            Role.INITIATOR, self.library.get_certificate(), partner, self.timing
        )
        return self._run(self.machine.start())

    def receive(self, message: Message, partner: bytes) -> list[Message]:
        """A Key Establishment command from `partner`; returns the commands to send back."""
        if self.silent:
            return []
        if self.machine is None or self.machine.outcome is not None:
            self.machine = KeyEstablishment(
                Role.RESPONDER, self.library.get_certificate(), partner, self.timing
            )
        return self._run(self.machine.receive(message))

    def timeout(self) -> list[Message]:
        return [] if self.machine is None else self._run(self.machine.timeout())

    def _run(self, actions: list[Action]) -> list[Message]:
        assert self.machine is not None
        out: list[Message] = []
        pending = list(actions)
        while pending:
            action = pending.pop(0)
            if isinstance(action, Send):
                out.append(self._maybe_corrupt(action.message))
            elif isinstance(action, NcpGenerateKeys):
                pending.extend(self.machine.keys_generated(self.library.generate_keys()))
            elif isinstance(action, NcpCalculateSmacs):
                try:
                    smacs = self.library.calculate_smacs(
                        action.am_initiator, action.partner_certificate, action.partner_ephemeral
                    )
                except CbkeLibraryError as exc:
                    pending.extend(self.machine.ncp_failed(str(exc)))
                else:
                    pending.extend(self.machine.smacs_calculated(smacs.initiator, smacs.responder))
            elif isinstance(action, NcpClear):
                self.library.clear_temporary_data(action.store_link_key)
            elif isinstance(action, StartTimer):
                self.timer = action.seconds
            else:
                self.outcomes.append(action)
        return out

    def _maybe_corrupt(self, message: Message) -> Message:
        if not self.corrupt_confirm:
            return message
        if isinstance(message, ConfirmKeyRequest):
            return ConfirmKeyRequest(bytes([message.mac[0] ^ 0x01]) + message.mac[1:])
        if isinstance(message, ConfirmKeyResponse):
            return ConfirmKeyResponse(bytes([message.mac[0] ^ 0x01]) + message.mac[1:])
        return message
