"""Which category a GBCS message belongs to, from its header fields alone.

Rules:

* Commands and responses take the category of their message code (gbcs/codes.py).
* Alerts are classified by their alert code first: a firmware, security (including tamper) or
  safety alert code puts the alert in that category whatever message code carries it. Failing
  that, a use-case-specific alert message code gives its category (ECS80 is safety, CCS08
  firmware). What is left is `critical_alert` when signed or sent under a critical alert message
  code (0x1000, ECS68, ...), else `prepayment` for credit alerts and `alert` for the rest.
* A message code or alert code the tables do not know is `unknown`, and so is an alert whose
  alert code cannot be read, and a message code used with the wrong CRA flag: an alert message
  code sent as a command or response, or a command's code sent as an alert (a signed "alert"
  carrying a read's code must not pass as a critical alert). The policy fails closed on
  `unknown`.
"""

from __future__ import annotations

from gbcs.codes import ALERT_MESSAGE_CODES, Category, alert_code_info, message_code_info
from gbcs.frame import Cra, Frame

PASSING_CLASSES = frozenset({Category.FIRMWARE, Category.SECURITY, Category.SAFETY})


def classify(frame: Frame) -> Category:
    info = message_code_info(frame.message_code)
    if info is None:
        return Category.UNKNOWN
    is_alert_code = frame.message_code in ALERT_MESSAGE_CODES
    if frame.cra is not Cra.ALERT:
        return Category.UNKNOWN if is_alert_code else info.category
    if not is_alert_code:
        return Category.UNKNOWN
    alert = alert_code_info(frame.alert_code) if frame.alert_code is not None else None
    if alert is None:
        return Category.UNKNOWN
    if alert.category in PASSING_CLASSES:
        return alert.category
    if info.category in PASSING_CLASSES:
        return info.category
    if frame.critical or info.category is Category.CRITICAL_ALERT:
        return Category.CRITICAL_ALERT
    if alert.category is Category.PREPAYMENT:
        return Category.PREPAYMENT
    return Category.ALERT
