"""The camera interface: a snapshot tagged with the transaction, for audit and step-up.

A snapshot is an image file plus a sidecar JSON file with the tag (transaction id, reason,
camera, sequence, time, image digest). Real drivers (V4L2, IP cameras) implement
:class:`Camera`; :mod:`devices.camera.emulated` writes synthetic images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from devices.common.codes import CompletionCode, DeviceState, Outcome
from devices.common.events import DeviceEvent, EventSink

__all__ = [
    "Camera",
    "CameraCapabilities",
    "CameraOutcome",
    "CameraStatus",
    "SnapshotReason",
    "SnapshotRequest",
    "SnapshotResult",
    "SnapshotTakenEvent",
]

_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class SnapshotReason(StrEnum):
    """Why the picture is taken."""

    STEP_UP = "stepUp"
    CASH_PRESENTED = "cashPresented"
    CARD_RETAINED = "cardRetained"
    TAMPER = "tamper"
    SUPERVISOR = "supervisor"


class CameraOutcome(Outcome):
    """How ``snapshot`` ended."""

    OK = ("ok", CompletionCode.SUCCESS, None)
    CAMERA_FAILURE = ("cameraFailure", CompletionCode.HARDWARE_ERROR, None)
    STORAGE_FULL = ("storageFull", CompletionCode.NOT_ENOUGH_SPACE, None)
    TIMEOUT = ("timeout", CompletionCode.TIMEOUT, None)
    CANCELED = ("canceled", CompletionCode.CANCELED, None)


@dataclass(frozen=True, kw_only=True)
class SnapshotRequest:
    """Take one picture tagged with ``transaction_id`` (a plain file stem, e.g.
    ``T0000001-000123``)."""

    transaction_id: str
    reason: SnapshotReason = SnapshotReason.STEP_UP

    def __post_init__(self) -> None:
        if _STEM.fullmatch(self.transaction_id) is None:
            raise ValueError("transaction_id must be a plain file stem")


@dataclass(frozen=True, kw_only=True)
class SnapshotResult:
    """The image and its sidecar tag file (None unless OK)."""

    outcome: CameraOutcome
    image_path: Path | None = None
    tag_path: Path | None = None

    @property
    def completion(self) -> CompletionCode:
        """XFS completion code."""
        return self.outcome.completion


@dataclass(frozen=True, kw_only=True)
class CameraStatus:
    """Immutable status snapshot; ``pictures`` counts snapshots stored."""

    device: DeviceState = DeviceState.ONLINE
    pictures: int = 0


@dataclass(frozen=True, kw_only=True)
class CameraCapabilities:
    """Image geometry and format."""

    width: int
    height: int
    image_format: str = "png"
    max_pictures: int = 0  # 0: no limit


@dataclass(frozen=True, kw_only=True)
class SnapshotTakenEvent(DeviceEvent):
    """A snapshot was stored."""

    transaction_id: str
    image_path: Path


@runtime_checkable
class Camera(Protocol):
    """A camera; real drivers and the emulator implement it."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> CameraStatus: ...

    @property
    def capabilities(self) -> CameraCapabilities: ...

    async def snapshot(self, req: SnapshotRequest, events: EventSink) -> SnapshotResult:
        """Take and store one tagged picture."""

    def cancel(self) -> bool:
        """Cancel the running command; it completes with CANCELED."""
