"""Repository interface and records of the host's ledger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from sst.common.redact import mask_pan

__all__ = [
    "AccountRecord",
    "AuthorisationRecord",
    "CardRecord",
    "CommitOutcome",
    "LedgerStore",
    "PinMethod",
    "PinTryUpdate",
    "TerminalRecord",
]

MAX_PIN_TRIES = 3


class PinMethod(Enum):
    VISA_PVV = "pvv"
    IBM_3624 = "ibm3624"


class PinTryUpdate(Enum):
    NONE = "none"
    RESET = "reset"
    INCREMENT = "increment"


@dataclass(frozen=True, kw_only=True)
class CardRecord:
    pan: str
    account_no: str
    expiry: str
    service_code: str
    pin_method: PinMethod
    pvk_name: str
    pvki: int = 1
    pvv: str = field(default="", repr=False)
    ibm_offset: str = field(default="", repr=False)
    decimalization_table: str = "0123456789012345"
    pin_validation_data: str = ""
    pin_tries: int = 0
    status: str = "active"

    def __repr__(self) -> str:
        return (f"CardRecord(pan={mask_pan(self.pan)!r}, account_no={self.account_no!r}, "
                f"pin_method={self.pin_method.value!r}, pin_tries={self.pin_tries}, status={self.status!r})")

    @property
    def pin_locked(self) -> bool:
        return self.pin_tries >= MAX_PIN_TRIES


@dataclass(frozen=True, kw_only=True)
class AccountRecord:
    account_no: str
    customer_id: str
    currency: str
    balance: int


@dataclass(frozen=True, kw_only=True)
class TerminalRecord:
    terminal_id: str
    merchant_id: str
    tpk_lmk: str = field(repr=False)
    tpk_kcv: str
    status: str = "active"


@dataclass(frozen=True, kw_only=True)
class AuthorisationRecord:
    """What one request did; stored for duplicates, the journal and reversals."""

    terminal_id: str
    stan: str
    local_date: str
    rrn: str
    mti: str
    processing_code: str
    pan_masked: str
    account_no: str | None
    amount: int
    currency: str
    response_code: str
    auth_code: str | None
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class CommitOutcome:
    response_code: str
    auth_code: str | None
    balance: int | None
    duplicate: bool = False
    response_fields: dict[str, str] | None = None


class LedgerStore(Protocol):
    """The host's ledger: every method is one database transaction."""

    def find_card(self, pan: str) -> CardRecord | None: ...
    def find_terminal(self, terminal_id: str) -> TerminalRecord | None: ...
    def find_account(self, account_no: str) -> AccountRecord | None: ...
    def key(self, name: str) -> str: ...
    def find_response(self, terminal_id: str, stan: str, local_date: str) -> dict[str, str] | None: ...
    def commit_authorisation(self, record: AuthorisationRecord, *, debit: int, pan: str | None,
                             pin_update: PinTryUpdate,
                             build_response: Callable[[CommitOutcome], dict[str, str]]
                             ) -> CommitOutcome: ...
    def journal(self, *, limit: int = 100) -> list[dict[str, object]]: ...
    def close(self) -> None: ...
