"""The NCP side of CBKE: what a CBKE-capable EmberZNet NCP does for the four EZSP frames.

`CbkeLibrary` holds one device's certificate, private key and CA public key (what
savePreinstalledCbkeData283k1 provisions on a real chip) and does the mathematics with this
package. `EzspCbkeHandlers` puts it behind bellows' own frame schemas, so an emulated NCP
registers `handlers.handle` under each name in EZSP_FRAMES and answers exactly as bellows
expects for the negotiated EZSP version (EmberStatus up to v13, sl_Status from v14).

Real-chip behaviour followed (docs/cbke.md lists what is not verified): generateCbkeKeys283k1
and calculateSmacs283k1 answer at once with "operation in progress" and deliver their result in
a later callback (generateCbkeKeysHandler283k1, calculateSmacsHandler283k1); the library keeps
one exchange's temporary data until clearTemporaryDataMaybeStoreLinkKey283k1, which with
storeLinkKey = true puts KeyData in the key table as the link key of the partner named by the
certificate's subject.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from hal.cbke_math import curve, ecmqv, ecqv
from hal.key_establishment import Certificate283k1, CertificateError

EZSP_FRAMES: Final = (
    "getCertificate283k1",
    "generateCbkeKeys283k1",
    "calculateSmacs283k1",
    "clearTemporaryDataMaybeStoreLinkKey283k1",
)


class CbkeLibraryError(ValueError):
    """An operation the NCP's CBKE library refuses (reported as a failure status)."""


@dataclass
class _Exchange:
    ephemeral_private: int
    ephemeral_public: bytes
    partner: bytes = b""
    key_data: bytes = b""


@dataclass
class CbkeLibrary:
    certificate: bytes
    private_key: int
    ca_public_key: bytes
    new_scalar: Callable[[], int] = ecqv.random_scalar
    link_keys: dict[bytes, bytes] = field(default_factory=dict)
    """Link keys stored by clear_temporary_data(True): partner EUI-64 (MSB first) -> key."""
    _exchange: _Exchange | None = None

    def __post_init__(self) -> None:
        cert = Certificate283k1.parse(self.certificate)
        self.subject = cert.subject
        # An NCP is provisioned with a certificate its key matches; refuse a wrong pair early.
        own = ecqv.reconstruct_public_key(self.certificate, self.ca_public_key)
        if curve.multiply(self.private_key, curve.G) != own:
            raise CbkeLibraryError("private key does not match the certificate and CA key")

    def get_certificate(self) -> bytes:
        return self.certificate

    def generate_keys(self) -> bytes:
        d = self.new_scalar()
        public = curve.compress(curve.multiply(d, curve.G))
        self._exchange = _Exchange(d, public)
        return public

    def calculate_smacs(
        self, am_initiator: bool, partner_certificate: bytes, partner_ephemeral: bytes
    ) -> ecmqv.Smacs:
        if self._exchange is None:
            raise CbkeLibraryError("calculateSmacs before generateCbkeKeys")
        try:
            partner = Certificate283k1.parse(partner_certificate)
            partner_static = ecqv.reconstruct_public_key(partner_certificate, self.ca_public_key)
            partner_eph = curve.decompress(partner_ephemeral)
            z = ecmqv.ecmqv(
                self.private_key,
                self._exchange.ephemeral_private,
                curve.decompress(self._exchange.ephemeral_public),
                partner_static,
                partner_eph,
            )
        except (CertificateError, curve.PointError, ecmqv.KeyAgreementError) as exc:
            raise CbkeLibraryError(str(exc)) from None
        keys = ecmqv.kdf(z)
        me, them = self._exchange.ephemeral_public, bytes(partner_ephemeral)
        if am_initiator:
            result = ecmqv.smacs(keys.mac_key, self.subject, partner.subject, me, them)
        else:
            result = ecmqv.smacs(keys.mac_key, partner.subject, self.subject, them, me)
        self._exchange.partner = partner.subject
        self._exchange.key_data = keys.key_data
        return result

    def clear_temporary_data(self, store_link_key: bool) -> None:
        exchange, self._exchange = self._exchange, None
        if store_link_key:
            if exchange is None or not exchange.key_data:
                raise CbkeLibraryError("no key to store: SMACs were never calculated")
            self.link_keys[exchange.partner] = exchange.key_data


EzspCallback = tuple[str, dict[str, Any]]
"""A callback frame the NCP sends after its response: (frame name, values by schema field)."""


@dataclass(frozen=True)
class EzspReply:
    response: dict[str, Any]
    callbacks: list[EzspCallback]


class EzspCbkeHandlers:
    """The four CBKE frames over a CbkeLibrary, typed by bellows' COMMANDS table.

    `commands` is the negotiated protocol's table (bellows.ezsp.vN.commands.COMMANDS): frame
    name -> (id, request schema, response schema). Values are built with the schema's own
    bellows types, so the status field is EmberStatus or sl_Status as that version has it.
    """

    def __init__(self, library: CbkeLibrary, commands: Mapping[str, Any]) -> None:
        self.library = library
        self.commands = commands

    def handle(self, frame_name: str, args: Mapping[str, Any]) -> EzspReply:
        if frame_name == "getCertificate283k1":
            return EzspReply(
                self._values(frame_name, status=True, localCert=self.library.get_certificate()),
                [],
            )
        if frame_name == "generateCbkeKeys283k1":
            public = self.library.generate_keys()
            return EzspReply(
                self._values(frame_name, status=None),
                [
                    (
                        "generateCbkeKeysHandler283k1",
                        self._values(
                            "generateCbkeKeysHandler283k1", status=True, ephemeralPublicKey=public
                        ),
                    )
                ],
            )
        if frame_name == "calculateSmacs283k1":
            try:
                result = self.library.calculate_smacs(
                    bool(args["amInitiator"]),
                    bytes(args["partnerCertificate"]),
                    bytes(args["partnerEphemeralPublicKey"]),
                )
                done = self._values(
                    "calculateSmacsHandler283k1",
                    status=True,
                    initiatorSmac=result.initiator,
                    responderSmac=result.responder,
                )
            except CbkeLibraryError:
                done = self._values(
                    "calculateSmacsHandler283k1",
                    status=False,
                    initiatorSmac=bytes(16),
                    responderSmac=bytes(16),
                )
            return EzspReply(
                self._values(frame_name, status=None), [("calculateSmacsHandler283k1", done)]
            )
        if frame_name == "clearTemporaryDataMaybeStoreLinkKey283k1":
            try:
                self.library.clear_temporary_data(bool(args["storeLinkKey"]))
                ok = True
            except CbkeLibraryError:
                ok = False
            return EzspReply(self._values(frame_name, status=ok), [])
        raise KeyError(f"EzspCbkeHandlers: {frame_name} is not a CBKE frame")

    def _values(self, frame_name: str, *, status: bool | None, **fields: bytes) -> dict[str, Any]:
        """The response schema's values; status True = success, False = failure, None = the
        operation has started and its result follows in a callback."""
        schema: Mapping[str, Any] = self.commands[frame_name][2]
        status_type = schema["status"]
        names = {
            "EmberStatus": ("SUCCESS", "ERR_FATAL", "OPERATION_IN_PROGRESS"),
            "sl_Status": ("OK", "FAIL", "IN_PROGRESS"),
        }[status_type.__name__]
        pick = names[0] if status is True else names[1] if status is False else names[2]
        values: dict[str, Any] = {"status": status_type[pick]}
        for name, value in fields.items():
            values[name] = schema[name](list(value))
        return values
