"""`bridge/request/firmware`: a signed GBCS OTA image in, verified, stored, then distributed.

The request is JSON: {"transaction": any, "image": base64 of the OTA file, "targets": [EUI-64
hex, ...]}. The image's Supplier signature must verify against a key in the consent trust store
before anything else happens: a forged or tampered image is refused (and logged) without being
stored or sent. A verified image is kept in `<state_dir>/firmware/<sha256>.ota` (the latest
IMAGES_KEPT only; older ones are removed when a new one is stored) and served to
each target with zigpy's own OTA server (`zigpy.ota.manager.update_firmware`: image notify, query
next image, image blocks, upgrade end). The Device-level `update_firmware` is not used: after the
transfer it sleeps 10 s twice to read the version back and re-interviews; the CHF does neither
(the version is reported by CS06, docs/gbcs-notes.md 4.2). Per target the hub raises its own signed
CCS08 (0x0128). Firmware traffic is allowed in restricted mode.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zigpy.ota
import zigpy.ota.image
import zigpy.ota.manager
import zigpy.ota.providers
import zigpy.types as t
from zigpy.zcl import foundation

from agent import wan_input
from agent.consent_command import CommandError, public_key_from_b64
from agent.logs import RepeatLimiter
from agent.wan_input import Oversize, RequestError, echo_transaction, parse_object
from gbcs import signature
from gbcs.firmware_image import FirmwareImage, ImageError, parse_image, verify_image

LOGGER = logging.getLogger(__name__)

TRANSFER_RESULT_SUCCESS = 0
TRANSFER_RESULT_FAILURE = 3


IMAGES_KEPT = 3
MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""A `bridge/request/firmware` request: an OTA image of up to about 3 MiB in base64. The WAN
sends images far smaller; the bound keeps what one message can make the hub hold finite."""
MAX_TARGETS = 64
"""Verified images kept in `<state_dir>/firmware`, the newest first."""


class GbcsOtaFile(zigpy.ota.image.BaseOTAImage):
    """The image as zigpy's OTA server sends it: the file's bytes, unchanged."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.header, _ = zigpy.ota.image.OTAImageHeader.deserialize(raw)

    def serialize(self) -> bytes:
        return self.raw


class FirmwareService:
    def __init__(
        self,
        state_dir: Path,
        trust: Callable[[], dict[str, str]],
        app: Callable[[], Any],
        raise_transfer_alert: Callable[[bytes, int, bool], None],
        publish: Callable[[dict[str, object]], None],
        progress_event: Callable[[dict[str, object]], None] = lambda _event: None,
    ) -> None:
        self.dir = state_dir / "firmware"
        self._trust = trust
        self._app = app
        self._raise_transfer_alert = raise_transfer_alert
        self._publish = publish
        self._progress_event = progress_event
        self.status: dict[str, object] = {"image": None, "targets": {}}
        self.refused = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._warn = RepeatLimiter()

    def stats(self) -> dict[str, object]:
        return {**self.status, "refused": self.refused}

    def _trusted(self) -> dict[str, Callable[[bytes, bytes], bool]]:
        checks: dict[str, Callable[[bytes, bytes], bool]] = {}
        for key_id, encoded in self._trust().items():
            try:
                key = public_key_from_b64(encoded)
            except CommandError:
                continue
            checks[key_id] = lambda data, sig, key=key: signature.verify(key, data, sig)
        return checks

    def handle(self, payload: bytes | Oversize) -> None:
        """Check the request and the image now; distribute in the background. Every request
        gets exactly one answer on `bridge/response/firmware` (and a distribution's result)."""
        request: object = None
        try:
            request = parse_object(payload, MAX_REQUEST_BYTES)
            transaction = wan_input.transaction(request)
            targets = request.get("targets")
            if not isinstance(targets, list) or not targets or len(targets) > MAX_TARGETS:
                raise RequestError(
                    f"targets must be a list of 1 to {MAX_TARGETS} EUI-64s (16 hex digits each)"
                )
            euis = [wan_input.eui64(x, "each target") for x in targets]
            data = wan_input.base64_field(request, "image", "the OTA file")
        except RequestError as exc:
            self.refused += 1
            self._warn.warn_refusal(LOGGER, "a firmware request", f"malformed request: {exc}")
            self._answer(
                echo_transaction(request), {"status": "error", "error": f"malformed request: {exc}"}
            )
            return
        if self._tasks:
            self._answer(
                transaction,
                {"status": "error", "error": "busy: a distribution is in progress; send it later"},
            )
            return
        try:
            image = parse_image(data)
            key_id = verify_image(image, self._trusted())
        except ImageError as exc:
            self.refused += 1
            self._warn.warn_refusal(
                LOGGER, "a firmware request", f"image refused ({len(data)} bytes): {exc}"
            )
            self._answer(transaction, {"status": "error", "error": f"image refused: {exc}"})
            return
        try:
            path = self._store(image)
        except OSError as exc:
            why = f"could not save: {exc.strerror or exc}"
            LOGGER.error("firmware image %s not stored: %s", image.image_hash.hex(), why)
            self._answer(transaction, {"status": "error", "error": why})
            return
        self.status = {
            "image": {
                "sha256": image.image_hash.hex(),
                "file_version": f"0x{image.file_version:08X}",
                "size": len(image.raw),
                "signed_by": key_id,
                "path": str(path),
            },
            "targets": {
                eui.hex().upper(): {"state": "queued", "offset": 0, "size": len(image.raw)}
                for eui in euis
            },
        }
        task = asyncio.get_running_loop().create_task(
            self._distribute(transaction, image, path, euis)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _store(self, image: FirmwareImage) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{image.image_hash.hex()}.ota"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(image.raw)
        tmp.replace(path)
        self._prune(keep=path)
        return path

    def _prune(self, keep: Path) -> None:
        """Only the latest IMAGES_KEPT images stay: an unattended hub would otherwise fill its
        SD card with every image it was ever sent. Runs only when no distribution is in
        progress (there is one at a time), so no image being served is removed."""
        older = sorted(
            (p for p in self.dir.glob("*.ota") if p != keep),
            key=lambda p: p.stat().st_mtime_ns,
            reverse=True,
        )
        for stale in older[IMAGES_KEPT - 1 :]:
            stale.unlink(missing_ok=True)
            LOGGER.info(
                "removed the stored firmware image %s (older than the latest %d)",
                stale.name,
                IMAGES_KEPT,
            )

    async def _distribute(
        self, transaction: object, image: FirmwareImage, path: Path, euis: list[bytes]
    ) -> None:
        results: dict[str, object] = {}
        for eui in euis:
            results[eui.hex().upper()] = await self._send_one(transaction, image, path, eui)
        ok = all(r["state"] == "transferred" for r in results.values())  # type: ignore[index]
        self._answer(
            transaction,
            {"status": "ok" if ok else "error", "data": {"targets": results}}
            | ({} if ok else {"error": "the transfer failed for some targets"}),
        )

    async def _send_one(
        self, transaction: object, image: FirmwareImage, path: Path, eui: bytes
    ) -> dict[str, object]:
        state = self.status["targets"][eui.hex().upper()]  # type: ignore[index]
        app = self._app()
        ieee = t.EUI64(eui[::-1])
        if app is None or ieee not in app.devices:
            state.update(state="failed", reason="device is not on this HAN")
            self._raise_transfer_alert(eui, image.file_version, False)
            return dict(state)
        device = app.get_device(ieee=ieee)
        ota = zigpy.ota.OtaImageWithMetadata(
            metadata=zigpy.ota.providers.LocalOtaImageMetadata(
                path=path,
                file_version=image.file_version,
                manufacturer_id=image.manufacturer_id,
                image_type=image.image_type,
            ),
            firmware=GbcsOtaFile(image.raw),
        )
        started = time.monotonic()
        blocks = 0
        next_step = 0.0

        def progress(current: int, total: int, percent: float) -> None:
            # Every block updates health; an event goes out at each 2 % and at the end.
            nonlocal blocks, next_step
            blocks += 1
            state.update(state="transferring", offset=current, size=total, blocks=blocks)
            if percent >= next_step or current >= total:
                next_step = percent + 2.0
                self._event(transaction, eui, state)

        state.update(state="transferring")
        device.ota_in_progress = True  # else the Ota cluster answers NO_IMAGE itself
        try:
            status = await zigpy.ota.manager.update_firmware(device, ota, progress)
        except Exception as exc:
            status, why = foundation.Status.FAILURE, repr(exc)
        else:
            why = f"device ended the upgrade with {status.name}"
        finally:
            device.ota_in_progress = False
        ok = status == foundation.Status.SUCCESS
        state.update(
            state="transferred" if ok else "failed",
            seconds=round(time.monotonic() - started, 3),
            blocks=blocks,
        )
        if not ok:
            state["reason"] = why
        self._event(transaction, eui, state)
        self._raise_transfer_alert(eui, image.file_version, ok)
        return dict(state)

    def _event(self, transaction: object, eui: bytes, state: dict[str, object]) -> None:
        self._progress_event({"transaction": transaction, "target": eui.hex().upper(), **state})

    def _answer(self, transaction: object, answer: dict[str, object]) -> None:
        if transaction is not None:
            answer["transaction"] = transaction
        self._publish(answer)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
