"""In-process emulated cash dispenser: cassettes, stacker, shutter, reject and retract bins.

Faults (one-shot unless noted) are armed with :meth:`EmulatedCashDispenser.inject_fault`:
``JAM`` (transport jams before the first pick), ``PARTIAL_DISPENSE`` (jams after picking part of
the mix; the exact notes picked are reported), ``NOTE_SHORTAGE`` (a cassette fails to pick half
way and becomes inoperative), ``NOTE_ERROR`` (one extra note is picked and diverted to the reject
bin), ``SHUTTER_FAILURE`` (the shutter does not open on present), ``ITEMS_NOT_TAKEN`` (the
customer ignores the notes even with ``auto_take``), ``CASSETTE_MISSING`` (a cassette is removed
at once; replenish puts it back).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterable
from enum import StrEnum

from devices.cdm.base import (
    CdmCapabilities,
    CdmStatus,
    DispenseOutcome,
    DispenserCounters,
    DispenseRequest,
    DispenseResult,
    IncompleteDispenseEvent,
    ItemsPresentedEvent,
    ItemsTakenEvent,
    NoteErrorEvent,
    PositionStatus,
    PresentOutcome,
    PresentRequest,
    PresentResult,
    ResetResult,
    RetractOutcome,
    RetractResult,
    ShutterStatus,
    TransportStatus,
)
from devices.cdm.mix import mix
from devices.common.codes import CompletionCode, DeviceState
from devices.common.events import EventBus, EventSink
from devices.common.service import DeviceService
from devices.common.storage import StorageKind, StorageStatus, StorageUnit

__all__ = ["CdmFault", "EmulatedCashDispenser", "default_cny_cassettes"]


class CdmFault(StrEnum):
    """Injectable faults."""

    JAM = "jam"
    PARTIAL_DISPENSE = "partialDispense"
    NOTE_SHORTAGE = "noteShortage"
    NOTE_ERROR = "noteError"
    SHUTTER_FAILURE = "shutterFailure"
    ITEMS_NOT_TAKEN = "itemsNotTaken"
    CASSETTE_MISSING = "cassetteMissing"


def default_cny_cassettes(
    count: int = 2000, *, capacity: int = 2500, low_threshold: int = 100
) -> tuple[StorageUnit, ...]:
    """Four CNY cassettes: 100, 50, 20 and 10 yuan (minor units 10000, 5000, 2000, 1000)."""
    return tuple(
        StorageUnit(
            unit_id=f"CASS{i}",
            kind=StorageKind.CASSETTE,
            count=count,
            capacity=capacity,
            low_threshold=low_threshold,
            denomination=d,
            currency="CNY",
        )
        for i, d in enumerate((10000, 5000, 2000, 1000), start=1)
    )


def _total(notes: dict[int, int]) -> int:
    return sum(notes.values())


def _value(notes: dict[int, int]) -> int:
    return sum(d * k for d, k in notes.items())


class EmulatedCashDispenser(DeviceService[CdmStatus]):
    """Emulated dispenser.

    Parameters
    ----------
    cassettes:
        Cassette units (kind CASSETTE, with denomination and currency).
    reject_capacity, retract_capacity:
        Bin capacities (notes); high thresholds are 80 %.
    max_notes:
        Most notes one dispense may pick.
    auto_take:
        Presented notes are taken at once (demos); otherwise call :meth:`take`.
    """

    def __init__(
        self,
        *,
        name: str = "cdm",
        cassettes: Iterable[StorageUnit] | None = None,
        reject_capacity: int = 300,
        retract_capacity: int = 200,
        max_notes: int = 200,
        auto_take: bool = False,
        bus: EventBus | None = None,
        command_timeout: float | None = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        units = tuple(cassettes) if cassettes is not None else default_cny_cassettes()
        reject = StorageUnit(
            unit_id="REJECT", kind=StorageKind.REJECT_BIN, count=0, capacity=reject_capacity,
            high_threshold=reject_capacity * 4 // 5,
        )
        retract = StorageUnit(
            unit_id="RETRACT", kind=StorageKind.RETRACT_BIN, count=0, capacity=retract_capacity,
            high_threshold=retract_capacity * 4 // 5,
        )
        super().__init__(
            name=name,
            status=CdmStatus(units=(*units, reject, retract)),
            bus=bus,
            command_timeout=command_timeout,
            clock=clock,
        )
        self._auto_take = auto_take
        self._faults: set[CdmFault] = set()
        self._stacker: Counter[int] = Counter()
        self._exit: Counter[int] = Counter()
        self._bins: dict[str, Counter[int]] = {"REJECT": Counter(), "RETRACT": Counter()}
        self._dispensed: Counter[int] = Counter()
        self._loaded = sum(u.count for u in units)
        self._unloaded = 0
        self._taken = asyncio.Event()
        self._capabilities = CdmCapabilities(
            currencies=frozenset(u.currency for u in units),
            denominations=frozenset(u.denomination for u in units),
            max_notes=max_notes,
        )

    # ---- scenario / supervisor side ------------------------------------------------------

    @property
    def capabilities(self) -> CdmCapabilities:
        """Dispenser capabilities."""
        return self._capabilities

    def unit(self, unit_id: str) -> StorageUnit:
        """The snapshot of one unit."""
        for u in self.status.units:
            if u.unit_id == unit_id:
                return u
        raise KeyError(unit_id)

    @property
    def cassettes(self) -> tuple[StorageUnit, ...]:
        """Cassette snapshots."""
        return tuple(u for u in self.status.units if u.kind is StorageKind.CASSETTE)

    def inject_fault(self, fault: CdmFault, *, unit_id: str | None = None) -> None:
        """Arm a fault; CASSETTE_MISSING removes ``unit_id`` (default: the first cassette) now."""
        if fault is CdmFault.CASSETTE_MISSING:
            uid = unit_id if unit_id is not None else self.cassettes[0].unit_id
            self._replace_unit(self.unit(uid).with_status(StorageStatus.MISSING))
            return
        self._faults.add(fault)

    def clear_faults(self) -> None:
        """Disarm one-shot faults."""
        self._faults.clear()

    def take(self) -> bool:
        """The customer takes the presented notes; False when none are at the exit."""
        if not self._exit:
            return False
        self._dispensed.update(self._exit)
        self._exit.clear()
        self._update(exit=PositionStatus.EMPTY, shutter=ShutterStatus.CLOSED)
        self._publish(ItemsTakenEvent(device=self.name))
        self._taken.set()
        return True

    def counters(self) -> DispenserCounters:
        """Audit totals (notes)."""
        return DispenserCounters(
            loaded=self._loaded,
            unloaded=self._unloaded,
            remaining=sum(u.count for u in self.cassettes),
            dispensed=_total(self._dispensed),
            retracted=_total(self._bins["RETRACT"]),
            rejected=_total(self._bins["REJECT"]),
            in_transport=_total(self._stacker) + _total(self._exit),
        )

    def _consume(self, fault: CdmFault) -> bool:
        if fault in self._faults:
            self._faults.discard(fault)
            return True
        return False

    def _update(self, **changes: object) -> None:
        self._set_status(dataclasses.replace(self.status, **changes))  # type: ignore[arg-type]

    def _replace_unit(self, new: StorageUnit) -> None:
        old = self.unit(new.unit_id)
        units = tuple(new if u.unit_id == new.unit_id else u for u in self.status.units)
        self._update(units=units)
        self._storage_changed(old, new)

    def _to_bin(self, bin_id: str, notes: Counter[int]) -> None:
        n = _total(notes)
        if n:
            self._replace_unit(self.unit(bin_id).add(n))
            self._bins[bin_id].update(notes)

    # ---- commands ------------------------------------------------------------------------

    async def dispense(self, req: DispenseRequest, events: EventSink) -> DispenseResult:
        """Pick notes for ``req.amount`` into the stacker."""
        return await self._execute(
            "dispense",
            lambda: self._do_dispense(req, events),
            aborted=lambda c: DispenseResult(
                outcome=DispenseOutcome.TIMEOUT
                if c is CompletionCode.TIMEOUT
                else DispenseOutcome.CANCELED,
                notes=dict(self._stacker),
                amount_dispensed=_value(self._stacker),
            ),
            timeout=req.timeout,
        )

    async def present(self, events: EventSink, req: PresentRequest | None = None) -> PresentResult:
        """Open the shutter and wait until the notes are taken."""
        r = req if req is not None else PresentRequest()
        return await self._execute(
            "present",
            lambda: self._do_present(r, events),
            aborted=lambda c: PresentResult(
                outcome=PresentOutcome.TIMEOUT
                if c is CompletionCode.TIMEOUT
                else PresentOutcome.CANCELED,
                notes=dict(self._exit),
            ),
            timeout=self._command_timeout,
        )

    async def retract(self, events: EventSink) -> RetractResult:
        """Pull notes at the exit into the retract bin."""
        return await self._execute(
            "retract",
            lambda: self._do_move(self._exit, "RETRACT", exit_=True),
            aborted=self._move_aborted,
            timeout=self._command_timeout,
        )

    async def reject(self, events: EventSink) -> RetractResult:
        """Move stacked notes into the reject bin."""
        return await self._execute(
            "reject",
            lambda: self._do_move(self._stacker, "REJECT", exit_=False),
            aborted=self._move_aborted,
            timeout=self._command_timeout,
        )

    async def reset(self) -> ResetResult:
        """Clear a jam: stacker and exit notes go to the reject bin, transport back to OK."""
        return await self._execute(
            "reset", self._do_reset, aborted=lambda c: ResetResult(completion=c),
            timeout=self._command_timeout,
        )

    async def replenish(self, unit_id: str, count: int) -> StorageUnit:
        """Supervisor exchange: a cassette gets ``count`` notes; a bin is emptied (``count=0``)."""
        async with self._lock:
            old = self.unit(unit_id)
            if old.kind is StorageKind.CASSETTE:
                self._unloaded += old.count
                self._loaded += count
            else:
                if count != 0:
                    raise ValueError("bins can only be emptied")
                self._unloaded += old.count  # collected notes leave the device
                self._bins[unit_id].clear()
            new = old.replenished(count)
            self._replace_unit(new)
            return new

    @staticmethod
    def _move_aborted(c: CompletionCode) -> RetractResult:
        return RetractResult(
            outcome=RetractOutcome.TIMEOUT
            if c is CompletionCode.TIMEOUT
            else RetractOutcome.CANCELED
        )

    # ---- hooks ---------------------------------------------------------------------------

    def _available(self, currency: str) -> dict[int, int]:
        avail: Counter[int] = Counter()
        for u in self.cassettes:
            if u.usable and u.currency == currency:
                avail[u.denomination] += u.count
        return dict(avail)

    def _pick(self, denomination: int, n: int, currency: str) -> int:
        """Pick ``n`` notes from cassettes of ``denomination``; returns notes picked."""
        picked = 0
        for u in self.cassettes:
            if picked == n:
                break
            if u.denomination != denomination or u.currency != currency or not u.usable:
                continue
            k = min(n - picked, u.count)
            self._replace_unit(u.take(k))
            picked += k
        self._stacker[denomination] += picked
        return picked

    async def _do_dispense(  # noqa: PLR0911 -- one early return per XFS outcome
        self, req: DispenseRequest, events: EventSink
    ) -> DispenseResult:
        if self.status.transport is not TransportStatus.OK:
            return DispenseResult(outcome=DispenseOutcome.DEVICE_NOT_READY)
        if self._stacker or self._exit:
            return DispenseResult(outcome=DispenseOutcome.ITEMS_LEFT)
        if req.currency not in self._capabilities.currencies:
            return DispenseResult(outcome=DispenseOutcome.INVALID_CURRENCY)
        if req.amount <= 0:
            return DispenseResult(outcome=DispenseOutcome.INVALID_AMOUNT)
        notes = mix(req.amount, self._available(req.currency), req.mix)
        if notes is None:
            return DispenseResult(outcome=DispenseOutcome.NOT_DISPENSABLE)
        if _total(notes) > self._capabilities.max_notes:
            return DispenseResult(outcome=DispenseOutcome.TOO_MANY_ITEMS)
        if self._consume(CdmFault.JAM):
            self._jam()
            return DispenseResult(outcome=DispenseOutcome.JAMMED)
        partial = self._consume(CdmFault.PARTIAL_DISPENSE)
        shortage = self._consume(CdmFault.NOTE_SHORTAGE)
        note_error = self._consume(CdmFault.NOTE_ERROR)
        budget = _total(notes) // 2 if partial else None
        for denom, n in sorted(notes.items(), reverse=True):
            if note_error and self._available(req.currency).get(denom, 0) > n:
                note_error = False
                self._pick(denom, 1, req.currency)
                self._stacker[denom] -= 1
                self._to_bin("REJECT", Counter({denom: 1}))
                events(NoteErrorEvent(device=self.name, denomination=denom))
            if shortage:
                first = next(u for u in self.cassettes if u.denomination == denom and u.usable)
                self._pick(denom, min(n // 2, first.count), req.currency)
                self._replace_unit(self.unit(first.unit_id).with_status(StorageStatus.INOPERATIVE))
                self._update(stacker=PositionStatus.NOT_EMPTY if self._stacker else
                             PositionStatus.EMPTY)
                return self._stacked(DispenseOutcome.CASH_UNIT_ERROR)
            want = n if budget is None else min(n, budget - _total(self._stacker))
            self._pick(denom, want, req.currency)
            if budget is not None and _total(self._stacker) >= budget:
                break
        self._update(stacker=PositionStatus.NOT_EMPTY)
        if partial:
            self._jam()
            events(IncompleteDispenseEvent(device=self.name, notes=dict(+self._stacker)))
            return self._stacked(DispenseOutcome.PARTIAL)
        return self._stacked(DispenseOutcome.OK)

    def _stacked(self, outcome: DispenseOutcome) -> DispenseResult:
        notes = dict(+self._stacker)
        return DispenseResult(outcome=outcome, notes=notes, amount_dispensed=_value(notes))

    def _jam(self) -> None:
        self._update(transport=TransportStatus.INOPERATIVE, device=DeviceState.HARDWARE_ERROR)

    async def _do_present(  # noqa: PLR0911 -- one early return per XFS outcome
        self, req: PresentRequest, events: EventSink
    ) -> PresentResult:
        if self.status.transport is not TransportStatus.OK:
            return PresentResult(outcome=PresentOutcome.DEVICE_NOT_READY)
        if not +self._stacker:
            return PresentResult(outcome=PresentOutcome.NO_ITEMS)
        if self._consume(CdmFault.SHUTTER_FAILURE):
            self._update(shutter=ShutterStatus.JAMMED_CLOSED)
            return PresentResult(outcome=PresentOutcome.SHUTTER_FAILURE)
        notes = dict(+self._stacker)
        self._exit.update(self._stacker)
        self._stacker.clear()
        self._taken.clear()
        self._update(
            shutter=ShutterStatus.OPEN, stacker=PositionStatus.EMPTY, exit=PositionStatus.NOT_EMPTY
        )
        events(ItemsPresentedEvent(device=self.name, notes=notes))
        not_taken = self._consume(CdmFault.ITEMS_NOT_TAKEN)
        if self._auto_take and not not_taken:
            self.take()
            return PresentResult(outcome=PresentOutcome.TAKEN, notes=notes)
        try:
            await asyncio.wait_for(self._taken.wait(), req.taken_timeout)
        except TimeoutError:
            if not req.retract_if_not_taken:
                return PresentResult(outcome=PresentOutcome.NOT_TAKEN, notes=notes)
            moved = await self._do_move(self._exit, "RETRACT", exit_=True)
            if moved.outcome is not RetractOutcome.OK:
                return PresentResult(outcome=PresentOutcome.NOT_TAKEN, notes=notes)
            return PresentResult(outcome=PresentOutcome.RETRACTED, notes=notes)
        return PresentResult(outcome=PresentOutcome.TAKEN, notes=notes)

    async def _do_move(self, source: Counter[int], bin_id: str, *, exit_: bool) -> RetractResult:
        notes = +source
        if not notes:
            return RetractResult(outcome=RetractOutcome.NO_ITEMS)
        if self.unit(bin_id).space < _total(notes):
            return RetractResult(outcome=RetractOutcome.BIN_FULL)
        source.clear()
        self._to_bin(bin_id, notes)
        if exit_:
            self._update(exit=PositionStatus.EMPTY, shutter=ShutterStatus.CLOSED)
        else:
            self._update(stacker=PositionStatus.EMPTY)
        return RetractResult(outcome=RetractOutcome.OK, notes=dict(notes))

    async def _do_reset(self) -> ResetResult:
        notes = +self._stacker + +self._exit
        self._stacker.clear()
        self._exit.clear()
        self._to_bin("REJECT", notes)
        self._update(
            device=DeviceState.ONLINE,
            transport=TransportStatus.OK,
            shutter=ShutterStatus.CLOSED,
            stacker=PositionStatus.EMPTY,
            exit=PositionStatus.EMPTY,
        )
        return ResetResult(completion=CompletionCode.SUCCESS, notes=dict(notes))
