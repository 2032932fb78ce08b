"""PostgreSQL adapter of :class:`host.risk.store.RiskStore` (the risk package's one psycopg module).

Same tables and semantics as :mod:`host.risk.store_sqlite` (``risk_*`` tables beside the ledger's,
times as UTC epoch seconds, days as Asia/Shanghai ISO dates), written for several host instances
on one database:

* **inside the ledger transaction** (:class:`host.risk.store.RiskTxStore`: ``apply_tx``,
  ``restore_tx``, ``pending_transfer_tx``, ``record_pin_change_tx``, ``mark_credited_tx``) the
  SQL runs on the ledger's *async* psycopg connection (``LedgerTx.risk_connection()``), so the
  counters, moves, events, the decision record and pending transfers commit or roll back with the
  postings;
* **counters stay exact across instances**: ``apply`` first makes sure every counter row it will
  check or move exists (``INSERT .. ON CONFLICT DO NOTHING``, keys in sorted order), then locks
  them all with one ``SELECT .. ORDER BY .. FOR UPDATE`` (the same order everywhere, so two
  instances never deadlock) and re-checks each limit against the locked values: the last
  allowance goes to exactly one instance, the other answers 61/65. ``restore`` locks the moves of
  the original and the counter rows (``FOR UPDATE``) the same way; a reversal reference is
  claimed first (``INSERT .. ON CONFLICT DO NOTHING``), so a reversal restores once;
* **everything else** (KYC records, step-up challenges and the OTP outbox, notices, decision-time
  reads) runs on the store's own synchronous connection in autocommit, each write its own short
  transaction. Those statements never wait for a row lock a ledger transaction holds (decision
  reads are plain ``SELECT`` s; the rows the ledger transaction locks are written only there).

``%s`` placeholders, identity columns, ``bytea`` for the encrypted ID number, ``ON CONFLICT``
instead of SQLite's ``OR IGNORE``/``OR REPLACE``. The synchronous ``apply``/``restore``/... of
:class:`~host.risk.store.RiskStore` take a synchronous connection (tests, ``RiskEngine.commit``)
and run the same code as the async ones (:func:`_drive`).
"""

from __future__ import annotations

import json
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypeVar

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row, tuple_row

from host.risk.kyc import AccountClass, AccountLink, CustomerRecord
from host.risk.limits import Scope
from host.risk.model import Channel, TxnType, local_day
from host.risk.records import CardLink, Decision, Factor, RiskEvent
from host.risk.store import ApplyResult, ChallengeRecord, CounterKey, PendingTransfer
from host.risk.store_sqlite import customer_from_json, customer_to_json, from_ts, ts

__all__ = ["SCHEMA", "PgRiskStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS risk_customers (
    customer_id TEXT PRIMARY KEY, record_json TEXT NOT NULL, id_hash TEXT NOT NULL,
    id_enc BYTEA, grade TEXT NOT NULL, status TEXT NOT NULL, customer_type TEXT NOT NULL,
    id_expiry TEXT, next_review_due TEXT, relationship_end TEXT,
    legal_hold TEXT NOT NULL DEFAULT '',
    anonymised INTEGER NOT NULL DEFAULT 0, last_activity_at BIGINT);
CREATE INDEX IF NOT EXISTS risk_customers_id_hash ON risk_customers(id_hash);
CREATE TABLE IF NOT EXISTS risk_accounts (
    account_no TEXT PRIMARY KEY, customer_id TEXT NOT NULL, account_class TEXT NOT NULL,
    bound_account_no TEXT);
CREATE TABLE IF NOT EXISTS risk_cards (
    card TEXT PRIMARY KEY, customer_id TEXT NOT NULL, account_no TEXT NOT NULL,
    pan_masked TEXT NOT NULL DEFAULT '', last_pin_change_at BIGINT,
    pin_reset_pending INTEGER NOT NULL DEFAULT 0, fingerprint_ref TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS risk_cards_customer ON risk_cards(customer_id);
CREATE TABLE IF NOT EXISTS risk_links (
    customer_id TEXT NOT NULL, linked_id TEXT NOT NULL, PRIMARY KEY (customer_id, linked_id));
CREATE TABLE IF NOT EXISTS risk_counters (
    scope TEXT NOT NULL, scope_id TEXT NOT NULL, period TEXT NOT NULL, bucket TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount >= 0), count BIGINT NOT NULL CHECK (count >= 0),
    PRIMARY KEY (scope, scope_id, period, bucket));
CREATE TABLE IF NOT EXISTS risk_moves (
    txn_ref TEXT NOT NULL, scope TEXT NOT NULL, scope_id TEXT NOT NULL, period TEXT NOT NULL,
    bucket TEXT NOT NULL, amount BIGINT NOT NULL, count BIGINT NOT NULL,
    remaining_amount BIGINT NOT NULL CHECK (remaining_amount >= 0),
    remaining_count BIGINT NOT NULL CHECK (remaining_count >= 0),
    PRIMARY KEY (txn_ref, scope, scope_id, period, bucket));
CREATE TABLE IF NOT EXISTS risk_reversals (
    reversal_ref TEXT PRIMARY KEY, txn_ref TEXT NOT NULL, amount BIGINT NOT NULL,
    at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS risk_events (
    event_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, txn_ref TEXT NOT NULL UNIQUE,
    rrn TEXT NOT NULL DEFAULT '', customer_id TEXT NOT NULL, card TEXT NOT NULL,
    account_no TEXT NOT NULL, terminal_id TEXT NOT NULL, channel TEXT NOT NULL,
    txn_type TEXT NOT NULL, amount BIGINT NOT NULL, at BIGINT NOT NULL, day TEXT NOT NULL,
    response_code TEXT NOT NULL, cash INTEGER NOT NULL, direction TEXT NOT NULL,
    cross_border INTEGER NOT NULL DEFAULT 0, counterparty TEXT NOT NULL DEFAULT '',
    reversed_amount BIGINT NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS risk_events_customer_at ON risk_events(customer_id, at);
CREATE INDEX IF NOT EXISTS risk_events_day ON risk_events(day);
CREATE TABLE IF NOT EXISTS risk_decisions (
    txn_ref TEXT PRIMARY KEY, rrn TEXT NOT NULL, at BIGINT NOT NULL, customer_id TEXT NOT NULL,
    grade TEXT NOT NULL DEFAULT '', channel TEXT NOT NULL, txn_type TEXT NOT NULL,
    amount BIGINT NOT NULL, outcome TEXT NOT NULL, decided_code TEXT NOT NULL,
    final_code TEXT NOT NULL, rule_id TEXT NOT NULL DEFAULT '', detail_json TEXT NOT NULL,
    score INTEGER NOT NULL DEFAULT 0, limits_version TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS risk_decisions_rrn ON risk_decisions(rrn);
CREATE INDEX IF NOT EXISTS risk_decisions_at ON risk_decisions(at);
CREATE TABLE IF NOT EXISTS risk_challenges (
    challenge_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, card TEXT NOT NULL,
    factor TEXT NOT NULL, secret_hash TEXT NOT NULL, created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'OPEN');
CREATE TABLE IF NOT EXISTS risk_stepup_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, challenge_id TEXT NOT NULL,
    at BIGINT NOT NULL, txn_ref TEXT NOT NULL, ok INTEGER NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS risk_otp_outbox (
    msg_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id TEXT NOT NULL,
    phone TEXT NOT NULL, text TEXT NOT NULL, challenge_id TEXT NOT NULL,
    created_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS risk_video_snapshots (
    ref TEXT PRIMARY KEY, customer_id TEXT NOT NULL, matched INTEGER NOT NULL,
    recorded_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS risk_pending_transfers (
    txn_ref TEXT PRIMARY KEY, customer_id TEXT NOT NULL, account_no TEXT NOT NULL,
    payee_account TEXT NOT NULL, amount BIGINT NOT NULL, accepted_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL, status TEXT NOT NULL, closed_at BIGINT);
CREATE TABLE IF NOT EXISTS risk_notices (
    notice_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id TEXT NOT NULL,
    kind TEXT NOT NULL, day TEXT NOT NULL, detail TEXT NOT NULL,
    UNIQUE (customer_id, kind, detail));
CREATE TABLE IF NOT EXISTS risk_cases (
    case_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id TEXT NOT NULL,
    status TEXT NOT NULL, opened_at BIGINT NOT NULL, rule_ids TEXT NOT NULL,
    txn_refs TEXT NOT NULL, score INTEGER NOT NULL, narrative TEXT NOT NULL DEFAULT '',
    reviewer TEXT NOT NULL DEFAULT '', drafter TEXT NOT NULL DEFAULT '',
    approver TEXT NOT NULL DEFAULT '', confirmed_at BIGINT, filed_at BIGINT, closed_at BIGINT);
CREATE INDEX IF NOT EXISTS risk_cases_customer ON risk_cases(customer_id, status);
CREATE TABLE IF NOT EXISTS risk_case_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, case_id BIGINT NOT NULL,
    at BIGINT NOT NULL, actor TEXT NOT NULL, from_status TEXT NOT NULL, to_status TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS risk_lvr (
    report_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id TEXT NOT NULL,
    day TEXT NOT NULL, direction TEXT NOT NULL, criterion TEXT NOT NULL, total BIGINT NOT NULL,
    count INTEGER NOT NULL, txn_refs TEXT NOT NULL, due_date TEXT NOT NULL,
    created_at BIGINT NOT NULL, UNIQUE (customer_id, day, direction, criterion));
CREATE TABLE IF NOT EXISTS risk_audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, subject TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
"""

#: Tables whose presence means the schema is complete (then no DDL runs, see ``ensure_schema``).
_TABLES = (
    "risk_customers", "risk_accounts", "risk_cards", "risk_links", "risk_counters", "risk_moves",
    "risk_reversals", "risk_events", "risk_decisions", "risk_challenges", "risk_stepup_log",
    "risk_otp_outbox", "risk_video_snapshots", "risk_pending_transfers", "risk_notices",
    "risk_cases", "risk_case_events", "risk_lvr", "risk_audit",
)
_SCHEMA_LOCK = 0x5354_5249_534B_5343  # "STRISKSC": advisory lock while creating the schema

#: Counter rows locked in this order everywhere (byte order, as Python sorts ``str``).
_COUNTER_ORDER = 'scope COLLATE "C", scope_id COLLATE "C", period COLLATE "C", bucket COLLATE "C"'

_Key = tuple[str, str, str, str]  # scope, scope_id, period, bucket (column order)
_T = TypeVar("_T")


class _Exec(Protocol):
    """The few statement shapes the shared (sync/async) code needs; rows are tuples."""

    async def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...
    async def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    async def run(self, sql: str, args: Sequence[Any] = ()) -> int: ...
    async def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


class _AsyncExec:
    """On the ledger transaction's async connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        async with self._conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(sql, args)
            return await cur.fetchone()

    async def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(sql, args)
            return await cur.fetchall()

    async def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        async with self._conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(sql, args)
            return cur.rowcount

    async def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            async with self._conn.cursor(row_factory=tuple_row) as cur:
                await cur.executemany(sql, rows)


class _SyncExec:
    """On a synchronous connection; its coroutines never suspend (see :func:`_drive`)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    async def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self._conn.cursor(row_factory=tuple_row) as cur:
            return cur.execute(sql, args).fetchone()

    async def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn.cursor(row_factory=tuple_row) as cur:
            return cur.execute(sql, args).fetchall()

    async def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        with self._conn.cursor(row_factory=tuple_row) as cur:
            return cur.execute(sql, args).rowcount

    async def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self._conn.cursor(row_factory=tuple_row) as cur:
                cur.executemany(sql, rows)


def _drive(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine that never suspends (one written against :class:`_SyncExec`).

    >>> async def two() -> int:
    ...     return 2
    >>> _drive(two())
    2
    """
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a synchronous risk statement suspended")


def _in_tx(conn: psycopg.Connection[Any]) -> bool:
    return conn.info.transaction_status != TransactionStatus.IDLE


class PgRiskStore:
    """``RiskStore`` and ``RiskTxStore`` on PostgreSQL.

    Parameters
    ----------
    db
        A libpq URL (the store opens and owns a synchronous autocommit connection) or an open
        synchronous psycopg connection (shared, e.g. the ledger's admin connection).
    """

    def __init__(self, db: psycopg.Connection[Any] | str) -> None:
        if isinstance(db, str):
            self._db: psycopg.Connection[Any] = psycopg.connect(
                db, autocommit=True, row_factory=dict_row
            )
            self._owned = True
        else:
            self._db, self._owned = db, False
        self.ensure_schema()

    @property
    def connection(self) -> psycopg.Connection[Any]:
        return self._db

    def ensure_schema(self) -> None:
        """Create the ``risk_*`` tables if any is missing (safe from several instances)."""
        r = self._one(
            "SELECT COUNT(*) FROM unnest(%s::text[]) AS t(name) "
            "WHERE to_regclass(t.name) IS NOT NULL",
            (list(_TABLES),),
        )
        if r is not None and r[0] == len(_TABLES):
            return
        with self.transaction() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            db.execute(SCHEMA)

    def close(self) -> None:
        if self._owned:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on this store's connection (joins one that is already open)."""
        if _in_tx(self._db):
            yield self._db
            return
        with self._db.transaction():
            yield self._db

    # -- small helpers -------------------------------------------------------------------------
    def _one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return _drive(_SyncExec(self._db).one(sql, args))

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return _drive(_SyncExec(self._db).all(sql, args))

    def _dicts(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._db.cursor(row_factory=dict_row) as cur:
            return list(cur.execute(sql, args).fetchall())

    def _run(self, sql: str, args: Sequence[Any] = ()) -> int:
        with self.transaction() as db, db.cursor() as cur:
            return cur.execute(sql, args).rowcount

    # -- KYC -------------------------------------------------------------------------------------
    def put_customer(self, rec: CustomerRecord) -> None:
        self._run(
            "INSERT INTO risk_customers (customer_id, record_json, id_hash, id_enc, grade, "
            "status, customer_type, id_expiry, next_review_due, relationship_end, legal_hold, "
            "anonymised) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (customer_id) DO UPDATE SET record_json=EXCLUDED.record_json, "
            "id_hash=EXCLUDED.id_hash, id_enc=EXCLUDED.id_enc, grade=EXCLUDED.grade, "
            "status=EXCLUDED.status, customer_type=EXCLUDED.customer_type, "
            "id_expiry=EXCLUDED.id_expiry, next_review_due=EXCLUDED.next_review_due, "
            "relationship_end=EXCLUDED.relationship_end, legal_hold=EXCLUDED.legal_hold, "
            "anonymised=EXCLUDED.anonymised",
            (
                rec.customer_id, customer_to_json(rec), rec.id_number.lookup_hash,
                rec.id_number.encrypted or None, rec.risk_grade.value, rec.status.value,
                rec.customer_type.value, rec.id_expiry.isoformat() if rec.id_expiry else None,
                rec.next_review_due.isoformat() if rec.next_review_due else None,
                rec.relationship_end.isoformat() if rec.relationship_end else None,
                rec.legal_hold, int(rec.anonymised),
            ),
        )

    def customer(self, customer_id: str) -> CustomerRecord | None:
        r = self._one(
            "SELECT record_json, id_enc FROM risk_customers WHERE customer_id=%s", (customer_id,)
        )
        return None if r is None else customer_from_json(r[0], bytes(r[1]) if r[1] else None)

    def customers(self) -> list[CustomerRecord]:
        rows = self._all("SELECT record_json, id_enc FROM risk_customers ORDER BY customer_id")
        return [customer_from_json(r[0], bytes(r[1]) if r[1] else None) for r in rows]

    def find_customer_by_id_hash(self, lookup_hash: str) -> str | None:
        r = self._one("SELECT customer_id FROM risk_customers WHERE id_hash=%s", (lookup_hash,))
        return None if r is None else str(r[0])

    def put_account(self, link: AccountLink) -> None:
        self._run(
            "INSERT INTO risk_accounts VALUES (%s,%s,%s,%s) ON CONFLICT (account_no) DO UPDATE "
            "SET customer_id=EXCLUDED.customer_id, account_class=EXCLUDED.account_class, "
            "bound_account_no=EXCLUDED.bound_account_no",
            (link.account_no, link.customer_id, link.account_class.value, link.bound_account_no),
        )

    def account(self, account_no: str) -> AccountLink | None:
        r = self._one(
            "SELECT account_no, customer_id, account_class, bound_account_no FROM risk_accounts "
            "WHERE account_no=%s",
            (account_no,),
        )
        if r is None:
            return None
        return AccountLink(
            account_no=r[0], customer_id=r[1], account_class=AccountClass(r[2]),
            bound_account_no=r[3],
        )

    def put_card(self, link: CardLink) -> None:
        self._run(
            "INSERT INTO risk_cards VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (card) DO UPDATE "
            "SET customer_id=EXCLUDED.customer_id, account_no=EXCLUDED.account_no, "
            "pan_masked=EXCLUDED.pan_masked, last_pin_change_at=EXCLUDED.last_pin_change_at, "
            "pin_reset_pending=EXCLUDED.pin_reset_pending, "
            "fingerprint_ref=EXCLUDED.fingerprint_ref",
            (
                link.card, link.customer_id, link.account_no, link.pan_masked,
                ts(link.last_pin_change_at) if link.last_pin_change_at else None,
                int(link.pin_reset_pending), link.fingerprint_ref,
            ),
        )

    _CARD_COLS = (
        "card, customer_id, account_no, pan_masked, last_pin_change_at, pin_reset_pending, "
        "fingerprint_ref"
    )

    @staticmethod
    def _card(r: tuple[Any, ...]) -> CardLink:
        return CardLink(
            card=r[0], customer_id=r[1], account_no=r[2], pan_masked=r[3],
            last_pin_change_at=from_ts(r[4]), pin_reset_pending=bool(r[5]), fingerprint_ref=r[6],
        )

    def card(self, card: str) -> CardLink | None:
        r = self._one(f"SELECT {self._CARD_COLS} FROM risk_cards WHERE card=%s", (card,))  # noqa: S608
        return None if r is None else self._card(r)

    def cards_of(self, customer_id: str) -> list[CardLink]:
        rows = self._all(
            f"SELECT {self._CARD_COLS} FROM risk_cards WHERE customer_id=%s ORDER BY card",  # noqa: S608
            (customer_id,),
        )
        return [self._card(r) for r in rows]

    def link_customers(self, a: str, b: str) -> None:
        with self.transaction() as db, db.cursor() as cur:
            cur.executemany(
                "INSERT INTO risk_links VALUES (%s,%s) ON CONFLICT DO NOTHING", [(a, b), (b, a)]
            )

    def linked(self, customer_id: str) -> list[str]:
        return [
            str(r[0])
            for r in self._all(
                "SELECT linked_id FROM risk_links WHERE customer_id=%s", (customer_id,)
            )
        ]

    def record_pin_change(self, card: str, at: datetime, *, reset: bool) -> None:
        self._run(
            "UPDATE risk_cards SET last_pin_change_at=%s, pin_reset_pending=%s WHERE card=%s",
            (ts(at), int(reset), card),
        )

    def last_activity(self, customer_id: str) -> datetime | None:
        r = self._one(
            "SELECT last_activity_at FROM risk_customers WHERE customer_id=%s", (customer_id,)
        )
        return None if r is None else from_ts(r[0])

    # -- decision-time reads ---------------------------------------------------------------------
    def counters(
        self, scopes: list[tuple[Scope, str]], periods: list[str]
    ) -> dict[CounterKey, tuple[int, int]]:
        wanted = {(s.value, sid) for s, sid in scopes}
        rows = self._all(
            "SELECT scope, scope_id, period, bucket, amount, count FROM risk_counters "
            "WHERE scope_id = ANY(%s) AND period = ANY(%s)",
            ([sid for _, sid in scopes], list(periods)),
        )
        return {
            (Scope(r[0]), r[1], r[3], r[2]): (int(r[4]), int(r[5]))
            for r in rows
            if (r[0], r[1]) in wanted
        }

    def events(self, customer_ids: list[str], since: datetime) -> list[RiskEvent]:
        rows = self._all(
            "SELECT txn_ref, customer_id, card, account_no, terminal_id, channel, txn_type, "
            "amount, at, response_code, cross_border, counterparty, reversed_amount "
            "FROM risk_events WHERE customer_id = ANY(%s) AND at >= %s ORDER BY at",
            (list(customer_ids), ts(since)),
        )
        return [
            RiskEvent(
                txn_ref=r[0], customer_id=r[1], card=r[2], account_no=r[3], terminal_id=r[4],
                channel=Channel(r[5]), txn_type=TxnType(r[6]), amount=int(r[7]) - int(r[12]),
                at=datetime.fromtimestamp(r[8], UTC), response_code=r[9],
                cross_border=bool(r[10]), counterparty=r[11],
                reversed=r[12] >= r[7] and r[7] > 0,
            )
            for r in rows
        ]

    # -- step-up ---------------------------------------------------------------------------------
    def issue_challenge(self, rec: ChallengeRecord, *, phone: str, text: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO risk_challenges VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (
                    rec.challenge_id, rec.customer_id, rec.card, rec.factor.value,
                    rec.secret_hash, ts(rec.created_at), ts(rec.expires_at), rec.attempts,
                    rec.status,
                ),
            )
            if text:
                db.execute(
                    "INSERT INTO risk_otp_outbox (customer_id, phone, text, challenge_id, "
                    "created_at) VALUES (%s,%s,%s,%s,%s)",
                    (rec.customer_id, phone, text, rec.challenge_id, ts(rec.created_at)),
                )

    def challenge(self, challenge_id: str) -> ChallengeRecord | None:
        r = self._one(
            "SELECT challenge_id, customer_id, card, factor, secret_hash, created_at, "
            "expires_at, attempts, status FROM risk_challenges WHERE challenge_id=%s",
            (challenge_id,),
        )
        if r is None:
            return None
        return ChallengeRecord(
            challenge_id=r[0], customer_id=r[1], card=r[2], factor=Factor(r[3]),
            secret_hash=r[4], created_at=datetime.fromtimestamp(r[5], UTC),
            expires_at=datetime.fromtimestamp(r[6], UTC), attempts=r[7], status=r[8],
        )

    def record_attempt(
        self, challenge_id: str, *, ok: bool, at: datetime, txn_ref: str, detail: str,
        max_attempts: int = 3,
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE risk_challenges SET attempts = attempts + 1, status = CASE "
                "WHEN %s THEN 'VERIFIED' WHEN attempts + 1 >= %s THEN 'FAILED' "
                "ELSE status END WHERE challenge_id=%s",
                (ok, max_attempts, challenge_id),
            )
            db.execute(
                "INSERT INTO risk_stepup_log (challenge_id, at, txn_ref, ok, detail) "
                "VALUES (%s,%s,%s,%s,%s)",
                (challenge_id, ts(at), txn_ref, int(ok), detail),
            )

    def stepup_log(self, challenge_id: str) -> list[dict[str, Any]]:
        return self._dicts(
            "SELECT * FROM risk_stepup_log WHERE challenge_id=%s ORDER BY id", (challenge_id,)
        )

    def otp_outbox(self, customer_id: str) -> list[dict[str, Any]]:
        return self._dicts(
            "SELECT msg_id, customer_id, phone, text, challenge_id, created_at FROM "
            "risk_otp_outbox WHERE customer_id=%s ORDER BY msg_id",
            (customer_id,),
        )

    def register_video(self, ref: str, customer_id: str, *, matched: bool, at: datetime) -> None:
        self._run(
            "INSERT INTO risk_video_snapshots VALUES (%s,%s,%s,%s) ON CONFLICT (ref) DO UPDATE "
            "SET customer_id=EXCLUDED.customer_id, matched=EXCLUDED.matched, "
            "recorded_at=EXCLUDED.recorded_at",
            (ref, customer_id, int(matched), ts(at)),
        )

    def video(self, ref: str) -> tuple[str, bool] | None:
        r = self._one(
            "SELECT customer_id, matched FROM risk_video_snapshots WHERE ref=%s", (ref,)
        )
        return None if r is None else (str(r[0]), bool(r[1]))

    # -- in the ledger transaction (shared sync/async code) --------------------------------------
    async def _apply(self, x: _Exec, decision: Decision, response_code: str) -> ApplyResult:
        req = decision.request
        prior = await x.one(
            "SELECT final_code FROM risk_decisions WHERE txn_ref=%s", (req.txn_ref,)
        )
        if prior is not None:
            return ApplyResult(response_code=str(prior[0]), duplicate=True)
        final, why = response_code, ""
        moving = final == "00" and decision.approved and req.txn_type.financial
        if moving:
            keys = sorted(
                {(c.scope.value, c.scope_id, c.period, c.bucket) for c in decision.checks}
                | {(m.scope.value, m.scope_id, m.period, m.bucket) for m in decision.moves}
            )
            locked = await self._lock_counters(x, keys)
            for c in decision.checks:
                amount, count = locked.get((c.scope.value, c.scope_id, c.period, c.bucket), (0, 0))
                observed = amount + req.amount if c.metric == "AMOUNT" else count + 1
                if observed > c.limit:
                    final = c.code
                    why = f"race: {c.limit_id} observed={observed} limit={c.limit} layer={c.layer}"
                    moving = False
                    break
        if moving:
            await x.many(
                "UPDATE risk_counters SET amount = amount + %s, count = count + %s "
                "WHERE scope=%s AND scope_id=%s AND period=%s AND bucket=%s",
                [(m.amount, m.count, m.scope.value, m.scope_id, m.period, m.bucket)
                 for m in decision.moves],
            )
            await x.many(
                "INSERT INTO risk_moves VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                [(req.txn_ref, m.scope.value, m.scope_id, m.period, m.bucket, m.amount, m.count,
                  m.amount, m.count) for m in decision.moves],
            )
            if decision.pending_until is not None:
                await x.run(
                    "INSERT INTO risk_pending_transfers VALUES (%s,%s,%s,%s,%s,%s,%s,%s,NULL)",
                    (req.txn_ref, decision.customer_id, decision.account_no, req.payee_account,
                     req.amount, ts(req.at), ts(decision.pending_until), "PENDING"),
                )
            if decision.customer_id:
                await x.run(
                    "UPDATE risk_customers SET last_activity_at=%s WHERE customer_id=%s",
                    (ts(req.at), decision.customer_id),
                )
            if decision.stepup_verified is not None or req.txn_type.financial:
                await x.run(
                    "UPDATE risk_cards SET pin_reset_pending=0 WHERE card=%s AND "
                    "pin_reset_pending=1",
                    (req.card,),
                )
            if decision.stepup_verified is Factor.VID and decision.customer_id:
                await self._clear_reactivation(x, decision.customer_id)
        await x.run(
            "INSERT INTO risk_events (txn_ref, rrn, customer_id, card, account_no, terminal_id, "
            "channel, txn_type, amount, at, day, response_code, cash, direction, cross_border, "
            "counterparty) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (txn_ref) DO NOTHING",
            (req.txn_ref, req.rrn, decision.customer_id, req.card, decision.account_no,
             req.terminal_id, req.channel.value, req.txn_type.value, req.amount, ts(req.at),
             local_day(req.at).isoformat(), final, int(req.txn_type.cash),
             req.txn_type.direction.value, int(req.cross_border),
             req.counterparty or req.payee_account),
        )
        await x.run(
            "INSERT INTO risk_decisions VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (req.txn_ref, req.rrn, ts(req.at), decision.customer_id, decision.grade,
             req.channel.value, req.txn_type.value, req.amount, decision.outcome.value,
             decision.response_code, final, decision.reason.rule_id if decision.reason else "",
             json.dumps(_detail(decision, why, response_code), ensure_ascii=False, default=str),
             decision.score, decision.limits_version),
        )
        if decision.open_case and decision.customer_id:
            await self._open_case(x, decision)
        return ApplyResult(response_code=final, reason=why)

    @staticmethod
    async def _lock_counters(x: _Exec, keys: list[_Key]) -> dict[_Key, tuple[int, int]]:
        """Create the missing counter rows, then lock all of them in one fixed order."""
        if not keys:
            return {}
        await x.run(
            "INSERT INTO risk_counters (scope, scope_id, period, bucket, amount, count) "
            "SELECT s, i, p, b, 0, 0 FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) "
            "WITH ORDINALITY AS k(s, i, p, b, n) ORDER BY n ON CONFLICT DO NOTHING",
            [list(col) for col in zip(*keys, strict=True)],
        )
        rows = await x.all(
            "SELECT scope, scope_id, period, bucket, amount, count FROM risk_counters "  # noqa: S608 - only the constant _COUNTER_ORDER is interpolated
            "WHERE (scope, scope_id, period, bucket) IN (SELECT * FROM unnest(%s::text[], "
            f"%s::text[], %s::text[], %s::text[])) ORDER BY {_COUNTER_ORDER} FOR UPDATE",
            [list(col) for col in zip(*keys, strict=True)],
        )
        return {(r[0], r[1], r[2], r[3]): (int(r[4]), int(r[5])) for r in rows}

    @staticmethod
    async def _clear_reactivation(x: _Exec, customer_id: str) -> None:
        r = await x.one(
            "SELECT record_json, id_enc FROM risk_customers WHERE customer_id=%s FOR UPDATE",
            (customer_id,),
        )
        if r is None:
            return
        rec = customer_from_json(r[0], bytes(r[1]) if r[1] else None)
        if rec.reactivation_pending:
            await x.run(
                "UPDATE risk_customers SET record_json=%s WHERE customer_id=%s",
                (customer_to_json(replace(rec, reactivation_pending=False)), customer_id),
            )

    @staticmethod
    async def _open_case(x: _Exec, decision: Decision) -> None:
        req = decision.request
        rule_ids = sorted({p.name for p in decision.score_parts if p.points > 0})
        r = await x.one(
            "SELECT case_id, rule_ids, txn_refs, score FROM risk_cases WHERE customer_id=%s "
            "AND status IN ('NEW','IN_REVIEW') ORDER BY case_id LIMIT 1 FOR UPDATE",
            (decision.customer_id,),
        )
        if r is None:
            row = await x.one(
                "INSERT INTO risk_cases (customer_id, status, opened_at, rule_ids, txn_refs, "
                "score) VALUES (%s,%s,%s,%s,%s,%s) RETURNING case_id",
                (decision.customer_id, "NEW", ts(req.at), json.dumps(rule_ids),
                 json.dumps([req.txn_ref]), decision.score),
            )
            assert row is not None
            await x.run(
                "INSERT INTO risk_case_events (case_id, at, actor, from_status, to_status, "
                "note) VALUES (%s,%s,%s,%s,%s,%s)",
                (row[0], ts(req.at), "engine", "", "NEW",
                 f"score {decision.score} on {req.txn_ref}"),
            )
        else:
            rules = sorted(set(json.loads(r[1])) | set(rule_ids))
            refs = [*json.loads(r[2]), req.txn_ref]
            await x.run(
                "UPDATE risk_cases SET rule_ids=%s, txn_refs=%s, score=GREATEST(score, %s) "
                "WHERE case_id=%s",
                (json.dumps(rules), json.dumps(refs), decision.score, r[0]),
            )

    async def _restore(
        self, x: _Exec, txn_ref: str, *, reversal_ref: str, at: datetime, amount: int | None
    ) -> int:
        claimed = await x.run(
            "INSERT INTO risk_reversals VALUES (%s,%s,0,%s) ON CONFLICT DO NOTHING",
            (reversal_ref, txn_ref, ts(at)),
        )
        if claimed != 1:
            return 0
        rows = await x.all(
            "SELECT scope, scope_id, period, bucket, remaining_amount, remaining_count "  # noqa: S608 - only the constant _COUNTER_ORDER is interpolated
            f"FROM risk_moves WHERE txn_ref=%s ORDER BY {_COUNTER_ORDER} FOR UPDATE",
            (txn_ref,),
        )
        left = max((int(r[4]) for r in rows), default=0)
        take = left if amount is None else max(0, min(amount, left))
        counters: list[tuple[Any, ...]] = []
        moves: list[tuple[Any, ...]] = []
        for scope, sid, period, bucket, rem_a, rem_c in rows:
            da = min(take, int(rem_a))
            dc = int(rem_c) if take >= rem_a else 0
            if da == 0 and dc == 0:
                continue
            counters.append((da, dc, scope, sid, period, bucket))
            moves.append((da, dc, txn_ref, scope, sid, period, bucket))
        if counters:
            await self._lock_counters(x, sorted((c[2], c[3], c[4], c[5]) for c in counters))
            await x.many(
                "UPDATE risk_counters SET amount = amount - %s, count = count - %s "
                "WHERE scope=%s AND scope_id=%s AND period=%s AND bucket=%s",
                counters,
            )
            await x.many(
                "UPDATE risk_moves SET remaining_amount = remaining_amount - %s, "
                "remaining_count = remaining_count - %s WHERE txn_ref=%s AND scope=%s AND "
                "scope_id=%s AND period=%s AND bucket=%s",
                moves,
            )
        if take:
            await x.run(
                "UPDATE risk_reversals SET amount=%s WHERE reversal_ref=%s", (take, reversal_ref)
            )
            await x.run(
                "UPDATE risk_events SET reversed_amount = reversed_amount + %s WHERE txn_ref=%s",
                (take, txn_ref),
            )
        if take and take == left:
            await x.run(
                "UPDATE risk_pending_transfers SET status='REVOKED', closed_at=%s "
                "WHERE txn_ref=%s AND status='PENDING'",
                (ts(at), txn_ref),
            )
        return take

    async def _pending(self, x: _Exec, txn_ref: str, *, lock: bool) -> PendingTransfer | None:
        r = await x.one(
            "SELECT txn_ref, customer_id, account_no, payee_account, amount, accepted_at, "  # noqa: S608 - only a constant FOR UPDATE is appended
            "due_at, status FROM risk_pending_transfers WHERE txn_ref=%s"
            + (" FOR UPDATE" if lock else ""),
            (txn_ref,),
        )
        return None if r is None else _pending_of(r)

    async def _revoke(self, x: _Exec, txn_ref: str, *, at: datetime) -> bool:
        pt = await self._pending(x, txn_ref, lock=True)
        if pt is None or pt.status != "PENDING" or at >= pt.due_at:
            return False
        await self._restore(x, txn_ref, reversal_ref=f"revoke:{txn_ref}", at=at, amount=None)
        await x.run(
            "UPDATE risk_pending_transfers SET status='REVOKED', closed_at=%s WHERE txn_ref=%s",
            (ts(at), txn_ref),
        )
        return True

    async def _credited(self, x: _Exec, txn_ref: str, *, at: datetime) -> bool:
        n = await x.run(
            "UPDATE risk_pending_transfers SET status='CREDITED', closed_at=%s "
            "WHERE txn_ref=%s AND status='PENDING' AND due_at <= %s",
            (ts(at), txn_ref, ts(at)),
        )
        return n == 1

    # -- RiskTxStore: on the ledger transaction's async connection -----------------------------
    async def apply_tx(self, conn: Any, decision: Decision, response_code: str) -> ApplyResult:
        """:meth:`apply` inside the ledger's open transaction (``LedgerTx.risk_connection()``)."""
        return await self._apply(_AsyncExec(conn), decision, response_code)

    async def restore_tx(
        self, conn: Any, txn_ref: str, *, reversal_ref: str, at: datetime,
        amount: int | None = None,
    ) -> int:
        return await self._restore(
            _AsyncExec(conn), txn_ref, reversal_ref=reversal_ref, at=at, amount=amount
        )

    async def revoke_transfer_tx(self, conn: Any, txn_ref: str, *, at: datetime) -> bool:
        return await self._revoke(_AsyncExec(conn), txn_ref, at=at)

    async def mark_credited_tx(self, conn: Any, txn_ref: str, *, at: datetime) -> bool:
        return await self._credited(_AsyncExec(conn), txn_ref, at=at)

    async def pending_transfer_tx(self, conn: Any, txn_ref: str) -> PendingTransfer | None:
        return await self._pending(_AsyncExec(conn), txn_ref, lock=True)

    async def record_pin_change_tx(
        self, conn: Any, card: str, at: datetime, *, reset: bool
    ) -> None:
        await _AsyncExec(conn).run(
            "UPDATE risk_cards SET last_pin_change_at=%s, pin_reset_pending=%s WHERE card=%s",
            (ts(at), int(reset), card),
        )

    # -- RiskStore: the same on a synchronous connection (tests, RiskEngine.commit, CLI) --------
    def apply(self, conn: Any, decision: Decision, response_code: str) -> ApplyResult:
        """Record the decision; on approval lock, re-check and move the counters."""
        return _drive(self._apply(_SyncExec(conn), decision, response_code))

    def restore(
        self, conn: Any, txn_ref: str, *, reversal_ref: str, at: datetime,
        amount: int | None = None,
    ) -> int:
        """Undo (part of) what ``apply`` added for ``txn_ref``; once per ``reversal_ref``."""
        return _drive(
            self._restore(_SyncExec(conn), txn_ref, reversal_ref=reversal_ref, at=at, amount=amount)
        )

    def revoke_transfer(self, conn: Any, txn_ref: str, *, at: datetime) -> bool:
        """Customer revocation of a pending ATM transfer (261号): only before ``due_at``."""
        return _drive(self._revoke(_SyncExec(conn), txn_ref, at=at))

    def mark_credited(self, conn: Any, txn_ref: str, *, at: datetime) -> bool:
        return _drive(self._credited(_SyncExec(conn), txn_ref, at=at))

    def due_transfers(self, at: datetime) -> list[PendingTransfer]:
        rows = self._all(
            "SELECT txn_ref, customer_id, account_no, payee_account, amount, accepted_at, "
            "due_at, status FROM risk_pending_transfers WHERE status='PENDING' AND due_at <= %s "
            "ORDER BY due_at",
            (ts(at),),
        )
        return [_pending_of(r) for r in rows]

    def pending_transfer(self, txn_ref: str) -> PendingTransfer | None:
        return _drive(self._pending(_SyncExec(self._db), txn_ref, lock=False))

    # -- post-event ------------------------------------------------------------------------------
    def decision(self, key: str) -> dict[str, Any] | None:
        """A stored decision by RRN or transaction reference (latest first)."""
        rows = self._dicts(
            "SELECT * FROM risk_decisions WHERE rrn=%s OR txn_ref=%s ORDER BY at DESC LIMIT 1",
            (key, key),
        )
        if not rows:
            return None
        out = dict(rows[0])
        out["detail"] = json.loads(out.pop("detail_json"))
        return out

    def add_notice(self, customer_id: str, kind: str, day: date, detail: str) -> bool:
        return (
            self._run(
                "INSERT INTO risk_notices (customer_id, kind, day, detail) VALUES (%s,%s,%s,%s) "
                "ON CONFLICT DO NOTHING",
                (customer_id, kind, day.isoformat(), detail),
            )
            == 1
        )

    def notices(self, since: date | None = None) -> list[dict[str, Any]]:
        return self._dicts(
            "SELECT * FROM risk_notices WHERE day >= %s ORDER BY notice_id",
            ((since or date.min).isoformat(),),
        )

    def audit(
        self, *, at: datetime, actor: str, action: str, subject: str, detail: str = ""
    ) -> None:
        self._run(
            "INSERT INTO risk_audit (at, actor, action, subject, detail) VALUES (%s,%s,%s,%s,%s)",
            (ts(at), actor, action, subject, detail),
        )

    def counter_totals(self) -> list[tuple[str, str, str, str, int, int]]:
        """Every counter row (tests, conservation checks)."""
        return [
            (r[0], r[1], r[2], r[3], int(r[4]), int(r[5]))
            for r in self._all(
                "SELECT scope, scope_id, period, bucket, amount, count FROM risk_counters"
            )
        ]


def _pending_of(r: tuple[Any, ...]) -> PendingTransfer:
    return PendingTransfer(
        txn_ref=r[0], customer_id=r[1], account_no=r[2], payee_account=r[3], amount=int(r[4]),
        accepted_at=datetime.fromtimestamp(r[5], UTC), due_at=datetime.fromtimestamp(r[6], UTC),
        status=r[7],
    )


def _detail(decision: Decision, race: str, ledger_code: str) -> dict[str, Any]:
    """The ``detail_json`` of a decision record (same shape as the SQLite store's)."""
    req = decision.request
    return {
        "reason": asdict(decision.reason) if decision.reason else None,
        "race": race, "ledger_code": ledger_code, "pan_masked": req.pan_masked,
        "terminal_id": req.terminal_id,
        "factor": decision.factor.value if decision.factor else "",
        "challenge_id": decision.challenge_id,
        "stepup_verified": decision.stepup_verified.value if decision.stepup_verified else "",
        "score_parts": [asdict(p) for p in decision.score_parts],
        "checks": [{"limit_id": c.limit_id, "layer": c.layer, "scope": c.scope.value,
                    "period": c.period, "metric": c.metric, "limit": c.limit}
                   for c in decision.checks],
        "pending_until": decision.pending_until.isoformat() if decision.pending_until else "",
        "notices": list(decision.notices),
    }
