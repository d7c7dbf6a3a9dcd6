"""The sect283k1 arithmetic of hal/cbke_math, checked against OpenSSL (an independent
implementation, tests/openssl_ec.py) and against the ZigBee specification's hash vectors."""

from __future__ import annotations

import re

import openssl_ec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.cbke_math import curve, ecmqv, ecqv, field
from hal.cbke_math.hashing import aes_mmo, hmac_aes_mmo
from hal.key_establishment import Certificate283k1, CertificateError

elements = st.integers(min_value=0, max_value=field.MASK)
nonzero = st.integers(min_value=1, max_value=field.MASK)
scalars = st.integers(min_value=1, max_value=curve.N - 1)


def _hex_block(text: str, label: str) -> int:
    block = text.split(label, 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if not line.startswith("    "):
            break
        lines.append(line.strip().replace(":", ""))
    return int("".join(lines), 16)


def test_domain_parameters_match_openssl() -> None:
    text = openssl_ec.curve_parameters_text()
    assert _hex_block(text, "Polynomial:") == field.REDUCTION
    generator = _hex_block(text, "Generator (uncompressed):")
    assert generator == (4 << (2 * 36 * 8)) | (curve.GX << (36 * 8)) | curve.GY
    assert _hex_block(text, "Order:") == curve.N
    assert re.search(r"^A:\s+0$", text, re.M) and re.search(r"^B:\s+1 ", text, re.M)
    assert re.search(r"^Cofactor:\s+4 ", text, re.M) and curve.H == 4
    assert curve.on_curve(curve.G)
    assert curve.multiply(curve.N, curve.G) is None


@given(elements, elements, elements)
def test_field_multiplication_is_a_commutative_ring(a: int, b: int, c: int) -> None:
    assert field.mul(a, b) == field.mul(b, a)
    assert field.mul(field.mul(a, b), c) == field.mul(a, field.mul(b, c))
    assert field.mul(a, b ^ c) == field.mul(a, b) ^ field.mul(a, c)
    assert field.mul(a, 1) == a and field.mul(a, b) <= field.MASK


@given(nonzero)
def test_field_inverse_and_square(a: int) -> None:
    assert field.mul(a, field.inverse(a)) == 1
    assert field.square(a) == field.mul(a, a)


def test_zero_has_no_inverse() -> None:
    with pytest.raises(ZeroDivisionError):
        field.inverse(0)


@settings(max_examples=8, deadline=None)
@given(scalars)
def test_scalar_multiplication_matches_openssl(d: int) -> None:
    assert curve.multiply(d, curve.G) == openssl_ec.public_key(d)


@settings(max_examples=5, deadline=None)
@given(scalars, scalars)
def test_ecdh_on_a_compressed_point_matches_openssl(d: int, peer: int) -> None:
    # OpenSSL decompresses our 37-byte encoding itself, so this also checks compress().
    q = curve.multiply(peer, curve.G)
    ours = curve.multiply(d, q)
    assert ours is not None
    assert openssl_ec.ecdh(d, curve.compress(q)) == field.to_bytes(ours[0])


@settings(max_examples=20, deadline=None)
@given(scalars, scalars)
def test_group_law(a: int, b: int) -> None:
    pa, pb = curve.multiply(a, curve.G), curve.multiply(b, curve.G)
    assert curve.add(pa, pb) == curve.multiply(a + b, curve.G)
    assert curve.add(pa, pb) == curve.add(pb, pa)
    assert curve.add(pa, curve.negate(pa)) is None
    assert curve.double(pa) == curve.add(pa, pa) and curve.on_curve(curve.add(pa, pb))


@settings(max_examples=30, deadline=None)
@given(scalars)
def test_compression_round_trip(d: int) -> None:
    p = curve.multiply(d, curve.G)
    encoded = curve.compress(p)
    assert len(encoded) == 37 and encoded[0] in (2, 3)
    assert curve.decompress(encoded) == p
    # The other y for the same x is -p.
    assert curve.decompress(bytes([encoded[0] ^ 1]) + encoded[1:]) == curve.negate(p)


@settings(max_examples=30, deadline=None)
@given(nonzero)
def test_decompress_accepts_exactly_the_curve_points(x: int) -> None:
    encoded = b"\x02" + field.to_bytes(x)
    try:
        point = curve.decompress(encoded)
    except curve.PointError:
        # No y: z^2 + z = beta has no root exactly when the half-trace is not one.
        beta = x ^ field.inverse(field.square(x))
        z = field.half_trace(beta)
        assert field.square(z) ^ z != beta
    else:
        assert point[0] == x and curve.on_curve(point)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x04" + bytes(36), "prefix 02 or 03"),
        (b"\x02" + bytes(35), "expected 37 bytes"),
        (b"\x02" + b"\xff" * 36, r"bits at or above x\^283"),
    ],
)
def test_bad_public_keys_are_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(curve.PointError, match=message):
        curve.decompress(data)


def test_aes_mmo_and_its_hmac_match_the_zigbee_specification_vectors() -> None:
    # ZigBee specification (05-3474) Annex C: the hash and the keyed-hash test vectors, and
    # the install-code example; zigpy's aes_mmo_hash is the hash used throughout.
    assert aes_mmo(b"\xc0").hex() == "ae3a102a28d43ee0d4a09e22788b206c"
    assert hmac_aes_mmo(bytes(range(0x40, 0x50)), b"\xc0").hex() == (
        "4512807bf94cb3400f0e2c25fb76e999"
    )
    assert aes_mmo(bytes.fromhex("83fed3407a939723a5c639b26916d505c3b5")).hex() == (
        "66b6900981e1ee3ca4206b6b861c02bb"
    )


CA = ecqv.TestCa(b"TESTCA01", 0x0123456789ABCDEF0123456789ABCDEF)


def test_ecqv_public_key_reconstruction_matches_openssl_from_the_private_key() -> None:
    issued = CA.mint(bytes.fromhex("0011223344556677"))
    reconstructed = ecqv.reconstruct_public_key(issued.certificate, CA.public_key)
    # OpenSSL computes d_U*G from the reconstructed private key alone: the two ECQV halves agree.
    assert openssl_ec.public_key(issued.private_key) == reconstructed
    cert = Certificate283k1.parse(issued.certificate)
    assert cert.subject == bytes.fromhex("0011223344556677") and cert.issuer == b"TESTCA01"
    # A certificate changed in any byte reconstructs to another key (e changes).
    tampered = bytearray(issued.certificate)
    tampered[30] ^= 0x01
    assert ecqv.reconstruct_public_key(bytes(tampered), CA.public_key) != reconstructed


@settings(max_examples=3, deadline=None)
@given(scalars, scalars)
def test_ecmqv_matches_openssl_from_scalars_alone(e_u: int, e_v: int) -> None:
    u = CA.mint(bytes.fromhex("0011223344556677"))
    v = CA.mint(bytes.fromhex("8899aabbccddeeff"))
    qe_u, qe_v = curve.multiply(e_u, curve.G), curve.multiply(e_v, curve.G)
    q_u = ecqv.reconstruct_public_key(u.certificate, CA.public_key)
    q_v = ecqv.reconstruct_public_key(v.certificate, CA.public_key)
    assert qe_u is not None and qe_v is not None
    z_u = ecmqv.ecmqv(u.private_key, e_u, qe_u, q_v, qe_v)
    z_v = ecmqv.ecmqv(v.private_key, e_v, qe_v, q_u, qe_u)
    assert z_u == z_v
    # Independently: P = h*s_U*(e_V + Vbar*d_V)*G, a scalar times G that OpenSSL computes.
    s_u = (e_u + ecmqv.associate_value(qe_u) * u.private_key) % curve.N
    t_v = (e_v + ecmqv.associate_value(qe_v) * v.private_key) % curve.N
    x, _ = openssl_ec.public_key(curve.H * s_u * t_v % curve.N)
    assert field.to_bytes(x) == z_u


def test_certificate_layout_round_trips_and_refuses_other_suites() -> None:
    issued = CA.mint(bytes.fromhex("0011223344556677"), serial=b"SERIAL01")
    cert = Certificate283k1.parse(issued.certificate)
    assert cert.encode() == issued.certificate and cert.serial == b"SERIAL01"
    assert issued.certificate[9] == 0x0D and issued.certificate[10] == 0x08
    for offset, value, message in (
        (0, 1, "not implicit"),
        (9, 0x09, "not sect283k1"),
        (10, 0, "not AES-MMO"),
        (36, 0x80, "key agreement"),
    ):
        bad = bytearray(issued.certificate)
        bad[offset] = value
        with pytest.raises(CertificateError, match=message):
            Certificate283k1.parse(bytes(bad))
    with pytest.raises(CertificateError, match="expected 74 bytes"):
        Certificate283k1.parse(issued.certificate[:48])
