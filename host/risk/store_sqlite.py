"""SQLite adapter of :class:`host.risk.store.RiskStore` (the risk package's one sqlite3 module).

The risk tables live in the host's database file (``risk_*`` tables, own schema) so that
``apply``/``restore`` can run on the ledger's open connection inside its ``BEGIN IMMEDIATE``
transaction. Counters carry ``CHECK (amount >= 0 AND count >= 0)``; every counter change is also
a row in ``risk_moves`` (what a transaction added, and what is left to reverse) so reversals are
exact and idempotent (each reversal has its own ``reversal_ref``). Times are stored as UTC epoch
seconds, days as Asia/Shanghai ISO dates.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from host.risk.kyc import (
    AccountClass,
    AccountLink,
    AgreedLimit,
    ChannelPermission,
    CustomerRecord,
    CustomerStatus,
    CustomerType,
    Gender,
    IdType,
    OnboardingChannel,
    ProtectedId,
    Restriction,
    RestrictionReason,
    RiskFactor,
    VerificationMethod,
)
from host.risk.limits import Scope
from host.risk.model import Channel, Period, RiskGrade, TxnType, local_day
from host.risk.records import CardLink, Decision, Factor, RiskEvent
from host.risk.store import ApplyResult, ChallengeRecord, CounterKey, PendingTransfer

__all__ = ["SCHEMA", "SqliteRiskStore", "connect"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS risk_customers (
    customer_id TEXT PRIMARY KEY, record_json TEXT NOT NULL, id_hash TEXT NOT NULL,
    id_enc BLOB, grade TEXT NOT NULL, status TEXT NOT NULL, customer_type TEXT NOT NULL,
    id_expiry TEXT, next_review_due TEXT, relationship_end TEXT,
    legal_hold TEXT NOT NULL DEFAULT '',
    anonymised INTEGER NOT NULL DEFAULT 0, last_activity_at INTEGER);
CREATE INDEX IF NOT EXISTS risk_customers_id_hash ON risk_customers(id_hash);
CREATE TABLE IF NOT EXISTS risk_accounts (
    account_no TEXT PRIMARY KEY, customer_id TEXT NOT NULL, account_class TEXT NOT NULL,
    bound_account_no TEXT);
CREATE TABLE IF NOT EXISTS risk_cards (
    card TEXT PRIMARY KEY, customer_id TEXT NOT NULL, account_no TEXT NOT NULL,
    pan_masked TEXT NOT NULL DEFAULT '', last_pin_change_at INTEGER,
    pin_reset_pending INTEGER NOT NULL DEFAULT 0, fingerprint_ref TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS risk_cards_customer ON risk_cards(customer_id);
CREATE TABLE IF NOT EXISTS risk_links (
    customer_id TEXT NOT NULL, linked_id TEXT NOT NULL, PRIMARY KEY (customer_id, linked_id));
CREATE TABLE IF NOT EXISTS risk_counters (
    scope TEXT NOT NULL, scope_id TEXT NOT NULL, period TEXT NOT NULL, bucket TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount >= 0), count INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (scope, scope_id, period, bucket)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS risk_moves (
    txn_ref TEXT NOT NULL, scope TEXT NOT NULL, scope_id TEXT NOT NULL, period TEXT NOT NULL,
    bucket TEXT NOT NULL, amount INTEGER NOT NULL, count INTEGER NOT NULL,
    remaining_amount INTEGER NOT NULL CHECK (remaining_amount >= 0),
    remaining_count INTEGER NOT NULL CHECK (remaining_count >= 0),
    PRIMARY KEY (txn_ref, scope, scope_id, period, bucket)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS risk_reversals (
    reversal_ref TEXT PRIMARY KEY, txn_ref TEXT NOT NULL, amount INTEGER NOT NULL,
    at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS risk_events (
    event_id INTEGER PRIMARY KEY, txn_ref TEXT NOT NULL UNIQUE, rrn TEXT NOT NULL DEFAULT '',
    customer_id TEXT NOT NULL, card TEXT NOT NULL, account_no TEXT NOT NULL,
    terminal_id TEXT NOT NULL, channel TEXT NOT NULL, txn_type TEXT NOT NULL,
    amount INTEGER NOT NULL, at INTEGER NOT NULL, day TEXT NOT NULL, response_code TEXT NOT NULL,
    cash INTEGER NOT NULL, direction TEXT NOT NULL, cross_border INTEGER NOT NULL DEFAULT 0,
    counterparty TEXT NOT NULL DEFAULT '', reversed_amount INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS risk_events_customer_at ON risk_events(customer_id, at);
CREATE INDEX IF NOT EXISTS risk_events_day ON risk_events(day);
CREATE TABLE IF NOT EXISTS risk_decisions (
    txn_ref TEXT PRIMARY KEY, rrn TEXT NOT NULL, at INTEGER NOT NULL, customer_id TEXT NOT NULL,
    grade TEXT NOT NULL DEFAULT '', channel TEXT NOT NULL, txn_type TEXT NOT NULL,
    amount INTEGER NOT NULL, outcome TEXT NOT NULL, decided_code TEXT NOT NULL,
    final_code TEXT NOT NULL, rule_id TEXT NOT NULL DEFAULT '', detail_json TEXT NOT NULL,
    score INTEGER NOT NULL DEFAULT 0, limits_version TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS risk_decisions_rrn ON risk_decisions(rrn);
CREATE INDEX IF NOT EXISTS risk_decisions_at ON risk_decisions(at);
CREATE TABLE IF NOT EXISTS risk_challenges (
    challenge_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, card TEXT NOT NULL,
    factor TEXT NOT NULL, secret_hash TEXT NOT NULL, created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'OPEN');
CREATE TABLE IF NOT EXISTS risk_stepup_log (
    id INTEGER PRIMARY KEY, challenge_id TEXT NOT NULL, at INTEGER NOT NULL, txn_ref TEXT NOT NULL,
    ok INTEGER NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS risk_otp_outbox (
    msg_id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, phone TEXT NOT NULL,
    text TEXT NOT NULL, challenge_id TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS risk_video_snapshots (
    ref TEXT PRIMARY KEY, customer_id TEXT NOT NULL, matched INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS risk_pending_transfers (
    txn_ref TEXT PRIMARY KEY, customer_id TEXT NOT NULL, account_no TEXT NOT NULL,
    payee_account TEXT NOT NULL, amount INTEGER NOT NULL, accepted_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL, status TEXT NOT NULL, closed_at INTEGER);
CREATE TABLE IF NOT EXISTS risk_notices (
    notice_id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, kind TEXT NOT NULL,
    day TEXT NOT NULL, detail TEXT NOT NULL, UNIQUE (customer_id, kind, detail));
CREATE TABLE IF NOT EXISTS risk_cases (
    case_id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, status TEXT NOT NULL,
    opened_at INTEGER NOT NULL, rule_ids TEXT NOT NULL, txn_refs TEXT NOT NULL,
    score INTEGER NOT NULL, narrative TEXT NOT NULL DEFAULT '', reviewer TEXT NOT NULL DEFAULT '',
    drafter TEXT NOT NULL DEFAULT '', approver TEXT NOT NULL DEFAULT '', confirmed_at INTEGER,
    filed_at INTEGER, closed_at INTEGER);
CREATE INDEX IF NOT EXISTS risk_cases_customer ON risk_cases(customer_id, status);
CREATE TABLE IF NOT EXISTS risk_case_events (
    id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL, at INTEGER NOT NULL, actor TEXT NOT NULL,
    from_status TEXT NOT NULL, to_status TEXT NOT NULL, note TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS risk_lvr (
    report_id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, day TEXT NOT NULL,
    direction TEXT NOT NULL, criterion TEXT NOT NULL, total INTEGER NOT NULL,
    count INTEGER NOT NULL, txn_refs TEXT NOT NULL, due_date TEXT NOT NULL,
    created_at INTEGER NOT NULL, UNIQUE (customer_id, day, direction, criterion));
CREATE TABLE IF NOT EXISTS risk_audit (
    id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    subject TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
"""

OPEN_CASE_STATES = ("NEW", "IN_REVIEW", "STR_DRAFT")


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection configured like the ledger's (autocommit, WAL, explicit transactions)."""
    db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def ts(at: datetime) -> int:
    return int(at.timestamp())


def from_ts(v: int | None) -> datetime | None:
    return None if v is None else datetime.fromtimestamp(v, UTC)


def _d(v: str | None) -> date | None:
    return date.fromisoformat(v) if v else None


def customer_to_json(rec: CustomerRecord) -> str:
    d = asdict(rec)
    d["id_number"] = {"lookup_hash": rec.id_number.lookup_hash, "masked": rec.id_number.masked}
    d["channel_permissions"] = {ch.value: asdict(p) for ch, p in rec.channel_permissions.items()}
    return json.dumps(d, default=_json_default, ensure_ascii=False)


def _json_default(o: object) -> object:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if hasattr(o, "value"):
        return o.value
    raise TypeError(type(o).__name__)


def customer_from_json(text: str, id_enc: bytes | None) -> CustomerRecord:
    d = json.loads(text)

    def dt(v: str | None) -> datetime | None:
        return datetime.fromisoformat(v) if v else None

    return CustomerRecord(
        customer_id=d["customer_id"], name=d["name"], gender=Gender(d["gender"]),
        nationality=d["nationality"], occupation=d["occupation"], address=d["address"],
        contact_phone=d["contact_phone"], contact_email=d["contact_email"],
        id_type=IdType(d["id_type"]),
        id_number=ProtectedId(encrypted=id_enc or b"", lookup_hash=d["id_number"]["lookup_hash"],
                              masked=d["id_number"]["masked"]),
        id_expiry=_d(d["id_expiry"]), customer_type=CustomerType(d["customer_type"]),
        id_verified_at=dt(d["id_verified_at"]),
        id_verification_method=VerificationMethod(d["id_verification_method"]),
        onboarding_channel=OnboardingChannel(d["onboarding_channel"]),
        risk_grade=RiskGrade(d["risk_grade"]), risk_score=d["risk_score"],
        risk_factors=tuple(RiskFactor(**f) for f in d["risk_factors"]),
        grade_reviewed_at=_d(d["grade_reviewed_at"]), next_review_due=_d(d["next_review_due"]),
        status=CustomerStatus(d["status"]),
        restrictions=tuple(Restriction(reason=RestrictionReason(r["reason"]),
                                       since=datetime.fromisoformat(r["since"]),
                                       channels=tuple(Channel(c) for c in r["channels"]))
                           for r in d["restrictions"]),
        channel_permissions={Channel(k): ChannelPermission(**v)
                             for k, v in d["channel_permissions"].items()},
        agreed_limits=tuple(AgreedLimit(
            channel=Channel(a["channel"]) if a["channel"] else None,
            txn_type=TxnType(a["txn_type"]) if a["txn_type"] else None,
            period=Period(a["period"]), amount=a["amount"], count=a["count"])
            for a in d["agreed_limits"]),
        expected_monthly_volume=d["expected_monthly_volume"],
        reactivation_pending=d["reactivation_pending"],
        relationship_start=_d(d["relationship_start"]), relationship_end=_d(d["relationship_end"]),
        legal_hold=d["legal_hold"], anonymised=d["anonymised"])


#: Bound of the KYC read cache (entries); it is emptied when full.
KYC_CACHE_SIZE = 200_000


class SqliteRiskStore:
    """``RiskStore`` on SQLite. Give it the host's database path or an open connection.

    Decision-time reads of KYC rows (card links, customer records, account links, linked
    customers) are cached in memory, parsed. The cache is emptied whenever those rows may
    have changed: by any write through this store (:meth:`transaction`, the in-transaction
    writes that touch them), by a rollback on the connection (:meth:`invalidate`, which the
    ledger calls), and by a commit of any *other* connection to the file (``PRAGMA
    data_version``, checked on every cached read: ``sst host customers block`` from another
    process is seen by the next message). The cache holds no secrets: ID numbers stay
    encrypted and masked as in the row.
    """

    def __init__(self, db: sqlite3.Connection | str | Path, *, epoch: Any = None) -> None:
        if isinstance(db, sqlite3.Connection):
            self._db, self._owned = db, False
            self._db.row_factory = sqlite3.Row
        else:
            self._db, self._owned = connect(db), True
        self._db.executescript(SCHEMA)
        self._kyc: dict[tuple[str, str], Any] = {}
        self._kyc_generation = -1
        # ``epoch``: the ledger's ``host.store.sqlite.CacheEpoch`` when sharing its connection
        # (one ``PRAGMA data_version`` per loop turn for both caches); else our own check.
        self._epoch = epoch

    def invalidate(self) -> None:
        """Forget every cached KYC read (call after rows may have changed on this connection)."""
        self._kyc.clear()

    def _kyc_cache(self) -> dict[tuple[str, str], Any]:
        if self._epoch is not None:
            generation = int(self._epoch.check())
        else:
            generation = self._db.execute("PRAGMA data_version").fetchone()[0]
        if generation != self._kyc_generation or len(self._kyc) >= KYC_CACHE_SIZE:
            self._kyc.clear()
            self._kyc_generation = generation
        return self._kyc

    @property
    def connection(self) -> sqlite3.Connection:
        return self._db

    def close(self) -> None:
        if self._owned:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` .. ``COMMIT`` on this store's connection (joins an open one as a
        savepoint: the ledger's group-commit batch, see :mod:`host.store.sqlite`)."""
        db = self._db
        self._kyc.clear()
        try:
            if db.in_transaction:
                db.execute("SAVEPOINT risk")
                try:
                    yield db
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK TO risk")
                        db.execute("RELEASE risk")
                    raise
                db.execute("RELEASE risk")
                return
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            self._kyc.clear()

    # -- KYC ----------------------------------------------------------------------------------
    def put_customer(self, rec: CustomerRecord) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO risk_customers (customer_id, record_json, id_hash, id_enc, grade, "
                "status, customer_type, id_expiry, next_review_due, relationship_end, legal_hold, "
                "anonymised) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(customer_id) DO UPDATE "
                "SET record_json=excluded.record_json, id_hash=excluded.id_hash, "
                "id_enc=excluded.id_enc, grade=excluded.grade, status=excluded.status, "
                "customer_type=excluded.customer_type, id_expiry=excluded.id_expiry, "
                "next_review_due=excluded.next_review_due, "
                "relationship_end=excluded.relationship_end, legal_hold=excluded.legal_hold, "
                "anonymised=excluded.anonymised", self.customer_row(rec))

    @staticmethod
    def customer_row(rec: CustomerRecord) -> tuple[Any, ...]:
        return (rec.customer_id, customer_to_json(rec), rec.id_number.lookup_hash,
                rec.id_number.encrypted or None, rec.risk_grade.value, rec.status.value,
                rec.customer_type.value, rec.id_expiry.isoformat() if rec.id_expiry else None,
                rec.next_review_due.isoformat() if rec.next_review_due else None,
                rec.relationship_end.isoformat() if rec.relationship_end else None,
                rec.legal_hold, int(rec.anonymised))

    def customer(self, customer_id: str) -> CustomerRecord | None:
        cache, key = self._kyc_cache(), ("customer", customer_id)
        if key in cache:
            return cache[key]  # type: ignore[no-any-return]
        r = self._db.execute("SELECT record_json, id_enc FROM risk_customers WHERE customer_id=?",
                             (customer_id,)).fetchone()
        rec = None if r is None else customer_from_json(r[0], r[1])
        cache[key] = rec
        return rec

    def customers(self) -> list[CustomerRecord]:
        rows = self._db.execute("SELECT record_json, id_enc FROM risk_customers "
                                "ORDER BY customer_id").fetchall()
        return [customer_from_json(r[0], r[1]) for r in rows]

    def find_customer_by_id_hash(self, lookup_hash: str) -> str | None:
        r = self._db.execute("SELECT customer_id FROM risk_customers WHERE id_hash=?",
                             (lookup_hash,)).fetchone()
        return None if r is None else str(r[0])

    def put_account(self, link: AccountLink) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO risk_accounts VALUES (?,?,?,?)",
                       (link.account_no, link.customer_id, link.account_class.value,
                        link.bound_account_no))

    def account(self, account_no: str) -> AccountLink | None:
        cache, key = self._kyc_cache(), ("account", account_no)
        if key in cache:
            return cache[key]  # type: ignore[no-any-return]
        r = self._db.execute("SELECT * FROM risk_accounts WHERE account_no=?",
                             (account_no,)).fetchone()
        link = None if r is None else AccountLink(
            account_no=r["account_no"], customer_id=r["customer_id"],
            account_class=AccountClass(r["account_class"]), bound_account_no=r["bound_account_no"])
        cache[key] = link
        return link

    def put_card(self, link: CardLink) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO risk_cards VALUES (?,?,?,?,?,?,?)",
                       (link.card, link.customer_id, link.account_no, link.pan_masked,
                        ts(link.last_pin_change_at) if link.last_pin_change_at else None,
                        int(link.pin_reset_pending), link.fingerprint_ref))

    def _card(self, r: sqlite3.Row) -> CardLink:
        return CardLink(card=r["card"], customer_id=r["customer_id"], account_no=r["account_no"],
                        pan_masked=r["pan_masked"],
                        last_pin_change_at=from_ts(r["last_pin_change_at"]),
                        pin_reset_pending=bool(r["pin_reset_pending"]),
                        fingerprint_ref=r["fingerprint_ref"])

    def card(self, card: str) -> CardLink | None:
        cache, key = self._kyc_cache(), ("card", card)
        if key in cache:
            return cache[key]  # type: ignore[no-any-return]
        r = self._db.execute("SELECT * FROM risk_cards WHERE card=?", (card,)).fetchone()
        link = None if r is None else self._card(r)
        cache[key] = link
        return link

    def cards_of(self, customer_id: str) -> list[CardLink]:
        return [self._card(r) for r in self._db.execute(
            "SELECT * FROM risk_cards WHERE customer_id=? ORDER BY card", (customer_id,))]

    def link_customers(self, a: str, b: str) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO risk_links VALUES (?,?)", [(a, b), (b, a)])

    def linked(self, customer_id: str) -> list[str]:
        cache, key = self._kyc_cache(), ("linked", customer_id)
        ids = cache.get(key)
        if ids is None:
            ids = cache[key] = tuple(r[0] for r in self._db.execute(
                "SELECT linked_id FROM risk_links WHERE customer_id=?", (customer_id,)))
        return list(ids)

    def record_pin_change(self, card: str, at: datetime, *, reset: bool) -> None:
        with self.transaction() as db:
            db.execute("UPDATE risk_cards SET last_pin_change_at=?, pin_reset_pending=? "
                       "WHERE card=?", (ts(at), int(reset), card))

    def last_activity(self, customer_id: str) -> datetime | None:
        r = self._db.execute("SELECT last_activity_at FROM risk_customers WHERE customer_id=?",
                             (customer_id,)).fetchone()
        return None if r is None else from_ts(r[0])

    # -- decision-time reads -----------------------------------------------------------------
    def counters(self, scopes: list[tuple[Scope, str]], periods: list[str]
                 ) -> dict[CounterKey, tuple[int, int]]:
        """Every counter of these scopes and periods, in one statement (primary-key ranges)."""
        if not scopes or not periods:
            return {}
        by_value = {scope.value: scope for scope, _ in scopes}
        marks = ",".join("?" * len(periods))
        one = ("SELECT scope, scope_id, period, bucket, amount, count FROM risk_counters "  # noqa: S608
               f"WHERE scope=? AND scope_id=? AND period IN ({marks})")
        rows = self._db.execute(
            " UNION ALL ".join([one] * len(scopes)),
            tuple(v for scope, sid in scopes for v in (scope.value, sid, *periods)))
        return {(by_value[r[0]], r[1], r[3], r[2]): (r[4], r[5]) for r in rows}

    def events(self, customer_ids: list[str], since: datetime) -> list[RiskEvent]:
        marks = ",".join("?" * len(customer_ids))
        rows = self._db.execute(
            f"SELECT txn_ref, customer_id, card, account_no, terminal_id, channel, "  # noqa: S608
            f"txn_type, amount, at, response_code, cross_border, counterparty, reversed_amount "
            f"FROM risk_events WHERE customer_id IN ({marks}) AND at >= ? ORDER BY at",
            (*customer_ids, ts(since))).fetchall()
        return [RiskEvent(txn_ref=r[0], customer_id=r[1], card=r[2], account_no=r[3],
                          terminal_id=r[4], channel=Channel(r[5]), txn_type=TxnType(r[6]),
                          amount=r[7] - r[12], at=datetime.fromtimestamp(r[8], UTC),
                          response_code=r[9], cross_border=bool(r[10]), counterparty=r[11],
                          reversed=r[12] >= r[7] and r[7] > 0) for r in rows]

    # -- step-up -------------------------------------------------------------------------------
    def issue_challenge(self, rec: ChallengeRecord, *, phone: str, text: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO risk_challenges VALUES (?,?,?,?,?,?,?,?,?)",
                       (rec.challenge_id, rec.customer_id, rec.card, rec.factor.value,
                        rec.secret_hash, ts(rec.created_at), ts(rec.expires_at), rec.attempts,
                        rec.status))
            if text:
                db.execute("INSERT INTO risk_otp_outbox (customer_id, phone, text, challenge_id, "
                           "created_at) VALUES (?,?,?,?,?)",
                           (rec.customer_id, phone, text, rec.challenge_id, ts(rec.created_at)))

    def challenge(self, challenge_id: str) -> ChallengeRecord | None:
        r = self._db.execute("SELECT * FROM risk_challenges WHERE challenge_id=?",
                             (challenge_id,)).fetchone()
        if r is None:
            return None
        return ChallengeRecord(challenge_id=r["challenge_id"], customer_id=r["customer_id"],
                               card=r["card"], factor=Factor(r["factor"]),
                               secret_hash=r["secret_hash"],
                               created_at=datetime.fromtimestamp(r["created_at"], UTC),
                               expires_at=datetime.fromtimestamp(r["expires_at"], UTC),
                               attempts=r["attempts"], status=r["status"])

    def record_attempt(self, challenge_id: str, *, ok: bool, at: datetime, txn_ref: str,
                       detail: str, max_attempts: int = 3) -> None:
        with self.transaction() as db:
            db.execute("UPDATE risk_challenges SET attempts = attempts + 1, status = CASE "
                       "WHEN ? THEN 'VERIFIED' WHEN attempts + 1 >= ? THEN 'FAILED' "
                       "ELSE status END WHERE challenge_id=?",
                       (int(ok), max_attempts, challenge_id))
            db.execute("INSERT INTO risk_stepup_log (challenge_id, at, txn_ref, ok, detail) "
                       "VALUES (?,?,?,?,?)", (challenge_id, ts(at), txn_ref, int(ok), detail))

    def stepup_log(self, challenge_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute(
            "SELECT * FROM risk_stepup_log WHERE challenge_id=? ORDER BY id", (challenge_id,))]

    def otp_outbox(self, customer_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute(
            "SELECT msg_id, customer_id, phone, text, challenge_id, created_at FROM "
            "risk_otp_outbox WHERE customer_id=? ORDER BY msg_id", (customer_id,))]

    def register_video(self, ref: str, customer_id: str, *, matched: bool, at: datetime) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO risk_video_snapshots VALUES (?,?,?,?)",
                       (ref, customer_id, int(matched), ts(at)))

    def video(self, ref: str) -> tuple[str, bool] | None:
        r = self._db.execute("SELECT customer_id, matched FROM risk_video_snapshots WHERE ref=?",
                             (ref,)).fetchone()
        return None if r is None else (str(r[0]), bool(r[1]))

    # -- in the ledger transaction -----------------------------------------------------------
    def apply(self, conn: sqlite3.Connection, decision: Decision, response_code: str
              ) -> ApplyResult:
        """Record the decision; on approval move the counters (re-checking limits first).

        Call inside the ledger's open transaction with the ledger's final response code (e.g.
        ``51`` if funds ran out). Returns the final risk code: ``00`` stays ``00`` unless a
        concurrent approval already used the limit (then ``61``/``65``).
        """
        req = decision.request
        prior = conn.execute("SELECT final_code FROM risk_decisions WHERE txn_ref=?",
                             (req.txn_ref,)).fetchone()
        if prior is not None:
            return ApplyResult(response_code=str(prior[0]), duplicate=True)
        final, why = response_code, ""
        moving = final == "00" and decision.approved and req.txn_type.financial
        if moving:
            for c in decision.checks:
                r = conn.execute("SELECT amount, count FROM risk_counters WHERE scope=? AND "
                                 "scope_id=? AND period=? AND bucket=?",
                                 (c.scope.value, c.scope_id, c.period, c.bucket)).fetchone()
                amount, count = (r[0], r[1]) if r else (0, 0)
                observed = amount + req.amount if c.metric == "AMOUNT" else count + 1
                if observed > c.limit:
                    final = c.code
                    why = (f"race: {c.limit_id} observed={observed} limit={c.limit} "
                           f"layer={c.layer}")
                    moving = False
                    break
        if moving:
            conn.executemany(
                "INSERT INTO risk_counters (scope, scope_id, period, bucket, amount, count) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT(scope, scope_id, period, bucket) DO UPDATE SET "
                "amount = amount + excluded.amount, count = count + excluded.count",
                [(m.scope.value, m.scope_id, m.period, m.bucket, m.amount, m.count)
                 for m in decision.moves])
            conn.executemany(
                "INSERT INTO risk_moves VALUES (?,?,?,?,?,?,?,?,?)",
                [(req.txn_ref, m.scope.value, m.scope_id, m.period, m.bucket, m.amount, m.count,
                  m.amount, m.count) for m in decision.moves])
            if decision.pending_until is not None:
                conn.execute("INSERT INTO risk_pending_transfers VALUES (?,?,?,?,?,?,?,?,NULL)",
                             (req.txn_ref, decision.customer_id, decision.account_no,
                              req.payee_account, req.amount, ts(req.at),
                              ts(decision.pending_until), "PENDING"))
            if decision.customer_id:
                conn.execute("UPDATE risk_customers SET last_activity_at=? WHERE customer_id=?",
                             (ts(req.at), decision.customer_id))
            if (decision.stepup_verified is not None or req.txn_type.financial) and conn.execute(
                    "UPDATE risk_cards SET pin_reset_pending=0 WHERE card=? AND "
                    "pin_reset_pending=1", (req.card,)).rowcount:
                self._kyc.clear()
            if decision.stepup_verified is Factor.VID and decision.customer_id:
                self._clear_reactivation(conn, decision.customer_id)
        d = req.txn_type.direction
        conn.execute(
            "INSERT OR IGNORE INTO risk_events (txn_ref, rrn, customer_id, card, account_no, "
            "terminal_id, channel, txn_type, amount, at, day, response_code, cash, direction, "
            "cross_border, counterparty) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (req.txn_ref, req.rrn, decision.customer_id, req.card, decision.account_no,
             req.terminal_id, req.channel.value, req.txn_type.value, req.amount, ts(req.at),
             local_day(req.at).isoformat(), final, int(req.txn_type.cash), d.value,
             int(req.cross_border), req.counterparty or req.payee_account))
        detail = {
            "reason": asdict(decision.reason) if decision.reason else None,
            "race": why, "ledger_code": response_code, "pan_masked": req.pan_masked,
            "terminal_id": req.terminal_id, "factor": decision.factor.value if decision.factor
            else "", "challenge_id": decision.challenge_id,
            "stepup_verified": decision.stepup_verified.value if decision.stepup_verified else "",
            "score_parts": [asdict(p) for p in decision.score_parts],
            "checks": [{"limit_id": c.limit_id, "layer": c.layer, "scope": c.scope.value,
                        "period": c.period, "metric": c.metric, "limit": c.limit}
                       for c in decision.checks],
            "pending_until": decision.pending_until.isoformat() if decision.pending_until else "",
            "notices": list(decision.notices)}
        conn.execute(
            "INSERT INTO risk_decisions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (req.txn_ref, req.rrn, ts(req.at), decision.customer_id, decision.grade,
             req.channel.value, req.txn_type.value, req.amount, decision.outcome.value,
             decision.response_code, final, decision.reason.rule_id if decision.reason else "",
             json.dumps(detail, ensure_ascii=False, default=str), decision.score,
             decision.limits_version))
        if decision.open_case and decision.customer_id:
            self._open_case(conn, decision)
        return ApplyResult(response_code=final, reason=why)

    def _clear_reactivation(self, conn: sqlite3.Connection, customer_id: str) -> None:
        r = conn.execute("SELECT record_json, id_enc FROM risk_customers WHERE customer_id=?",
                         (customer_id,)).fetchone()
        if r is None:
            return
        rec = customer_from_json(r[0], r[1])
        if rec.reactivation_pending:
            conn.execute("UPDATE risk_customers SET record_json=? WHERE customer_id=?",
                         (customer_to_json(replace(rec, reactivation_pending=False)), customer_id))
            self._kyc.clear()

    def _open_case(self, conn: sqlite3.Connection, decision: Decision) -> None:
        req = decision.request
        rule_ids = sorted({p.name for p in decision.score_parts if p.points > 0})
        r = conn.execute("SELECT case_id, rule_ids, txn_refs, score FROM risk_cases WHERE "
                         "customer_id=? AND status IN ('NEW','IN_REVIEW') ORDER BY case_id "
                         "LIMIT 1", (decision.customer_id,)).fetchone()
        if r is None:
            cur = conn.execute(
                "INSERT INTO risk_cases (customer_id, status, opened_at, rule_ids, txn_refs, "
                "score) VALUES (?,?,?,?,?,?)", (decision.customer_id, "NEW", ts(req.at),
                                                 json.dumps(rule_ids), json.dumps([req.txn_ref]),
                                                 decision.score))
            conn.execute("INSERT INTO risk_case_events (case_id, at, actor, from_status, "
                         "to_status, note) VALUES (?,?,?,?,?,?)",
                         (cur.lastrowid, ts(req.at), "engine", "", "NEW",
                          f"score {decision.score} on {req.txn_ref}"))
        else:
            rules = sorted(set(json.loads(r[1])) | set(rule_ids))
            refs = [*json.loads(r[2]), req.txn_ref]
            conn.execute("UPDATE risk_cases SET rule_ids=?, txn_refs=?, score=MAX(score, ?) "
                         "WHERE case_id=?", (json.dumps(rules), json.dumps(refs),
                                             decision.score, r[0]))

    def restore(self, conn: sqlite3.Connection, txn_ref: str, *, reversal_ref: str,
                at: datetime, amount: int | None = None) -> int:
        """Undo (part of) what ``apply`` added for ``txn_ref``; idempotent per ``reversal_ref``.

        ``amount`` None reverses everything left (and gives the count back); a smaller amount is
        a partial reversal (amounts only). Returns the amount restored (0 for a repeat).
        """
        if conn.execute("SELECT 1 FROM risk_reversals WHERE reversal_ref=?",
                        (reversal_ref,)).fetchone():
            return 0
        rows = conn.execute("SELECT scope, scope_id, period, bucket, remaining_amount, "
                            "remaining_count FROM risk_moves WHERE txn_ref=?",
                            (txn_ref,)).fetchall()
        left = max((r[4] for r in rows), default=0)
        take = left if amount is None else max(0, min(amount, left))
        for scope, sid, period, bucket, rem_a, rem_c in rows:
            da = min(take, rem_a)
            dc = rem_c if take >= rem_a else 0
            if da == 0 and dc == 0:
                continue
            conn.execute("UPDATE risk_counters SET amount = amount - ?, count = count - ? "
                         "WHERE scope=? AND scope_id=? AND period=? AND bucket=?",
                         (da, dc, scope, sid, period, bucket))
            conn.execute("UPDATE risk_moves SET remaining_amount = remaining_amount - ?, "
                         "remaining_count = remaining_count - ? WHERE txn_ref=? AND scope=? AND "
                         "scope_id=? AND period=? AND bucket=?",
                         (da, dc, txn_ref, scope, sid, period, bucket))
        conn.execute("INSERT INTO risk_reversals VALUES (?,?,?,?)",
                     (reversal_ref, txn_ref, take, ts(at)))
        if take:
            conn.execute("UPDATE risk_events SET reversed_amount = reversed_amount + ? "
                         "WHERE txn_ref=?", (take, txn_ref))
        if take and take == left:
            conn.execute("UPDATE risk_pending_transfers SET status='REVOKED', closed_at=? "
                         "WHERE txn_ref=? AND status='PENDING'", (ts(at), txn_ref))
        return take

    def revoke_transfer(self, conn: sqlite3.Connection, txn_ref: str, *, at: datetime) -> bool:
        """Customer revocation of a pending ATM transfer (261号): only before ``due_at``."""
        r = conn.execute("SELECT due_at, status FROM risk_pending_transfers WHERE txn_ref=?",
                         (txn_ref,)).fetchone()
        if r is None or r[1] != "PENDING" or ts(at) >= r[0]:
            return False
        self.restore(conn, txn_ref, reversal_ref=f"revoke:{txn_ref}", at=at)
        conn.execute("UPDATE risk_pending_transfers SET status='REVOKED', closed_at=? "
                     "WHERE txn_ref=?", (ts(at), txn_ref))
        return True

    def mark_credited(self, conn: sqlite3.Connection, txn_ref: str, *, at: datetime) -> bool:
        cur = conn.execute("UPDATE risk_pending_transfers SET status='CREDITED', closed_at=? "
                           "WHERE txn_ref=? AND status='PENDING' AND due_at <= ?",
                           (ts(at), txn_ref, ts(at)))
        return cur.rowcount == 1

    def _pending(self, r: sqlite3.Row) -> PendingTransfer:
        return PendingTransfer(txn_ref=r["txn_ref"], customer_id=r["customer_id"],
                               account_no=r["account_no"], payee_account=r["payee_account"],
                               amount=r["amount"],
                               accepted_at=datetime.fromtimestamp(r["accepted_at"], UTC),
                               due_at=datetime.fromtimestamp(r["due_at"], UTC), status=r["status"])

    def due_transfers(self, at: datetime) -> list[PendingTransfer]:
        return [self._pending(r) for r in self._db.execute(
            "SELECT * FROM risk_pending_transfers WHERE status='PENDING' AND due_at <= ? "
            "ORDER BY due_at", (ts(at),))]

    def pending_transfer(self, txn_ref: str) -> PendingTransfer | None:
        r = self._db.execute("SELECT * FROM risk_pending_transfers WHERE txn_ref=?",
                             (txn_ref,)).fetchone()
        return None if r is None else self._pending(r)

    # -- RiskTxStore (the ledger hook's view; never suspends) -----------------------------------
    # ``conn`` is the ledger's writer connection inside its open transaction; this store's own
    # connection may be the ledger's snapshot reader (``SqliteStore.reader``).
    async def apply_tx(self, conn: Any, decision: Decision, response_code: str) -> ApplyResult:
        return self.apply(conn, decision, response_code)

    async def restore_tx(self, conn: Any, txn_ref: str, *, reversal_ref: str, at: datetime,
                         amount: int | None = None) -> int:
        return self.restore(conn, txn_ref, reversal_ref=reversal_ref, at=at, amount=amount)

    async def revoke_transfer_tx(self, conn: Any, txn_ref: str, *, at: datetime) -> bool:
        return self.revoke_transfer(conn, txn_ref, at=at)

    async def mark_credited_tx(self, conn: Any, txn_ref: str, *, at: datetime) -> bool:
        return self.mark_credited(conn, txn_ref, at=at)

    async def pending_transfer_tx(self, conn: Any, txn_ref: str) -> PendingTransfer | None:
        conn.row_factory = sqlite3.Row
        r = conn.execute("SELECT * FROM risk_pending_transfers WHERE txn_ref=?",
                         (txn_ref,)).fetchone()
        return None if r is None else self._pending(r)

    async def record_pin_change_tx(self, conn: Any, card: str, at: datetime, *,
                                   reset: bool) -> None:
        conn.execute("UPDATE risk_cards SET last_pin_change_at=?, pin_reset_pending=? "
                     "WHERE card=?", (ts(at), int(reset), card))
        self._kyc.clear()

    # -- post-event ----------------------------------------------------------------------------
    def decision(self, key: str) -> dict[str, Any] | None:
        """A stored decision by RRN or transaction reference (latest first)."""
        r = self._db.execute("SELECT * FROM risk_decisions WHERE rrn=? OR txn_ref=? "
                             "ORDER BY at DESC LIMIT 1", (key, key)).fetchone()
        if r is None:
            return None
        out = dict(r)
        out["detail"] = json.loads(out.pop("detail_json"))
        return out

    def add_notice(self, customer_id: str, kind: str, day: date, detail: str) -> bool:
        with self.transaction() as db:
            cur = db.execute("INSERT OR IGNORE INTO risk_notices (customer_id, kind, day, detail) "
                             "VALUES (?,?,?,?)", (customer_id, kind, day.isoformat(), detail))
            return cur.rowcount == 1

    def notices(self, since: date | None = None) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute(
            "SELECT * FROM risk_notices WHERE day >= ? ORDER BY notice_id",
            ((since or date.min).isoformat(),))]

    def audit(self, *, at: datetime, actor: str, action: str, subject: str, detail: str = ""
              ) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO risk_audit (at, actor, action, subject, detail) "
                       "VALUES (?,?,?,?,?)", (ts(at), actor, action, subject, detail))

    def counter_totals(self) -> list[tuple[str, str, str, str, int, int]]:
        """Every counter row (tests, conservation checks)."""
        return [tuple(r) for r in self._db.execute(  # type: ignore[misc]
            "SELECT scope, scope_id, period, bucket, amount, count FROM risk_counters")]


_ = timedelta
