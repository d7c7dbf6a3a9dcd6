"""The Koblitz curve sect283k1: y^2 + xy = x^3 + a*x^2 + b over GF(2^283), a = 0, b = 1.

Domain parameters from SEC 2 v2 (Certicom Research, "SEC 2: Recommended Elliptic Curve Domain
Parameters", version 2.0, 2010), section 3.4.1; tests/test_cbke_math.py checks G and n against
`cryptography`'s own sect283k1 (its public key for private value 1 is G, and for n-1 is -G).
Points are affine; None is the point at infinity. Formulas: SEC 1 v2 (2009) section 2.2.2 /
Guide to Elliptic Curve Cryptography (Hankerson, Menezes, Vanstone) 3.1.2.
"""

from __future__ import annotations

from typing import Final

from hal.cbke_math import field

Point = tuple[int, int] | None
"""An affine point (x, y) as field elements, or None for the point at infinity."""

A: Final = 0
B: Final = 1
GX: Final = 0x0503213F_78CA4488_3F1A3B81_62F188E5_53CD265F_23C1567A_16876913_B0C2AC24_58492836
GY: Final = 0x01CCDA38_0F1C9E31_8D90F95D_07E5426F_E87E45C0_E8184698_E4596236_4E341161_77DD2259
G: Final[Point] = (GX, GY)
N: Final = 0x01FFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFE9AE_2ED07577_265DFF7F_94451E06_1E163C61
"""Order of G (a 281-bit prime)."""
H: Final = 4
"""Cofactor: the curve has h*n points."""
COMPRESSED_BYTES: Final = 1 + field.BYTES
"""A compressed public key: 02/03 then x, 37 bytes (EmberPublicKey283k1Data)."""


class PointError(ValueError):
    """Bytes that are not a valid sect283k1 point."""


def on_curve(p: Point) -> bool:
    if p is None:
        return True
    x, y = p
    lhs = field.square(y) ^ field.mul(x, y)
    x2 = field.square(x)
    rhs = field.mul(x2, x) ^ field.mul(A, x2) ^ B
    return lhs == rhs


def negate(p: Point) -> Point:
    if p is None:
        return None
    x, y = p
    return (x, x ^ y)


def add(p: Point, q: Point) -> Point:
    if p is None:
        return q
    if q is None:
        return p
    x1, y1 = p
    x2, y2 = q
    if x1 == x2:
        if y1 == y2:
            return double(p)
        return None  # q = -p
    lam = field.mul(y1 ^ y2, field.inverse(x1 ^ x2))
    x3 = field.square(lam) ^ lam ^ x1 ^ x2 ^ A
    y3 = field.mul(lam, x1 ^ x3) ^ x3 ^ y1
    return (x3, y3)


def double(p: Point) -> Point:
    if p is None:
        return None
    x1, y1 = p
    if x1 == 0:
        return None  # a point with x = 0 has order 2
    lam = x1 ^ field.mul(y1, field.inverse(x1))
    x3 = field.square(lam) ^ lam ^ A
    y3 = field.square(x1) ^ field.mul(lam ^ 1, x3)
    return (x3, y3)


def multiply(k: int, p: Point) -> Point:
    """k*p by left-to-right double-and-add (lab code: not constant time)."""
    if k < 0:
        return multiply(-k, negate(p))
    result: Point = None
    for bit in bin(k)[2:] if k else "":
        result = double(result)
        if bit == "1":
            result = add(result, p)
    return result


def compress(p: Point) -> bytes:
    """SEC 1 v2 2.3.3 compressed form: 02 or 03 (the bit y~ = lsb(y/x)), then x in 36 bytes."""
    if p is None:
        raise PointError("the point at infinity has no 37-byte compressed form")
    x, y = p
    ybit = 0 if x == 0 else field.mul(y, field.inverse(x)) & 1
    return bytes([0x02 | ybit]) + field.to_bytes(x)


def decompress(data: bytes) -> tuple[int, int]:
    """SEC 1 v2 2.3.4: the point from its compressed form; PointError if it is not on the curve."""
    if len(data) != COMPRESSED_BYTES:
        raise PointError(f"public key: expected {COMPRESSED_BYTES} bytes, got {len(data)}")
    if data[0] not in (0x02, 0x03):
        raise PointError(f"public key: expected prefix 02 or 03, got {data[0]:02x}")
    try:
        x = field.from_bytes(data[1:])
    except ValueError as exc:
        raise PointError(f"public key: {exc}") from None
    ybit = data[0] & 1
    if x == 0:
        # y^2 = b: y = sqrt(b) = b^(2^(m-1)); with b = 1, y = 1.
        y = B
        for _ in range(field.M - 1):
            y = field.square(y)
        return (0, y)
    # Divide the curve equation by x^2 and put y = x*z: z^2 + z = x + a + b/x^2.
    beta = x ^ A ^ field.mul(B, field.inverse(field.square(x)))
    z = field.half_trace(beta)
    if field.square(z) ^ z != beta:
        raise PointError("public key: x is not the x-coordinate of a curve point")
    if z & 1 != ybit:
        z ^= 1
    return (x, field.mul(x, z))


def in_subgroup(p: Point) -> bool:
    """True when p is on the curve and n*p is infinity (so p is in the subgroup G generates)."""
    return on_curve(p) and multiply(N, p) is None
