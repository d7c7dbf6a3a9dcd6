"""`han-agent keys generate`: an EC P-256 key pair for signing consent and trust commands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from gbcs import signature

NAME = "keys"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser(NAME, help="supplier signing keys")
    actions = keys.add_subparsers(dest="keys_action", required=True)
    generate = actions.add_parser(
        "generate", help="write NAME.key.pem (private, 0600) and NAME.pub.pem; print the key id"
    )
    generate.add_argument("--out", required=True, type=Path, help="directory for the two files")
    generate.add_argument("--name", default="supplier", help="file name stem (default: supplier)")


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    private_path = out / f"{args.name}.key.pem"
    public_path = out / f"{args.name}.pub.pem"
    for path in (private_path, public_path):
        if path.exists():
            print(f"keys generate: {path} exists; not overwriting a key", file=sys.stderr)
            return 1
    out.mkdir(parents=True, exist_ok=True)
    key = signature.generate_key()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    print(f"key id {signature.key_id(key.public_key())}")
    print(f"private key {private_path} (keep it secret; it signs consent changes)")
    print(f"public key  {public_path} (put it in the hub's [trust] dir)")
    return 0
