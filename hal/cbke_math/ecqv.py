"""ECQV implicit certificates (SEC 4 v1.0, 2013, sections 2.4 and 3) for suite 2 certificates.

A test CA issues a certificate in two steps, as SEC 4 3.3-3.5 describes: the requester sends
R_U = k_U*G, the CA adds its own random k to make the reconstruction point P_U = R_U + k*G, puts
P_U in the certificate, hashes the certificate to e, and returns r = e*k + d_CA mod n. The
requester's private key is d_U = e*k_U + r mod n; anyone holding the certificate and the CA's
public key reconstructs the matching public key Q_U = e*P_U + Q_CA (SEC 4 3.6) without the
certificate carrying a signature.

e is the AES-MMO hash (ZigBee specification B.6, the same function as install-code keys) of the
whole 74-byte encoded certificate, read as a big-endian integer: 128 bits, so already below n
(SEC 4 2.4 "Hn" with a hash shorter than n).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from hal.cbke_math import curve
from hal.cbke_math.hashing import aes_mmo
from hal.key_establishment import (
    KEY_USAGE_DIGITAL_SIGNATURE,
    KEY_USAGE_KEY_AGREEMENT,
    Certificate283k1,
)

NO_EXPIRY = 0xFFFFFFFF


def certificate_hash(certificate: bytes) -> int:
    """e = Hn(Cert): the certificate's AES-MMO digest as an integer."""
    return int.from_bytes(aes_mmo(certificate), "big")


def random_scalar() -> int:
    return secrets.randbelow(curve.N - 1) + 1


@dataclass(frozen=True)
class IssuedKey:
    """What a device ends up with: its certificate and the private key that goes with it."""

    certificate: bytes
    private_key: int


@dataclass(frozen=True)
class TestCa:
    """A certificate authority for the lab: its 8-byte issuer id and its key pair."""

    issuer: bytes
    private_key: int

    @property
    def public_key(self) -> bytes:
        """Q_CA, compressed (37 bytes): what an NCP is provisioned with beside its certificate."""
        return curve.compress(curve.multiply(self.private_key, curve.G))

    def issue(
        self,
        request_point: bytes,
        subject: bytes,
        *,
        serial: bytes,
        valid_from: int = 0,
        valid_duration: int = NO_EXPIRY,
        ca_nonce: int | None = None,
    ) -> tuple[bytes, int]:
        """SEC 4 3.4: the certificate for R_U (compressed) and the private-key contribution r."""
        if len(subject) != 8 or len(serial) != 8:
            raise ValueError("issue: subject and serial are 8 bytes each")
        r_u = curve.decompress(request_point)
        k = random_scalar() if ca_nonce is None else ca_nonce
        p_u = curve.add(r_u, curve.multiply(k, curve.G))
        cert = Certificate283k1(
            serial=serial,
            issuer=self.issuer,
            valid_from=valid_from,
            valid_duration=valid_duration,
            subject=subject,
            key_usage=KEY_USAGE_KEY_AGREEMENT | KEY_USAGE_DIGITAL_SIGNATURE,
            public_key_data=curve.compress(p_u),
        ).encode()
        e = certificate_hash(cert)
        return cert, (e * k + self.private_key) % curve.N

    def mint(
        self,
        subject: bytes,
        *,
        serial: bytes | None = None,
        device_nonce: int | None = None,
        ca_nonce: int | None = None,
    ) -> IssuedKey:
        """Both halves of issuance at once: a device's certificate and private key for a test."""
        k_u = random_scalar() if device_nonce is None else device_nonce
        request = curve.compress(curve.multiply(k_u, curve.G))
        cert, r = self.issue(request, subject, serial=serial or subject, ca_nonce=ca_nonce)
        return IssuedKey(cert, reconstruct_private_key(cert, k_u, r))


def reconstruct_private_key(certificate: bytes, request_nonce: int, contribution: int) -> int:
    """SEC 4 3.5: d_U = e*k_U + r mod n."""
    return (certificate_hash(certificate) * request_nonce + contribution) % curve.N


def reconstruct_public_key(certificate: bytes, ca_public_key: bytes) -> tuple[int, int]:
    """SEC 4 3.6: Q_U = e*P_U + Q_CA from the certificate and the CA's public key."""
    cert = Certificate283k1.parse(certificate)
    point = curve.add(
        curve.multiply(certificate_hash(certificate), curve.decompress(cert.public_key_data)),
        curve.decompress(ca_public_key),
    )
    if point is None:
        raise curve.PointError("certificate reconstructs to the point at infinity")
    return point
