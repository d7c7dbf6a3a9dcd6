"""The emulated NCP's stack: what an EmberZNet 7.4 coordinator keeps and answers over EZSP.

It holds what a real NCP holds in NVRAM (the network parameters, the network and trust-centre
keys, the key table, the EUI-64) across host resets and a pulled dongle, and in RAM what a reset
clears (configuration values, policies, endpoints, transient keys, the join window). Each
`cmd_<name>` method answers the EZSP command of that name with its response fields; they are
registered on the EZSP server by name, so other handlers (a CBKE library) can replace or add to
them. Statuses and defaults follow the EZSP reference (UG100) and what bellows checks.

Joins follow the trust centre's rules: a device gets on only while joining is permitted and, when
the trust-centre policy says joins use install-code keys (what bellows sets for
`permit_with_link_key`), only with the transient key the host imported for its EUI-64 (the key
derived from its install code). Otherwise the trust centre denies it (trustCenterJoinHandler with
DENY_JOIN) and the device never hears anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bellows.types as t
import zigpy.types as zt
import zigpy.util
import zigpy.zdo.types as zdo_t

from hal.ncp_emulator import air
from hal.ncp_emulator.ezsp_server import PROTOCOL_VERSION, STACK_TYPE, STACK_VERSION, EzspServer
from hal.ncp_emulator.limits import max_aps_payload, max_fragment_payload
from hal.sim.base import SimDevice

LOGGER = logging.getLogger(__name__)

WELL_KNOWN_KEY = t.KeyData(b"ZigBeeAlliance09")
COORDINATOR = zt.NWK(0x0000)
TRANSIENT_KEY_TIMEOUT_S = 300  # CONFIG_TRANSIENT_KEY_TIMEOUT_S default (UG100)
VERSION_INFO = (0, 7, 4, 4, 0)  # build, major, minor, patch, special: "7.4.4.0 build 0"
EMBER_SUCCESS = t.EmberStatus.SUCCESS
DEFAULT_CONFIG = {
    t.EzspConfigId.CONFIG_KEY_TABLE_SIZE: 12,
    t.EzspConfigId.CONFIG_SECURITY_LEVEL: 5,
    t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_MAX_END_DEVICE_CHILDREN: 32,
    t.EzspConfigId.CONFIG_PACKET_BUFFER_COUNT: 255,
    t.EzspConfigId.CONFIG_TRANSIENT_KEY_TIMEOUT_S: TRANSIENT_KEY_TIMEOUT_S,
    t.EzspConfigId.CONFIG_ROUTE_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_SOURCE_ROUTE_TABLE_SIZE: 200,
}


@dataclass
class Nvram:
    """What survives a reset and a pulled dongle."""

    eui64: t.EUI64
    formed: bool = False
    parameters: t.EmberNetworkParameters | None = None
    network_key: t.KeyData = field(default_factory=lambda: t.KeyData(bytes(16)))
    network_key_seq: int = 0
    tc_link_key: t.KeyData = field(default_factory=lambda: WELL_KNOWN_KEY)
    security_bitmask: int = 0
    nwk_frame_counter: int = 0
    key_table: dict[t.EUI64, t.KeyData] = field(default_factory=dict)
    children: dict[t.EUI64, int] = field(default_factory=dict)


def coordinator_node_descriptor() -> zdo_t.NodeDescriptor:
    flags = zdo_t.NodeDescriptor.MACCapabilityFlags
    return zdo_t.NodeDescriptor(
        logical_type=zdo_t.LogicalType.Coordinator,
        complex_descriptor_available=0,
        user_descriptor_available=0,
        reserved=0,
        aps_flags=0,
        frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
        mac_capability_flags=(
            flags.AlternatePanCoordinator
            | flags.FullFunctionDevice
            | flags.MainsPowered
            | flags.RxOnWhenIdle
            | flags.AllocateAddress
        ),
        manufacturer_code=0x1002,  # Silicon Labs' manufacturer code (EmberZNet's default)
        maximum_buffer_size=82,
        maximum_incoming_transfer_size=1500,
        server_mask=0x2C41,
        maximum_outgoing_transfer_size=1500,
        descriptor_capability_field=zdo_t.NodeDescriptor.DescriptorCapability.NONE,
    )


def blank(struct: Any) -> Any:
    """An all-zero instance of a bellows struct, for a response whose status says "none"."""
    return struct.deserialize(bytes(256))[0]


class NcpFirmware:
    """The stack behind the EZSP server; its air is a dict of simulated devices."""

    def __init__(self, server: EzspServer, eui64: str, *, manufacturer: str = "han-agent") -> None:
        self.server = server
        self.nvram = Nvram(eui64=t.EUI64.convert(eui64))
        self.manufacturer = manufacturer
        self.sims: dict[int, SimDevice] = {}  # by NWK, the devices on the network
        self.install_codes: dict[t.EUI64, bytes] = {}  # what each simulated device was made with
        self.fragment_sink: Callable[[int, t.EmberApsFrame, bytes], bytes | None] | None = None
        self.sent: list[tuple[int, t.EmberApsFrame, bytes]] = []  # every accepted sendUnicast
        self.refused: list[tuple[int, t.EmberApsFrame, int, str]] = []
        self._reassembly: dict[tuple[int, int], list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.ram_reset()
        server.on_reset.append(self.ram_reset)
        for name in dir(self):
            if name.startswith("cmd_"):
                server.register(name[4:], getattr(self, name))

    def ram_reset(self) -> None:
        """What an NCP reset clears: RAM state (UG100: the host reconfigures after a reset)."""
        self.up = False
        self.config: dict[int, int] = {int(k): v for k, v in DEFAULT_CONFIG.items()}
        self.values: dict[int, bytes] = {}
        self.policies: dict[int, int] = {}
        self.endpoints: dict[int, dict[str, Any]] = {}
        self.transient_keys: dict[t.EUI64, tuple[t.KeyData, float]] = {}
        self.permit_until = 0.0
        self.extended_timeout: dict[t.EUI64, bool] = {}
        self.multicast: dict[int, Any] = {}
        self.address_table: dict[int, tuple[t.EUI64, int, bool]] = {}
        self.message_sequence = 0
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    # -- helpers ----------------------------------------------------------------------------------

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            fn()

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _stack_status(self, status: t.EmberStatus) -> None:
        self.server.callback("stackStatusHandler", status=status)

    def _next_sequence(self) -> int:
        self.message_sequence = (self.message_sequence + 1) & 0xFF
        return self.message_sequence

    @property
    def tc_policy(self) -> int:
        return self.policies.get(int(t.EzspPolicyId.TRUST_CENTER_POLICY), 0)

    # -- version, configuration, values, policies -------------------------------------------------

    def cmd_version(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "protocolVersion": PROTOCOL_VERSION,
            "stackType": STACK_TYPE,
            "stackVersion": STACK_VERSION,
        }

    def cmd_nop(self, args: dict[str, Any]) -> dict[str, Any]:
        return {}

    def cmd_customFrame(self, args: dict[str, Any]) -> dict[str, Any]:
        # Stock firmware has no XNCP extension: custom frames are an invalid call.
        return {"status": t.EmberStatus.INVALID_CALL, "reply": t.LVBytes(b"")}

    def cmd_getConfigurationValue(self, args: dict[str, Any]) -> dict[str, Any]:
        value = self.config.get(int(args["configId"]))
        if value is None:
            return {"status": t.EzspStatus.ERROR_INVALID_ID, "value": 0}
        return {"status": t.EzspStatus.SUCCESS, "value": value}

    def cmd_setConfigurationValue(self, args: dict[str, Any]) -> dict[str, Any]:
        self.config[int(args["configId"])] = int(args["value"])
        return {"status": t.EzspStatus.SUCCESS}

    def _value(self, value_id: int) -> bytes | None:
        if value_id in self.values:
            return self.values[value_id]
        if value_id == t.EzspValueId.VALUE_VERSION_INFO:
            build, major, minor, patch, special = VERSION_INFO
            return t.uint16_t(build).serialize() + bytes([major, minor, patch, special, 0])
        if value_id == t.EzspValueId.VALUE_FREE_BUFFERS:
            return bytes([240])
        if value_id == t.EzspValueId.VALUE_STACK_TOKEN_WRITING:
            return bytes([1])
        return None

    def cmd_getValue(self, args: dict[str, Any]) -> dict[str, Any]:
        value = self._value(int(args["valueId"]))
        if value is None:
            return {"status": t.EzspStatus.ERROR_INVALID_ID, "value": t.LVBytes(b"")}
        return {"status": t.EzspStatus.SUCCESS, "value": t.LVBytes(value)}

    def cmd_setValue(self, args: dict[str, Any]) -> dict[str, Any]:
        self.values[int(args["valueId"])] = bytes(args["value"])
        return {"status": t.EzspStatus.SUCCESS}

    def cmd_setPolicy(self, args: dict[str, Any]) -> dict[str, Any]:
        self.policies[int(args["policyId"])] = int(args["decisionId"])
        return {"status": t.EzspStatus.SUCCESS}

    def cmd_getPolicy(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": t.EzspStatus.SUCCESS,
            "decisionId": self.policies.get(int(args["policyId"]), 0),
        }

    def cmd_getMfgToken(self, args: dict[str, Any]) -> dict[str, Any]:
        token = args["tokenId"]
        data = {
            t.EzspMfgTokenId.MFG_STRING: self.manufacturer.encode().ljust(16, b"\x00"),
            t.EzspMfgTokenId.MFG_BOARD_NAME: b"NCP emulator".ljust(16, b"\x00"),
            t.EzspMfgTokenId.MFG_CUSTOM_EUI_64: b"\xff" * 8,  # not written: the chip's own
        }.get(token, b"")
        return {"tokenData": t.LVBytes(data)}

    def cmd_getTokenData(self, args: dict[str, Any]) -> dict[str, Any]:
        # No NV3 token interface on this firmware (bellows then neither rewrites the EUI-64 nor
        # writes the NWK update id token).
        return {"status": t.EmberStatus.NOT_FOUND}

    def cmd_setManufacturerCode(self, args: dict[str, Any]) -> dict[str, Any]:
        return {}

    def cmd_setRadioPower(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.nvram.parameters is not None:
            self.nvram.parameters = self.nvram.parameters.replace(
                radioTxPower=int(args["power"]) & 0xFF
            )
        return {"status": EMBER_SUCCESS}

    def cmd_readCounters(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"values": [t.uint16_t(0)] * len(t.EmberCounterType)}

    def cmd_readAndClearCounters(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"values": [t.uint16_t(0)] * len(t.EmberCounterType)}

    def cmd_getLibraryStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"status": 0x00}  # EMBER_LIBRARY_IS_STUB for every optional library

    def cmd_maximumPayloadLength(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"apsLength": max_aps_payload()}

    def cmd_getCertificate283k1(self, args: dict[str, Any]) -> dict[str, Any]:
        # The CBKE 283k1 library is not linked into this firmware (a CBKE module replaces this).
        return {
            "status": t.EmberStatus.LIBRARY_NOT_PRESENT,
            "localCert": t.EmberCertificate283k1Data(bytes(74)),
        }

    # -- network ----------------------------------------------------------------------------------

    def cmd_networkInit(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.nvram.formed:
            return {"status": t.EmberStatus.NOT_JOINED}
        self.up = True
        self._later(0, lambda: self._stack_status(t.EmberStatus.NETWORK_UP))
        return {"status": EMBER_SUCCESS}

    def cmd_networkState(self, args: dict[str, Any]) -> dict[str, Any]:
        state = t.EmberNetworkStatus.JOINED_NETWORK if self.up else t.EmberNetworkStatus.NO_NETWORK
        return {"status": state}

    def cmd_formNetwork(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.up:
            return {"status": t.EmberStatus.INVALID_CALL}
        self.nvram.parameters = args["parameters"]
        self.nvram.formed = True
        self.up = True
        self._later(0, lambda: self._stack_status(t.EmberStatus.NETWORK_UP))
        return {"status": EMBER_SUCCESS}

    def cmd_leaveNetwork(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.up:
            return {"status": t.EmberStatus.INVALID_CALL}
        self.up = False
        self.nvram.formed = False
        self.nvram.children.clear()
        for sim in self.sims.values():
            sim.detach()
        self.sims.clear()
        self._later(0, lambda: self._stack_status(t.EmberStatus.NETWORK_DOWN))
        return {"status": EMBER_SUCCESS}

    def cmd_tokenFactoryReset(self, args: dict[str, Any]) -> dict[str, Any]:
        eui64 = self.nvram.eui64
        self.nvram = Nvram(eui64=eui64)
        return {}

    def cmd_getNetworkParameters(self, args: dict[str, Any]) -> dict[str, Any]:
        params = self.nvram.parameters
        if params is None or not self.up:
            return {
                "status": t.EmberStatus.NOT_JOINED,
                "nodeType": t.EmberNodeType.UNKNOWN_DEVICE,
                "parameters": t.EmberNetworkParameters(
                    extendedPanId=t.ExtendedPanId.convert("00:00:00:00:00:00:00:00"),
                    panId=0,
                    radioTxPower=0,
                    radioChannel=0,
                    joinMethod=t.EmberJoinMethod.USE_MAC_ASSOCIATION,
                    nwkManagerId=0,
                    nwkUpdateId=0,
                    channels=t.Channels.NO_CHANNELS,
                ),
            }
        return {
            "status": EMBER_SUCCESS,
            "nodeType": t.EmberNodeType.COORDINATOR,
            "parameters": params,
        }

    def cmd_getNodeId(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"nodeId": COORDINATOR if self.up else 0xFFFE}

    def cmd_getEui64(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"eui64": self.nvram.eui64}

    def cmd_getRadioParameters(self, args: dict[str, Any]) -> dict[str, Any]:
        params = self.nvram.parameters
        return {
            "status": EMBER_SUCCESS if params is not None else t.EmberStatus.NOT_JOINED,
            "parameters": t.EmberMultiPhyRadioParameters(
                radioTxPower=params.radioTxPower if params else 0,
                radioPage=0,
                radioChannel=params.radioChannel if params else 0,
            ),
        }

    def cmd_setConcentrator(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"status": EMBER_SUCCESS}

    def cmd_setSourceRouteDiscoveryMode(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"remainingTime": 0}

    def cmd_setSourceRoute(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"status": EMBER_SUCCESS}

    def cmd_addEndpoint(self, args: dict[str, Any]) -> dict[str, Any]:
        endpoint = int(args["endpoint"])
        if endpoint in self.endpoints:
            return {"status": t.EzspStatus.ERROR_INVALID_VALUE}
        self.endpoints[endpoint] = dict(args)
        return {"status": t.EzspStatus.SUCCESS}

    def cmd_getMulticastTableEntry(self, args: dict[str, Any]) -> dict[str, Any]:
        index = int(args["index"])
        entry = self.multicast.get(index) or t.EmberMulticastTableEntry(
            multicastId=0, endpoint=0, networkIndex=0
        )
        return {"status": EMBER_SUCCESS, "value": entry}

    def cmd_setMulticastTableEntry(self, args: dict[str, Any]) -> dict[str, Any]:
        self.multicast[int(args["index"])] = args["value"]
        return {"status": EMBER_SUCCESS}

    def cmd_setExtendedTimeout(self, args: dict[str, Any]) -> dict[str, Any]:
        self.extended_timeout[args["remoteEui64"]] = bool(args["extendedTimeout"])
        return {}

    def cmd_getExtendedTimeout(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"extendedTimeout": t.Bool(self.extended_timeout.get(args["remoteEui64"], False))}

    def cmd_lookupEui64ByNodeId(self, args: dict[str, Any]) -> dict[str, Any]:
        sim = self.sims.get(int(args["nodeId"]))
        if sim is None:
            return {"status": t.EmberStatus.ERR_FATAL, "eui64": t.EUI64(bytes(8))}
        return {"status": EMBER_SUCCESS, "eui64": t.EUI64(sim.ieee)}

    def cmd_lookupNodeIdByEui64(self, args: dict[str, Any]) -> dict[str, Any]:
        for nwk, sim in self.sims.items():
            if sim.ieee == args["eui64"]:
                return {"nodeId": nwk}
        return {"nodeId": 0xFFFF}

    def cmd_getAddressTableRemoteNodeId(self, args: dict[str, Any]) -> dict[str, Any]:
        entry = self.address_table.get(int(args["addressTableIndex"]))
        return {"nodeId": entry[1] if entry else t.EmberDistinguishedNodeId.TABLE_ENTRY_UNUSED}

    def cmd_getAddressTableRemoteEui64(self, args: dict[str, Any]) -> dict[str, Any]:
        entry = self.address_table.get(int(args["addressTableIndex"]))
        return {"eui64": entry[0] if entry else t.EUI64.convert("00:00:00:00:00:00:00:00")}

    def cmd_replaceAddressTableEntry(self, args: dict[str, Any]) -> dict[str, Any]:
        index = int(args["addressTableIndex"])
        old = self.address_table.get(index)
        self.address_table[index] = (
            args["newEui64"],
            int(args["newId"]),
            bool(args["newExtendedTimeout"]),
        )
        return {
            "status": EMBER_SUCCESS,
            "oldEui64": old[0] if old else t.EUI64.convert("00:00:00:00:00:00:00:00"),
            "oldId": old[1] if old else t.EmberDistinguishedNodeId.TABLE_ENTRY_UNUSED,
            "oldExtendedTimeout": t.Bool(old[2] if old else False),
        }

    def cmd_getChildData(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"status": t.EmberStatus.NOT_JOINED, "child_data": blank(t.EmberChildDataV10)}

    def cmd_removeDevice(self, args: dict[str, Any]) -> dict[str, Any]:
        nwk = int(args["destShort"])
        sim = self.sims.pop(nwk, None)
        if sim is not None:
            sim.detach()
        return {"status": EMBER_SUCCESS}

    def cmd_permitJoining(self, args: dict[str, Any]) -> dict[str, Any]:
        duration = int(args["duration"])
        self.permit_until = time.monotonic() + duration if duration else 0.0
        return {"status": EMBER_SUCCESS}

    # -- security ---------------------------------------------------------------------------------

    def cmd_setInitialSecurityState(self, args: dict[str, Any]) -> dict[str, Any]:
        state = args["state"]
        self.nvram.network_key = state.networkKey
        self.nvram.network_key_seq = int(state.networkKeySequenceNumber)
        self.nvram.tc_link_key = state.preconfiguredKey
        self.nvram.security_bitmask = int(state.bitmask)
        return {"status": EMBER_SUCCESS}

    def cmd_getCurrentSecurityState(self, args: dict[str, Any]) -> dict[str, Any]:
        bitmask = t.EmberCurrentSecurityBitmask.HAVE_TRUST_CENTER_LINK_KEY
        if self.nvram.security_bitmask & t.EmberInitialSecurityBitmask.TRUST_CENTER_GLOBAL_LINK_KEY:
            bitmask |= t.EmberCurrentSecurityBitmask.GLOBAL_LINK_KEY
        return {
            "status": EMBER_SUCCESS,
            "state": t.EmberCurrentSecurityState(
                bitmask=bitmask, trustCenterLongAddress=self.nvram.eui64
            ),
        }

    def cmd_exportKey(self, args: dict[str, Any]) -> dict[str, Any]:
        context = args["context"]
        if context.core_key_type == t.SecurityManagerKeyType.NETWORK:
            return {"key": self.nvram.network_key, "status": t.sl_Status.OK}
        if context.core_key_type == t.SecurityManagerKeyType.TC_LINK:
            return {"key": self.nvram.tc_link_key, "status": t.sl_Status.OK}
        return {"key": t.KeyData(bytes(16)), "status": t.sl_Status.NOT_FOUND}

    def cmd_getNetworkKeyInfo(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": t.sl_Status.OK,
            "network_key_info": t.SecurityManagerNetworkKeyInfo(
                network_key_set=True,
                alternate_network_key_set=False,
                network_key_sequence_number=self.nvram.network_key_seq,
                alt_network_key_sequence_number=0,
                network_key_frame_counter=self.nvram.nwk_frame_counter,
            ),
        }

    def cmd_getApsKeyInfo(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "eui": self.nvram.eui64,
            "key_data": t.SecurityManagerAPSKeyMetadata(
                bitmask=0, outgoing_frame_counter=0, incoming_frame_counter=0, ttl_in_seconds=0
            ),
            "status": t.sl_Status.OK,
        }

    def _key_metadata(self) -> t.SecurityManagerAPSKeyMetadata:
        return t.SecurityManagerAPSKeyMetadata(
            bitmask=0, outgoing_frame_counter=0, incoming_frame_counter=0, ttl_in_seconds=0
        )

    def cmd_exportLinkKeyByIndex(self, args: dict[str, Any]) -> dict[str, Any]:
        entries = list(self.nvram.key_table.items())
        index = int(args["index"])
        if index >= len(entries):
            return {
                "eui64": t.EUI64(bytes(8)),
                "plaintext_key": t.KeyData(bytes(16)),
                "key_data": self._key_metadata(),
                "status": t.sl_Status.NOT_FOUND,
            }
        eui64, key = entries[index]
        return {
            "eui64": eui64,
            "plaintext_key": key,
            "key_data": self._key_metadata(),
            "status": t.sl_Status.OK,
        }

    def cmd_exportLinkKeyByEui(self, args: dict[str, Any]) -> dict[str, Any]:
        eui64 = args["eui64"]
        if eui64 not in self.nvram.key_table:
            return {
                "plaintext_key": t.KeyData(bytes(16)),
                "index": 0xFF,
                "key_data": self._key_metadata(),
                "status": t.sl_Status.NOT_FOUND,
            }
        return {
            "plaintext_key": self.nvram.key_table[eui64],
            "index": list(self.nvram.key_table).index(eui64),
            "key_data": self._key_metadata(),
            "status": t.sl_Status.OK,
        }

    def cmd_importLinkKey(self, args: dict[str, Any]) -> dict[str, Any]:
        self.nvram.key_table[args["eui64"]] = args["plaintext_key"]
        return {"status": t.sl_Status.OK}

    def cmd_clearKeyTable(self, args: dict[str, Any]) -> dict[str, Any]:
        self.nvram.key_table.clear()
        return {"status": EMBER_SUCCESS}

    def cmd_findKeyTableEntry(self, args: dict[str, Any]) -> dict[str, Any]:
        keys = list(self.nvram.key_table)
        found = args["address"] in self.nvram.key_table
        return {"index": keys.index(args["address"]) if found else 0xFF}

    def cmd_eraseKeyTableEntry(self, args: dict[str, Any]) -> dict[str, Any]:
        keys = list(self.nvram.key_table)
        index = int(args["index"])
        if index >= len(keys):
            return {"status": t.EmberStatus.INDEX_OUT_OF_RANGE}
        del self.nvram.key_table[keys[index]]
        return {"status": EMBER_SUCCESS}

    def cmd_importTransientKey(self, args: dict[str, Any]) -> dict[str, Any]:
        timeout = self.config.get(int(t.EzspConfigId.CONFIG_TRANSIENT_KEY_TIMEOUT_S), 300)
        self.transient_keys[args["eui64"]] = (args["plaintext_key"], time.monotonic() + timeout)
        return {"status": t.sl_Status.OK}

    def cmd_clearTransientLinkKeys(self, args: dict[str, Any]) -> dict[str, Any]:
        self.transient_keys.clear()
        return {}

    # -- sending ----------------------------------------------------------------------------------

    def cmd_sendUnicast(self, args: dict[str, Any]) -> dict[str, Any]:
        destination = int(args["indexOrDestination"])
        aps: t.EmberApsFrame = args["apsFrame"]
        data = bytes(args["messageContents"])
        encrypted = t.EmberApsOption.APS_OPTION_ENCRYPTION in aps.options
        fragment = t.EmberApsOption.APS_OPTION_FRAGMENT in aps.options
        limit = (max_fragment_payload if fragment else max_aps_payload)(aps_encrypted=encrypted)
        if len(data) > limit:
            # emberSendUnicast refuses it before anything goes on the air (UG100, limits.py)
            LOGGER.warning(
                "NCP emulator: sendUnicast of %d bytes to 0x%04X refused: over the %d-byte APS "
                "payload limit (MESSAGE_TOO_LONG)",
                len(data),
                destination,
                limit,
            )
            self.refused.append((destination, aps, len(data), "MESSAGE_TOO_LONG"))
            return {"status": t.EmberStatus.MESSAGE_TOO_LONG, "sequence": 0}
        sequence = self._next_sequence()
        if fragment:
            # The NCP gives block 0 its APS counter; the host sends the later blocks with it.
            if aps.groupId & 0xFF:
                sequence = int(aps.sequence)
            else:
                aps = t.EmberApsFrame(**{**aps.as_dict(), "sequence": t.uint8_t(sequence)})
            whole = self.receive_fragment(destination, aps, data)
            status = t.EmberStatus.SUCCESS if whole is not False else t.EmberStatus.INVALID_CALL
            if whole is False:
                return {"status": status, "sequence": 0}
            self._later(0, lambda: self._sent(args, t.EmberStatus.SUCCESS))
            if isinstance(whole, bytes):
                self._deliver(destination, aps, whole, args)
            return {"status": status, "sequence": sequence}
        self.sent.append((destination, aps, data))
        self._deliver(destination, aps, data, args)
        return {"status": EMBER_SUCCESS, "sequence": sequence}

    def receive_fragment(
        self, destination: int, aps: t.EmberApsFrame, block: bytes
    ) -> bytes | bool:
        """One APS fragment from the host: the whole payload once the last block is in, True
        while blocks are missing, False for a block out of order or wrongly numbered.

        The hook for a fuller reassembler (windows, duplicates, retries): `fragment_sink`
        replaces this check when set. This one demands what EmberZNet's host library sends with
        a window of one: blocks 0..n-1 in order, the block count (high byte of the group id) the
        same in every block.
        """
        if self.fragment_sink is not None:
            result = self.fragment_sink(destination, aps, block)
            return True if result is None else result
        count, number = aps.groupId >> 8, aps.groupId & 0xFF
        key = (destination, int(aps.sequence))
        blocks = self._reassembly.setdefault(key, [])
        if count == 0 or number != len(blocks) or number >= count:
            LOGGER.error(
                "NCP emulator: fragment %d of %d to 0x%04X out of order (expected %d)",
                number,
                count,
                destination,
                len(blocks),
            )
            self._reassembly.pop(key, None)
            return False
        blocks.append(block)
        if len(blocks) < count:
            return True
        del self._reassembly[key]
        whole = b"".join(blocks)
        self.sent.append((destination, aps, whole))
        return whole

    def _deliver(
        self, destination: int, aps: t.EmberApsFrame, data: bytes, args: dict[str, Any]
    ) -> None:
        if destination == COORDINATOR:  # to itself: the NCP's own ZDO answers (loopback)
            self._later(0, lambda: self._sent(args, t.EmberStatus.SUCCESS))
            reply = self._local_zdo(aps, data)
            if reply is not None:
                self._later(0, lambda: self.from_device(reply))
            return
        sim = self.sims.get(destination)
        if sim is None or not sim.answering:
            # No route, or no APS ack: the NCP tries, then says so in messageSentHandler.
            self._later(0.2, lambda: self._sent(args, t.EmberStatus.DELIVERY_FAILED))
            return
        packet = air.packet_from_unicast(COORDINATOR, destination, aps, data)
        fragment = t.EmberApsOption.APS_OPTION_FRAGMENT in aps.options
        if not fragment:
            self._later(sim.ack_delay, lambda: self._sent(args, t.EmberStatus.SUCCESS))

        def hear() -> None:
            replies = self._handle(sim, packet.replace(tx_options=packet.tx_options))
            for reply in replies:
                self.from_device(reply)

        self._later(sim.ack_delay, hear)

    def _local_zdo(self, aps: t.EmberApsFrame, data: bytes) -> zt.ZigbeePacket | None:
        """The NCP's own ZDO server: its node descriptor and the endpoints the host added."""
        if aps.profileId != 0 or aps.destinationEndpoint != 0 or not data:
            return None
        tsn, ok = data[0], zdo_t.Status.SUCCESS
        cluster = zdo_t.ZDOCmd(aps.clusterId)
        if cluster == zdo_t.ZDOCmd.Node_Desc_req:
            rsp = (zdo_t.ZDOCmd.Node_Desc_rsp, [ok, COORDINATOR, coordinator_node_descriptor()])
        elif cluster == zdo_t.ZDOCmd.Active_EP_req:
            rsp = (zdo_t.ZDOCmd.Active_EP_rsp, [ok, COORDINATOR, sorted(self.endpoints)])
        elif cluster == zdo_t.ZDOCmd.Simple_Desc_req and data[3] in self.endpoints:
            ep = self.endpoints[data[3]]
            sd = zdo_t.SizePrefixedSimpleDescriptor(
                endpoint=int(ep["endpoint"]),
                profile=int(ep["profileId"]),
                device_type=int(ep["deviceId"]),
                device_version=int(ep["deviceVersion"]),
                input_clusters=list(ep["inputClusterList"]),
                output_clusters=list(ep["outputClusterList"]),
            )
            rsp = (zdo_t.ZDOCmd.Simple_Desc_rsp, [ok, COORDINATOR, sd])
        else:
            return None
        _names, types = zdo_t.CLUSTERS[rsp[0]]
        return zt.ZigbeePacket(
            src=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=COORDINATOR),
            src_ep=0,
            dst=zt.AddrModeAddress(addr_mode=zt.AddrMode.NWK, address=COORDINATOR),
            dst_ep=0,
            tsn=tsn,
            profile_id=0,
            cluster_id=rsp[0],
            data=zt.SerializableBytes(bytes([tsn]) + zt.serialize(rsp[1], types)),
        )

    def _handle(self, sim: SimDevice, packet: zt.ZigbeePacket) -> list[zt.ZigbeePacket]:
        try:
            return sim.handle(packet)
        except Exception:  # a broken simulated device must not take the NCP down
            LOGGER.exception("simulated device %s failed on a packet", sim.ieee)
            return []

    def _sent(self, args: dict[str, Any], status: t.EmberStatus) -> None:
        self.server.callback(
            "messageSentHandler",
            type=args.get("type", t.EmberOutgoingMessageType.OUTGOING_DIRECT),
            indexOrDestination=int(args.get("indexOrDestination", args.get("destination", 0))),
            apsFrame=args["apsFrame"],
            messageTag=int(args["messageTag"]),
            status=status,
            messageContents=t.LVBytes(b""),
        )

    def cmd_sendBroadcast(self, args: dict[str, Any]) -> dict[str, Any]:
        aps: t.EmberApsFrame = args["apsFrame"]
        data = bytes(args["messageContents"])
        if len(data) > max_aps_payload():
            return {"status": t.EmberStatus.MESSAGE_TOO_LONG, "sequence": 0}
        packet = air.packet_from_broadcast(COORDINATOR, int(args["destination"]), aps, data)
        for sim in list(self.sims.values()):
            self._handle(sim, packet)  # broadcasts are not answered
        send = dict(args, type=t.EmberOutgoingMessageType.OUTGOING_BROADCAST)
        self._later(0, lambda: self._sent(send, t.EmberStatus.SUCCESS))
        return {"status": EMBER_SUCCESS, "sequence": self._next_sequence()}

    def cmd_gpSinkTableClearAll(self, args: dict[str, Any]) -> dict[str, Any]:
        return {}

    def cmd_gpProxyTableGetEntry(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"status": t.EmberStatus.NOT_FOUND, "entry": blank(t.EmberGpProxyTableEntry)}

    def cmd_sendMulticast(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"status": EMBER_SUCCESS, "sequence": self._next_sequence()}

    def cmd_sendReply(self, args: dict[str, Any]) -> dict[str, Any]:
        # The host's APS acknowledgement of a fragment it received (bellows FragmentManager).
        return {"status": EMBER_SUCCESS}

    # -- the air ----------------------------------------------------------------------------------

    def from_device(self, packet: zt.ZigbeePacket) -> None:
        """A device transmits: the host hears it as incomingMessageHandler (fragmented if big)."""
        if not self.up:
            return
        for incoming in air.incoming_from_packet(packet):
            self.server.callback("incomingMessageHandler", **incoming.fields())

    def join(self, sim: SimDevice, install_code: bytes | None = None) -> str:
        """A device asks to join; returns the trust centre's decision ("joined" or why not)."""
        if install_code is not None:
            self.install_codes[sim.ieee] = install_code
        code = self.install_codes.get(sim.ieee)
        key = zigpy.util.convert_install_code(code) if code is not None else WELL_KNOWN_KEY
        now = time.monotonic()
        if not self.up:
            return "no network"
        if now >= self.permit_until:
            return "joining not permitted"
        transient = self.transient_keys.get(sim.ieee)
        transient_key = transient[0] if transient is not None and transient[1] > now else None
        needs_code = bool(self.tc_policy & t.EzspDecisionBitmask.JOINS_USE_INSTALL_CODE_KEY)
        if needs_code and transient_key != key:
            # A real TC denies a device with no transient key; one with a different key cannot
            # decrypt the network key it is sent. Either way it never gets on the network.
            reason = "no install-code key" if transient_key is None else "wrong install-code key"
            LOGGER.warning("NCP emulator: join of %s denied: %s", sim.ieee, reason)
            self.server.callback(
                "trustCenterJoinHandler",
                newNodeId=t.EmberNodeId(sim.nwk),
                newNodeEui64=t.EUI64(sim.ieee),
                status=t.EmberDeviceUpdate.STANDARD_SECURITY_UNSECURED_JOIN,
                policyDecision=t.EmberJoinDecision.DENY_JOIN,
                parentOfNewNodeId=t.EmberNodeId(COORDINATOR),
            )
            return reason
        self.nvram.key_table[t.EUI64(sim.ieee)] = t.KeyData(key)
        self.sims[int(sim.nwk)] = sim
        sim.attach(self.from_device)
        if not sim.mains_powered:
            self.server.callback(
                "childJoinHandler",
                index=len(self.nvram.children),
                joining=t.Bool.true,
                childId=t.EmberNodeId(sim.nwk),
                childEui64=t.EUI64(sim.ieee),
                childType=t.EmberNodeType.SLEEPY_END_DEVICE,
            )
            self.nvram.children[t.EUI64(sim.ieee)] = int(sim.nwk)
        self.server.callback(
            "trustCenterJoinHandler",
            newNodeId=t.EmberNodeId(sim.nwk),
            newNodeEui64=t.EUI64(sim.ieee),
            status=t.EmberDeviceUpdate.STANDARD_SECURITY_UNSECURED_JOIN,
            policyDecision=t.EmberJoinDecision.USE_PRECONFIGURED_KEY,
            parentOfNewNodeId=t.EmberNodeId(COORDINATOR),
        )
        self.from_device(sim.device_annce())
        return "joined"
