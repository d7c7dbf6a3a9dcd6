"""Smart Energy Key Establishment (cluster 0x0800, CBKE), crypto suite 2 (sect283k1), sans I/O.

One `KeyEstablishment` object runs one exchange, as initiator or responder. It never does
elliptic-curve work: like a Silicon Labs host it asks its NCP for the four CBKE operations
(EZSP getCertificate283k1, generateCbkeKeys283k1, calculateSmacs283k1 and
clearTemporaryDataMaybeStoreLinkKey283k1) and checks only what a host checks: the suite, the
certificate's issuer and subject, and the confirm MACs. Every input is a method call; every
output is a list of actions (send a message, ask the NCP, arm the timer, finish) that the
caller carries out (hal/cbke_driver.py over zigpy and bellows, hal/sim/key_establishment.py on
the simulated meter, the tests in process).

The exchange (ZigBee Smart Energy profile 1.x, Annex C.3 and C.4; docs/cbke.md):

    initiator U                                   responder V
    Initiate KE Request (suite 2, times, cert U) ->
                          <- Initiate KE Response (suite 2, times, cert V)
    Ephemeral Data Request (QEU)                 ->
                          <- Ephemeral Data Response (QEV)
    Confirm Key Data Request (MACU)              ->
                          <- Confirm Key Data Response (MACV)
    either side, on any failure: Terminate Key Establishment (status, wait time, suite)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

SUITE_283K1: Final = 0x0002
"""KeyEstablishmentSuite bit for crypto suite 2 (suite 1, sect163k1, is 0x0001)."""
CERTIFICATE_BYTES: Final = 74
PUBLIC_KEY_BYTES: Final = 37
MAC_BYTES: Final = 16

CERT_TYPE_IMPLICIT: Final = 0x00
CURVE_SECT283K1: Final = 0x0D
HASH_AES_MMO: Final = 0x08
KEY_USAGE_KEY_AGREEMENT: Final = 0x08
KEY_USAGE_DIGITAL_SIGNATURE: Final = 0x80

EPHEMERAL_DATA_GENERATE_TIME_S: Final = 16
"""What this end advertises in its Initiate message: the longest it takes to produce its
ephemeral key. The partner waits that long, plus TRANSIT_MARGIN_S, for the Ephemeral Data
message."""
CONFIRM_KEY_GENERATE_TIME_S: Final = 16
"""What this end advertises as the longest it takes to compute the shared secret and MACs."""
INITIATE_RESPONSE_TIMEOUT_S: Final = 10
"""How long the initiator waits for the Initiate KE Response (the responder has told no time
yet; it only checks a certificate and reads its own)."""
TRANSIT_MARGIN_S: Final = 10
"""Added to every partner-advertised time: the APS round trip, with retries, and a sleepy
device's poll interval."""
TERMINATE_WAIT_TIME_S: Final = 10
"""The Wait Time this end puts in a Terminate: how long the partner should wait before trying
again."""


@dataclass(frozen=True)
class Timing:
    """The times one end uses, in seconds (defaults above; tests shorten them)."""

    ephemeral_data_generate: int = EPHEMERAL_DATA_GENERATE_TIME_S
    confirm_key_generate: int = CONFIRM_KEY_GENERATE_TIME_S
    initiate_response: float = INITIATE_RESPONSE_TIMEOUT_S
    transit_margin: float = TRANSIT_MARGIN_S
    terminate_wait: int = TERMINATE_WAIT_TIME_S


class TerminateStatus(enum.IntEnum):
    """Status codes of the Terminate Key Establishment command (SE 1.x Annex C.3.1)."""

    UNKNOWN_ISSUER = 0x01
    BAD_KEY_CONFIRM = 0x02
    BAD_MESSAGE = 0x03
    NO_RESOURCES = 0x04
    UNSUPPORTED_SUITE = 0x05
    INVALID_CERTIFICATE = 0x06


class Role(enum.Enum):
    INITIATOR = "initiator"
    RESPONDER = "responder"


class CertificateError(ValueError):
    """Bytes that are not a 74-byte suite 2 implicit certificate."""


@dataclass(frozen=True)
class Certificate283k1:
    """The 74-byte crypto suite 2 implicit certificate (SEC 4 minimal encoding scheme).

    EUI-64s (serial is 8 opaque bytes) are kept as on the wire, most significant byte first,
    which is the order a printed EUI-64 reads in and the reverse of zigpy's serialised EUI64.
    """

    serial: bytes
    issuer: bytes
    valid_from: int
    """Seconds, 40 bits (start of validity)."""
    valid_duration: int
    """Seconds, 32 bits, after valid_from; 0xFFFFFFFF means no expiry."""
    subject: bytes
    key_usage: int
    public_key_data: bytes
    """The 37-byte compressed public-key reconstruction point P_U (ECQV)."""
    cert_type: int = CERT_TYPE_IMPLICIT
    curve: int = CURVE_SECT283K1
    hash: int = HASH_AES_MMO

    def encode(self) -> bytes:
        return (
            bytes([self.cert_type])
            + self.serial
            + bytes([self.curve, self.hash])
            + self.issuer
            + self.valid_from.to_bytes(5, "big")
            + self.valid_duration.to_bytes(4, "big")
            + self.subject
            + bytes([self.key_usage])
            + self.public_key_data
        )

    @classmethod
    def parse(cls, data: bytes) -> Certificate283k1:
        if len(data) != CERTIFICATE_BYTES:
            raise CertificateError(
                f"certificate: expected {CERTIFICATE_BYTES} bytes, got {len(data)}"
            )
        cert = cls(
            cert_type=data[0],
            serial=bytes(data[1:9]),
            curve=data[9],
            hash=data[10],
            issuer=bytes(data[11:19]),
            valid_from=int.from_bytes(data[19:24], "big"),
            valid_duration=int.from_bytes(data[24:28], "big"),
            subject=bytes(data[28:36]),
            key_usage=data[36],
            public_key_data=bytes(data[37:74]),
        )
        if cert.cert_type != CERT_TYPE_IMPLICIT:
            raise CertificateError(f"certificate: type {cert.cert_type:#04x} is not implicit (0)")
        if cert.curve != CURVE_SECT283K1:
            raise CertificateError(f"certificate: curve {cert.curve:#04x} is not sect283k1")
        if cert.hash != HASH_AES_MMO:
            raise CertificateError(f"certificate: hash {cert.hash:#04x} is not AES-MMO")
        if not cert.key_usage & KEY_USAGE_KEY_AGREEMENT:
            raise CertificateError("certificate: key usage does not allow key agreement")
        if cert.public_key_data[0] not in (0x02, 0x03):
            raise CertificateError("certificate: reconstruction data is not a compressed point")
        return cert


# --- messages: one dataclass per command, the same fields as the ZCL command schemas ---


@dataclass(frozen=True)
class InitiateRequest:
    suite: int
    ephemeral_data_generate_time: int
    confirm_key_generate_time: int
    identity: bytes


@dataclass(frozen=True)
class InitiateResponse:
    suite: int
    ephemeral_data_generate_time: int
    confirm_key_generate_time: int
    identity: bytes


@dataclass(frozen=True)
class EphemeralDataRequest:
    ephemeral_data: bytes


@dataclass(frozen=True)
class EphemeralDataResponse:
    ephemeral_data: bytes


@dataclass(frozen=True)
class ConfirmKeyRequest:
    mac: bytes


@dataclass(frozen=True)
class ConfirmKeyResponse:
    mac: bytes


@dataclass(frozen=True)
class Terminate:
    status: int
    wait_time: int
    suite: int


Message = (
    InitiateRequest
    | InitiateResponse
    | EphemeralDataRequest
    | EphemeralDataResponse
    | ConfirmKeyRequest
    | ConfirmKeyResponse
    | Terminate
)

# --- actions: what the caller must do ---


@dataclass(frozen=True)
class Send:
    message: Message


@dataclass(frozen=True)
class NcpGenerateKeys:
    """generateCbkeKeys283k1; answer with keys_generated() or ncp_failed()."""


@dataclass(frozen=True)
class NcpCalculateSmacs:
    """calculateSmacs283k1; answer with smacs_calculated() or ncp_failed()."""

    am_initiator: bool
    partner_certificate: bytes
    partner_ephemeral: bytes


@dataclass(frozen=True)
class NcpClear:
    """clearTemporaryDataMaybeStoreLinkKey283k1(store_link_key)."""

    store_link_key: bool


@dataclass(frozen=True)
class StartTimer:
    """(Re)arm the one timer; call timeout() when it fires. Finished disarms it."""

    seconds: float


@dataclass(frozen=True)
class Finished:
    """The exchange is over. On success the NCP holds the link key for `partner`."""

    ok: bool
    partner: bytes
    """The partner's EUI-64, most significant byte first."""
    status: TerminateStatus | None
    """The Terminate status sent or received; None for success and for a timeout."""
    reason: str


Action = Send | NcpGenerateKeys | NcpCalculateSmacs | NcpClear | StartTimer | Finished


class _State(enum.Enum):
    IDLE = "idle"
    AWAIT_INITIATE_RESPONSE = "waiting for Initiate Key Establishment Response"
    AWAIT_EPHEMERAL_REQUEST = "waiting for Ephemeral Data Request"
    GENERATING_KEYS = "waiting for the NCP's ephemeral key"
    AWAIT_EPHEMERAL_RESPONSE = "waiting for Ephemeral Data Response"
    CALCULATING = "waiting for the NCP's SMACs"
    AWAIT_CONFIRM_REQUEST = "waiting for Confirm Key Data Request"
    AWAIT_CONFIRM_RESPONSE = "waiting for Confirm Key Data Response"
    DONE = "finished"


class KeyEstablishment:
    """One CBKE exchange with `partner` (its EUI-64, most significant byte first).

    `local_certificate` is what the NCP's getCertificate283k1 returned; its issuer is the only CA
    the NCP holds a public key for, so a partner certificate from any other issuer is refused
    before the NCP is asked to use it.
    """

    def __init__(
        self,
        role: Role,
        local_certificate: bytes,
        partner: bytes,
        timing: Timing = Timing(),
    ) -> None:
        if len(partner) != 8:
            raise ValueError(f"partner EUI-64: expected 8 bytes, got {len(partner)}")
        self.role = role
        self.timing = timing
        self.local = Certificate283k1.parse(local_certificate)
        self.local_certificate = bytes(local_certificate)
        self.partner = bytes(partner)
        self._state = _State.IDLE
        self._partner_certificate = b""
        self._partner_ephemeral_time = 0
        self._partner_confirm_time = 0
        self._local_ephemeral: bytes | None = None
        self._partner_ephemeral: bytes | None = None
        self._expected_mac = b""
        self._local_mac = b""
        self.outcome: Finished | None = None

    @property
    def state(self) -> str:
        return self._state.value

    # --- inputs ---

    def start(self) -> list[Action]:
        """Initiator only: the first message."""
        if self.role is not Role.INITIATOR or self._state is not _State.IDLE:
            raise RuntimeError("start(): only an idle initiator starts an exchange")
        self._state = _State.AWAIT_INITIATE_RESPONSE
        return [
            Send(
                InitiateRequest(
                    SUITE_283K1,
                    self.timing.ephemeral_data_generate,
                    self.timing.confirm_key_generate,
                    self.local_certificate,
                )
            ),
            StartTimer(self.timing.initiate_response),
        ]

    def receive(self, message: Message) -> list[Action]:
        if self._state is _State.DONE:
            return []
        if isinstance(message, Terminate):
            status = _status_or_none(message.status)
            name = status.name if status is not None else "unknown status"
            return self._finish_failed(
                status,
                f"partner terminated key establishment: {name} ({message.status:#04x})",
                send=False,
            )
        expected = {
            _State.IDLE: InitiateRequest if self.role is Role.RESPONDER else None,
            _State.AWAIT_INITIATE_RESPONSE: InitiateResponse,
            _State.AWAIT_EPHEMERAL_REQUEST: EphemeralDataRequest,
            _State.GENERATING_KEYS: EphemeralDataRequest if self.role is Role.RESPONDER else None,
            _State.AWAIT_EPHEMERAL_RESPONSE: EphemeralDataResponse,
            _State.AWAIT_CONFIRM_REQUEST: ConfirmKeyRequest,
            _State.AWAIT_CONFIRM_RESPONSE: ConfirmKeyResponse,
        }.get(self._state)
        if expected is None or not isinstance(message, expected):
            return self._finish_failed(
                TerminateStatus.BAD_MESSAGE,
                f"unexpected {type(message).__name__} while {self._state.value}",
            )
        if isinstance(message, InitiateRequest | InitiateResponse):
            return self._on_initiate(message)
        if isinstance(message, EphemeralDataRequest | EphemeralDataResponse):
            return self._on_ephemeral(message.ephemeral_data)
        assert isinstance(message, ConfirmKeyRequest | ConfirmKeyResponse)
        return self._on_confirm(message.mac)

    def keys_generated(self, ephemeral_public_key: bytes) -> list[Action]:
        if self._state is _State.DONE:
            return []
        if self._local_ephemeral is not None or len(ephemeral_public_key) != PUBLIC_KEY_BYTES:
            return self._finish_failed(
                TerminateStatus.NO_RESOURCES, "NCP returned an unusable ephemeral key"
            )
        self._local_ephemeral = bytes(ephemeral_public_key)
        if self.role is Role.INITIATOR:
            self._state = _State.AWAIT_EPHEMERAL_RESPONSE
            return [
                Send(EphemeralDataRequest(self._local_ephemeral)),
                StartTimer(self._partner_ephemeral_time + self.timing.transit_margin),
            ]
        return self._responder_maybe_calculate()

    def smacs_calculated(self, initiator_smac: bytes, responder_smac: bytes) -> list[Action]:
        if self._state is _State.DONE:
            return []
        if self._state is not _State.CALCULATING:
            return self._finish_failed(
                TerminateStatus.NO_RESOURCES, "NCP sent SMACs that were not asked for"
            )
        if self.role is Role.INITIATOR:
            self._local_mac, self._expected_mac = bytes(initiator_smac), bytes(responder_smac)
            self._state = _State.AWAIT_CONFIRM_RESPONSE
            return [
                Send(ConfirmKeyRequest(self._local_mac)),
                StartTimer(self._partner_confirm_time + self.timing.transit_margin),
            ]
        self._expected_mac, self._local_mac = bytes(initiator_smac), bytes(responder_smac)
        self._state = _State.AWAIT_CONFIRM_REQUEST
        assert self._local_ephemeral is not None
        return [
            Send(EphemeralDataResponse(self._local_ephemeral)),
            StartTimer(self._partner_confirm_time + self.timing.transit_margin),
        ]

    def ncp_failed(self, reason: str) -> list[Action]:
        if self._state is _State.DONE:
            return []
        return self._finish_failed(TerminateStatus.NO_RESOURCES, f"NCP: {reason}")

    def timeout(self) -> list[Action]:
        """The timer fired. No Terminate status fits a silent partner, so none is sent."""
        if self._state is _State.DONE:
            return []
        return self._finish_failed(None, f"timed out {self._state.value}", send=False)

    def transport_failed(self, reason: str) -> list[Action]:
        """A message could not be delivered (no APS acknowledgement): nothing more can be sent."""
        if self._state is _State.DONE:
            return []
        return self._finish_failed(
            None, f"delivery failed {self._state.value}: {reason}", send=False
        )

    # --- steps ---

    def _on_initiate(self, message: InitiateRequest | InitiateResponse) -> list[Action]:
        if message.suite != SUITE_283K1:
            return self._finish_failed(
                TerminateStatus.UNSUPPORTED_SUITE,
                f"partner asked for key establishment suite {message.suite:#06x}, "
                f"only {SUITE_283K1:#06x} (sect283k1) is supported",
            )
        try:
            cert = Certificate283k1.parse(message.identity)
        except CertificateError as exc:
            return self._finish_failed(TerminateStatus.BAD_MESSAGE, f"partner {exc}")
        if cert.issuer != self.local.issuer:
            return self._finish_failed(
                TerminateStatus.UNKNOWN_ISSUER,
                f"partner certificate issuer {cert.issuer.hex()} is not this NCP's CA "
                f"{self.local.issuer.hex()}",
            )
        if cert.subject != self.partner:
            return self._finish_failed(
                TerminateStatus.INVALID_CERTIFICATE,
                f"partner certificate subject {cert.subject.hex()} is not the device "
                f"{self.partner.hex()}",
            )
        self._partner_certificate = bytes(message.identity)
        self._partner_ephemeral_time = message.ephemeral_data_generate_time
        self._partner_confirm_time = message.confirm_key_generate_time
        if self.role is Role.INITIATOR:
            self._state = _State.GENERATING_KEYS
            return [NcpGenerateKeys(), StartTimer(self.timing.ephemeral_data_generate)]
        self._state = _State.GENERATING_KEYS
        return [
            Send(
                InitiateResponse(
                    SUITE_283K1,
                    self.timing.ephemeral_data_generate,
                    self.timing.confirm_key_generate,
                    self.local_certificate,
                )
            ),
            NcpGenerateKeys(),
            StartTimer(self._partner_ephemeral_time + self.timing.transit_margin),
        ]

    def _on_ephemeral(self, ephemeral: bytes) -> list[Action]:
        if len(ephemeral) != PUBLIC_KEY_BYTES or ephemeral[0] not in (0x02, 0x03):
            return self._finish_failed(
                TerminateStatus.BAD_MESSAGE,
                f"partner ephemeral data is not a {PUBLIC_KEY_BYTES}-byte compressed point",
            )
        self._partner_ephemeral = bytes(ephemeral)
        if self.role is Role.INITIATOR:
            self._state = _State.CALCULATING
            return [
                NcpCalculateSmacs(True, self._partner_certificate, self._partner_ephemeral),
                StartTimer(self.timing.confirm_key_generate),
            ]
        return self._responder_maybe_calculate()

    def _responder_maybe_calculate(self) -> list[Action]:
        """The responder needs both its own key and the partner's before asking for SMACs."""
        if self._local_ephemeral is None or self._partner_ephemeral is None:
            self._state = (
                _State.GENERATING_KEYS
                if self._local_ephemeral is None
                else _State.AWAIT_EPHEMERAL_REQUEST
            )
            return []
        self._state = _State.CALCULATING
        return [
            NcpCalculateSmacs(False, self._partner_certificate, self._partner_ephemeral),
            StartTimer(self.timing.confirm_key_generate),
        ]

    def _on_confirm(self, mac: bytes) -> list[Action]:
        if bytes(mac) != self._expected_mac:
            return self._finish_failed(
                TerminateStatus.BAD_KEY_CONFIRM,
                "partner's confirm MAC does not match: the two ends derived different keys",
            )
        actions: list[Action] = []
        if self.role is Role.RESPONDER:
            actions.append(Send(ConfirmKeyResponse(self._local_mac)))
        self._state = _State.DONE
        self.outcome = Finished(True, self.partner, None, "link key established")
        return [*actions, NcpClear(True), self.outcome]

    def _finish_failed(
        self, status: TerminateStatus | None, reason: str, *, send: bool = True
    ) -> list[Action]:
        actions: list[Action] = []
        if send and status is not None:
            actions.append(Send(Terminate(status, self.timing.terminate_wait, SUITE_283K1)))
        if self._state is not _State.IDLE:
            actions.append(NcpClear(False))
        self._state = _State.DONE
        self.outcome = Finished(False, self.partner, status, reason)
        return [*actions, self.outcome]


def _status_or_none(value: int) -> TerminateStatus | None:
    try:
        return TerminateStatus(value)
    except ValueError:
        return None
