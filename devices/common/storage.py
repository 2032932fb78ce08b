"""Storage units: cassettes, card retain bins, reject/retract bins and receipt paper.

One model for every unit (XFS4IoT ``Storage``): a count, a capacity and two thresholds. For a
unit that is emptied by use (cassette, paper) the low threshold matters; for a unit that fills
up (bins) the high threshold does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ReplenishmentStatus", "StorageKind", "StorageStatus", "StorageUnit"]


class StorageKind(StrEnum):
    """What the unit holds and which way it goes."""

    CASSETTE = "cassette"
    RETAIN_BIN = "retainBin"
    REJECT_BIN = "rejectBin"
    RETRACT_BIN = "retractBin"
    PAPER = "paper"

    @property
    def fills_up(self) -> bool:
        """True for bins (count grows with use), False for cassettes and paper."""
        return self in {StorageKind.RETAIN_BIN, StorageKind.REJECT_BIN, StorageKind.RETRACT_BIN}


class StorageStatus(StrEnum):
    """Physical status of the unit (XFS4IoT ``Storage.status``)."""

    OK = "ok"
    INOPERATIVE = "inoperative"
    MISSING = "missing"
    NOT_CONFIGURED = "notConfigured"


class ReplenishmentStatus(StrEnum):
    """Fill level against the thresholds (XFS4IoT ``replenishmentStatus``)."""

    OK = "ok"
    FULL = "full"
    HIGH = "high"
    LOW = "low"
    EMPTY = "empty"


@dataclass(frozen=True, kw_only=True)
class StorageUnit:
    """An immutable snapshot of one storage unit.

    Parameters
    ----------
    unit_id:
        Stable identifier (``"CASS1"``, ``"RETAIN"``, ``"PAPER"``).
    kind:
        What the unit is.
    count:
        Items (notes, cards, lines of paper) currently in the unit.
    capacity:
        Maximum number of items.
    low_threshold, high_threshold:
        ``count <= low_threshold`` is LOW (dispensing units); ``count >= high_threshold`` is HIGH
        (bins). Zero disables the threshold.
    initial_count:
        Count at the last replenishment.
    status:
        Physical status.
    denomination:
        Value of one note in minor units (cassettes only, else 0).
    currency:
        ISO 4217 alpha code (cassettes only, else ``""``).

    Examples
    --------
    >>> u = StorageUnit(unit_id="CASS1", kind=StorageKind.CASSETTE, count=5, capacity=100,
    ...                 low_threshold=10, denomination=10000, currency="CNY")
    >>> u.replenishment
    <ReplenishmentStatus.LOW: 'low'>
    >>> u.take(5).replenishment
    <ReplenishmentStatus.EMPTY: 'empty'>
    """

    unit_id: str
    kind: StorageKind
    count: int
    capacity: int
    low_threshold: int = 0
    high_threshold: int = 0
    initial_count: int | None = None
    status: StorageStatus = StorageStatus.OK
    denomination: int = 0
    currency: str = ""

    def __post_init__(self) -> None:
        if self.capacity < 0 or not 0 <= self.count <= self.capacity:
            raise ValueError("storage count must be within 0..capacity")
        if self.initial_count is None:
            object.__setattr__(self, "initial_count", self.count)

    @property
    def replenishment(self) -> ReplenishmentStatus:
        """Fill level against capacity and thresholds."""
        if self.kind.fills_up:
            if self.count >= self.capacity:
                return ReplenishmentStatus.FULL
            if self.high_threshold and self.count >= self.high_threshold:
                return ReplenishmentStatus.HIGH
            return ReplenishmentStatus.OK
        if self.count == 0:
            return ReplenishmentStatus.EMPTY
        if self.low_threshold and self.count <= self.low_threshold:
            return ReplenishmentStatus.LOW
        return ReplenishmentStatus.OK

    @property
    def usable(self) -> bool:
        """True when the unit is present and working."""
        return self.status is StorageStatus.OK

    @property
    def space(self) -> int:
        """Free places left."""
        return self.capacity - self.count

    def with_count(self, count: int) -> StorageUnit:
        """A copy holding ``count`` items."""
        return dataclasses.replace(self, count=count)

    def take(self, n: int) -> StorageUnit:
        """A copy with ``n`` items removed."""
        if n < 0 or n > self.count:
            raise ValueError("cannot take more items than the unit holds")
        return self.with_count(self.count - n)

    def add(self, n: int) -> StorageUnit:
        """A copy with ``n`` items added."""
        if n < 0 or n > self.space:
            raise ValueError("not enough space in the unit")
        return self.with_count(self.count + n)

    def with_status(self, status: StorageStatus) -> StorageUnit:
        """A copy with another physical status."""
        return dataclasses.replace(self, status=status)

    def replenished(self, count: int) -> StorageUnit:
        """A copy after a supervisor exchange: ``count`` items, status OK, initial count reset."""
        return dataclasses.replace(self, count=count, initial_count=count, status=StorageStatus.OK)
