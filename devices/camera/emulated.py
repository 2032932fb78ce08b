"""Emulated camera: writes a small synthetic PNG per snapshot, tagged by a sidecar JSON file.

The PNG is built with the standard library (``zlib``): a gradient whose colours derive from
the transaction id, with the sequence number as a bar code-like stripe, so every picture is
distinct and reproducible. No image library, no pygame.

Files: ``<directory>/<transaction_id>-<seq>.png`` and ``.json`` beside it with
``{"transaction_id", "reason", "camera", "sequence", "taken_at", "width", "height",
"format", "sha256"}``. ``taken_at`` comes from the injected wall clock (ISO 8601, UTC).

Faults (one-shot): ``CAMERA_FAILURE`` (hardware error), ``TIMEOUT`` (the device hangs until
the command timeout). ``max_pictures`` bounds storage (``STORAGE_FULL`` beyond it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import struct
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from devices.camera.base import (
    CameraCapabilities,
    CameraOutcome,
    CameraStatus,
    SnapshotRequest,
    SnapshotResult,
    SnapshotTakenEvent,
)
from devices.common.codes import CompletionCode
from devices.common.events import EventBus, EventSink
from devices.common.service import DeviceService

__all__ = ["CameraFault", "EmulatedCamera", "encode_png_rgb", "synthetic_image"]


class CameraFault(StrEnum):
    """Injectable faults."""

    CAMERA_FAILURE = "cameraFailure"
    TIMEOUT = "timeout"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png_rgb(width: int, height: int, rgb: bytes) -> bytes:
    """A PNG (8-bit RGB, no filter) from raw row-major RGB bytes.

    Examples
    --------
    >>> png = encode_png_rgb(1, 1, bytes([255, 0, 0]))
    >>> png[:8], png[12:16]
    (b'\\x89PNG\\r\\n\\x1a\\n', b'IHDR')
    """
    if len(rgb) != width * height * 3:
        raise ValueError("rgb must hold width * height * 3 bytes")
    stride = width * 3
    raw = b"".join(b"\x00" + rgb[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def synthetic_image(width: int, height: int, seed: str, sequence: int) -> bytes:
    """Deterministic RGB pixels for ``seed`` (a gradient) with a stripe encoding ``sequence``."""
    d = hashlib.sha256(seed.encode()).digest()
    out = bytearray()
    for y in range(height):
        for x in range(width):
            if y < 6:
                bit = (sequence >> (x * 16 // max(width, 1))) & 1
                out += b"\x00\x00\x00" if bit else b"\xff\xff\xff"
            else:
                out += bytes(
                    ((d[0] + x * 255 // width) % 256, (d[1] + y * 255 // height) % 256, d[2])
                )
    return bytes(out)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EmulatedCamera(DeviceService[CameraStatus]):
    """In-process camera writing PNG snapshots and sidecar tags into ``directory``."""

    def __init__(
        self,
        directory: str | Path,
        *,
        name: str = "cam",
        width: int = 64,
        height: int = 48,
        max_pictures: int = 0,
        wall_clock: Callable[[], datetime] = _utc_now,
        bus: EventBus | None = None,
        command_timeout: float | None = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            name=name, status=CameraStatus(), bus=bus, command_timeout=command_timeout,
            clock=clock,
        )
        self._dir = Path(directory)
        self._wall = wall_clock
        self._faults: set[CameraFault] = set()
        self._seq = 0
        self._capabilities = CameraCapabilities(
            width=width, height=height, image_format="png", max_pictures=max_pictures
        )

    @property
    def capabilities(self) -> CameraCapabilities:
        """Camera capabilities."""
        return self._capabilities

    def inject_fault(self, fault: CameraFault) -> None:
        """Arm a one-shot fault."""
        self._faults.add(fault)

    async def snapshot(self, req: SnapshotRequest, events: EventSink) -> SnapshotResult:
        """Take a picture tagged with ``req.transaction_id``."""

        def aborted(c: CompletionCode) -> SnapshotResult:
            return SnapshotResult(
                outcome=CameraOutcome.TIMEOUT if c is CompletionCode.TIMEOUT
                else CameraOutcome.CANCELED
            )

        return await self._execute(
            "snapshot", lambda: self._do_snapshot(req, events), aborted=aborted,
            timeout=self._command_timeout,
        )

    async def _do_snapshot(self, req: SnapshotRequest, events: EventSink) -> SnapshotResult:
        if CameraFault.TIMEOUT in self._faults:
            self._faults.discard(CameraFault.TIMEOUT)
            await asyncio.Event().wait()  # hangs until the command timeout cancels it
        if CameraFault.CAMERA_FAILURE in self._faults:
            self._faults.discard(CameraFault.CAMERA_FAILURE)
            return SnapshotResult(outcome=CameraOutcome.CAMERA_FAILURE)
        cap = self._capabilities
        if cap.max_pictures and self.status.pictures >= cap.max_pictures:
            return SnapshotResult(outcome=CameraOutcome.STORAGE_FULL)
        self._seq += 1
        seq = self._seq
        png = encode_png_rgb(
            cap.width, cap.height, synthetic_image(cap.width, cap.height, req.transaction_id, seq)
        )
        stem = f"{req.transaction_id}-{seq:06d}"
        image = self._dir / f"{stem}.png"
        tag = self._dir / f"{stem}.json"
        meta = {
            "transaction_id": req.transaction_id,
            "reason": str(req.reason),
            "camera": self.name,
            "sequence": seq,
            "taken_at": self._wall().isoformat(),
            "width": cap.width,
            "height": cap.height,
            "format": "png",
            "sha256": hashlib.sha256(png).hexdigest(),
        }
        await asyncio.to_thread(_store, image, png, tag, meta)
        self._set_status(dataclasses.replace(self.status, pictures=self.status.pictures + 1))
        events(SnapshotTakenEvent(device=self.name, transaction_id=req.transaction_id,
                                  image_path=image))
        return SnapshotResult(outcome=CameraOutcome.OK, image_path=image, tag_path=tag)


def _store(image: Path, png: bytes, tag: Path, meta: dict[str, object]) -> None:
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(png)
    tag.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
