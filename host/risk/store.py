"""The risk repository interface (``RiskStore``) and the records it returns.

Two kinds of writes exist:

* ``apply``/``restore``/``revoke_transfer``/``mark_credited`` take the *open* connection of the
  ledger's transaction (``conn``): counters, moves, events, the decision record and pending
  transfers commit or roll back with the ledger posting.
* everything else (KYC records, challenges and the OTP outbox, notices, cases) is its own short
  transaction; if the store shares a connection that is already inside a transaction it joins it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from host.risk.kyc import AccountLink, CustomerRecord
from host.risk.limits import Scope
from host.risk.records import CardLink, Decision, Factor, RiskEvent

__all__ = [
    "ApplyResult",
    "CaseRecord",
    "ChallengeRecord",
    "CounterKey",
    "LedgerRiskStore",
    "PendingTransfer",
    "RiskStore",
    "RiskTxStore",
]

CounterKey = tuple[Scope, str, str, str]  # scope, scope_id, bucket, period key


@dataclass(frozen=True, kw_only=True)
class ApplyResult:
    """The final risk answer inside the ledger transaction (a race may turn 00 into 61/65)."""

    response_code: str
    reason: str = ""
    duplicate: bool = False


@dataclass(frozen=True, kw_only=True)
class ChallengeRecord:
    challenge_id: str
    customer_id: str
    card: str
    factor: Factor
    secret_hash: str
    created_at: datetime
    expires_at: datetime
    attempts: int
    status: str  # OPEN | VERIFIED | FAILED | EXPIRED


@dataclass(frozen=True, kw_only=True)
class PendingTransfer:
    txn_ref: str
    customer_id: str
    account_no: str
    payee_account: str
    amount: int
    accepted_at: datetime
    due_at: datetime
    status: str  # PENDING | REVOKED | CREDITED


@dataclass(frozen=True, kw_only=True)
class CaseRecord:
    case_id: int
    customer_id: str
    status: str
    opened_at: datetime
    rule_ids: tuple[str, ...]
    txn_refs: tuple[str, ...]
    score: int
    narrative: str = ""
    reviewer: str = ""
    drafter: str = ""
    approver: str = ""
    confirmed_at: datetime | None = None
    filed_at: datetime | None = None


class RiskStore(Protocol):
    """Repository of the risk package (adapters: ``host.risk.store_sqlite``,
    ``host.risk.store_pg``)."""

    # KYC and links
    def put_customer(self, rec: CustomerRecord) -> None: ...
    def customer(self, customer_id: str) -> CustomerRecord | None: ...
    def customers(self) -> list[CustomerRecord]: ...
    def find_customer_by_id_hash(self, lookup_hash: str) -> str | None: ...
    def put_account(self, link: AccountLink) -> None: ...
    def account(self, account_no: str) -> AccountLink | None: ...
    def put_card(self, link: CardLink) -> None: ...
    def card(self, card: str) -> CardLink | None: ...
    def cards_of(self, customer_id: str) -> list[CardLink]: ...
    def link_customers(self, a: str, b: str) -> None: ...
    def linked(self, customer_id: str) -> list[str]: ...
    def record_pin_change(self, card: str, at: datetime, *, reset: bool) -> None: ...
    def last_activity(self, customer_id: str) -> datetime | None: ...

    # decision-time reads
    def counters(self, scopes: list[tuple[Scope, str]], periods: list[str]
                 ) -> dict[CounterKey, tuple[int, int]]: ...
    def events(self, customer_ids: list[str], since: datetime) -> list[RiskEvent]: ...

    # step-up
    def issue_challenge(self, rec: ChallengeRecord, *, phone: str, text: str) -> None: ...
    def challenge(self, challenge_id: str) -> ChallengeRecord | None: ...
    def record_attempt(self, challenge_id: str, *, ok: bool, at: datetime, txn_ref: str,
                       detail: str) -> None: ...
    def otp_outbox(self, customer_id: str) -> list[dict[str, Any]]: ...
    def register_video(
        self, ref: str, customer_id: str, *, matched: bool, at: datetime,
    ) -> None: ...
    def video(self, ref: str) -> tuple[str, bool] | None: ...

    # in the ledger transaction
    def apply(self, conn: Any, decision: Decision, response_code: str) -> ApplyResult: ...
    def restore(self, conn: Any, txn_ref: str, *, reversal_ref: str, at: datetime,
                amount: int | None = None) -> int: ...
    def revoke_transfer(self, conn: Any, txn_ref: str, *, at: datetime) -> bool: ...
    def mark_credited(self, conn: Any, txn_ref: str, *, at: datetime) -> bool: ...
    def due_transfers(self, at: datetime) -> list[PendingTransfer]: ...
    def pending_transfer(self, txn_ref: str) -> PendingTransfer | None: ...

    # post-event
    def decision(self, key: str) -> dict[str, Any] | None: ...
    def add_notice(self, customer_id: str, kind: str, day: date, detail: str) -> bool: ...
    def notices(self, since: date | None = None) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


class RiskTxStore(Protocol):
    """The risk writes made inside the ledger's open transaction, as the host's ledger hook
    calls them (``conn`` is ``LedgerTx.risk_connection()``: a ``sqlite3.Connection`` or a psycopg
    ``AsyncConnection``). Async so that a PostgreSQL store can await its statements; the SQLite
    store's versions never suspend."""

    async def apply_tx(self, conn: Any, decision: Decision, response_code: str
                       ) -> ApplyResult: ...
    async def restore_tx(self, conn: Any, txn_ref: str, *, reversal_ref: str, at: datetime,
                         amount: int | None = None) -> int: ...
    async def revoke_transfer_tx(self, conn: Any, txn_ref: str, *, at: datetime) -> bool: ...
    async def mark_credited_tx(self, conn: Any, txn_ref: str, *, at: datetime) -> bool: ...
    async def pending_transfer_tx(self, conn: Any, txn_ref: str) -> PendingTransfer | None: ...
    async def record_pin_change_tx(self, conn: Any, card: str, at: datetime, *,
                                   reset: bool) -> None: ...


class LedgerRiskStore(RiskStore, RiskTxStore, Protocol):
    """A risk store the host can wire into its ledger (both adapters are one)."""
