"""Repository interface and records of the host's ledger.

The ledger is a set of repositories behind two ``typing.Protocol`` interfaces:

* :class:`LedgerStore`: snapshot reads used while the pipeline prepares (card, terminal, key,
  account, duplicate lookup) and :meth:`LedgerStore.transaction`, which opens **one database
  transaction per message**;
* :class:`LedgerTx`: what may be done inside that transaction. Every ``lock_*`` method returns
  the current row and must keep it locked until the transaction ends (SQLite: ``BEGIN IMMEDIATE``
  serialises writers; PostgreSQL: ``SELECT ... FOR UPDATE``, accounts locked in sorted order by
  :meth:`LedgerTx.lock_accounts` so two host instances never deadlock).

Business rules (funds checks, reversal arithmetic, holds) live in ``host.auth``, never in an
implementation, so a PostgreSQL store only implements these primitives. Money is integer minor
units. A ``posting`` moves ``amount`` into an account (negative = debit); every message posts
pairs that sum to zero (customer account against the terminal's settlement account), so the
sum of all balances is conserved and the sum of all postings is zero.

``AdminStore`` is the synchronous operations side (CLI, seeding, journal).

Implementations: :mod:`host.store.sqlite` (embedded default) and :mod:`host.store.postgres`
(several host instances on one database).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from sst.common.redact import mask_pan

__all__ = [
    "MAX_PIN_TRIES",
    "AccountKind",
    "AccountRecord",
    "AdminStore",
    "AuthorisationRecord",
    "CardRecord",
    "CustomerRecord",
    "HoldRecord",
    "HoldStatus",
    "LedgerStore",
    "LedgerTx",
    "MessageKey",
    "PinMethod",
    "PinTryUpdate",
    "PostingRecord",
    "Status",
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


class Status(Enum):
    """Status of a card, account, customer or terminal."""

    ACTIVE = "active"
    BLOCKED = "blocked"


class AccountKind(Enum):
    CUSTOMER = "customer"
    SETTLEMENT = "settlement"  # per terminal: receives the opposite posting; may go negative


class HoldStatus(Enum):
    OPEN = "open"
    CAPTURED = "captured"
    RELEASED = "released"


@dataclass(frozen=True, kw_only=True)
class CustomerRecord:
    customer_id: str
    name: str
    status: str = "active"


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
    customer_id: str = ""
    mk_ac_name: str = ""

    def __repr__(self) -> str:
        return (
            f"CardRecord(pan={mask_pan(self.pan)!r}, account_no={self.account_no!r}, "
            f"pin_method={self.pin_method.value!r}, pin_tries={self.pin_tries}, "
            f"status={self.status!r})"
        )

    @property
    def pin_locked(self) -> bool:
        return self.pin_tries >= MAX_PIN_TRIES


@dataclass(frozen=True, kw_only=True)
class AccountRecord:
    account_no: str
    customer_id: str | None
    currency: str
    balance: int
    held: int = 0
    kind: str = "customer"
    status: str = "active"

    @property
    def available(self) -> int:
        return self.balance - self.held


@dataclass(frozen=True, kw_only=True)
class TerminalRecord:
    """A terminal: its keys under the LMK and its security configuration.

    ``pin_mode`` is ``tpk`` (PIN blocks under the terminal PIN key) or ``dukpt`` (under a key
    derived from ``bdk_name`` and the KSN); ``mac_required`` asks for field 64/128 both ways.
    """

    terminal_id: str
    merchant_id: str
    tpk_lmk: str = field(repr=False)
    tpk_kcv: str
    status: str = "active"
    tmk_lmk: str = field(default="", repr=False)
    tak_lmk: str = field(default="", repr=False)
    tak_kcv: str = ""
    pin_mode: str = "tpk"
    bdk_name: str = ""
    mac_required: bool = False
    settlement_account: str = ""
    signed_on: bool = False


@dataclass(frozen=True, kw_only=True)
class MessageKey:
    """Duplicate-detection key: (terminal, STAN, local date, message class)."""

    terminal_id: str
    stan: str
    local_date: str
    message_class: str


@dataclass(frozen=True, kw_only=True)
class AuthorisationRecord:
    """What one message did; stored for duplicates, the journal and reversals."""

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
    transmission_datetime: str = ""
    message_class: str = ""
    auth_id: int = 0
    reversed_amount: int = 0
    response: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, kw_only=True)
class PostingRecord:
    posting_id: int
    auth_id: int
    account_no: str
    amount: int
    balance_after: int
    created_at: str
    processing_code: str = ""
    local_date: str = ""


@dataclass(frozen=True, kw_only=True)
class HoldRecord:
    hold_id: int
    auth_id: int
    account_no: str
    amount: int
    status: HoldStatus


class LedgerTx(Protocol):
    """One database transaction (committed when the ``transaction()`` block exits normally)."""

    async def find_message(self, key: MessageKey) -> AuthorisationRecord | None:
        """The stored record (and response) of a message already processed, if any."""
        ...

    async def find_original(
        self,
        *,
        terminal_id: str,
        stan: str,
        message_classes: Sequence[str],
        transmission_datetime: str | None,
        rrn: str | None = None,
    ) -> AuthorisationRecord | None:
        """The latest approved message from ``terminal_id`` with this STAN (or RRN if given)
        in one of ``message_classes`` (and this field 7 when given), locked."""
        ...

    async def lock_card(self, pan: str) -> CardRecord | None: ...

    async def set_pin_tries(self, pan: str, tries: int) -> None: ...

    async def set_pin_reference(
        self, pan: str, *, pvv: str | None = None, ibm_offset: str | None = None
    ) -> None:
        """Store a new PVV or IBM offset (PIN change)."""
        ...

    async def lock_accounts(self, account_nos: Sequence[str]) -> dict[str, AccountRecord]:
        """Lock and return these accounts (missing ones are absent from the result)."""
        ...

    async def insert_message(self, record: AuthorisationRecord) -> int:
        """Store the message record with its response; returns its ``auth_id``."""
        ...

    async def post(self, *, auth_id: int, account_no: str, amount: int) -> int:
        """Add ``amount`` to the balance and record the posting; returns the new balance."""
        ...

    async def postings_of(self, auth_id: int) -> list[PostingRecord]: ...

    async def add_reversed(self, auth_id: int, amount: int) -> None:
        """Increase the original's ``reversed_amount``."""
        ...

    async def add_hold(self, *, auth_id: int, account_no: str, amount: int) -> int: ...

    async def open_hold_of(self, auth_id: int) -> HoldRecord | None: ...

    async def close_hold(self, hold_id: int, status: HoldStatus) -> None: ...

    async def set_terminal_key(self, terminal_id: str, *, key: str, key_lmk: str, kcv: str) -> None:
        """Replace the terminal's TPK or TAK (``key`` ``tpk``/``tak``)."""
        ...

    async def set_signed_on(self, terminal_id: str, signed_on: bool) -> None: ...

    async def store_key(self, name: str, key_lmk: str, kcv: str) -> None: ...

    def risk_connection(self) -> Any:
        """The DB-API connection this transaction is open on (the risk store runs its counter
        SQL here, so risk counters commit or roll back with the ledger's postings)."""
        ...


class LedgerStore(Protocol):
    """The host's ledger as the message pipeline sees it (async; one transaction per message)."""

    async def get_card(self, pan: str) -> CardRecord | None: ...
    async def get_terminal(self, terminal_id: str) -> TerminalRecord | None: ...
    async def get_account(self, account_no: str) -> AccountRecord | None: ...
    async def get_key(self, name: str) -> str | None: ...
    async def get_response(self, key: MessageKey) -> dict[str, str] | None: ...
    async def statement(self, account_no: str, *, limit: int) -> list[PostingRecord]: ...
    def transaction(self) -> AbstractAsyncContextManager[LedgerTx]: ...
    def close(self) -> None: ...


class AdminStore(Protocol):
    """Operations side (synchronous): CLI, seeding, journal, conservation checks."""

    def upsert(self, table: str, row: dict[str, Any]) -> None: ...
    def update(self, table: str, key: str, values: dict[str, Any]) -> bool: ...
    def list_rows(self, table: str, *, limit: int = 100) -> list[dict[str, Any]]: ...
    def get_row(self, table: str, key: str) -> dict[str, Any] | None: ...
    def set_status(self, table: str, key: str, status: str) -> bool: ...
    def journal(self, *, limit: int = 100) -> list[dict[str, Any]]: ...
    def totals(self) -> dict[str, int]: ...
    def transaction_sync(self) -> AbstractContextManager[None]:
        """One synchronous transaction around several admin writes (seeding)."""
        ...

    def close(self) -> None: ...
