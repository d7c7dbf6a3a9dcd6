"""Arithmetic in GF(2^283), the field of sect283k1, in polynomial basis.

An element is a Python int whose bit i is the coefficient of x^i (SEC 1 v2 2.3.5/2.3.9: the
octet-string form is the same bits, most significant first). The reduction polynomial is
f(x) = x^283 + x^12 + x^7 + x^5 + 1 (SEC 2 v2, 2010, section 3.4.1 "sect283k1").
"""

from __future__ import annotations

from typing import Final

M: Final = 283
"""Degree of the field: elements have at most 283 bits."""
REDUCTION: Final = (1 << 283) | (1 << 12) | (1 << 7) | (1 << 5) | 1
MASK: Final = (1 << M) - 1
BYTES: Final = 36
"""Octet length of a field element, ceil(283 / 8) (SEC 1 v2 2.3.5)."""


def reduce(c: int) -> int:
    """Reduce a polynomial of degree < 2*283 modulo f(x).

    x^283 = x^12 + x^7 + x^5 + 1, so the bits at and above 283 fold back in shifted by those
    exponents; two folds bring any product of two elements below degree 283.
    """
    while c >> M:
        hi = c >> M
        c = (c & MASK) ^ hi ^ (hi << 5) ^ (hi << 7) ^ (hi << 12)
    return c


def mul(a: int, b: int) -> int:
    """Product of two field elements: carry-less multiply, 4 bits of b at a time, then reduce."""
    table = [0] * 16
    table[1] = a
    for i in range(2, 16, 2):
        table[i] = table[i >> 1] << 1
        table[i + 1] = table[i] ^ a
    c = 0
    for k in range((b.bit_length() + 3) // 4 - 1, -1, -1):
        c = (c << 4) ^ table[(b >> (4 * k)) & 0xF]
    return reduce(c)


def _spread(byte: int) -> bytes:
    """The byte's 8 bits moved to the even positions of 16 bits (bit i to bit 2i)."""
    value = 0
    for i in range(8):
        if byte >> i & 1:
            value |= 1 << (2 * i)
    return value.to_bytes(2, "big")


_SPREAD: Final = [_spread(b) for b in range(256)]


def square(a: int) -> int:
    """a^2: in characteristic 2 squaring spreads the bits (bit i goes to bit 2i), a byte at a
    time through a table."""
    spread = b"".join([_SPREAD[b] for b in a.to_bytes(BYTES, "big")])
    return reduce(int.from_bytes(spread, "big"))


def inverse(a: int) -> int:
    """a^-1 by the extended Euclidean algorithm over GF(2)[x]; a must not be zero."""
    if a == 0:
        raise ZeroDivisionError("0 has no inverse in GF(2^283)")
    u, v = a, REDUCTION
    g1, g2 = 1, 0
    while u != 1:
        j = u.bit_length() - v.bit_length()
        if j < 0:
            u, v = v, u
            g1, g2 = g2, g1
            j = -j
        u ^= v << j
        g1 ^= g2 << j
    return reduce(g1)


def half_trace(beta: int) -> int:
    """A solution z of z^2 + z = beta + Tr(beta), for odd m (IEEE 1363 A.4.7, SEC 1 2.3.4).

    H(beta) = sum of beta^(2^(2i)) for i = 0 .. (m-1)/2. When the trace of beta is 0, z solves
    z^2 + z = beta exactly; the caller checks.
    """
    z = beta
    for _ in range((M - 1) // 2):
        z = square(square(z)) ^ beta
    return z


def to_bytes(a: int) -> bytes:
    return a.to_bytes(BYTES, "big")


def from_bytes(data: bytes) -> int:
    """A field element from its 36-byte big-endian form; refuses values of 283 bits or more."""
    if len(data) != BYTES:
        raise ValueError(f"field element: expected {BYTES} bytes, got {len(data)}")
    value = int.from_bytes(data, "big")
    if value >> M:
        raise ValueError("field element: value has bits at or above x^283")
    return value
