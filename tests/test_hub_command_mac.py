"""The ACB's MAC on commands to the hub (CCS01/CCS02), checked once `[trust] acb_key` is set.

The key of each MAC comes from ECDH of the ACB's key-agreement key and the hub's, then the GBCS
KDF over the header (docs/gbcs-notes.md 6.2, gbcs/mac_key.py). Real P-256 keys from `cryptography`;
the end-to-end test takes the hub's KA key from the retained bridge/info, as an ACB would, and sends
its commands through a real mosquitto.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from pathlib import Path

import pytest
from conftest import Broker, write_config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from mqtt_helpers import recording
from test_device_log_e2e import ACB, GOOD_CODE, NEW_METER, result, send_down
from test_e2e import running_hub

from agent.config import ConfigError, load_config
from agent.hub import Hub
from gbcs import chf_commands, mac_key, signature
from gbcs.frame import Cra, build_frame
from gbcs.wire import Cra as WireCra
from hal.sim.esme import LAB_MAC_KEY

# One key pair each for the whole module: P-256 generation is cheap, but hypothesis runs many.
ACB_KA = signature.generate_key()
HUB_KA = signature.generate_key()
titles = st.binary(min_size=8, max_size=8)


@settings(max_examples=50, deadline=None)
@given(
    originator=titles,
    recipient=titles,
    counter=st.integers(0, (1 << 64) - 1),
    cra=st.sampled_from(list(WireCra)),
)
def test_the_acb_and_the_hub_derive_the_same_key(
    originator: bytes, recipient: bytes, counter: int, cra: WireCra
) -> None:
    fields = {"cra": cra, "counter": counter, "originator": originator, "recipient": recipient}
    acb_side = mac_key.for_message(ACB_KA, HUB_KA.public_key(), **fields)
    hub_side = mac_key.for_message(HUB_KA, ACB_KA.public_key(), **fields)
    assert acb_side == hub_side
    assert len(acb_side) == 16
    other = mac_key.for_message(HUB_KA, ACB_KA.public_key(), **{**fields, "counter": counter ^ 1})
    assert other != hub_side, "the counter is in the derivation: every message has its own key"


def test_the_key_is_sha256_over_one_z_and_the_header_fields() -> None:
    # docs/gbcs-notes.md 6.2 written out by hand, to hold ConcatKDFHash to the formula GBCS gives.
    originator, recipient = bytes.fromhex("90B3D51F30000002"), bytes.fromhex("00DB1234567890A2")
    z = HUB_KA.exchange(ec.ECDH(), ACB_KA.public_key())
    other_info = (
        bytes.fromhex("60857406080300")
        + originator
        + b"\x09"
        + b"\x01"
        + (1795900802123).to_bytes(8, "big")
        + recipient
    )
    expected = hashlib.sha256(b"\x00\x00\x00\x01" + z + other_info).digest()[:16]
    derived = mac_key.derive(
        HUB_KA,
        ACB_KA.public_key(),
        originator=originator,
        recipient=recipient,
        counter=1795900802123,
        mode=1,
    )
    assert derived == expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"originator": b"\x00" * 7}, "system titles"),
        ({"counter": 1 << 64}, "64 bits"),
        ({"mode": 0}, "mode must be"),
        ({"mode": 5}, "mode must be"),
    ],
)
def test_bad_header_fields_are_refused(change: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "originator": bytes(8),
        "recipient": bytes(8),
        "counter": 1,
        "mode": 1,
        **change,
    }
    with pytest.raises(ValueError, match=message):
        mac_key.derive(HUB_KA, ACB_KA.public_key(), **fields)  # type: ignore[arg-type]


# -- the hub ------------------------------------------------------------------------------------


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def certificate_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ACB key agreement")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def config_with_acb_key(tmp_path: Path, pem: bytes, broker: Broker | None = None) -> Path:
    (tmp_path / "acb-ka.pem").write_bytes(pem)
    return write_config(tmp_path, broker, extra='[trust]\nacb_key = "acb-ka.pem"')


def ccs01(counter: int, hub: bytes, hub_ka: ec.EllipticCurvePublicKey | None) -> bytes:
    """A CCS01 MACed as the ACB does, with the key it shares with the hub; with no hub key,
    with the lab's fixed MAC key instead (what a forger without the ACB's key can do)."""
    key = (
        LAB_MAC_KEY
        if hub_ka is None
        else mac_key.for_message(
            ACB_KA, hub_ka, cra=Cra.COMMAND, counter=counter, originator=ACB, recipient=hub
        )
    )
    return build_frame(
        cra=Cra.COMMAND,
        counter=counter,
        originator=ACB,
        recipient=hub,
        message_code=chf_commands.CCS01_ADD,
        payload=chf_commands.build_payload(counter, NEW_METER, GOOD_CODE),
        mac_key=key,
    )


async def test_only_a_command_macd_by_the_acb_is_actioned(tmp_path: Path) -> None:
    hub = Hub(load_config(config_with_acb_key(tmp_path, public_pem(ACB_KA))))
    hub_ka = hub.hub_ka_key.public_key()
    me = hub.hub_eui64

    forged = await hub.command_from_wan("f", me, ccs01(7000, me, None))
    assert forged.status == "refused"
    assert forged.reason == (
        "not actioned by the hub: its MAC does not verify with the ACB's key-agreement key "
        "(forged or altered?)"
    )
    unwrapped = ccs01(7000, me, hub_ka)
    bare = unwrapped[unwrapped.index(b"\xdf") : -12]  # the DF APDU alone: no MAC at all
    refused = await hub.command_from_wan("b", me, bare)
    assert refused.reason == (
        "not actioned by the hub: it carries no MAC, and [trust] acb_key asks for one"
    )
    altered = bytearray(unwrapped)
    altered[-13] ^= 0x01  # the last byte of the APDU: the MAC no longer covers it
    assert (await hub.command_from_wan("a", me, bytes(altered))).status == "refused"
    assert not hub.device_log.admits(NEW_METER)

    # The refusals did not move the ACB's counter on: the genuine command with the same counter
    # is actioned.
    genuine = await hub.command_from_wan("g", me, unwrapped)
    assert genuine.status == "delivered", genuine.reason
    assert hub.device_log.admits(NEW_METER)


async def test_without_an_acb_key_commands_are_not_mac_checked(tmp_path: Path) -> None:
    hub = Hub(load_config(write_config(tmp_path, None)))
    answer = await hub.command_from_wan("l", hub.hub_eui64, ccs01(7000, hub.hub_eui64, None))
    assert answer.status == "delivered", "a lab with the fixed MAC key and no ACB key"
    assert json.loads(hub._info())["commands_mac_checked"] is False


async def test_the_acb_key_may_come_as_its_certificate(tmp_path: Path) -> None:
    hub = Hub(load_config(config_with_acb_key(tmp_path, certificate_pem(ACB_KA))))
    me = hub.hub_eui64
    assert (await hub.command_from_wan("c", me, ccs01(7000, me, None))).status == "refused"
    answer = await hub.command_from_wan("c2", me, ccs01(7001, me, hub.hub_ka_key.public_key()))
    assert answer.status == "delivered", answer.reason


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "No such file or directory"),
        (b"not a key", "is not one"),
        (
            ec.generate_private_key(ec.SECP384R1())
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "is not one",
        ),
    ],
    ids=["missing", "garbage", "P-384"],
)
def test_a_bad_acb_key_stops_start_up_naming_the_key(
    tmp_path: Path, content: bytes | None, why: str
) -> None:
    path = config_with_acb_key(tmp_path, b"")
    if content is None:
        (tmp_path / "acb-ka.pem").unlink()
    else:
        (tmp_path / "acb-ka.pem").write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        Hub(load_config(path))
    message = str(caught.value)
    assert message.startswith(f"config error: {path}: [trust] acb_key: a PEM file with the ACB's")
    assert why in message
    assert "\n" not in message


def test_the_hub_ka_key_is_kept_across_restarts(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, None))
    first = Hub(config).hub_ka_key
    again = Hub(config).hub_ka_key
    assert public_pem(first) == public_pem(again)
    assert public_pem(first) != public_pem(Hub(config).hub_key), "a key of its own, not the signer"
    assert (config.state_dir / "hub-ka-key.pem").stat().st_mode & 0o777 == 0o600


async def test_the_acb_macs_with_the_key_from_bridge_info(tmp_path: Path, broker: Broker) -> None:
    config = load_config(config_with_acb_key(tmp_path, public_pem(ACB_KA), broker))
    base = f"test/{config.hub_id}"
    counter = int(time.time() * 1000)
    async with (
        recording(broker.host, broker.port, f"{base}/#") as rec,
        running_hub(config) as (hub, _lab),
    ):
        await rec.wait_for(lambda _m: bool(rec.on("/bridge/info")), timeout=10)
        info = rec.on("/bridge/info")[-1].json()
        assert info["commands_mac_checked"] is True
        hub_ka = signature.load_public_key(info["hub_ka_key"]["public_key_pem"].encode())
        me = hub.hub_eui64
        await send_down(broker, base, "forged", me, ccs01(counter, me, None))
        await send_down(broker, base, "acb", me, ccs01(counter, me, hub_ka))
        await rec.wait_for(lambda _m: result(rec, "acb") is not None, timeout=10)
        assert result(rec, "forged")["status"] == "refused"  # type: ignore[index]
        assert result(rec, "acb") == {
            "id": "acb",
            "status": "delivered",
            "message_code": "0x0001",
            "reason": f"actioned by the hub: {NEW_METER.hex().upper()} added to the device log",
        }
