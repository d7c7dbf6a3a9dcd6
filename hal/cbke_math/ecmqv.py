"""The CBKE key agreement: ECMQV (SEC 1 v2, 2009, 3.4), the KDF and the confirm MACs.

SE 1.x Annex C.4 ("Key Agreement Scheme"): the shared secret Z is the ECMQV primitive over the
two static keys (from the certificates) and the two ephemeral keys; the KDF (ANSI X9.63 style
with AES-MMO, no shared info) gives MacKey = H(Z || 00000001) and KeyData = H(Z || 00000002);
the initiator U and responder V then exchange

    MACU = MAC(MacKey, 02 || U || V || QEU || QEV)
    MACV = MAC(MacKey, 03 || V || U || QEV || QEU)

where U and V are the parties' EUI-64s as their certificates carry them and QEU, QEV the
compressed ephemeral public keys as sent. KeyData becomes the APS link key between them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.cbke_math import curve, field
from hal.cbke_math.hashing import aes_mmo, hmac_aes_mmo

_HALF = (curve.N.bit_length() + 1) // 2
"""ceil(f/2) with f = ceil(log2 n) = 281 bits: 141 (SEC 1 v2 3.4 step 1)."""


class KeyAgreementError(ValueError):
    """The ECMQV primitive failed (the shared point is infinity)."""


def associate_value(point: tuple[int, int]) -> int:
    """Q-bar: (x mod 2^ceil(f/2)) + 2^ceil(f/2), x read as an integer (SEC 1 v2 2.3.9, 3.4)."""
    return (point[0] % (1 << _HALF)) + (1 << _HALF)


def ecmqv(
    static_private: int,
    ephemeral_private: int,
    ephemeral_public: tuple[int, int],
    partner_static: tuple[int, int],
    partner_ephemeral: tuple[int, int],
) -> bytes:
    """Z, the 36-byte x-coordinate of h*s*(Q2V + Q2V-bar*Q1V), s = d2U + Q2U-bar*d1U mod n."""
    s = (ephemeral_private + associate_value(ephemeral_public) * static_private) % curve.N
    point = curve.add(
        partner_ephemeral,
        curve.multiply(associate_value(partner_ephemeral), partner_static),
    )
    shared = curve.multiply(curve.H * s, point)
    if shared is None:
        raise KeyAgreementError("ECMQV: the shared point is the point at infinity")
    return field.to_bytes(shared[0])


@dataclass(frozen=True)
class DerivedKeys:
    mac_key: bytes
    key_data: bytes


def kdf(shared_secret: bytes) -> DerivedKeys:
    return DerivedKeys(
        mac_key=aes_mmo(shared_secret + (1).to_bytes(4, "big")),
        key_data=aes_mmo(shared_secret + (2).to_bytes(4, "big")),
    )


@dataclass(frozen=True)
class Smacs:
    initiator: bytes
    responder: bytes


def smacs(
    mac_key: bytes,
    initiator_id: bytes,
    responder_id: bytes,
    initiator_ephemeral: bytes,
    responder_ephemeral: bytes,
) -> Smacs:
    return Smacs(
        initiator=hmac_aes_mmo(
            mac_key,
            b"\x02" + initiator_id + responder_id + initiator_ephemeral + responder_ephemeral,
        ),
        responder=hmac_aes_mmo(
            mac_key,
            b"\x03" + responder_id + initiator_id + responder_ephemeral + initiator_ephemeral,
        ),
    )
