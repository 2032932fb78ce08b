"""DeviceService, EventBus and StorageUnit."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pytest

from devices.common.codes import CompletionCode, DeviceError
from devices.common.events import DeviceEvent, EventBus, StatusChangedEvent
from devices.common.service import DeviceService
from devices.common.storage import ReplenishmentStatus, StorageKind, StorageUnit


@dataclass(frozen=True, kw_only=True)
class Res:
    completion: CompletionCode


class Dev(DeviceService[str]):
    def __init__(self) -> None:
        self.ticks = iter(range(0, 1000, 2))
        super().__init__(name="dev", status="a", clock=lambda: next(self.ticks) / 1000)
        self.gate = asyncio.Event()

    async def run(self, *, timeout: float | None = None, fail: Exception | None = None) -> Res:
        async def op() -> Res:
            if fail is not None:
                raise fail
            await self.gate.wait()
            return Res(completion=CompletionCode.SUCCESS)

        return await self._execute("run", op, aborted=lambda c: Res(completion=c), timeout=timeout)


@pytest.mark.asyncio
async def test_timeout_cancel_and_trace(caplog: pytest.LogCaptureFixture) -> None:
    dev = Dev()
    with caplog.at_level(logging.INFO, logger="devices.common.service"):
        assert (await dev.run(timeout=0.01)).completion is CompletionCode.TIMEOUT
        task = asyncio.create_task(dev.run())
        while not dev.busy:
            await asyncio.sleep(0)
        assert dev.cancel()
        assert (await task).completion is CompletionCode.CANCELED
        dev.gate.set()
        assert (await dev.run()).completion is CompletionCode.SUCCESS
        with pytest.raises(DeviceError):
            await dev.run(fail=DeviceError("dev", "link down"))
        with pytest.raises(ZeroDivisionError):
            await dev.run(fail=ZeroDivisionError())
    got = [(r.command, r.completion, r.elapsed_ms) for r in caplog.records]  # type: ignore[attr-defined]
    assert got == [
        ("run", "timeOut", 2.0),
        ("run", "canceled", 2.0),
        ("run", "success", 2.0),
        ("run", "hardwareError", 2.0),
        ("run", "internalError", 2.0),
    ]


@pytest.mark.asyncio
async def test_status_change_events_on_injected_bus() -> None:
    bus = EventBus()
    dev = Dev()
    dev._bus = bus
    async with bus.subscribe() as sub:
        dev._set_status("a")
        dev._set_status("b")
        ev = await sub.get()
    assert ev == StatusChangedEvent(device="dev", old="a", new="b")
    assert sub.get_nowait() is None


@pytest.mark.asyncio
async def test_bus_fans_out_and_unsubscribes() -> None:
    bus = EventBus()
    a, b = bus.subscribe(), bus.subscribe()
    bus.publish(DeviceEvent(device="x"))
    b.close()
    bus(DeviceEvent(device="y"))
    assert [(await a.get()).device, (await a.get()).device] == ["x", "y"]
    assert (await b.get()).device == "x" and b.get_nowait() is None


# fmt: off
@pytest.mark.parametrize(("kind", "count", "expected"), [
    (StorageKind.CASSETTE,   0,   ReplenishmentStatus.EMPTY),
    (StorageKind.CASSETTE,   10,  ReplenishmentStatus.LOW),
    (StorageKind.CASSETTE,   11,  ReplenishmentStatus.OK),
    (StorageKind.RETAIN_BIN, 0,   ReplenishmentStatus.OK),
    (StorageKind.RETAIN_BIN, 90,  ReplenishmentStatus.HIGH),
    (StorageKind.RETAIN_BIN, 100, ReplenishmentStatus.FULL),
])
def test_replenishment_status(kind: StorageKind, count: int, expected: ReplenishmentStatus) -> None:
    u = StorageUnit(unit_id="U", kind=kind, count=count, capacity=100, low_threshold=10,
                    high_threshold=90)
    assert u.replenishment is expected
# fmt: on


def test_storage_bounds_exception() -> None:
    u = StorageUnit(unit_id="U", kind=StorageKind.CASSETTE, count=1, capacity=2)
    with pytest.raises(ValueError, match="cannot take"):
        u.take(2)
    with pytest.raises(ValueError, match="not enough space"):
        u.add(2)
    with pytest.raises(ValueError, match=r"within 0..capacity"):
        StorageUnit(unit_id="U", kind=StorageKind.CASSETTE, count=3, capacity=2)
