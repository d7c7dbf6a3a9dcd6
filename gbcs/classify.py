"""Which category a GBCS message belongs to, from its header fields alone.

Rules:

* Commands and responses take the category of their message code (gbcs/codes.py).
* Alerts are classified by their alert code first: a firmware, security (including tamper) or
  safety alert code puts the alert in that category whatever message code carries it. Failing
  that, a use-case-specific alert message code gives its category (ECS80 is safety, CCS08
  firmware). What is left is `critical_alert` when signed, else `prepayment` for credit alerts
  and `alert` for the rest.
* A message code or alert code the tables do not know is `unknown`, and so is a message code
  used with the wrong CRA flag (an alert code sent as a command). The policy fails closed on
  `unknown`.
"""

from __future__ import annotations

from gbcs.codes import Category, alert_code_info, message_code_info
from gbcs.frame import Cra, Frame

PASSING_CLASSES = frozenset({Category.FIRMWARE, Category.SECURITY, Category.SAFETY})
ALERT_MESSAGE_CATEGORIES = frozenset({Category.ALERT, Category.CRITICAL_ALERT})


def classify(frame: Frame) -> Category:
    info = message_code_info(frame.message_code)
    if frame.cra is not Cra.ALERT:
        if info is None or info.category in ALERT_MESSAGE_CATEGORIES:
            return Category.UNKNOWN
        return info.category
    alert = alert_code_info(frame.alert_code) if frame.alert_code is not None else None
    if alert is not None and alert.category in PASSING_CLASSES:
        return alert.category
    if info is not None and info.category in PASSING_CLASSES:
        return info.category
    if info is None and alert is None:
        return Category.UNKNOWN
    if frame.critical:
        return Category.CRITICAL_ALERT
    if alert is not None and alert.category is Category.PREPAYMENT:
        return Category.PREPAYMENT
    return Category.ALERT
