"""The published CBKE suite 2 known-answer vectors (tests/data/cbke-283k1-vectors.json): the file
is what the code computes, its values hold against OpenSSL and the ZigBee hash vectors, both ends
derive them from their own side, and a one-bit change anywhere breaks the agreement."""

from __future__ import annotations

import json
from typing import Any

import cbke_vectors
import openssl_ec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.cbke_math import curve, ecmqv, ecqv, field
from hal.cbke_math.hashing import aes_mmo, hmac_aes_mmo
from hal.cbke_math.ncp import CbkeLibrary, CbkeLibraryError

KAT: dict[str, Any] = json.loads(cbke_vectors.VECTORS.read_text())


def _int(value: str) -> int:
    return int(value, 16)


def _library(role: str) -> CbkeLibrary:
    party = KAT[role]
    return CbkeLibrary(
        bytes.fromhex(party["certificate"]),
        _int(party["private_key"]),
        bytes.fromhex(KAT["ca"]["public_key"]),
        new_scalar=lambda: _int(party["ephemeral_private_key"]),
    )


def test_the_file_is_what_the_code_computes() -> None:
    assert cbke_vectors.compute() == KAT


def test_hash_vectors_are_the_specifications() -> None:
    for vector in KAT["aes_mmo"]:
        assert aes_mmo(bytes.fromhex(vector["message"])).hex() == vector["hash"]
    for vector in KAT["hmac_aes_mmo"]:
        mac = hmac_aes_mmo(bytes.fromhex(vector["key"]), bytes.fromhex(vector["message"]))
        assert mac.hex() == vector["mac"]


@pytest.mark.parametrize("role", ["initiator", "responder"])
def test_party_keys_hold_against_openssl(role: str) -> None:
    party = KAT[role]
    cert = bytes.fromhex(party["certificate"])
    e = _int(party["certificate_hash_e"])
    assert e == int.from_bytes(aes_mmo(cert), "big")
    d = _int(party["private_key"])
    assert d == (e * _int(party["request_nonce"]) + _int(party["private_key_contribution_r"])) % (
        curve.N
    )
    # The public key reconstructed from the certificate is OpenSSL's d*G.
    assert curve.compress(openssl_ec.public_key(d)).hex() == party["public_key"]
    assert ecqv.reconstruct_public_key(cert, bytes.fromhex(KAT["ca"]["public_key"])) == (
        openssl_ec.public_key(d)
    )
    eph = _int(party["ephemeral_private_key"])
    assert curve.compress(openssl_ec.public_key(eph)).hex() == party["ephemeral_public_key"]
    assert (
        curve.compress(openssl_ec.public_key(_int(KAT["ca"]["private_key"]))).hex()
        == (KAT["ca"]["public_key"])
    )


def test_shared_secret_holds_against_openssl_and_derives_the_published_keys() -> None:
    u, v = KAT["initiator"], KAT["responder"]
    qe_u = curve.decompress(bytes.fromhex(u["ephemeral_public_key"]))
    qe_v = curve.decompress(bytes.fromhex(v["ephemeral_public_key"]))
    s_u = _int(u["ephemeral_private_key"]) + ecmqv.associate_value(qe_u) * _int(u["private_key"])
    t_v = _int(v["ephemeral_private_key"]) + ecmqv.associate_value(qe_v) * _int(v["private_key"])
    x, _ = openssl_ec.public_key(curve.H * s_u * t_v % curve.N)
    assert field.to_bytes(x).hex() == KAT["shared_secret_z"]
    z = bytes.fromhex(KAT["shared_secret_z"])
    assert aes_mmo(z + b"\x00\x00\x00\x01").hex() == KAT["mac_key"]
    assert aes_mmo(z + b"\x00\x00\x00\x02").hex() == KAT["key_data"]


def test_both_ends_derive_the_published_smacs_and_link_key() -> None:
    u, v = _library("initiator"), _library("responder")
    qe_u, qe_v = u.generate_keys(), v.generate_keys()
    assert qe_u.hex() == KAT["initiator"]["ephemeral_public_key"]
    assert qe_v.hex() == KAT["responder"]["ephemeral_public_key"]
    at_u = u.calculate_smacs(True, v.get_certificate(), qe_v)
    at_v = v.calculate_smacs(False, u.get_certificate(), qe_u)
    assert at_u == at_v
    assert at_u.initiator.hex() == KAT["macu_initiator_smac"]
    assert at_u.responder.hex() == KAT["macv_responder_smac"]
    u.clear_temporary_data(True)
    v.clear_temporary_data(True)
    assert u.link_keys == {
        bytes.fromhex(KAT["responder"]["subject"]): bytes.fromhex(KAT["key_data"])
    }
    assert v.link_keys == {
        bytes.fromhex(KAT["initiator"]["subject"]): bytes.fromhex(KAT["key_data"])
    }


FLIPPABLE = [
    ("responder certificate", 74),
    ("initiator certificate", 74),
    ("responder ephemeral", 37),
    ("initiator ephemeral", 37),
]


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(FLIPPABLE), st.data())
def test_one_bit_changed_anywhere_breaks_the_agreement(
    target: tuple[str, int], data: st.DataObject
) -> None:
    name, size = target
    bit = data.draw(st.integers(min_value=0, max_value=size * 8 - 1))
    u, v = _library("initiator"), _library("responder")
    inputs = {
        "responder certificate": bytearray(v.get_certificate()),
        "initiator certificate": bytearray(u.get_certificate()),
        "responder ephemeral": bytearray(v.generate_keys()),
        "initiator ephemeral": bytearray(u.generate_keys()),
    }
    inputs[name][bit // 8] ^= 0x80 >> (bit % 8)
    try:
        at_u = u.calculate_smacs(
            True, bytes(inputs["responder certificate"]), bytes(inputs["responder ephemeral"])
        )
        at_v = v.calculate_smacs(
            False, bytes(inputs["initiator certificate"]), bytes(inputs["initiator ephemeral"])
        )
    except CbkeLibraryError:
        return  # refused outright (not a point, not a certificate): no key either
    assert at_u.initiator != at_v.initiator and at_u.responder != at_v.responder
