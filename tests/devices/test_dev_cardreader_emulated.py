"""Emulated motor reader specifics: faults, retain bin, auto take, status events."""

from __future__ import annotations

import asyncio

import pytest

from devices.cardreader.base import (
    AcceptCardRequest,
    CardAction,
    CardActionEvent,
    CardOutcome,
    CardReader,
    EjectOutcome,
    EjectRequest,
    MediaStatus,
    RetainOutcome,
)
from devices.cardreader.emulated import CardReaderFault, EmulatedCardReader, EmulatedMagstripeCard
from devices.common.codes import CompletionCode, DeviceState
from devices.common.events import DeviceEvent, StatusChangedEvent, StorageThresholdEvent
from devices.common.storage import ReplenishmentStatus

CARD = EmulatedMagstripeCard("4761739001010010", "2512", "201", "1234567890")
REQ = AcceptCardRequest(timeout=5.0)


class Rec(list[DeviceEvent]):
    def __call__(self, e: DeviceEvent) -> None:
        self.append(e)


@pytest.mark.asyncio
async def test_insert_before_accept_and_auto_take() -> None:
    idc = EmulatedCardReader(auto_take=True)
    assert isinstance(idc, CardReader)
    idc.insert(CARD)
    with pytest.raises(RuntimeError):
        idc.insert(CARD)
    r = await idc.accept_card(REQ, Rec())
    assert r.outcome is CardOutcome.OK and idc.status.media is MediaStatus.PRESENT
    assert r.track1 is None  # no name, no track 1
    e = await idc.eject(Rec())
    assert e.outcome is EjectOutcome.TAKEN and idc.status.media is MediaStatus.NOT_PRESENT


@pytest.mark.asyncio
async def test_jam_then_reset_retains() -> None:
    idc = EmulatedCardReader()
    idc.inject_fault(CardReaderFault.JAM)
    idc.insert(CARD)
    r = await idc.accept_card(REQ, Rec())
    assert (r.outcome, r.completion, r.outcome.error_code) == (
        CardOutcome.JAMMED, CompletionCode.COMMAND_ERROR_CODE, "mediaJam",
    )
    assert idc.status.media is MediaStatus.JAMMED
    assert idc.status.device is DeviceState.HARDWARE_ERROR
    assert (await idc.eject(Rec())).outcome is EjectOutcome.JAMMED
    assert (await idc.reset()).completion is CompletionCode.SUCCESS
    assert idc.status.device is DeviceState.ONLINE and idc.retain_bin.count == 1


@pytest.mark.asyncio
async def test_not_taken_is_retained_with_card_action() -> None:
    idc = EmulatedCardReader(auto_take=True)
    idc.inject_fault(CardReaderFault.CARD_NOT_TAKEN)
    idc.insert(CARD)
    await idc.accept_card(REQ, Rec())
    rec = Rec()
    e = await idc.eject(rec, EjectRequest(taken_timeout=0.01))
    assert e.outcome is EjectOutcome.RETAINED
    assert CardActionEvent(device="idc", action=CardAction.RETAINED) in rec
    assert idc.retain_bin.count == 1


@pytest.mark.asyncio
async def test_not_taken_without_retain_stays_at_exit() -> None:
    idc = EmulatedCardReader()
    idc.insert(CARD)
    await idc.accept_card(REQ, Rec())
    e = await idc.eject(Rec(), EjectRequest(taken_timeout=0.01, retain_if_not_taken=False))
    assert e.outcome is EjectOutcome.NOT_TAKEN and idc.status.media is MediaStatus.ENTERING
    assert idc.take() and not idc.take()


@pytest.mark.asyncio
async def test_retain_bin_threshold_and_full() -> None:
    idc = EmulatedCardReader(retain_capacity=2, retain_threshold=1)
    async with idc.bus.subscribe() as sub:
        for expected in (RetainOutcome.RETAINED, RetainOutcome.RETAINED,
                         RetainOutcome.RETAIN_BIN_FULL):
            idc.insert(CARD)
            await idc.accept_card(REQ, Rec())
            assert (await idc.retain(Rec())).outcome is expected
        events = []
        while (ev := sub.get_nowait()) is not None:
            events.append(ev)
    levels = [e.replenishment for e in events if isinstance(e, StorageThresholdEvent)]
    assert levels == [ReplenishmentStatus.HIGH, ReplenishmentStatus.FULL]
    assert any(isinstance(e, StatusChangedEvent) for e in events)
    idc.empty_retain_bin()
    assert (await idc.retain(Rec())).outcome is RetainOutcome.RETAINED


@pytest.mark.asyncio
async def test_commands_are_serialised() -> None:
    idc = EmulatedCardReader(auto_take=True)
    accept = asyncio.create_task(idc.accept_card(REQ, Rec()))
    eject = asyncio.create_task(idc.eject(Rec()))  # queued behind accept_card
    await asyncio.sleep(0)
    assert not eject.done()
    idc.insert(CARD)
    assert (await accept).outcome is CardOutcome.OK
    assert (await eject).outcome is EjectOutcome.TAKEN


@pytest.mark.asyncio
async def test_unreadable_track1_keeps_track2() -> None:
    idc = EmulatedCardReader()
    idc.inject_fault(CardReaderFault.UNREADABLE_TRACK1)
    idc.insert(EmulatedMagstripeCard("4761739001010010", "2512", "201", name="DOE/JOHN"))
    r = await idc.accept_card(REQ, Rec())
    assert r.outcome is CardOutcome.OK and r.track1 is None and r.track2 is not None
