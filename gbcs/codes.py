"""GBCS message-code and alert-code tables, as typed literal data.

Source: ``tests/data/gbcs-code-tables.md``, "Message codes" and "Alert codes", compiled from
public sources (gbcs-parser, Wireshark's GBCS dissector, DCC duis-templates, DCC RTDS 4.5.0; see
docs/gbcs-notes.md 2 and 3). Every row of both tables is transcribed here; ``tests/test_codes.py``
re-reads the markdown and fails if the set of codes drifts from it. Nothing is parsed or read from
disk at import time.

Rules used in the transcription:

* Ranges expand to one entry per code: CS02b is exactly 0x0100-0x0109 (one replacement mode per
  code), and alert rows such as 0x8002-0x8005 "(total; phase 1/2/3)" become four entries whose
  names end in "(total)", "(phase 1)", "(phase 2)" and "(phase 3)".
* ``MessageCodeInfo.use_case`` is the short use-case id that opens the table's use-case cell
  ("ECS52", "CS02b", "CCS05/CCS04"); ``name`` is the rest of the cell. Rows without a short id
  (the 0x00CA-0x00CF, 0x00D5, 0x00F0 and 0x00F2 alerts) have ``use_case == ""``; the generic
  alerts 0x1000 and 0x1001 are given the ids "GCA" and "GNCA".
* ``srv`` and ``gbcs_type`` keep the table text; "n/a" (SRV) and "—" become None.
* ``category`` is the project's policy vocabulary (restricted mode passes firmware, security,
  safety and critical alerts), not a GBCS term. For message codes it is the table's category
  column; "alert (critical)" rows are CRITICAL_ALERT and every other "alert (...)" row is ALERT.
  For alert codes it follows the table's inferred class: firmware -> FIRMWARE, security and
  tamper -> SECURITY, the three safety classes -> SAFETY, prepayment -> PREPAYMENT, anything
  else -> ALERT.
* Whether a particular *alert message* is critical is decided by its framing and message code,
  never by the alert-code prefix (see docs/gbcs-notes.md 3.1).
* ``ALERT_MESSAGE_CODES`` are the message codes that only ever travel as alerts (CRA 3): the rows
  whose RTDS framing column lists only ``A:`` forms, plus 0x00D5, whose category is an alert but
  which has no vector. Category alone cannot tell them: 0x0067 ECS80 is ``safety`` and 0x00CE is
  ``firmware``, like the commands of those classes.

Unknown codes are not an error here: :func:`message_code_info` and :func:`alert_code_info` return
None, and the caller decides what that means (``Category.UNKNOWN`` is there for it).

Counts: 240 message codes, 190 alert codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Protocol, TypeVar

__all__ = [
    "ALERT_CODES",
    "ALERT_MESSAGE_CODES",
    "MESSAGE_CODES",
    "AlertCodeInfo",
    "Category",
    "MessageCodeInfo",
    "alert_code_info",
    "message_code_info",
]


class Category(StrEnum):
    """Policy category of a message code or alert code (the project's vocabulary)."""

    FIRMWARE = "firmware"
    SECURITY = "security"
    SAFETY = "safety"
    CRITICAL_ALERT = "critical_alert"
    ALERT = "alert"
    READ = "read"
    TARIFF = "tariff"
    PREPAYMENT = "prepayment"
    CONFIG = "config"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class MessageCodeInfo:
    """One row of docs/gbcs-notes.md 2.3 (message codes)."""

    code: int
    use_case: str
    name: str
    srv: str | None
    gbcs_type: str | None
    category: Category


@dataclass(frozen=True, slots=True)
class AlertCodeInfo:
    """One code of docs/gbcs-notes.md 3.2 (alert codes)."""

    code: int
    name: str
    group: str
    category: Category


_MESSAGE_ROWS: Final[tuple[MessageCodeInfo, ...]] = (
    MessageCodeInfo(
        0x0001, "CCS01", "Add Device to CHF device log", "8.11", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x0002, "CCS02", "Remove device from CHF device log", "8.11", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x0003, "CCS03", "Restore CHF Device Log", "8.12.1", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x0004,
        "CCS05/CCS04",
        "Read CHF device log / Check HAN communications",
        "8.9",
        None,
        Category.READ,
    ),
    MessageCodeInfo(
        0x0007,
        "CS01a",
        "Apply Prepayment Top Up to an ESME",
        "2.2",
        "SME.C.NC + extra crypto (GBCS 14.3.4/14.3.5)",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(
        0x0008,
        "CS02a",
        "Provide Security Credentials Details",
        "6.24.1, n/a",
        "Variant Command & Response",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x000A, "CS02c", "Issue Security Credentials", "6.17", "SME.C.C", Category.SECURITY
    ),
    MessageCodeInfo(
        0x000B,
        "CS02d",
        "Update Device Certificates on Device",
        "6.15.2",
        "SME.C.C",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x000C,
        "CS02e",
        "Provide Device Certificates from Device",
        "6.24.2",
        "Variant Command & Response",
        Category.SECURITY,
    ),
    MessageCodeInfo(0x000D, "CS03A1", "Method A Join (Meter)", "8.7.1", "SME.C.C", Category.CONFIG),
    MessageCodeInfo(0x000E, "CS03B", "Method B Join", "8.7.2", "SME.C.NC", Category.CONFIG),
    MessageCodeInfo(
        0x000F, "CS04AC", "Method A or C Unjoin", "8.8.1, 8.8.2", "SME.C.C", Category.CONFIG
    ),
    MessageCodeInfo(0x0010, "CS04B", "Method B Unjoin", "8.8.2", "SME.C.NC", Category.CONFIG),
    MessageCodeInfo(0x0012, "CS06", "Activate Firmware", "11.3", "SME.C.C", Category.FIRMWARE),
    MessageCodeInfo(0x0013, "CS07", "Read Device Join Details", "8.9", "SME.C.NC", Category.READ),
    MessageCodeInfo(
        0x0014, "CS10a", "Read ZigBee Device Event Log", "6.13", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x0015, "CS11", "Clear ZigBee Device Event Log", "3.3", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x0018,
        "CS14",
        "Device Addition To / Removal From HAN Whitelist Alerts",
        None,
        "SME.A.NC",
        Category.ALERT,
    ),
    MessageCodeInfo(
        0x0019, "ECS01a", "Set Tariff and Price on ESME", "1.1.1", "SME.C.C", Category.TARIFF
    ),
    MessageCodeInfo(
        0x001A, "ECS02", "Set ESME Payment Mode to Credit", "1.6", "SME.C.C", Category.PREPAYMENT
    ),
    MessageCodeInfo(
        0x001B,
        "ECS03",
        "Set ESME Payment Mode to Prepayment",
        "1.6",
        "SME.C.C",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(
        0x001C, "ECS04a", "Adjust Meter Balance on the ESME", "1.5", "SME.C.C", Category.PREPAYMENT
    ),
    MessageCodeInfo(
        0x001D, "ECS05", "Reset Tariff Block Counter Matrix", "1.7", "SME.C.C", Category.TARIFF
    ),
    MessageCodeInfo(
        0x001E, "ECS07", "Manage Debt on the ESME", "2.3", "SME.C.C", Category.PREPAYMENT
    ),
    MessageCodeInfo(
        0x001F, "ECS08", "Update Prepayment Configuration on ESME", "2.1", None, Category.PREPAYMENT
    ),
    MessageCodeInfo(
        0x0020,
        "ECS09",
        "Activate Emergency Credit Remotely on ESME",
        "2.5",
        "SME.C.C",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(0x0021, "ECS10", "Send Message to ESME", "3.1", "SME.C.NC", Category.OTHER),
    MessageCodeInfo(
        0x0022, "ECS12", "Set Change of Tenancy date on ESME", "3.2", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x0023,
        "ECS14",
        "Disable Privacy PIN Protection on ESME",
        "3.5",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(0x0024, "ECS15a", "Clear ESME Event Log", "3.3", "SME.C.NC", Category.CONFIG),
    MessageCodeInfo(
        0x0025,
        "ECS16",
        "Write Supplier Contact Details on ESME",
        "3.4",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x0026,
        "ECS17a",
        "Read ESME Energy Registers (Export Energy)",
        "4.2",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x0027,
        "ECS17b",
        "Read ESME Energy Registers (Import Energy)",
        "4.1.1",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x0028, "ECS17c", "Read ESME Energy Registers (Power)", "4.16", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x0029, "ECS17d", "Read ESME Energy Register (TOU)", "4.1.2", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x002A,
        "ECS17e",
        "Read ESME Energy Register (TOU with Blocks)",
        "4.1.3",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x002B,
        "ECS18a",
        "Read Maximum Demand Registers (export)",
        "4.12.2",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x002C,
        "ECS18b",
        "Read Maximum Demand Registers (import)",
        "4.12.1",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x002D, "ECS19", "Read ESME Prepayment Registers", "4.3", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x002E,
        "ECS20a",
        "Read ESME Billing Data Log (payment based debt payments)",
        "4.4.4",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x002F,
        "ECS20b",
        "Read ESME Billing Data Log (change of mode / tariff triggered exc export)",
        "4.4.2",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x0030,
        "ECS20c",
        "Read ESME Billing Data Log (billing calendar triggered exc export)",
        "4.4.3",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x0033,
        "ECS21a",
        "Read Electricity Daily Read Log (exc export)",
        "4.6.1",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x0034,
        "ECS21b",
        "Read Electricity (Prepayment) Daily Read Log",
        "4.14",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x0035,
        "ECS21c",
        "Read Electricity Daily Read Log (export only)",
        "4.6.2",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x0036,
        "ECS22a",
        "Read Electricity Half Hour Profile Data (export)",
        "4.8.3",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x0037,
        "ECS22b",
        "Read Electricity Half Hour Profile Data (active import)",
        "4.8.1",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x0038,
        "ECS22c",
        "Read Electricity Half Hour Profile Data (reactive import)",
        "4.8.2",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x0039, "ECS23", "Read Voltage Operational Data", "4.10", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(0x003A, "ECS24", "Read ESME Tariff Data", "4.11.1", "SME.C.NC", Category.READ),
    MessageCodeInfo(
        0x003B,
        "ECS26a",
        "Read ESME Configuration Data Prepayment",
        "4.13",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x003C, "ECS26b", "Read ESME Configuration Voltage Data", "6.2.1", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x003D,
        "ECS26c",
        "Read ESME Configuration Data Device Information (randomisation)",
        "6.2.2",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x003E,
        "ECS26d",
        "Read ESME Configuration Data Device Information (Billing Calendar)",
        "6.2.3",
        None,
        Category.READ,
    ),
    MessageCodeInfo(
        0x003F,
        "ECS26e",
        "Read ESME Configuration Data Device Information (device identity exc MPAN)",
        "6.2.4",
        None,
        Category.READ,
    ),
    MessageCodeInfo(
        0x0040,
        "ECS26f",
        "Read ESME Configuration Data Device Information (instantaneous power thresholds)",
        "6.2.5",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x0042, "ECS27", "Read ESME Load Limit Data", "4.15", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x0043,
        "ECS28a",
        "Set Load Limit Configurations - General Settings",
        "6.4.1",
        "SME.C.C",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x0044,
        "ECS28b",
        "Set Load Limit Configuration Counter Reset",
        "6.4.2",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x0045, "ECS29a", "Set Voltage Configurations on ESME", "6.5", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x0046, "ECS30", "Set Billing Calendar on the ESME", "6.8", None, Category.CONFIG
    ),
    MessageCodeInfo(
        0x0047,
        "ECS34",
        "Set Instantaneous Power Threshold Configuration",
        "6.12",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(0x0048, "ECS35a", "Read ESME Event Log", "6.13", "SME.C.NC", Category.READ),
    MessageCodeInfo(0x0049, "ECS35b", "Read ESME Security Log", "6.13", "SME.C.NC", Category.READ),
    MessageCodeInfo(
        0x004A,
        "ECS37",
        "Set Maximum Demand Configurable Time Period",
        "6.18.1",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x004B, "ECS38", "Update Randomised Offset Limit", "7.12", "SME.C.C", Category.CONFIG
    ),
    MessageCodeInfo(
        0x004C, "ECS39a", "Set MPAN Value on the ESME", "6.20.1", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x004D, "ECS39b", "Set Export MPAN Value on the ESME", "6.20.2", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x004E, "ECS40", "Read MPAN Value on the ESME", "6.2.7", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x004F,
        "ECS42",
        "Remotely Close the Load Switch on the ESME",
        "7.1",
        "SME.C.C",
        Category.SAFETY,
    ),
    MessageCodeInfo(
        0x0050,
        "ECS43",
        "Remotely Open the Load Switch on the ESME",
        "7.2",
        "SME.C.C",
        Category.SAFETY,
    ),
    MessageCodeInfo(0x0051, "ECS44", "Arm Load Switch in ESME", "7.3", "SME.C.C", Category.SAFETY),
    MessageCodeInfo(
        0x0052,
        "ECS45",
        "Read Status of Load Switch in the ESME",
        "7.4",
        "SME.C.NC",
        Category.SAFETY,
    ),
    MessageCodeInfo(
        0x0053, "ECS46a", "Set HC ALCS or ALCS Labels in ESME", "6.14.1", "SME.C.C", Category.CONFIG
    ),
    MessageCodeInfo(
        0x0054,
        "ECS46c",
        "Set HC ALCS and ALCS configuration in ESME (excluding labels)",
        "6.14.2",
        None,
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x0055,
        "ECS47",
        "Set or Reset HC ALCS or ALCS State",
        "7.5, 7.6, 7.8",
        None,
        Category.CONFIG,
    ),
    MessageCodeInfo(0x0058, "ECS50", "Send CIN to ESME", "9.1", "SME.C.NC", Category.OTHER),
    MessageCodeInfo(
        0x0059,
        "ECS52",
        "Read ESME/Comms Hub Firmware Version",
        "11.2",
        "SME.C.NC",
        Category.FIRMWARE,
    ),
    MessageCodeInfo(
        0x005A,
        "ECS57",
        "Reset ESME Maximum Demand Registers",
        "6.18.2",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x005E, "ECS61c", "Read Boost Button Data from ESME", "7.11", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x005F,
        "ECS62",
        "Set ALCS and Boost Button Association",
        "7.10, 7.9",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x0060, "ECS66", "Read ESME Daily Consumption Log", "4.17", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x0061,
        "ECS68",
        "ESME Critical Sensitive Alert (Billing Data Log)",
        None,
        "SME.A.C",
        Category.CRITICAL_ALERT,
    ),
    MessageCodeInfo(
        0x0062, "ECS70", "Set Clock on ESME", "6.11, 8.1.1", "SME.C.C", Category.CONFIG
    ),
    MessageCodeInfo(
        0x0067, "ECS80", "Supply Outage Restore Alert from ESME", None, "SME.A.C", Category.SAFETY
    ),
    MessageCodeInfo(
        0x0068, "ECS81", "Set Supply Tamper State on ESME", "6.25", "SME.C.C", Category.SAFETY
    ),
    MessageCodeInfo(
        0x0069, "ECS82", "Read Meter Balance for ESME", "4.18", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x006B, "GCS01a", "Set Tariff and Price on GSME", "1.1.1", "SME.C.C", Category.TARIFF
    ),
    MessageCodeInfo(
        0x006C, "GCS02", "Set GSME Payment Mode to Credit", "1.6", "SME.C.C", Category.PREPAYMENT
    ),
    MessageCodeInfo(
        0x006D,
        "GCS03",
        "Set GSME Payment Mode to Prepayment",
        "1.6",
        "SME.C.C",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(
        0x006E, "GCS04", "Manage Debt on the GSME", "2.3", "SME.C.C", Category.PREPAYMENT
    ),
    MessageCodeInfo(
        0x006F,
        "GCS05",
        "Update Prepayment Configurations on GSME",
        "2.1",
        "SME.C.C",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(
        0x0070,
        "GCS06",
        "Activate Emergency Credit Remotely on GSME",
        "2.5",
        "SME.C.C",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(0x0071, "GCS07", "Send Message to GSME", "3.1", "SME.C.NC", Category.OTHER),
    MessageCodeInfo(
        0x0072, "GCS09", "Set Change of Tenancy date on GPF", "3.2", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x0073,
        "GCS11",
        "Disable Privacy PIN Protection on GSME",
        "3.5",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x0074, "GCS13a", "Read GSME Consumption Register", "4.1.1", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x0075, "GCS14", "Read GSME Prepayment Registers", "4.3", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x0076,
        "GCS15c",
        "Read GSME Billing Data Log (billing calendar triggered)",
        "4.4.3",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x0077, "GCS16a", "Read GSME Daily Read Log", "4.6.1", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x0078, "GCS17", "Read GSME Profile Data Log", "4.8.1", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x0079, "GCS18", "Read Gas Network Data Log", "4.10", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x007B,
        "GCS21a",
        "Read Gas Configuration Data Device Information",
        "6.2.8",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x007C,
        "GCS23",
        "Set CV and Conversion Factor Value(s) on the GSME",
        "6.6",
        "SME.C.C",
        Category.TARIFF,
    ),
    MessageCodeInfo(
        0x007D,
        "GCS24",
        "Set Uncontrolled Gas Flow Rate and Supply Tamper State on the GSME",
        "6.7",
        None,
        Category.SAFETY,
    ),
    MessageCodeInfo(
        0x007E, "GCS25", "Set Billing Calendar on the GSME", "6.8", "SME.C.C", Category.CONFIG
    ),
    MessageCodeInfo(
        0x007F, "GCS28", "Set Clock on GSME", "6.11, 8.1.1", "SME.C.C", Category.CONFIG
    ),
    MessageCodeInfo(
        0x0080, "GCS31", "Start Network Data Log on GSME", "14.1", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x0081, "GCS32", "Remotely close the valve in the GSME", "7.2", "SME.C.C", Category.SAFETY
    ),
    MessageCodeInfo(0x0082, "GCS33", "Read GSME Valve Status", "7.4", "SME.C.NC", Category.SAFETY),
    MessageCodeInfo(0x0083, "GCS36", "Send CIN to GSME", "9.1", "SME.C.NC", Category.OTHER),
    MessageCodeInfo(
        0x0084, "GCS38", "Read GSME Firmware Version", "11.2", "SME.C.NC", Category.FIRMWARE
    ),
    MessageCodeInfo(0x0085, "GCS39", "Arm Valve in GSME", "7.3", "SME.C.C", Category.SAFETY),
    MessageCodeInfo(
        0x0086,
        "GCS40a",
        "Adjust Prepayment Mode Meter Balance on the GSME",
        "1.5",
        "SME.C.C",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(
        0x0087, "GCS41", "Set MPRN Value on the GSME", "6.20.1", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x0088, "GCS44", "Write Contact Details on GSME", "3.4", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(0x0089, "GCS46", "Read MPRN on the GSME", "6.2.7", "SME.C.NC", Category.READ),
    MessageCodeInfo(
        0x008B,
        "GCS53",
        "Push Billing Data Log as an Alert",
        None,
        "SME.A.C",
        Category.CRITICAL_ALERT,
    ),
    MessageCodeInfo(
        0x008C, "GCS59", "Restore GPF Device Log", "8.12.2", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x008D, "GCS60", "Read Meter Balance for GSME", "4.18", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x0090,
        "PCS02",
        "Activate Emergency Credit on GSME from PPMID",
        None,
        "SME.C.PPMID-GSME",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(
        0x0092,
        "ECS26i",
        "Read Configuration Data Device Information (CHF identity)",
        "6.2.4",
        None,
        Category.READ,
    ),
    MessageCodeInfo(0x0093, "ECS35c", "Read CHF Event Log", "6.13", "SME.C.NC", Category.READ),
    MessageCodeInfo(0x0094, "ECS35d", "Read CHF Security Log", "6.13", "SME.C.NC", Category.READ),
    MessageCodeInfo(
        0x0096,
        "GCS16b",
        "Read GSME Daily Read log(s) (prepayment)",
        "4.14",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x0097,
        "CS01b",
        "Apply Prepayment Top Up to a GSME",
        "2.2",
        "SME.C.NC + extra crypto (GBCS 14.3.4/14.3.5)",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(
        0x009B,
        "PCS01",
        "Apply Prepayment Top Up to a GSME using PPMID",
        None,
        "SME.C.PPMID-GSME",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(
        0x009D,
        "GCS21d",
        "Read GSME Configuration Data Device Information (BillingCalendar)",
        "6.2.3",
        None,
        Category.READ,
    ),
    MessageCodeInfo(
        0x009E,
        "GCS21e",
        "Read GSME/GPF Configuration Data Device Information (device identity)",
        "6.2.4",
        None,
        Category.READ,
    ),
    MessageCodeInfo(0x009F, "GCS21f", "Read GSME Tariff Data", "4.11.1", "SME.C.NC", Category.READ),
    MessageCodeInfo(
        0x00A0, "GCS61", "Read Gas Daily Consumption Log", "4.17", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x00A1, "CS10b", "Read ZigBee Device Security Log", "6.13", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(0x00A2, "ECS01b", "Set Price on ESME", "1.2.1", "SME.C.C", Category.TARIFF),
    MessageCodeInfo(0x00A3, "GCS01b", "Set Price on GSME", "1.2.1", "SME.C.C", Category.TARIFF),
    MessageCodeInfo(
        0x00AB, "CS03A2", "Method A Join (non Meter)", "8.7.1, 8.7.2", "SME.C.C", Category.CONFIG
    ),
    MessageCodeInfo(
        0x00AC,
        "ECS25a",
        "Set Alert Behaviours - ESME - Supplier",
        "6.22",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x00AD, "GCS20", "Set Alert Behaviours - GSME", "6.22", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x00AE,
        "ECS29b",
        "Set Voltage Configurations on ESME - 3ph",
        "6.5",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(0x00AF, "CS03C", "Method C Join", "8.7.1, 8.7.2", "SME.C.C", Category.CONFIG),
    MessageCodeInfo(
        0x00B0,
        "ECS25b",
        "Set Alert Behaviours - ESME - Network Operator",
        "6.22",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(0x00B2, "GCS62", "Backup GPF Device Log", None, "SME.A.NC", Category.ALERT),
    MessageCodeInfo(
        0x00B3, "ECS04b", "Reset Meter Balance on the ESME", "1.5", "SME.C.C", Category.PREPAYMENT
    ),
    MessageCodeInfo(
        0x00B4,
        "GCS40b",
        "Reset Prepayment Mode Meter Balance on the GSME",
        "1.5",
        "SME.C.C",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(
        0x00B5,
        "GCS21b",
        "Read GSME Configuration Data Prepayment",
        "4.13",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00B6, "GCS13c", "Read GSME Register (TOU)", "4.1.2", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x00B7,
        "ECS01c",
        "Set Tariff and Price on ESME secondary",
        "1.1.2",
        "SME.C.C",
        Category.TARIFF,
    ),
    MessageCodeInfo(
        0x00B8, "GCS13b", "Read GSME Block Counters", "4.1.4", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x00B9, "ECS35e", "Read ESME Power Event Log", "6.13", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(0x00BA, "ECS35f", "Read ALCS Event Log", "6.13", None, Category.READ),
    MessageCodeInfo(
        0x00BB, "ECS61a", "Read HC ALCS and ALCS Data from ESME", "7.7", None, Category.READ
    ),
    MessageCodeInfo(
        0x00BC,
        "ECS23b",
        "Read Voltage Operational Data - 3 Phase",
        "4.10",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00BD,
        "ECS24b",
        "Read ESME Tariff Data - second element",
        "4.11.2",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00BE,
        "ECS26j",
        "Read ESME Configuration Data Device Information (Payment Mode)",
        "6.2.9",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00BF,
        "GCS21j",
        "Read GSME Configuration Data Device Information (Payment Mode)",
        "6.2.9",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00C0,
        "GCS40c",
        "Adjust Credit Mode Meter Balance on the GSME",
        "1.5",
        "SME.C.C",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(0x00C1, "ECS15c", "Clear ALCS Event Log", "3.3", "SME.C.NC", Category.CONFIG),
    MessageCodeInfo(
        0x00C2,
        "GCS40d",
        "Reset Credit Mode Meter Balance on the GSME",
        "1.5",
        "SME.C.C",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(
        0x00C3,
        "GCS15b",
        "Read GSME Billing Data Log (change of mode / tariff triggered)",
        "4.4.2",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00C4,
        "GCS15d",
        "Read GSME Billing Data Log (payment-based debt payments)",
        "4.4.4",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00C5,
        "GCS15e",
        "Read GSME Billing Data Log (prepayment credits)",
        "4.4.5",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00C6,
        "ECS26k",
        "Read ESME Configuration Voltage Data - 3 phase",
        "6.2.1",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00C7, "ECS01d", "Set Price on ESME secondary", "1.2.2", "SME.C.C", Category.TARIFF
    ),
    MessageCodeInfo(
        0x00C9,
        "ECS20d",
        "Read ESME Billing Data Log (prepayment credits)",
        "4.4.5",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00CA, "", "Future-dated Firmware Activation Alert", "11.3", None, Category.FIRMWARE
    ),
    MessageCodeInfo(
        0x00CB,
        "",
        "Future-dated Update Security Credentials Alert",
        "6.15.1, 6.23",
        None,
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x00CC,
        "",
        "Future Dated Execution Of Instruction Alert (DLMS COSEM)",
        "1.1.1, 1.1.2, 1.2.1, 1.2.2, 1.6, 2.1, 6.14.2, 6.14.3, 6.4.1",
        None,
        Category.CRITICAL_ALERT,
    ),
    MessageCodeInfo(
        0x00CD,
        "",
        "Future Dated Execution Of Instruction Alert (GBZ)",
        "1.1.1, 1.2.1, 1.6, 2.1",
        None,
        Category.CRITICAL_ALERT,
    ),
    MessageCodeInfo(
        0x00CE, "", "Firmware Distribution Receipt Alert (ESME)", None, None, Category.FIRMWARE
    ),
    MessageCodeInfo(
        0x00CF, "", "Firmware Distribution Receipt Alert (GSME)", None, None, Category.FIRMWARE
    ),
    MessageCodeInfo(
        0x00D1,
        "ECS29c",
        "Set Voltage Configurations on ESME without counter reset",
        "6.5",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x00D2,
        "ECS29d",
        "Set Voltage Configurations on polyphase ESME without counter reset",
        "6.5",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x00D3, "ECS29e", "Reset RMS Voltage Counters on ESME", "6.27", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x00D4,
        "ECS29f",
        "Reset RMS Voltage Counters on polyphase ESME",
        "6.27",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x00D5,
        "",
        "Failure to Deliver Remote Party Message to ESME Alert",
        None,
        None,
        Category.ALERT,
    ),
    MessageCodeInfo(
        0x00D7,
        "ECS30a",
        "Set Billing Calendar on the ESME - all periodicities",
        "6.8",
        "SME.C.C",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x00D8,
        "GCS25a",
        "Set Billing Calendar on the GSME - all periodicities",
        "6.8",
        "SME.C.C",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x00D9,
        "ECS26l",
        "Read ESME Configuration Data Device Information (Billing Calendar - all periodicities)",
        "6.2.3",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00DA,
        "GCS21k",
        "Read GSME Configuration Data Device Information (BillingCalendar - all periodicities)",
        "6.2.3",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00DB,
        "ECS48",
        "Configure daily resetting of Tariff Block Counter Matrix",
        "6.26",
        "SME.C.C",
        Category.TARIFF,
    ),
    MessageCodeInfo(
        0x00DE,
        "ECS08a",
        "Update Prepayment Configuration on ESME",
        "2.1",
        "SME.C.C",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(
        0x00EA,
        "ECS25a1",
        "Set Event Behaviours - ESME to HAN Device - Supplier",
        "6.22",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x00EB,
        "ECS25a2",
        "Set Event Behaviours - ESME audible alarm - Supplier",
        "6.22",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x00EC,
        "ECS25a3",
        "Set Event Behaviours - ESME logging - Supplier",
        "6.22",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x00ED,
        "ECS25b3",
        "Set Event Behaviours - ESME logging - Network Operator",
        "6.22",
        "SME.C.NC",
        Category.CONFIG,
    ),
    MessageCodeInfo(
        0x00EE,
        "ECS25r1",
        "Read non-critical event and alert behaviours - ESME - Supplier",
        "6.2.10",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00EF,
        "ECS25r2",
        "Read non-critical event and alert behaviours - ESME - Network Operator",
        "6.2.10",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00F0, "", "Meter Integrity Issue Warning Alert - ESME", None, None, Category.ALERT
    ),
    MessageCodeInfo(
        0x00F1,
        "GCS20r",
        "Read non-critical event and alert behaviours - GSME - Supplier",
        "6.2.10",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00F2, "", "Meter Integrity Issue Warning Alert - GSME", None, None, Category.ALERT
    ),
    MessageCodeInfo(
        0x00F9,
        "ECS26m",
        "Read ESME Configuration Data Device Information (identity,  type and supply tamper state)",
        "6.2.4",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00FA,
        "ECS26n",
        "Read CHF Configuration Data Device Information (CH identity and type)",
        "6.2.4",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00FB,
        "GCS21m",
        "Read GSME Configuration Data Device Information (identity, type and supply tamper / "
        "depletion state)",
        "6.2.4",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x00FC,
        "GCS24a",
        "Set Uncontrolled Gas Flow Rate and Supply Tamper State on the GSME (SMETS4)",
        "6.7",
        "SME.C.C",
        Category.SAFETY,
    ),
    MessageCodeInfo(0x00FD, "ECS35g", "Read ALCS Event Log", "6.13", "SME.C.NC", Category.READ),
    MessageCodeInfo(0x00FE, "CCS07", "Read CHF Device Logs", "8.9", "SME.C.NC", Category.READ),
    MessageCodeInfo(
        0x0100,
        "CS02b",
        "Update Security Credentials (rootBySupplier)",
        None,
        "See GBCS",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x0101,
        "CS02b",
        "Update Security Credentials (rootByWanProvider)",
        None,
        "See GBCS",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x0102,
        "CS02b",
        "Update Security Credentials (supplierBySupplier)",
        "6.15.1, 6.21",
        "See GBCS",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x0103,
        "CS02b",
        "Update Security Credentials (networkOperatorByNetworkOperator)",
        "6.15.1, 6.21",
        "See GBCS",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x0104,
        "CS02b",
        "Update Security Credentials (accessControlBrokerByACB)",
        "8.5",
        "See GBCS",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x0105,
        "CS02b",
        "Update Security Credentials (wanProviderByWanProvider)",
        None,
        "See GBCS",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x0106,
        "CS02b",
        "Update Security Credentials (transCoSByTransCoS)",
        None,
        "See GBCS",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x0107,
        "CS02b",
        "Update Security Credentials (supplierByTransCoS)",
        "6.23",
        "See GBCS",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x0108,
        "CS02b",
        "Update Security Credentials (anyExceptAbnormalRootByRecovery)",
        None,
        "See GBCS",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x0109,
        "CS02b",
        "Update Security Credentials (anyByContingency)",
        None,
        "See GBCS",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x010A, "DBCH01", "Read CHF Sub GHz Channel", "6.31", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x010B, "DBCH02", "Read CHF Sub GHz Channel Log", "6.32", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x010C, "DBCH03", "Read CHF Sub GHz Configuration", "6.30", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x010D, "DBCH04", "Set CHF Sub GHz Configuration", "6.28", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x010E, "DBCH05", "Request CHF Sub GHz Channel Scan", "6.29", "SME.C.NC", Category.CONFIG
    ),
    MessageCodeInfo(
        0x010F,
        "CCS06",
        "Read CHF device log and check HAN communications",
        "8.9",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x0110,
        "DBCH06",
        "Limited Duty Cycle Action Taken Sub GHz Alert",
        None,
        "SME.A.NC",
        Category.ALERT,
    ),
    MessageCodeInfo(
        0x0111,
        "DBCH07",
        "Sub GHz Sub GHz Channel Changed Sub GHz Alert",
        None,
        "SME.A.NC",
        Category.ALERT,
    ),
    MessageCodeInfo(
        0x0112,
        "DBCH08",
        "Sub GHz Channel Scan Request Assessment Outcome Sub GHz Alert",
        None,
        "SME.A.NC",
        Category.ALERT,
    ),
    MessageCodeInfo(
        0x0113,
        "DBCH09",
        "Sub GHz Configuration Changed Sub GHz Alert",
        "6.28",
        "SME.A.NC",
        Category.ALERT,
    ),
    MessageCodeInfo(
        0x0114,
        "DBCH10",
        "Message Discarded Due to Duty Cycle Management Sub GHz Alert",
        None,
        "SME.A.NC",
        Category.ALERT,
    ),
    MessageCodeInfo(
        0x0115,
        "DBCH11",
        "No More Sub GHz Device Capacity Sub GHz Alert",
        None,
        "SME.A.NC",
        Category.ALERT,
    ),
    MessageCodeInfo(
        0x0116,
        "PECS01",
        "Apply Prepayment Top Up to an ESME using PPMID",
        None,
        "ZSE specified",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(
        0x0117,
        "PECS02",
        "Activate Emergency Credit on ESME from PPMID",
        None,
        "ZSE specified",
        Category.PREPAYMENT,
    ),
    MessageCodeInfo(
        0x0118,
        "PECS03",
        "Request to Enable ESME Supply from PPMID",
        None,
        "ZSE specified",
        Category.SAFETY,
    ),
    MessageCodeInfo(
        0x0119,
        "HECS01",
        "Request Control of a HAN Connected Auxiliary Load Control Switch from HCALCS",
        None,
        "ZSE specified",
        Category.OTHER,
    ),
    MessageCodeInfo(
        0x011A, "ECS46d", "Set Auxiliary Controller Calendar", "6.14.3", "SME.C.C", Category.CONFIG
    ),
    MessageCodeInfo(
        0x011B,
        "CS02f",
        "Provide Security Credential Details (ESME and SAPC)",
        "6.24.1, n/a",
        "See GBCS",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x011C,
        "ECS61d",
        "Read Auxiliary Controller Configuration Data",
        "7.14",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x011D,
        "ECS61e",
        "Read Auxiliary Controller Operational Data",
        "7.15",
        "SME.C.NC",
        Category.READ,
    ),
    MessageCodeInfo(
        0x011E, "ECS47a", "Set Auxiliary Controller [n] State", "7.13", "SME.C.C", Category.CONFIG
    ),
    MessageCodeInfo(0x011F, "ECS47e", "Limit APC [n] Level", "7.16", "SME.C.C", Category.CONFIG),
    MessageCodeInfo(
        0x0120,
        "ECS100",
        "Command not supported by Device",
        None,
        "See GBCS Section 7.2.9.1",
        Category.CRITICAL_ALERT,
    ),
    MessageCodeInfo(
        0x0121,
        "ECS101",
        "Limit APC [n] Level Command processed",
        None,
        "SME.A.C",
        Category.CRITICAL_ALERT,
    ),
    MessageCodeInfo(
        0x0122,
        "ECS102",
        "Limit APC [n] Level ended or cancelled",
        None,
        "SME.A.C",
        Category.CRITICAL_ALERT,
    ),
    MessageCodeInfo(
        0x0123, "ECS200", "Operational Update", None, "SME.A.C", Category.CRITICAL_ALERT
    ),
    MessageCodeInfo(
        0x0124,
        "CS02g",
        "future-dated Update Load Controller Security Credentials alert (8F66/8F67)",
        "6.15.1, n/a",
        "See GBCS",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x0125,
        "CS02g",
        "Update Load Controller Security Credentials (loadControllerByLoadController)",
        None,
        "See GBCS",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x0126,
        "CS02g",
        "Update Load Controller Security Credentials (loadControllerBySupplier)",
        "6.15.1",
        "See GBCS",
        Category.SECURITY,
    ),
    MessageCodeInfo(
        0x0128, "CCS08", "Firmware Transfer Alert", None, "See GBCS", Category.FIRMWARE
    ),
    MessageCodeInfo(
        0x0129, "CS08", "Read PPMID/HCALCS Firmware Version", "11.2", "See GBCS", Category.FIRMWARE
    ),
    MessageCodeInfo(
        0x012A, "GCS60a", "Read Meter Balance for GSME (variant)", "4.18", "SME.C.NC", Category.READ
    ),
    MessageCodeInfo(
        0x012B, "CS09", "PPMID Firmware Activation Alert", None, "SME.A.C", Category.FIRMWARE
    ),
    MessageCodeInfo(0x1000, "GCA", "Generic Critical Alert", None, None, Category.CRITICAL_ALERT),
    MessageCodeInfo(0x1001, "GNCA", "Generic Non Critical Alert", None, None, Category.ALERT),
)

_ALERT_ROWS: Final[tuple[AlertCodeInfo, ...]] = (
    AlertCodeInfo(
        0x8002,
        "Average RMS voltage rose above the average over-voltage threshold (total)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8003,
        "Average RMS voltage rose above the average over-voltage threshold (phase 1)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8004,
        "Average RMS voltage rose above the average over-voltage threshold (phase 2)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8005,
        "Average RMS voltage rose above the average over-voltage threshold (phase 3)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8006,
        "Average RMS voltage fell below the average under-voltage threshold (total)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8007,
        "Average RMS voltage fell below the average under-voltage threshold (phase 1)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8008,
        "Average RMS voltage fell below the average under-voltage threshold (phase 2)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8009,
        "Average RMS voltage fell below the average under-voltage threshold (phase 3)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(0x8010, "Over Current", "power_quality", Category.ALERT),
    AlertCodeInfo(0x8011, "Over Current L1", "power_quality", Category.ALERT),
    AlertCodeInfo(0x8013, "Over Current L3", "power_quality", Category.ALERT),
    AlertCodeInfo(0x8014, "Power Factor Threshold Below", "power_quality", Category.ALERT),
    AlertCodeInfo(0x8015, "Power Factor Threshold Ok", "power_quality", Category.ALERT),
    AlertCodeInfo(0x8016, "Over Current L2", "power_quality", Category.ALERT),
    AlertCodeInfo(
        0x8020,
        "RMS voltage above extreme over-voltage threshold for longer than the set period (total)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8021,
        "RMS voltage above extreme over-voltage threshold for longer than the set period (phase 1)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8022,
        "RMS voltage above extreme over-voltage threshold for longer than the set period (phase 2)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8023,
        "RMS voltage above extreme over-voltage threshold for longer than the set period (phase 3)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8024,
        "RMS voltage above swell threshold for longer than the set period (total)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8025,
        "RMS voltage above swell threshold for longer than the set period (phase 1)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8026,
        "RMS voltage above swell threshold for longer than the set period (phase 2)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8027,
        "RMS voltage above swell threshold for longer than the set period (phase 3)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8028,
        "RMS voltage below extreme under-voltage threshold for longer than the set period (total)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8029,
        "RMS voltage below extreme under-voltage threshold for longer than the set period (phase "
        "1)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x802A,
        "RMS voltage below extreme under-voltage threshold for longer than the set period (phase "
        "2)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x802B,
        "RMS voltage below extreme under-voltage threshold for longer than the set period (phase "
        "3)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x802C,
        "RMS voltage below sag threshold for longer than the set period (total)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x802D,
        "RMS voltage below sag threshold for longer than the set period (phase 1)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x802E,
        "RMS voltage below sag threshold for longer than the set period (phase 2)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x802F,
        "RMS voltage below sag threshold for longer than the set period (phase 3)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(0x8071, "GPF Device Log Changed", "han_membership", Category.ALERT),
    AlertCodeInfo(
        0x8085,
        "Average RMS voltage back below the average over-voltage threshold (total)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8086,
        "Average RMS voltage back below the average over-voltage threshold (phase 1)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8087,
        "Average RMS voltage back below the average over-voltage threshold (phase 2)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8088,
        "Average RMS voltage back below the average over-voltage threshold (phase 3)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8089,
        "Average RMS voltage back above the average under-voltage threshold (total)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x808A,
        "Average RMS voltage back above the average under-voltage threshold (phase 1)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x808B,
        "Average RMS voltage back above the average under-voltage threshold (phase 2)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x808C,
        "Average RMS voltage back above the average under-voltage threshold (phase 3)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x808D,
        "Extreme over-voltage condition ended (voltage back below for the set period) (total)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x808E,
        "Extreme over-voltage condition ended (voltage back below for the set period) (phase 1)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x808F,
        "Extreme over-voltage condition ended (voltage back below for the set period) (phase 2)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8090,
        "Extreme over-voltage condition ended (voltage back below for the set period) (phase 3)",
        "power_quality",
        Category.ALERT,
    ),
    AlertCodeInfo(0x8091, "Voltage swell ended (total)", "power_quality", Category.ALERT),
    AlertCodeInfo(0x8092, "Voltage swell ended (phase 1)", "power_quality", Category.ALERT),
    AlertCodeInfo(0x8093, "Voltage swell ended (phase 2)", "power_quality", Category.ALERT),
    AlertCodeInfo(0x8094, "Voltage swell ended (phase 3)", "power_quality", Category.ALERT),
    AlertCodeInfo(
        0x8095, "Extreme under-voltage condition ended (total)", "power_quality", Category.ALERT
    ),
    AlertCodeInfo(
        0x8096, "Extreme under-voltage condition ended (phase 1)", "power_quality", Category.ALERT
    ),
    AlertCodeInfo(
        0x8097, "Extreme under-voltage condition ended (phase 2)", "power_quality", Category.ALERT
    ),
    AlertCodeInfo(
        0x8098, "Extreme under-voltage condition ended (phase 3)", "power_quality", Category.ALERT
    ),
    AlertCodeInfo(0x8099, "Voltage sag ended (total)", "power_quality", Category.ALERT),
    AlertCodeInfo(0x809A, "Voltage sag ended (phase 1)", "power_quality", Category.ALERT),
    AlertCodeInfo(0x809B, "Voltage sag ended (phase 2)", "power_quality", Category.ALERT),
    AlertCodeInfo(0x809C, "Voltage sag ended (phase 3)", "power_quality", Category.ALERT),
    AlertCodeInfo(
        0x810D,
        "Combined Credit Below Low Credit Threshold (prepayment mode)",
        "prepayment",
        Category.PREPAYMENT,
    ),
    AlertCodeInfo(0x810E, "Credit Added Locally", "prepayment", Category.PREPAYMENT),
    AlertCodeInfo(
        0x8119,
        "Emergency Credit Has Become Available (prepayment mode)",
        "prepayment",
        Category.PREPAYMENT,
    ),
    AlertCodeInfo(
        0x811A,
        "Failure in changing or maintaining HCALCS or ALCS state",
        "load_control",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8131,
        "Success in changing or maintaining HCALCS or ALCS state",
        "load_control",
        Category.ALERT,
    ),
    AlertCodeInfo(0x8145, "Clock adjusted (within tolerance)", "clock", Category.ALERT),
    AlertCodeInfo(
        0x8154,
        "Immediate HAN Interface Command Received and Successfully Actioned",
        "command_outcome",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8155,
        "Immediate HAN Interface Command Received but not Successfully Actioned",
        "command_outcome",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8161,
        "User Interface Command Input and Successfully Actioned",
        "command_outcome",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8162,
        "User Interface Command Input but not Successfully Actioned",
        "command_outcome",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8168,
        "Supply Disabled then Armed - Activate Emergency Credit triggered",
        "safety_switching",
        Category.SAFETY,
    ),
    AlertCodeInfo(0x8183, "Device joined SMHAN", "han_membership", Category.ALERT),
    AlertCodeInfo(0x8184, "Valve tested", "safety_switching", Category.SAFETY),
    AlertCodeInfo(0x819D, "GSME Command Not Retrieved", "command_outcome", Category.ALERT),
    AlertCodeInfo(
        0x819E, "Tap Off Message Response or Alert Failure", "command_outcome", Category.ALERT
    ),
    AlertCodeInfo(0x81A0, "Smart Meter Integrity Issue - Warning", "integrity", Category.ALERT),
    AlertCodeInfo(0x81A1, "Battery Cover Closed", "tamper", Category.SECURITY),
    AlertCodeInfo(0x81A2, "CH Connected to ESME", "han_membership", Category.ALERT),
    AlertCodeInfo(0x81A3, "CH Disconnected from ESME", "han_membership", Category.ALERT),
    AlertCodeInfo(0x81A4, "Close Tunnel Command Rejected", "security", Category.SECURITY),
    AlertCodeInfo(
        0x81A5, "Communication From Local Port (e.g. Optical)", "security", Category.SECURITY
    ),
    AlertCodeInfo(0x81A6, "Customer Acknowledged Message on HAN Device", "other", Category.ALERT),
    AlertCodeInfo(
        0x81A7, "Debt Collection Completed - Time Debt 1", "prepayment", Category.PREPAYMENT
    ),
    AlertCodeInfo(
        0x81A8, "Debt Collection Completed - Time Debt 2", "prepayment", Category.PREPAYMENT
    ),
    AlertCodeInfo(
        0x81A9, "Debt Collection Completed - Payment Debt", "prepayment", Category.PREPAYMENT
    ),
    AlertCodeInfo(0x81AA, "Emergency Credit Exhausted", "prepayment", Category.PREPAYMENT),
    AlertCodeInfo(0x81AB, "Emergency Credit Activated", "prepayment", Category.PREPAYMENT),
    AlertCodeInfo(0x81AC, "Error Measurement Fault", "integrity", Category.ALERT),
    AlertCodeInfo(
        0x81AD, "Error Metrology Firmware Verification Failure", "firmware", Category.FIRMWARE
    ),
    AlertCodeInfo(0x81AE, "Error Non Volatile Memory", "integrity", Category.ALERT),
    AlertCodeInfo(0x81AF, "Error Program Execution", "integrity", Category.ALERT),
    AlertCodeInfo(0x81B0, "Error Program Storage", "integrity", Category.ALERT),
    AlertCodeInfo(0x81B1, "Error RAM", "integrity", Category.ALERT),
    AlertCodeInfo(0x81B2, "Error Unexpected Hardware Reset", "integrity", Category.ALERT),
    AlertCodeInfo(0x81B3, "Error Watchdog", "integrity", Category.ALERT),
    AlertCodeInfo(
        0x81B4, "Excess Gas Flow Beyond Meter Capacity", "safety_gas_flow", Category.SAFETY
    ),
    AlertCodeInfo(
        0x81B5, "Flow Sensor Detects Air in Gas Flow", "safety_gas_flow", Category.SAFETY
    ),
    AlertCodeInfo(
        0x81B6, "Flow Sensor Detects Reverse Flow of Gas", "safety_gas_flow", Category.SAFETY
    ),
    AlertCodeInfo(0x81B7, "Incorrect phase sequencing", "power_quality", Category.ALERT),
    AlertCodeInfo(0x81B8, "Incorrect Polarity", "power_quality", Category.ALERT),
    AlertCodeInfo(0x81B9, "Meter Cover Closed", "tamper", Category.SECURITY),
    AlertCodeInfo(0x81BA, "Request Tunnel Command Rejected", "security", Category.SECURITY),
    AlertCodeInfo(0x81BB, "Reverse Current", "power_quality", Category.ALERT),
    AlertCodeInfo(0x81BC, "Strong Magnetic Field Removed", "tamper", Category.SECURITY),
    AlertCodeInfo(
        0x81BD, "Supply Connect Failure (Valve or Load Switch)", "safety_switching", Category.SAFETY
    ),
    AlertCodeInfo(
        0x81BE,
        "Supply Disabled Then Locked - Supply Tamper State Cause",
        "safety_switching",
        Category.SAFETY,
    ),
    AlertCodeInfo(
        0x81BF,
        "Supply Disabled Then Armed - Uncontrolled Gas Flow Rate",
        "safety_switching",
        Category.SAFETY,
    ),
    AlertCodeInfo(
        0x81C0,
        "Supply Disconnect Failure (Valve or Load Switch)",
        "safety_switching",
        Category.SAFETY,
    ),
    AlertCodeInfo(0x81C1, "Terminal Cover Closed", "tamper", Category.SECURITY),
    AlertCodeInfo(0x81C2, "Tilt Tamper Ended", "tamper", Category.SECURITY),
    AlertCodeInfo(0x81C3, "Tilt Tamper", "tamper", Category.SECURITY),
    AlertCodeInfo(0x81C4, "UTRN Manual Entry Suspended", "prepayment", Category.PREPAYMENT),
    AlertCodeInfo(0x81C5, "UTRN rejected as locked out", "prepayment", Category.PREPAYMENT),
    AlertCodeInfo(0x81C6, "Clock not adjusted (outside tolerance)", "clock", Category.ALERT),
    AlertCodeInfo(
        0x8F01,
        "Active Power Import above Load Limit Threshold",
        "safety_switching",
        Category.SAFETY,
    ),
    AlertCodeInfo(0x8F0A, "Billing Data Log Updated", "billing", Category.ALERT),
    AlertCodeInfo(
        0x8F0C, "Clock not adjusted (adjustment greater than 10 seconds)", "clock", Category.ALERT
    ),
    AlertCodeInfo(
        0x8F0F,
        "Credit Below Disablement Threshold (prepayment mode)",
        "prepayment",
        Category.PREPAYMENT,
    ),
    AlertCodeInfo(0x8F12, "CHF Device Log Changed", "han_membership", Category.ALERT),
    AlertCodeInfo(
        0x8F1B, "Firmware Verification Failed At Power On", "firmware", Category.FIRMWARE
    ),
    AlertCodeInfo(0x8F1C, "Firmware Verification Failed", "firmware", Category.FIRMWARE),
    AlertCodeInfo(0x8F1D, "GSME Power Supply Loss", "power", Category.ALERT),
    AlertCodeInfo(
        0x8F1E,
        "Integrity check of content or format of command failed",
        "security",
        Category.SECURITY,
    ),
    AlertCodeInfo(0x8F1F, "Low Battery Capacity", "power", Category.ALERT),
    AlertCodeInfo(0x8F20, "Limited Duty Cycle Action Taken", "sub_ghz", Category.ALERT),
    AlertCodeInfo(
        0x8F21,
        "Duty Cycle fallen below Normal-Limited Duty Cycle Threshold",
        "sub_ghz",
        Category.ALERT,
    ),
    AlertCodeInfo(0x8F22, "Critical Duty Cycle Action Taken", "sub_ghz", Category.ALERT),
    AlertCodeInfo(
        0x8F23,
        "Duty Cycle fallen below Limited-Critical Duty Cycle Threshold",
        "sub_ghz",
        Category.ALERT,
    ),
    AlertCodeInfo(0x8F24, "Regulated Duty Cycle Action Taken", "sub_ghz", Category.ALERT),
    AlertCodeInfo(
        0x8F25,
        "Duty Cycle fallen below Critical-Regulated Duty Cycle Threshold",
        "sub_ghz",
        Category.ALERT,
    ),
    AlertCodeInfo(0x8F26, "Sub GHz Channel Changed", "sub_ghz", Category.ALERT),
    AlertCodeInfo(0x8F27, "Sub GHz Channel Scan initiated", "sub_ghz", Category.ALERT),
    AlertCodeInfo(
        0x8F28, "Sub GHz Channel Scan Request Assessment Outcome", "sub_ghz", Category.ALERT
    ),
    AlertCodeInfo(0x8F29, "Three Lost GSME Searches Failed", "han_membership", Category.ALERT),
    AlertCodeInfo(0x8F2A, "Sub GHz Configuration Changed", "sub_ghz", Category.ALERT),
    AlertCodeInfo(
        0x8F2B,
        "Sub GHz Channel not changed due to Frequency Agility Parameters",
        "sub_ghz",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8F2C, "Message Discarded Due to Duty Cycle Management", "sub_ghz", Category.ALERT
    ),
    AlertCodeInfo(0x8F2D, "No More Sub GHz Device Capacity", "sub_ghz", Category.ALERT),
    AlertCodeInfo(
        0x8F30, "Source Does not have Authority for Command", "security", Category.SECURITY
    ),
    AlertCodeInfo(0x8F32, "Supply Armed", "safety_switching", Category.SAFETY),
    AlertCodeInfo(
        0x8F33,
        "Supply Disabled then Armed - Load Limit triggered",
        "safety_switching",
        Category.SAFETY,
    ),
    AlertCodeInfo(
        0x8F34,
        "Supply Enabled after Load Limit Restoration Period (Load Limit triggered)",
        "safety_switching",
        Category.SAFETY,
    ),
    AlertCodeInfo(0x8F35, "Supply Outage Restored", "safety_supply", Category.SAFETY),
    AlertCodeInfo(
        0x8F36, "Supply Outage Restored - Outage >= 3 minutes", "safety_supply", Category.SAFETY
    ),
    AlertCodeInfo(0x8F37, "Supply Outage Restored on Phase 1", "safety_supply", Category.SAFETY),
    AlertCodeInfo(
        0x8F38,
        "Supply Outage Restored on Phase 1 Restored - Outage >= 3 minutes",
        "safety_supply",
        Category.SAFETY,
    ),
    AlertCodeInfo(
        0x8F39, "Supply Outage Restored on Phase 2 Restored", "safety_supply", Category.SAFETY
    ),
    AlertCodeInfo(
        0x8F3A,
        "Supply Outage Restored on Phase 2 Restored - Outage >= 3 minutes",
        "safety_supply",
        Category.SAFETY,
    ),
    AlertCodeInfo(
        0x8F3B, "Supply Outage Restored on Phase 3 Restored", "safety_supply", Category.SAFETY
    ),
    AlertCodeInfo(
        0x8F3C,
        "Supply Outage Restored on Phase 3 Restored - Outage >= 3 minutes",
        "safety_supply",
        Category.SAFETY,
    ),
    AlertCodeInfo(0x8F3D, "Trusted Source Authentication Failure", "security", Category.SECURITY),
    AlertCodeInfo(
        0x8F3E, "Unauthorised Communication Access attempted", "security", Category.SECURITY
    ),
    AlertCodeInfo(
        0x8F3F, "Unauthorised Physical Access - Tamper Detect", "tamper", Category.SECURITY
    ),
    AlertCodeInfo(
        0x8F43, "Change in the executing Firmware version", "firmware", Category.FIRMWARE
    ),
    AlertCodeInfo(
        0x8F47,
        "Credit would cause Meter Balance to exceed  Maximum Meter Balance Threshold",
        "prepayment",
        Category.PREPAYMENT,
    ),
    AlertCodeInfo(0x8F48, "Device joining failed", "han_membership", Category.ALERT),
    AlertCodeInfo(0x8F49, "Device joining succeeded", "han_membership", Category.ALERT),
    AlertCodeInfo(0x8F4A, "Device Unjoining failed", "han_membership", Category.ALERT),
    AlertCodeInfo(0x8F4B, "Device Unjoining succeeded", "han_membership", Category.ALERT),
    AlertCodeInfo(
        0x8F4C,
        "Device's own Digital Signing Certificate replacement failed",
        "security",
        Category.SECURITY,
    ),
    AlertCodeInfo(
        0x8F4D,
        "Device's own Digital Signing Certificate replacement succeeded",
        "security",
        Category.SECURITY,
    ),
    AlertCodeInfo(
        0x8F4E,
        "Device's own Key Agreement Certificate replacement failed",
        "security",
        Category.SECURITY,
    ),
    AlertCodeInfo(
        0x8F4F,
        "Device's own Key Agreement Certificate replacement succeeded",
        "security",
        Category.SECURITY,
    ),
    AlertCodeInfo(0x8F51, "Duplicate UTRN entered", "prepayment", Category.PREPAYMENT),
    AlertCodeInfo(0x8F52, "Event Log Cleared", "security", Category.SECURITY),
    AlertCodeInfo(
        0x8F53,
        "Failed Authentication or Authorisation not covered by other codes",
        "security",
        Category.SECURITY,
    ),
    AlertCodeInfo(0x8F57, "Supply interrupted", "safety_supply", Category.SAFETY),
    AlertCodeInfo(0x8F58, "Supply interrupted on Phase 1", "safety_supply", Category.SAFETY),
    AlertCodeInfo(0x8F59, "Supply interrupted on Phase 2", "safety_supply", Category.SAFETY),
    AlertCodeInfo(0x8F5A, "Supply interrupted on Phase 3", "safety_supply", Category.SAFETY),
    AlertCodeInfo(
        0x8F5B, "UTRN exceeds Maximum Credit Threshold", "prepayment", Category.PREPAYMENT
    ),
    AlertCodeInfo(
        0x8F60,
        "Unusual numbers of malformed, out-of-order or unexpected Commands received",
        "security",
        Category.SECURITY,
    ),
    AlertCodeInfo(0x8F63, "UTRN not Authentic", "prepayment", Category.PREPAYMENT),
    AlertCodeInfo(0x8F64, "UTRN not for this Device", "prepayment", Category.PREPAYMENT),
    AlertCodeInfo(
        0x8F66,
        "Future-date HAN Interface Command Successfully Actioned",
        "command_outcome",
        Category.ALERT,
    ),
    AlertCodeInfo(
        0x8F67,
        "Future-date HAN Interface Command not Successfully Actioned",
        "command_outcome",
        Category.ALERT,
    ),
    AlertCodeInfo(0x8F69, "Device commissioned", "han_membership", Category.ALERT),
    AlertCodeInfo(0x8F70, "Update Security Credentials", "security", Category.SECURITY),
    AlertCodeInfo(0x8F72, "Firmware Verification Successful", "firmware", Category.FIRMWARE),
    AlertCodeInfo(
        0x8F73, "Unauthorised Physical Access - Battery Cover Removed", "tamper", Category.SECURITY
    ),
    AlertCodeInfo(
        0x8F74, "Unauthorised Physical Access - Meter Cover Removed", "tamper", Category.SECURITY
    ),
    AlertCodeInfo(
        0x8F75, "Unauthorised Physical Access - Strong Magnetic field", "tamper", Category.SECURITY
    ),
    AlertCodeInfo(
        0x8F76, "Unauthorised Physical Access - Terminal Cover Removed", "tamper", Category.SECURITY
    ),
    AlertCodeInfo(
        0x8F77,
        "Unauthorised Physical Access - Second Terminal Cover Removed",
        "tamper",
        Category.SECURITY,
    ),
    AlertCodeInfo(0x8F78, "Unauthorised Physical Access - Other", "tamper", Category.SECURITY),
    AlertCodeInfo(0x8F82, "Remaining Battery Capacity reset", "power", Category.ALERT),
    AlertCodeInfo(
        0x8F83,
        "Disablement of Supply due to insufficient credit has been suspended",
        "prepayment",
        Category.PREPAYMENT,
    ),
    AlertCodeInfo(
        0x8F84, "Failure to Deliver Remote Party Message to ESME", "command_outcome", Category.ALERT
    ),
    AlertCodeInfo(0x8F85, "Command not supported by Device", "command_outcome", Category.ALERT),
    AlertCodeInfo(0x8F86, "Limit APC [n] Level Command processed", "load_control", Category.ALERT),
    AlertCodeInfo(0x8F87, "Limit APC [n] Level ended or cancelled", "load_control", Category.ALERT),
    AlertCodeInfo(0x8F88, "Operational Update", "other", Category.ALERT),
    AlertCodeInfo(0x8F89, "Firmware transfer alert FAIL", "firmware", Category.FIRMWARE),
    AlertCodeInfo(0x8F8A, "Firmware transfer alert SUCCESS", "firmware", Category.FIRMWARE),
    AlertCodeInfo(0x8F8B, "Read Firmware version alert", "firmware", Category.FIRMWARE),
)


class _Coded(Protocol):
    @property
    def code(self) -> int: ...


_T = TypeVar("_T", bound=_Coded)


def _index(rows: Iterable[_T]) -> Mapping[int, _T]:
    table: dict[int, _T] = {}
    for row in rows:
        if row.code in table:
            raise ValueError(f"duplicate GBCS code 0x{row.code:04X}")
        table[row.code] = row
    return MappingProxyType(table)


MESSAGE_CODES: Final[Mapping[int, MessageCodeInfo]] = _index(_MESSAGE_ROWS)
ALERT_CODES: Final[Mapping[int, AlertCodeInfo]] = _index(_ALERT_ROWS)

ALERT_MESSAGE_CODES: Final[frozenset[int]] = frozenset(
    {
        0x0018,  # CS14 HAN whitelist alerts
        0x0061,  # ECS68 billing data log
        0x0067,  # ECS80 supply outage restored
        0x008B,  # GCS53 billing data log
        0x00B2,  # GCS62 backup GPF device log
        0x00CA,  # future-dated firmware activation
        0x00CB,  # future-dated security credentials update
        0x00CC,  # future-dated execution (DLMS)
        0x00CD,  # future-dated execution (GBZ)
        0x00CE,  # firmware distribution receipt (ESME)
        0x00CF,  # firmware distribution receipt (GSME)
        0x00D5,  # failure to deliver remote party message
        0x00F0,  # meter integrity issue warning (ESME)
        0x00F2,  # meter integrity issue warning (GSME)
        *range(0x0110, 0x0116),  # DBCH06-DBCH11 sub-GHz alerts
        *range(0x0120, 0x0125),  # ECS100-102, ECS200, CS02g alert
        0x0128,  # CCS08 firmware transfer alert
        0x012B,  # CS09 PPMID firmware activation alert
        0x1000,  # generic critical alert
        0x1001,  # generic non-critical alert
    }
)


def message_code_info(code: int) -> MessageCodeInfo | None:
    """Return the table entry for a GBCS message code, or None if the code is not known."""
    return MESSAGE_CODES.get(code)


def alert_code_info(code: int) -> AlertCodeInfo | None:
    """Return the table entry for a GBCS alert code, or None if the code is not known."""
    return ALERT_CODES.get(code)
