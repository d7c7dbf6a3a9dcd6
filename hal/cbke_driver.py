"""The hub's CBKE driver: runs one Key Establishment exchange with a joined device, over zigpy
cluster commands, with the NCP doing the cryptography through its EZSP CBKE commands.

Entry point: `establish_link_key(device, ncp)`. The hub initiates (it is the trust centre and
knows when a device the device log marks as needing CBKE has joined); each request is a zigpy
cluster command whose answer (the response or a Terminate, same TSN) comes back as the
command's result, and a Terminate the device sends on its own reaches the machine through a
cluster listener. `BellowsCbkeNcp` is the NCP over bellows' EZSP: the command answers at once
and the result follows in a callback (generateCbkeKeysHandler283k1, calculateSmacsHandler283k1).

This module does no elliptic-curve work and imports nothing from hal/cbke_math.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from hal import key_establishment as ke
from hal.key_establishment_cluster import CLUSTER_ID, KeyEstablishment, command_for, message_from

LOGGER = logging.getLogger(__name__)

NCP_CALLBACK_TIMEOUT_S = 30.0
"""How long the NCP may take to deliver a CBKE callback before the hub gives up on it."""
_ANSWER_IDS = {cmd.schema: cmd.id for cmd in KeyEstablishment.client_commands.values()}
"""zigpy hands a request's answer back as the parsed command struct; its type says which."""
STARTED = frozenset({"SUCCESS", "OK", "OPERATION_IN_PROGRESS", "IN_PROGRESS"})
SUCCEEDED = frozenset({"SUCCESS", "OK"})


class NcpCbkeError(RuntimeError):
    """The NCP refused or failed a CBKE operation (the message names the frame and status)."""


class CbkeNcp(Protocol):
    """The four CBKE operations of a CBKE-capable NCP (EZSP, crypto suite 2)."""

    async def get_certificate(self) -> bytes: ...

    async def generate_keys(self) -> bytes: ...

    async def calculate_smacs(
        self, am_initiator: bool, partner_certificate: bytes, partner_ephemeral: bytes
    ) -> tuple[bytes, bytes]: ...

    async def clear_temporary_data(self, store_link_key: bool) -> None: ...


def _status_name(status: Any) -> str:
    return str(getattr(status, "name", status))


class BellowsCbkeNcp:
    """CbkeNcp over a bellows EZSP object (`app._ezsp`): the frames of bellows' COMMANDS table."""

    def __init__(self, ezsp: Any, *, callback_timeout: float = NCP_CALLBACK_TIMEOUT_S) -> None:
        self.ezsp = ezsp
        self.callback_timeout = callback_timeout

    async def get_certificate(self) -> bytes:
        status, cert = await self.ezsp.getCertificate283k1()
        if _status_name(status) not in SUCCEEDED:
            raise NcpCbkeError(f"getCertificate283k1: {_status_name(status)}")
        return bytes(cert)

    async def generate_keys(self) -> bytes:
        status, key = await self._with_callback(
            "generateCbkeKeysHandler283k1", self.ezsp.generateCbkeKeys283k1
        )
        if _status_name(status) not in SUCCEEDED:
            raise NcpCbkeError(f"generateCbkeKeysHandler283k1: {_status_name(status)}")
        return bytes(key)

    async def calculate_smacs(
        self, am_initiator: bool, partner_certificate: bytes, partner_ephemeral: bytes
    ) -> tuple[bytes, bytes]:
        status, initiator, responder = await self._with_callback(
            "calculateSmacsHandler283k1",
            lambda: self.ezsp.calculateSmacs283k1(
                amInitiator=am_initiator,
                partnerCertificate=list(partner_certificate),
                partnerEphemeralPublicKey=list(partner_ephemeral),
            ),
        )
        if _status_name(status) not in SUCCEEDED:
            raise NcpCbkeError(f"calculateSmacsHandler283k1: {_status_name(status)}")
        return bytes(initiator), bytes(responder)

    async def clear_temporary_data(self, store_link_key: bool) -> None:
        (status,) = await self.ezsp.clearTemporaryDataMaybeStoreLinkKey283k1(
            storeLinkKey=store_link_key
        )
        if _status_name(status) not in SUCCEEDED:
            raise NcpCbkeError(f"clearTemporaryDataMaybeStoreLinkKey283k1: {_status_name(status)}")

    async def _with_callback(self, frame_name: str, command: Callable[[], Any]) -> list[Any]:
        """Send a command and wait for its callback; the callback is listened for first, since
        a fast NCP may send it right behind the response."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[list[Any]] = loop.create_future()

        def on_callback(name: str, response: list[Any]) -> None:
            if name == frame_name and not result.done():
                result.set_result(list(response))

        callback_id = self.ezsp.add_callback(on_callback)
        try:
            (status,) = await command()
            if _status_name(status) not in STARTED:
                raise NcpCbkeError(f"{frame_name.removesuffix('Handler283k1')}: {status!r}")
            async with asyncio.timeout(self.callback_timeout):
                return await result
        except TimeoutError:
            raise NcpCbkeError(f"no {frame_name} within {self.callback_timeout:.0f} s") from None
        finally:
            self.ezsp.remove_callback(callback_id)


async def cbke_unavailable_reason(ncp: CbkeNcp) -> str | None:
    """None when the NCP has the CBKE library and a suite 2 certificate; else why not (say it
    once at start and keep install-code-only joins)."""
    try:
        cert = await ncp.get_certificate()
        ke.Certificate283k1.parse(cert)
    except (NcpCbkeError, ke.CertificateError) as exc:
        return f"no CBKE: {exc}"
    except Exception as exc:  # an ordinary Zigbee 3.0 NCP may not know the frame at all
        return f"no CBKE: getCertificate283k1 failed ({type(exc).__name__}: {exc})"
    return None


def eui64_msb_first(ieee: Any) -> bytes:
    """A zigpy EUI64 (serialised least significant byte first) as certificates carry it."""
    return bytes(ieee)[::-1]


async def establish_link_key(
    device: Any,
    ncp: CbkeNcp,
    *,
    endpoint_id: int | None = None,
    timing: ke.Timing = ke.Timing(),  # noqa: B008 (frozen)
) -> ke.Finished:
    """Run CBKE with a joined zigpy `device` as initiator; the outcome says why if it failed.

    On success the NCP has stored the link key for the device (it is then in the NCP's key
    table, used for APS-encrypted traffic to it). Never raises for a protocol failure: a refused
    or timed-out exchange is an outcome with ok=False, a Terminate status and a reason.
    """
    partner = eui64_msb_first(device.ieee)
    cluster = _key_establishment_cluster(device, endpoint_id)
    if cluster is None:
        return ke.Finished(False, partner, None, "device has no Key Establishment server cluster")
    try:
        local = await ncp.get_certificate()
        machine = ke.KeyEstablishment(ke.Role.INITIATOR, local, partner, timing)
    except (NcpCbkeError, ke.CertificateError) as exc:
        return ke.Finished(False, partner, None, f"NCP has no usable certificate: {exc}")
    run = _Run(machine, cluster, ncp)
    cluster.add_listener(run)
    try:
        return await run.go()
    finally:
        run.close()
        cluster.remove_listener(run)


def _key_establishment_cluster(device: Any, endpoint_id: int | None) -> Any:
    for ep_id, endpoint in device.endpoints.items():
        if ep_id == 0 or (endpoint_id is not None and ep_id != endpoint_id):
            continue
        cluster = getattr(endpoint, "in_clusters", {}).get(CLUSTER_ID)
        if cluster is not None:
            return cluster
    return None


class _Run:
    """Carries out the machine's actions; every input reaches the machine through `events`."""

    def __init__(self, machine: ke.KeyEstablishment, cluster: Any, ncp: CbkeNcp) -> None:
        self.machine = machine
        self.cluster = cluster
        self.ncp = ncp
        self.events: asyncio.Queue[Callable[[], list[ke.Action]]] = asyncio.Queue()
        self.deadline: float | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.store_failed: str | None = None

    async def go(self) -> ke.Finished:
        loop = asyncio.get_running_loop()
        pending = self.machine.start()
        while True:
            for action in pending:
                if isinstance(action, ke.Finished):
                    if action.ok and self.store_failed is not None:
                        action = ke.Finished(
                            False,
                            action.partner,
                            None,
                            f"NCP did not store the link key: {self.store_failed}",
                        )
                    LOGGER.log(
                        logging.INFO if action.ok else logging.WARNING,
                        "CBKE with %s: %s",
                        action.partner.hex().upper(),
                        action.reason,
                    )
                    return action
                await self._do(action)
            pending = []
            wait = None if self.deadline is None else max(0.0, self.deadline - loop.time())
            try:
                async with asyncio.timeout(wait):
                    event = await self.events.get()
            except TimeoutError:
                pending = self.machine.timeout()
                continue
            pending = event()

    async def _do(self, action: ke.Action) -> None:
        machine = self.machine
        if isinstance(action, ke.StartTimer):
            self.deadline = asyncio.get_running_loop().time() + action.seconds
        elif isinstance(action, ke.Send) and isinstance(action.message, ke.Terminate):
            # Sent before the run ends (and its tasks are cancelled): the device must hear it.
            await self._send(action.message)
        elif isinstance(action, ke.Send):
            self._spawn(self._send(action.message))
        elif isinstance(action, ke.NcpGenerateKeys):
            self._spawn(self._ncp(self.ncp.generate_keys(), machine.keys_generated))
        elif isinstance(action, ke.NcpCalculateSmacs):
            self._spawn(
                self._ncp(
                    self.ncp.calculate_smacs(
                        action.am_initiator, action.partner_certificate, action.partner_ephemeral
                    ),
                    lambda smacs: machine.smacs_calculated(*smacs),
                )
            )
        elif isinstance(action, ke.NcpClear):
            try:
                await self.ncp.clear_temporary_data(action.store_link_key)
            except Exception as exc:  # a key the NCP did not store is no key
                LOGGER.warning("CBKE: clearing the NCP's temporary data failed: %s", exc)
                if action.store_link_key:
                    self.store_failed = str(exc) or type(exc).__name__

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _ncp(self, call: Any, on_result: Callable[[Any], list[ke.Action]]) -> None:
        try:
            result = await call
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            self.events.put_nowait(lambda: self.machine.ncp_failed(reason))
        else:
            self.events.put_nowait(lambda: on_result(result))

    async def _send(self, message: ke.Message) -> None:
        """A request: its answer (same TSN) is the command's result. A Terminate: no answer."""
        cmd, fields = command_for(message, from_server=False)
        terminate = isinstance(message, ke.Terminate)
        try:
            # zigpy's own reply timeout is set past any timer the machine runs: the machine's
            # timer decides when the device has taken too long.
            answer = await self.cluster.command(
                cmd.id, **fields, expect_reply=not terminate, timeout=120
            )
        except Exception as exc:
            if terminate:
                LOGGER.warning("CBKE: Terminate not delivered: %s", exc)
                return
            reason = str(exc) or type(exc).__name__
            self.events.put_nowait(lambda: self.machine.transport_failed(reason))
            return
        if terminate or answer is None:
            return
        self._answer(_ANSWER_IDS.get(type(answer)), answer)

    def _answer(self, command_id: int | None, args: Any) -> None:
        if command_id is None:
            # A Default Response (or anything else) instead of the command's answer: the
            # device does not speak Key Establishment as expected.
            what = f"{type(args).__name__} {getattr(args, 'status', '')}".strip()
            self.events.put_nowait(
                lambda: self.machine.transport_failed(f"device answered with {what}")
            )
            return
        try:
            message = message_from(command_id, args, from_server=True)
        except ValueError as exc:
            LOGGER.warning("CBKE: %s", exc)
            return
        self.events.put_nowait(lambda: self.machine.receive(message))

    def cluster_command(self, tsn: int, command_id: int, args: Any) -> None:
        """zigpy listener: a command the device sent on its own (a Terminate, say)."""
        self._answer(command_id, args)

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()
