"""Camera contract (over every implementation; today the emulated one)."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devices.camera.base import (
    Camera,
    CameraOutcome,
    SnapshotReason,
    SnapshotRequest,
    SnapshotTakenEvent,
)
from devices.camera.emulated import CameraFault, EmulatedCamera
from devices.common.codes import CompletionCode
from devices.common.events import DeviceEvent

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


class Rec(list[DeviceEvent]):
    def __call__(self, e: DeviceEvent) -> None:
        self.append(e)


Factory = Callable[..., EmulatedCamera]
IMPLEMENTATIONS: dict[str, Callable[[Path], Factory]] = {
    "emulated": lambda d: lambda **kw: EmulatedCamera(d, wall_clock=lambda: NOW, **kw),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    return IMPLEMENTATIONS[request.param](tmp_path)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    ihdr = data[16:29]
    assert zlib.crc32(data[12:29]) == int.from_bytes(data[29:33], "big")
    return int.from_bytes(ihdr[:4], "big"), int.from_bytes(ihdr[4:8], "big")


@pytest.mark.asyncio
async def test_snapshot_writes_tagged_png(make: Factory) -> None:
    cam = make()
    assert isinstance(cam, Camera)
    rec = Rec()
    req = SnapshotRequest(transaction_id="T0000001-000123", reason=SnapshotReason.STEP_UP)
    res = await cam.snapshot(req, rec)
    assert res.outcome is CameraOutcome.OK and res.completion is CompletionCode.SUCCESS
    assert res.image_path is not None and res.tag_path is not None
    data = res.image_path.read_bytes()
    assert _png_size(data) == (cam.capabilities.width, cam.capabilities.height)
    tag = json.loads(res.tag_path.read_text())
    assert tag == {
        "transaction_id": "T0000001-000123", "reason": "stepUp", "camera": "cam",
        "sequence": 1, "taken_at": "2025-01-02T03:04:05+00:00", "width": 64, "height": 48,
        "format": "png", "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert rec == [SnapshotTakenEvent(device="cam", transaction_id="T0000001-000123",
                                      image_path=res.image_path)]
    again = await cam.snapshot(req, Rec())
    assert again.image_path != res.image_path and cam.status.pictures == 2
    assert again.image_path is not None and again.image_path.read_bytes() != data


@pytest.mark.asyncio
async def test_faults_and_storage_full(make: Factory) -> None:
    cam = make(max_pictures=1, command_timeout=0.2)
    req = SnapshotRequest(transaction_id="T1")
    cam.inject_fault(CameraFault.CAMERA_FAILURE)
    r = await cam.snapshot(req, Rec())
    assert (r.outcome, r.completion, r.image_path) == (
        CameraOutcome.CAMERA_FAILURE, CompletionCode.HARDWARE_ERROR, None)
    cam.inject_fault(CameraFault.TIMEOUT)
    assert (await cam.snapshot(req, Rec())).outcome is CameraOutcome.TIMEOUT
    assert (await cam.snapshot(req, Rec())).outcome is CameraOutcome.OK
    r = await cam.snapshot(req, Rec())
    assert (r.outcome, r.completion) == (
        CameraOutcome.STORAGE_FULL, CompletionCode.NOT_ENOUGH_SPACE)


def test_transaction_id_must_be_a_file_stem_exception() -> None:
    with pytest.raises(ValueError, match="plain file stem"):
        SnapshotRequest(transaction_id="../../etc/x")
