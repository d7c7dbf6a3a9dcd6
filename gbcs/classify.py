"""Which category a GBCS message belongs to, from its header fields alone.

Rules:

* Commands and responses take the category of their message code (gbcs/codes.py).
* Alerts are classified by their alert code first: a firmware, security (including tamper) or
  safety alert code puts the alert in that category whatever message code carries it.
* A future-dated outcome alert in DLMS or GBZ form (0x00CC, 0x00CD, alert 0x8F66 actioned or
  0x8F67 not actioned) is a `critical_alert`: it is a signed critical alert whose content is an
  outcome (this command, with this counter, was or was not executed at its date), not consumption
  or billing data (docs/gbcs-notes.md 7.3). Its body must be readable and must name a known
  command (gbcs/alert_details.py); if it does not, or the alert code is not 0x8F66/0x8F67, the
  alert is `unknown`. `reported_command_category` still gives the category of the command it
  reports on, for the log and the live view, never for the decision.
* Failing that, a use-case-specific alert message code gives its category (ECS80 is safety, CCS08
  firmware). What is left is `critical_alert` when signed or sent under a critical alert message
  code (0x1000, ECS68, ...), else `prepayment` for credit alerts and `alert` for the rest.
* A GBT block (`DD 09`) shows only its routing header: CRA flag and message code, not the alert
  code or the signature. A command or response block takes its message code's category. An alert
  block takes it only when the message code alone fixes a firmware, security or safety category
  (0x00CE, 0x0067, ...); every other alert block is `unknown`, because the alert code that could
  make it a billing-data exception or re-classify it is not in the block. Every block of one
  message has the same routing header, so gets the same category.
* A message code or alert code the tables do not know is `unknown`, and so is an alert whose
  alert code cannot be read, and a message code used with the wrong CRA flag: an alert message
  code sent as a command or response, or a command's code sent as an alert (a signed "alert"
  carrying a read's code must not pass as a critical alert). The policy fails closed on
  `unknown`.
"""

from __future__ import annotations

from gbcs.alert_details import FutureDatedOutcome
from gbcs.codes import ALERT_CODES, ALERT_MESSAGE_CODES, MESSAGE_CODES, Category
from gbcs.frame import Cra, Frame

PASSING_CLASSES = frozenset({Category.FIRMWARE, Category.SECURITY, Category.SAFETY})
REPORTING_ON_A_COMMAND = frozenset({0x00CC, 0x00CD})
# Module constants, not `Category.UNKNOWN` / `Cra.ALERT` at each use: on Python 3.11 every enum
# member lookup through its class is a descriptor call, and classify runs once per frame.
_UNKNOWN = Category.UNKNOWN
_CRITICAL_ALERT = Category.CRITICAL_ALERT
_ALERT_CRA = Cra.ALERT


def classify(frame: Frame) -> Category:
    info = MESSAGE_CODES.get(frame.message_code)
    if info is None:
        return _UNKNOWN
    is_alert_code = frame.message_code in ALERT_MESSAGE_CODES
    if frame.cra is not _ALERT_CRA:
        return _UNKNOWN if is_alert_code else info.category
    if not is_alert_code:
        return _UNKNOWN
    if frame.gbt is not None:
        return info.category if info.category in PASSING_CLASSES else _UNKNOWN
    alert = ALERT_CODES.get(frame.alert_code) if frame.alert_code is not None else None
    if alert is None:
        return _UNKNOWN
    if alert.category in PASSING_CLASSES:
        return alert.category
    if frame.message_code in REPORTING_ON_A_COMMAND:
        readable = reported_command_category(frame) is not _UNKNOWN
        return _CRITICAL_ALERT if readable else _UNKNOWN
    if info.category in PASSING_CLASSES:
        return info.category
    if frame.signature is not None or info.category is _CRITICAL_ALERT:
        return _CRITICAL_ALERT
    if alert.category is Category.PREPAYMENT:
        return Category.PREPAYMENT
    return Category.ALERT


def reported_command_category(frame: Frame) -> Category:
    """The category of the command a future-dated outcome alert reports on, or `unknown`."""
    detail = frame.alert_detail
    if not isinstance(detail, FutureDatedOutcome) or detail.actioned is None:
        return Category.UNKNOWN
    code = detail.message_code
    if code is None or code in ALERT_MESSAGE_CODES:
        return Category.UNKNOWN
    command = MESSAGE_CODES.get(code)
    return Category.UNKNOWN if command is None else command.category
