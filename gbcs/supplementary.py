"""The supplementary fields of other-information, after the message code (docs/gbcs-notes.md 1.2).

Each field only appears when the one before it does, so the length says which are present:

    0 bytes     none                       most messages
    8           remote party id            e.g. ECS200 alert
    16          + remote party counter     commands the ACB originates for a Service User, and
                                           their responses (every command to the CHF)
    24          + originator counter       responses to "unknown remote party" reads
    more        + remote party key-agreement certificate (the rest)   URP commands

The id is an EUI-64; the counters are unsigned 64-bit big-endian like the originator counter;
the certificate is kept as the bytes it arrived as (this codec reads headers, not X.509).
"""

from __future__ import annotations

from dataclasses import dataclass

from gbcs.wire import EUI64_LENGTH, supplementary_length_ok

FIELD_LENGTH = 8


@dataclass(frozen=True, slots=True)
class Supplementary:
    remote_party_id: bytes | None = None
    remote_party_counter: int | None = None
    originator_counter: int | None = None
    certificate: bytes | None = None

    def encode(self) -> bytes:
        """The bytes after the message code; refuses a field without the ones before it."""
        present = [
            self.remote_party_id is not None,
            self.remote_party_counter is not None,
            self.originator_counter is not None,
            self.certificate is not None,
        ]
        if present != sorted(present, reverse=True):
            raise ValueError("a supplementary field needs every field before it")
        out = b""
        if self.remote_party_id is not None:
            if len(self.remote_party_id) != EUI64_LENGTH:
                raise ValueError("remote party id must be an 8-byte EUI-64")
            out += self.remote_party_id
        for counter in (self.remote_party_counter, self.originator_counter):
            if counter is not None:
                if not 0 <= counter < 1 << 64:
                    raise ValueError("supplementary counters must fit in 64 bits")
                out += counter.to_bytes(FIELD_LENGTH, "big")
        if self.certificate is not None:
            if not self.certificate:
                raise ValueError("a certificate field cannot be empty")
            out += self.certificate
        return out


def decode_supplementary(data: bytes) -> Supplementary:
    """Name the fields; ValueError for a length no GBCS message has (parse_frame checks it)."""
    n = len(data)
    if not supplementary_length_ok(n):
        raise ValueError(f"{n} supplementary bytes (expected 0, 8, 16, 24 or more)")
    if n == 0:
        return Supplementary()
    remote_party_id = data[:8]
    remote_party_counter = int.from_bytes(data[8:16], "big") if n >= 16 else None
    originator_counter = int.from_bytes(data[16:24], "big") if n >= 24 else None
    certificate = data[24:] if n > 24 else None
    return Supplementary(remote_party_id, remote_party_counter, originator_counter, certificate)
