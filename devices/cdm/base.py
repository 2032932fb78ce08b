"""The cash dispenser interface (XFS4IoT CashDispenser): Protocol, requests, results, events.

Amounts are integers in minor units of ``currency`` (CNY 100.00 = 10000).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from devices.cdm.mix import MixAlgorithm
from devices.common.codes import CompletionCode, DeviceState, Outcome
from devices.common.events import DeviceEvent, EventSink
from devices.common.storage import StorageUnit

__all__ = [
    "CashDispenser",
    "CdmCapabilities",
    "CdmStatus",
    "DispenseOutcome",
    "DispenseRequest",
    "DispenseResult",
    "DispenserCounters",
    "IncompleteDispenseEvent",
    "ItemsPresentedEvent",
    "ItemsTakenEvent",
    "NoteErrorEvent",
    "PositionStatus",
    "PresentOutcome",
    "PresentRequest",
    "PresentResult",
    "ResetResult",
    "RetractOutcome",
    "RetractResult",
    "ShutterStatus",
    "TransportStatus",
]


class DispenseOutcome(Outcome):
    """How ``dispense`` ended (notes are then in the stacker, or none were picked)."""

    OK = ("ok", CompletionCode.SUCCESS, None)
    NOT_DISPENSABLE = ("notDispensable", CompletionCode.COMMAND_ERROR_CODE, "notDispensable")
    INVALID_CURRENCY = ("invalidCurrency", CompletionCode.COMMAND_ERROR_CODE, "invalidCurrency")
    INVALID_AMOUNT = ("invalidAmount", CompletionCode.INVALID_DATA, None)
    TOO_MANY_ITEMS = ("tooManyItems", CompletionCode.COMMAND_ERROR_CODE, "tooManyItems")
    ITEMS_LEFT = ("itemsLeft", CompletionCode.COMMAND_ERROR_CODE, "itemsLeft")
    CASH_UNIT_ERROR = ("cashUnitError", CompletionCode.COMMAND_ERROR_CODE, "cashUnitError")
    JAMMED = ("jammed", CompletionCode.HARDWARE_ERROR, None)
    PARTIAL = ("partial", CompletionCode.HARDWARE_ERROR, None)  # with IncompleteDispenseEvent
    DEVICE_NOT_READY = ("deviceNotReady", CompletionCode.DEVICE_NOT_READY, None)
    TIMEOUT = ("timeout", CompletionCode.TIMEOUT, None)
    CANCELED = ("canceled", CompletionCode.CANCELED, None)


class PresentOutcome(Outcome):
    """How ``present`` ended."""

    TAKEN = ("taken", CompletionCode.SUCCESS, None)
    NOT_TAKEN = ("notTaken", CompletionCode.COMMAND_ERROR_CODE, "itemsNotTaken")
    RETRACTED = ("retracted", CompletionCode.COMMAND_ERROR_CODE, "itemsNotTaken")
    SHUTTER_FAILURE = ("shutterFailure", CompletionCode.COMMAND_ERROR_CODE, "shutterNotOpen")
    NO_ITEMS = ("noItems", CompletionCode.COMMAND_ERROR_CODE, "noItems")
    DEVICE_NOT_READY = ("deviceNotReady", CompletionCode.DEVICE_NOT_READY, None)
    TIMEOUT = ("timeout", CompletionCode.TIMEOUT, None)
    CANCELED = ("canceled", CompletionCode.CANCELED, None)


class RetractOutcome(Outcome):
    """How ``retract`` or ``reject`` ended."""

    OK = ("ok", CompletionCode.SUCCESS, None)
    NO_ITEMS = ("noItems", CompletionCode.COMMAND_ERROR_CODE, "noItems")
    BIN_FULL = ("binFull", CompletionCode.COMMAND_ERROR_CODE, "cashUnitError")
    DEVICE_NOT_READY = ("deviceNotReady", CompletionCode.DEVICE_NOT_READY, None)
    TIMEOUT = ("timeout", CompletionCode.TIMEOUT, None)
    CANCELED = ("canceled", CompletionCode.CANCELED, None)


class ShutterStatus(StrEnum):
    """Output shutter."""

    CLOSED = "closed"
    OPEN = "open"
    JAMMED_CLOSED = "jammedClosed"
    UNKNOWN = "unknown"


class PositionStatus(StrEnum):
    """Whether notes wait in the stacker or at the exit."""

    EMPTY = "empty"
    NOT_EMPTY = "notEmpty"


class TransportStatus(StrEnum):
    """Note transport."""

    OK = "ok"
    INOPERATIVE = "inoperative"  # jammed: reset needed


@dataclass(frozen=True, kw_only=True)
class DispenseRequest:
    """Pick notes for ``amount`` (minor units) into the stacker."""

    amount: int
    currency: str
    mix: MixAlgorithm = MixAlgorithm.MINIMUM_NOTES
    timeout: float | None = 60.0


@dataclass(frozen=True, kw_only=True)
class DispenseResult:
    """``notes`` are exactly the notes now in the stacker (denomination -> count)."""

    outcome: DispenseOutcome
    notes: dict[int, int] = field(default_factory=dict)
    amount_dispensed: int = 0

    @property
    def completion(self) -> CompletionCode:
        """XFS completion code."""
        return self.outcome.completion


@dataclass(frozen=True, kw_only=True)
class PresentRequest:
    """Open the shutter, present the stacked notes and wait until they are taken."""

    taken_timeout: float | None = 30.0
    retract_if_not_taken: bool = True


@dataclass(frozen=True, kw_only=True)
class PresentResult:
    """``notes`` are the notes that were presented."""

    outcome: PresentOutcome
    notes: dict[int, int] = field(default_factory=dict)

    @property
    def completion(self) -> CompletionCode:
        """XFS completion code."""
        return self.outcome.completion


@dataclass(frozen=True, kw_only=True)
class RetractResult:
    """``notes`` are the notes moved into the retract (or reject) bin."""

    outcome: RetractOutcome
    notes: dict[int, int] = field(default_factory=dict)

    @property
    def completion(self) -> CompletionCode:
        """XFS completion code."""
        return self.outcome.completion


@dataclass(frozen=True, kw_only=True)
class ResetResult:
    """Result of ``reset``; ``notes`` were cleared from the transport into the reject bin."""

    completion: CompletionCode
    notes: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CdmStatus:
    """Immutable status snapshot."""

    device: DeviceState = DeviceState.ONLINE
    shutter: ShutterStatus = ShutterStatus.CLOSED
    stacker: PositionStatus = PositionStatus.EMPTY
    exit: PositionStatus = PositionStatus.EMPTY
    transport: TransportStatus = TransportStatus.OK
    units: tuple[StorageUnit, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CdmCapabilities:
    """What the dispenser can do."""

    currencies: frozenset[str]
    denominations: frozenset[int]
    max_notes: int
    shutter_control: bool = True
    items_taken_sensor: bool = True
    retract: bool = True


@dataclass(frozen=True, kw_only=True)
class DispenserCounters:
    """Note totals for audit. Invariant:
    ``loaded - unloaded == remaining + dispensed + retracted + rejected + in_transport``."""

    loaded: int
    unloaded: int
    remaining: int
    dispensed: int
    retracted: int
    rejected: int
    in_transport: int


@dataclass(frozen=True, kw_only=True)
class ItemsPresentedEvent(DeviceEvent):
    """Notes are at the open shutter."""

    notes: dict[int, int]


@dataclass(frozen=True, kw_only=True)
class ItemsTakenEvent(DeviceEvent):
    """The customer took the notes."""


@dataclass(frozen=True, kw_only=True)
class IncompleteDispenseEvent(DeviceEvent):
    """Only part of the amount was picked; ``notes`` are exactly what was picked."""

    notes: dict[int, int]


@dataclass(frozen=True, kw_only=True)
class NoteErrorEvent(DeviceEvent):
    """A note was diverted to the reject bin (double pick, bad note)."""

    denomination: int


@runtime_checkable
class CashDispenser(Protocol):
    """A cash dispenser with stacker, shutter, cassettes, reject and retract bins."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> CdmStatus: ...

    @property
    def capabilities(self) -> CdmCapabilities: ...

    async def dispense(self, req: DispenseRequest, events: EventSink) -> DispenseResult:
        """Pick notes into the stacker."""

    async def present(self, events: EventSink, req: PresentRequest | None = None) -> PresentResult:
        """Present the stacked notes; wait for taken, else retract (per request)."""

    async def retract(self, events: EventSink) -> RetractResult:
        """Pull notes left at the exit into the retract bin."""

    async def reject(self, events: EventSink) -> RetractResult:
        """Move notes from the stacker into the reject bin (never presented)."""

    async def reset(self) -> ResetResult:
        """Clear a jam; notes in the transport go to the reject bin."""

    async def replenish(self, unit_id: str, count: int) -> StorageUnit:
        """Supervisor: set a cassette's count (exchange), or empty a bin with ``count=0``."""

    def counters(self) -> DispenserCounters:
        """Audit totals."""

    def cancel(self) -> bool:
        """Cancel the running command; it completes with CANCELED."""
