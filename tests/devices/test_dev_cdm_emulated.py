"""Emulated cash dispenser: flows, fault mapping and note conservation."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.cdm.base import (
    CashDispenser,
    DispenseOutcome,
    DispenseRequest,
    IncompleteDispenseEvent,
    ItemsPresentedEvent,
    NoteErrorEvent,
    PresentOutcome,
    PresentRequest,
    RetractOutcome,
    ShutterStatus,
    TransportStatus,
)
from devices.cdm.emulated import CdmFault, EmulatedCashDispenser, default_cny_cassettes
from devices.cdm.mix import MixAlgorithm
from devices.common.codes import CompletionCode, DeviceState
from devices.common.events import DeviceEvent, StorageThresholdEvent
from devices.common.storage import ReplenishmentStatus, StorageStatus

NOT_TAKEN = PresentRequest(taken_timeout=0.01)


class Rec(list[DeviceEvent]):
    def __call__(self, e: DeviceEvent) -> None:
        self.append(e)


def _conserved(cdm: EmulatedCashDispenser) -> None:
    c = cdm.counters()
    assert c.loaded - c.unloaded == (
        c.remaining + c.dispensed + c.retracted + c.rejected + c.in_transport
    )


@pytest.mark.asyncio
async def test_dispense_present_take() -> None:
    cdm = EmulatedCashDispenser(auto_take=True)
    assert isinstance(cdm, CashDispenser)
    rec = Rec()
    r = await cdm.dispense(DispenseRequest(amount=38000, currency="CNY"), rec)
    assert r.outcome is DispenseOutcome.OK and r.completion is CompletionCode.SUCCESS
    assert r.notes == {10000: 3, 5000: 1, 2000: 1, 1000: 1} and r.amount_dispensed == 38000
    p = await cdm.present(rec)
    assert p.outcome is PresentOutcome.TAKEN and p.notes == r.notes
    assert any(isinstance(e, ItemsPresentedEvent) for e in rec)
    assert cdm.counters().dispensed == 6
    assert cdm.unit("CASS1").count == 1997
    _conserved(cdm)


@pytest.mark.asyncio
async def test_manual_take() -> None:
    cdm = EmulatedCashDispenser()
    await cdm.dispense(DispenseRequest(amount=10000, currency="CNY"), Rec())
    task = asyncio.create_task(cdm.present(Rec(), PresentRequest(taken_timeout=10.0)))
    while cdm.status.shutter is not ShutterStatus.OPEN:
        await asyncio.sleep(0)
    assert cdm.take()
    assert (await task).outcome is PresentOutcome.TAKEN


@pytest.mark.asyncio
async def test_not_taken_is_retracted() -> None:
    cdm = EmulatedCashDispenser()
    await cdm.dispense(DispenseRequest(amount=30000, currency="CNY"), Rec())
    p = await cdm.present(Rec(), NOT_TAKEN)
    assert p.outcome is PresentOutcome.RETRACTED and p.outcome.error_code == "itemsNotTaken"
    assert cdm.unit("RETRACT").count == 3 and cdm.counters().retracted == 3
    _conserved(cdm)


@pytest.mark.asyncio
async def test_not_taken_then_explicit_retract() -> None:
    cdm = EmulatedCashDispenser()
    await cdm.dispense(DispenseRequest(amount=30000, currency="CNY"), Rec())
    p = await cdm.present(Rec(), PresentRequest(taken_timeout=0.01, retract_if_not_taken=False))
    assert p.outcome is PresentOutcome.NOT_TAKEN
    r = await cdm.retract(Rec())
    assert r.outcome is RetractOutcome.OK and r.notes == {10000: 3}
    assert (await cdm.retract(Rec())).outcome is RetractOutcome.NO_ITEMS
    _conserved(cdm)


# fmt: off
@pytest.mark.parametrize(("fault", "outcome", "completion", "error_code"), [
    (CdmFault.JAM,              DispenseOutcome.JAMMED,          CompletionCode.HARDWARE_ERROR,     None),  # noqa: E501 - one aligned row per case
    (CdmFault.PARTIAL_DISPENSE, DispenseOutcome.PARTIAL,         CompletionCode.HARDWARE_ERROR,     None),  # noqa: E501 - one aligned row per case
    (CdmFault.NOTE_SHORTAGE,    DispenseOutcome.CASH_UNIT_ERROR, CompletionCode.COMMAND_ERROR_CODE, "cashUnitError"),  # noqa: E501 - one aligned row per case
    (CdmFault.NOTE_ERROR,       DispenseOutcome.OK,              CompletionCode.SUCCESS,            None),  # noqa: E501 - one aligned row per case
])
@pytest.mark.asyncio
async def test_dispense_fault_mapping(
    fault: CdmFault, outcome: DispenseOutcome, completion: CompletionCode, error_code: str | None
) -> None:
    cdm = EmulatedCashDispenser()
    cdm.inject_fault(fault)
    rec = Rec()
    r = await cdm.dispense(DispenseRequest(amount=88000, currency="CNY"), rec)
    assert (r.outcome, r.completion, r.outcome.error_code) == (outcome, completion, error_code)
    # reported notes are exactly the notes in the transport
    assert sum(r.notes.values()) == cdm.counters().in_transport
    assert r.amount_dispensed == sum(d * k for d, k in r.notes.items())
    _conserved(cdm)
    if fault is CdmFault.PARTIAL_DISPENSE:
        assert 0 < r.amount_dispensed < 88000
        assert [e for e in rec if isinstance(e, IncompleteDispenseEvent)][0].notes == r.notes  # noqa: RUF015 - IndexError if missing
    if fault is CdmFault.NOTE_ERROR:
        assert cdm.counters().rejected == 1 and any(isinstance(e, NoteErrorEvent) for e in rec)
    if fault is CdmFault.NOTE_SHORTAGE:
        assert any(u.status is StorageStatus.INOPERATIVE for u in cdm.cassettes)
    if fault in {CdmFault.JAM, CdmFault.PARTIAL_DISPENSE}:
        assert cdm.status.transport is TransportStatus.INOPERATIVE
        assert cdm.status.device is DeviceState.HARDWARE_ERROR
        again = await cdm.dispense(DispenseRequest(amount=1000, currency="CNY"), rec)
        assert again.outcome is DispenseOutcome.DEVICE_NOT_READY
        reset = await cdm.reset()
        assert reset.completion is CompletionCode.SUCCESS and reset.notes == r.notes
        assert cdm.status.device is DeviceState.ONLINE
        _conserved(cdm)
# fmt: on


@pytest.mark.asyncio
async def test_shutter_failure_then_reject() -> None:
    cdm = EmulatedCashDispenser()
    await cdm.dispense(DispenseRequest(amount=20000, currency="CNY"), Rec())
    cdm.inject_fault(CdmFault.SHUTTER_FAILURE)
    p = await cdm.present(Rec())
    assert p.outcome is PresentOutcome.SHUTTER_FAILURE
    assert (p.completion, p.outcome.error_code) == (
        CompletionCode.COMMAND_ERROR_CODE, "shutterNotOpen")
    r = await cdm.reject(Rec())
    assert r.outcome is RetractOutcome.OK and cdm.counters().rejected == 2
    _conserved(cdm)


@pytest.mark.asyncio
async def test_cassette_missing_and_replenish() -> None:
    cassettes = default_cny_cassettes(count=10)
    cdm = EmulatedCashDispenser(cassettes=cassettes)
    cdm.inject_fault(CdmFault.CASSETTE_MISSING, unit_id="CASS4")
    r = await cdm.dispense(DispenseRequest(amount=1000, currency="CNY"), Rec())
    assert r.outcome is DispenseOutcome.NOT_DISPENSABLE
    assert r.outcome.error_code == "notDispensable"
    await cdm.replenish("CASS4", 500)
    assert cdm.unit("CASS4").status is StorageStatus.OK
    r = await cdm.dispense(DispenseRequest(amount=1000, currency="CNY"), Rec())
    assert r.outcome is DispenseOutcome.OK
    _conserved(cdm)


# fmt: off
@pytest.mark.parametrize(("req", "outcome", "completion"), [
    (DispenseRequest(amount=1000, currency="USD"), DispenseOutcome.INVALID_CURRENCY, CompletionCode.COMMAND_ERROR_CODE),  # noqa: E501 - one aligned row per case
    (DispenseRequest(amount=0, currency="CNY"),    DispenseOutcome.INVALID_AMOUNT,   CompletionCode.INVALID_DATA),  # noqa: E501 - one aligned row per case
    (DispenseRequest(amount=1050, currency="CNY"), DispenseOutcome.NOT_DISPENSABLE,  CompletionCode.COMMAND_ERROR_CODE),  # noqa: E501 - one aligned row per case
    (DispenseRequest(amount=10000 * 300, currency="CNY"), DispenseOutcome.TOO_MANY_ITEMS, CompletionCode.COMMAND_ERROR_CODE),  # noqa: E501 - one aligned row per case
])
@pytest.mark.asyncio
async def test_dispense_refusals(
    req: DispenseRequest, outcome: DispenseOutcome, completion: CompletionCode
) -> None:
    r = await EmulatedCashDispenser().dispense(req, Rec())
    assert (r.outcome, r.completion, r.notes) == (outcome, completion, {})
# fmt: on


@pytest.mark.asyncio
async def test_low_threshold_event() -> None:
    cdm = EmulatedCashDispenser(cassettes=default_cny_cassettes(count=102, low_threshold=100))
    async with cdm.bus.subscribe() as sub:
        await cdm.dispense(DispenseRequest(amount=30000, currency="CNY"), Rec())
        events = []
        while (e := sub.get_nowait()) is not None:
            events.append(e)
    lows = [e for e in events if isinstance(e, StorageThresholdEvent)]
    assert [(e.unit.unit_id, e.replenishment) for e in lows] == [("CASS1", ReplenishmentStatus.LOW)]


ops = st.lists(
    st.tuples(
        st.sampled_from(["dispense", "present_take", "present_leave", "reject", "reset", "fault"]),
        st.integers(1, 60).map(lambda x: x * 1000),
        st.sampled_from(list(CdmFault)),
        st.sampled_from(list(MixAlgorithm)),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, fills=st.lists(st.integers(0, 30), min_size=4, max_size=4))
def test_conservation(ops: list[tuple[str, int, CdmFault, MixAlgorithm]], fills: list[int]) -> None:
    async def run() -> None:
        cassettes = [
            u.with_count(n) for u, n in zip(default_cny_cassettes(), fills, strict=True)
        ]
        cdm = EmulatedCashDispenser(cassettes=cassettes)
        for op, amount, fault, algorithm in ops:
            if op == "dispense":
                await cdm.dispense(
                    DispenseRequest(amount=amount, currency="CNY", mix=algorithm), Rec())
            elif op == "present_take":
                cdm._auto_take = True
                await cdm.present(Rec())
                cdm._auto_take = False
            elif op == "present_leave":
                await cdm.present(Rec(), NOT_TAKEN)
            elif op == "reject":
                await cdm.reject(Rec())
            elif op == "reset":
                await cdm.reset()
            else:
                cdm.inject_fault(fault)
            _conserved(cdm)

    asyncio.run(run())
