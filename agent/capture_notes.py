"""The comment a HAN capture puts on each packet: what the hub did with it, and why.

A GBCS message in a Tunneling TransferData gets the hub's own decision (forwarded or blocked,
the profile's rule and its reason, the mode it was decided in), as the live view prints it.
Everything else on the HAN (ZDO, the IHD's Time reads, tunnel set-up, a GSME's GET) never leaves
the hub, and its comment says so. Pure: texts from values.
"""

from __future__ import annotations

from agent.consent import Mode
from agent.policy import Decision
from gbcs.codes import message_code_info
from gbcs.frame import Frame
from gbcs.tunnel import TunnelKind

ZDO_PROFILE = 0x0000
TUNNELING = 0x0704

CLUSTER_NAMES = {
    0x0000: "Basic",
    0x000A: "Time",
    0x0019: "OTA Upgrade",
    0x0700: "Price",
    0x0701: "Demand Response and Load Control",
    0x0702: "Metering",
    0x0703: "Messaging",
    0x0704: "Tunneling",
    0x0705: "Prepayment",
    0x0707: "Calendar",
    0x0708: "Device Management",
    0x0709: "Events",
    0x0800: "Key Establishment",
}


def decision_note(
    direction: str, device: bytes, frame: Frame, decision: Decision, mode: Mode
) -> str:
    """`direction` is "upstream" or "downstream", as agent.policy.Direction's values."""
    info = message_code_info(frame.message_code)
    use_case = f" {info.use_case}" if info is not None and info.use_case else ""
    alert = f" alert 0x{frame.alert_code:04X}" if frame.alert_code is not None else ""
    arrow = "up from" if direction == "upstream" else "down to"
    verdict = "FORWARDED" if decision.forwarded else "BLOCKED"
    return (
        f"GBCS {arrow} {device.hex().upper()}: {frame.cra.label} 0x{frame.message_code:04X}"
        f"{use_case}{alert}, {decision.category.value}: {verdict} in {mode.value} mode, "
        f"rule {decision.rule}: {decision.reason}"
    )


def malformed_note(device: bytes, reason: str) -> str:
    return f"GBCS up from {device.hex().upper()}: DROPPED, not readable GBCS ({reason})"


def undecided_note(seconds: float) -> str:
    """A meter's tunnel data the hub's policy never saw."""
    return (
        f"GBCS in the tunnel, no decision by the hub within {seconds:g} s: not taken from the "
        "tunnel (not the tunnel the hub opened, a device not on the device log, or the hub "
        "stopping)"
    )


SENT_WITHOUT_DECISION = "GBCS in the tunnel, sent with no hub decision recorded"
CLOSED_BEFORE_DECISION = "GBCS in the tunnel: the capture closed before the hub decided"


def gsme_note(kind: TunnelKind, queued: int | None) -> str:
    """A GSME's tunnel traffic that carries no GBCS message."""
    if kind is TunnelKind.GET:
        return "GSME GET: asks the hub for queued commands (HAN-local)"
    return f"GSME GET-RESPONSE: nothing to deliver, {queued} queued (HAN-local)"


def local_note(profile: int, cluster: int, destination_endpoint: int) -> str:
    """A packet that is not a GBCS message: it stays on the HAN."""
    if profile == ZDO_PROFILE and destination_endpoint == 0:
        return f"ZDO 0x{cluster:04X}: HAN-local, never sent to the WAN"
    name = CLUSTER_NAMES.get(cluster)
    named = f" {name}" if name else ""
    if cluster == TUNNELING:
        return "ZCL Tunneling (tunnel management, no GBCS): HAN-local, never sent to the WAN"
    return f"HAN-local ZCL, cluster 0x{cluster:04X}{named}: never sent to the WAN"


def send_outcome(error: str | None) -> str:
    """What the radio said about a packet the hub sent (only failures are worth a word)."""
    return "" if error is None else f"; the radio did not deliver it: {error}"
