"""Shared choices of the risk package: channels, transaction types, grades, outcomes.

Money is always integer minor units (fen) of CNY. Natural days are Asia/Shanghai days; China has
kept UTC+8 without daylight saving since 1991, so a fixed offset is exact and needs no tz data.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from enum import Enum

__all__ = [
    "CHINA_TZ",
    "Channel",
    "Direction",
    "Outcome",
    "Period",
    "RiskGrade",
    "TxnType",
    "local_day",
    "period_key",
]

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


class Channel(Enum):
    ATM = "ATM"
    POS = "POS"
    COUNTER = "COUNTER"
    ONLINE = "ONLINE"
    MOBILE = "MOBILE"
    PHONE = "PHONE"

    @property
    def non_counter(self) -> bool:
        return self is not Channel.COUNTER


class TxnType(Enum):
    CASH_WITHDRAWAL = "CASH_WITHDRAWAL"
    CASH_DEPOSIT = "CASH_DEPOSIT"
    PURCHASE = "PURCHASE"
    TRANSFER_OWN = "TRANSFER_OWN"      # to the customer's own / bound account
    TRANSFER_OTHER = "TRANSFER_OTHER"  # to someone else's account
    TRANSFER_IN = "TRANSFER_IN"
    BALANCE_INQUIRY = "BALANCE_INQUIRY"
    PIN_CHANGE = "PIN_CHANGE"

    @property
    def direction(self) -> Direction:
        if self in (TxnType.CASH_DEPOSIT, TxnType.TRANSFER_IN):
            return Direction.IN
        if self in (TxnType.CASH_WITHDRAWAL, TxnType.PURCHASE, TxnType.TRANSFER_OTHER):
            return Direction.OUT
        return Direction.NONE

    @property
    def cash(self) -> bool:
        return self in (TxnType.CASH_WITHDRAWAL, TxnType.CASH_DEPOSIT)

    @property
    def financial(self) -> bool:
        return self not in (TxnType.BALANCE_INQUIRY, TxnType.PIN_CHANGE)


class Direction(Enum):
    IN = "IN"     # 收
    OUT = "OUT"   # 付 (to non-bound accounts, cash, purchases)
    NONE = "NONE"


class RiskGrade(Enum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class Period(Enum):
    TXN = "TXN"
    DAY = "DAY"
    MONTH = "MONTH"
    YEAR = "YEAR"


class Outcome(Enum):
    APPROVE = "APPROVE"
    APPROVE_PENDING_24H = "APPROVE_PENDING_24H"
    REVIEW = "REVIEW"          # approved, case opened
    CHALLENGE = "CHALLENGE"    # 1A, step-up required
    DECLINE = "DECLINE"

    @property
    def approved(self) -> bool:
        return self in (Outcome.APPROVE, Outcome.APPROVE_PENDING_24H, Outcome.REVIEW)


def local_day(at: datetime) -> date:
    """The Asia/Shanghai natural day of an aware datetime.

    Examples
    --------
    >>> local_day(datetime(2026, 3, 1, 16, 30, tzinfo=timezone.utc))
    datetime.date(2026, 3, 2)
    """
    return at.astimezone(CHINA_TZ).date()


def period_key(period: Period, day: date) -> str:
    """Counter period key: ``D2026-03-02``, ``M2026-03``, ``Y2026``.

    Examples
    --------
    >>> [period_key(p, date(2026, 3, 2)) for p in (Period.DAY, Period.MONTH, Period.YEAR)]
    ['D2026-03-02', 'M2026-03', 'Y2026']
    """
    if period is Period.DAY:
        return f"D{day.isoformat()}"
    if period is Period.MONTH:
        return f"M{day.year:04d}-{day.month:02d}"
    if period is Period.YEAR:
        return f"Y{day.year:04d}"
    raise ValueError("per-transaction limits have no counter period")
