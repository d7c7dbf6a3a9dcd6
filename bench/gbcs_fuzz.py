"""Fuzz the codec and the restricted-mode decision with mutated and random frames.

    .venv/bin/python bench/gbcs_fuzz.py [--count N] [--seed S]

Each input is one of: a well-formed frame with random header fields (any CRA, message code,
alert code, payload form, signed or not, sometimes a GBT block); a corpus frame
(bench/corpus.py) mutated by byte flips, insertions, deletions, truncation, splicing two
frames, or a rewritten length byte; a corpus frame behind a
GSME tunnel header, mutated the same way; random bytes behind a plausible prefix (`DD 00`,
`DF 09 0n`, `DD 09`, tunnel headers); or plain random bytes. Each goes through the hub's path:
tunnel header, parse_frame, classify, decide under the shipped profile in both modes.

It fails (exit 1, the inputs printed in hex) on:
* any exception other than the codec's FrameError;
* a frame forwarded in restricted mode that the profile does not allow: upstream, its alert code
  on block_alert_codes, its category unknown, or none of allow_alert_codes /
  allow_message_codes / allow_categories / (a response to) an allowed command admitting it;
  downstream, its category unknown or neither allow list admitting it. This re-derives the
  profile's meaning independently of decide()'s rule order;
* a parsed frame whose `raw` is not the input (the hub forwards `raw`, never a re-encoding), or
  a frame full mode does not forward in its own direction.

Reproducible: the same --seed and --count give the same inputs.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from corpus import WHEN, build_corpus, tunnel_wrapped

from agent.consent import Mode
from agent.policy import Direction, Profile, decide, parse_profile
from gbcs import payloads
from gbcs.classify import classify
from gbcs.codes import ALERT_CODES, MESSAGE_CODES, Category
from gbcs.frame import Cra, Frame, FrameError, build_frame, parse_frame
from gbcs.gbt_transfer import split_into_blocks
from gbcs.tunnel import parse_tunnel_data

ROOT = Path(__file__).resolve().parents[1]
PREFIXES = (
    b"\xdd\x00\x00\x00\x00\x00\x00",
    b"\xdf\x09\x01",
    b"\xdf\x09\x02",
    b"\xdf\x09\x03",
    b"\xdd\x09\x03",
    b"\x03\xdf\x09\x03",
    b"\x02\x01\xdd\x00",
    b"\x01",
)
MAX_FAILURES_SHOWN = 10
MESSAGE_CODE_CHOICES = sorted(MESSAGE_CODES)
ALERT_CODE_CHOICES = sorted(ALERT_CODES)


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        op = rng.randrange(7)
        at = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip bits of one byte
            i = min(at, len(buf) - 1)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # set one byte to an interesting value
            buf[min(at, len(buf) - 1)] = rng.choice(
                (0x00, 0x01, 0x02, 0x03, 0x09, 0x0C, 0x40, 0x7F, 0x80, 0x81, 0x82, 0x83, 0x84, 0xFF)
            )
        elif op == 2:  # insert bytes
            buf[at:at] = rng.randbytes(rng.randint(1, 4))
        elif op == 3 and buf:  # delete bytes
            del buf[at : at + rng.randint(1, 4)]
        elif op == 4:  # truncate
            del buf[at:]
        elif op == 5:  # splice with another frame
            other = rng.choice(corpus)
            buf[at:] = other[rng.randrange(len(other) + 1) :]
        else:  # rewrite a byte that often is a length
            if len(buf) > 30:
                buf[rng.choice((7, 30, 31, 29, len(buf) - 65, len(buf) - 13)) % len(buf)] = (
                    rng.randrange(256)
                )
    return bytes(buf)


def well_formed(rng: random.Random) -> bytes:
    """A well-formed frame with random header fields: any CRA, any known or unknown message
    code, any alert code in any payload form, signed or not, sometimes a GBT block. These reach
    classify and decide, where mutated frames mostly stop at the parser."""
    cra = rng.choice(list(Cra))
    code = rng.choice(MESSAGE_CODE_CHOICES) if rng.random() < 0.9 else rng.randrange(0x10000)
    alert = rng.choice(ALERT_CODE_CHOICES) if rng.random() < 0.9 else rng.randrange(0x10000)
    payload = rng.choice(
        (
            payloads.dlms_alert(1, alert, WHEN, rng.randbytes(rng.randint(0, 40))),
            payloads.gbz_alert(alert, WHEN, rng.randbytes(rng.randint(0, 40))),
            payloads.gbz_future_dated_alert(alert, WHEN, rng.choice(MESSAGE_CODE_CHOICES), 1),
            payloads.dlms_future_dated_alert(1, alert, WHEN, rng.randrange(0x10000), 1),
            b"\x30\x05\x02\x03\x00" + alert.to_bytes(2, "big"),
            b"\xd9" + rng.randbytes(rng.randint(0, 40)),
            rng.randbytes(rng.randint(0, 40)),
        )
    )
    signed = rng.random() < 0.5
    data = build_frame(
        cra=cra,
        counter=rng.getrandbits(64),
        originator=rng.randbytes(8),
        recipient=rng.randbytes(8),
        message_code=code,
        payload=payload,
        signer=(lambda _: bytes(64)) if signed else None,
        mac_key=bytes(16) if rng.random() < 0.5 else None,
    )
    if rng.random() < 0.1:
        # A random payload can make the whole message malformed: then it stays whole.
        with contextlib.suppress(FrameError):
            data = rng.choice(split_into_blocks(data, rng.randint(20, 120)))
    return data


def inputs(
    rng: random.Random, corpus: list[bytes], wrapped: list[bytes]
) -> Iterator[tuple[str, bytes]]:
    while True:
        kind = rng.random()
        if kind < 0.2:
            yield "well-formed", well_formed(rng)
        elif kind < 0.55:
            yield "mutated", mutate(rng, rng.choice(corpus), corpus)
        elif kind < 0.70:
            yield "mutated-tunnel", mutate(rng, rng.choice(wrapped), corpus)
        elif kind < 0.80:
            yield "corpus", rng.choice(corpus)
        elif kind < 0.93:
            yield "random-prefixed", rng.choice(PREFIXES) + rng.randbytes(rng.randint(0, 300))
        else:
            yield "random", rng.randbytes(rng.randint(0, 200))


def profile_allows(
    frame: Frame, category: Category, direction: Direction, profile: Profile
) -> bool:
    """What the profile admits, re-derived from its text rather than from decide()."""
    if category is Category.UNKNOWN:
        return False
    if direction is Direction.DOWNSTREAM:
        rules = profile.downstream
        return frame.message_code in rules.allow_message_codes or category in rules.allow_categories
    rules = profile.upstream
    if frame.alert_code is not None and frame.alert_code in rules.block_alert_codes:
        return False
    return (
        (frame.alert_code is not None and frame.alert_code in rules.allow_alert_codes)
        or frame.message_code in rules.allow_message_codes
        or category in rules.allow_categories
        or (
            frame.cra is Cra.RESPONSE
            and profile.allow_responses_to_allowed_commands
            and profile.allows_command(frame.message_code, category)
        )
    )


def check(data: bytes, profile: Profile) -> tuple[str, str | None]:
    """('malformed' | 'no-frame' | category, failure or None) for one input."""
    try:
        tunnel = parse_tunnel_data(data)
        if not tunnel.message:
            return "no-frame", None
        frame = parse_frame(tunnel.message)
    except FrameError as exc:
        if not 0 <= exc.offset <= len(data):
            return "malformed", f"FrameError offset {exc.offset} outside a {len(data)}-byte input"
        return "malformed", None
    if frame.raw != tunnel.message:
        return "parsed", "Frame.raw is not the input bytes"
    category = classify(frame)
    direction = Direction.DOWNSTREAM if frame.cra is Cra.COMMAND else Direction.UPSTREAM
    restricted = decide(frame, category, Mode.RESTRICTED, direction, profile)
    if restricted.forwarded and not profile_allows(frame, category, direction, profile):
        return category.value, f"restricted mode forwarded {category} by {restricted.rule}"
    if not decide(frame, category, Mode.FULL, direction, profile).forwarded:
        return category.value, "full mode did not forward a frame in its own direction"
    return ("forwarded:" if restricted.forwarded else "blocked:") + category.value, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    profile = parse_profile((ROOT / "config/restricted-profile.toml").read_text(encoding="utf-8"))
    corpus = build_corpus()
    rng = random.Random(args.seed)
    source = inputs(rng, corpus, tunnel_wrapped(corpus))
    kinds: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    failures: list[tuple[str, str, bytes]] = []
    start = time.perf_counter()
    for _ in range(args.count):
        kind, data = next(source)
        kinds[kind] += 1
        try:
            outcome, failure = check(data, profile)
        except Exception as exc:  # the point of the run: nothing but FrameError may escape
            outcome, failure = "crashed", f"{type(exc).__name__}: {exc}"
        outcomes[outcome.split(":")[0]] += 1
        if failure is not None:
            failures.append((kind, failure, data))
    elapsed = time.perf_counter() - start
    print(f"inputs: {args.count:,} in {elapsed:.1f} s (seed {args.seed})")
    print("by kind: " + ", ".join(f"{k} {n:,}" for k, n in sorted(kinds.items())))
    print("outcomes: " + ", ".join(f"{k} {n:,}" for k, n in sorted(outcomes.items())))
    print(f"failures: {len(failures)}")
    for kind, failure, data in failures[:MAX_FAILURES_SHOWN]:
        print(f"  [{kind}] {failure}: {data.hex().upper()}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
