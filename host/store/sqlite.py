"""SQLite ledger (the embedded default): WAL mode, one database transaction per message.

The debit, the PIN-try counter and the authorisation record that explains them are written in
the same ``BEGIN IMMEDIATE`` transaction, so a crash leaves either all of them or none. A
duplicate (terminal, STAN, local date) is answered with the stored original response.
Money is integer minor units.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from host.store.base import (
    MAX_PIN_TRIES,
    AccountRecord,
    AuthorisationRecord,
    CardRecord,
    CommitOutcome,
    PinMethod,
    PinTryUpdate,
    TerminalRecord,
)

__all__ = ["SqliteStore", "SCHEMA"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE TABLE IF NOT EXISTS accounts (
    account_no TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(customer_id),
    currency TEXT NOT NULL,
    balance INTEGER NOT NULL CHECK (balance >= 0)
);
CREATE TABLE IF NOT EXISTS cards (
    pan TEXT PRIMARY KEY,
    account_no TEXT NOT NULL REFERENCES accounts(account_no),
    expiry TEXT NOT NULL,
    service_code TEXT NOT NULL,
    pin_method TEXT NOT NULL,
    pvk_name TEXT NOT NULL,
    pvki INTEGER NOT NULL DEFAULT 1,
    pvv TEXT NOT NULL DEFAULT '',
    ibm_offset TEXT NOT NULL DEFAULT '',
    decimalization_table TEXT NOT NULL DEFAULT '0123456789012345',
    pin_validation_data TEXT NOT NULL DEFAULT '',
    pin_tries INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'active'
);
CREATE TABLE IF NOT EXISTS terminals (
    terminal_id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    tpk_lmk TEXT NOT NULL,
    tpk_kcv TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active'
);
CREATE TABLE IF NOT EXISTS keys (
    name TEXT PRIMARY KEY,
    key_lmk TEXT NOT NULL,
    kcv TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS authorisations (
    auth_id INTEGER PRIMARY KEY AUTOINCREMENT,
    terminal_id TEXT NOT NULL,
    stan TEXT NOT NULL,
    local_date TEXT NOT NULL,
    rrn TEXT NOT NULL,
    mti TEXT NOT NULL,
    processing_code TEXT NOT NULL,
    pan_masked TEXT NOT NULL,
    account_no TEXT,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    response_code TEXT NOT NULL,
    auth_code TEXT,
    reason TEXT NOT NULL DEFAULT '',
    response_json TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    UNIQUE (terminal_id, stan, local_date)
);
CREATE TABLE IF NOT EXISTS postings (
    posting_id INTEGER PRIMARY KEY AUTOINCREMENT,
    auth_id INTEGER NOT NULL REFERENCES authorisations(auth_id),
    account_no TEXT NOT NULL REFERENCES accounts(account_no),
    amount INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
"""


class SqliteStore:
    """``LedgerStore`` on one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0,
                                   check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- reads -------------------------------------------------------------------------------
    def find_card(self, pan: str) -> CardRecord | None:
        r = self._db.execute("SELECT * FROM cards WHERE pan = ?", (pan,)).fetchone()
        if r is None:
            return None
        return CardRecord(pan=r["pan"], account_no=r["account_no"], expiry=r["expiry"],
                          service_code=r["service_code"], pin_method=PinMethod(r["pin_method"]),
                          pvk_name=r["pvk_name"], pvki=r["pvki"], pvv=r["pvv"],
                          ibm_offset=r["ibm_offset"], decimalization_table=r["decimalization_table"],
                          pin_validation_data=r["pin_validation_data"], pin_tries=r["pin_tries"],
                          status=r["status"])

    def find_terminal(self, terminal_id: str) -> TerminalRecord | None:
        r = self._db.execute("SELECT * FROM terminals WHERE terminal_id = ?", (terminal_id,)).fetchone()
        if r is None:
            return None
        return TerminalRecord(terminal_id=r["terminal_id"], merchant_id=r["merchant_id"],
                              tpk_lmk=r["tpk_lmk"], tpk_kcv=r["tpk_kcv"], status=r["status"])

    def find_account(self, account_no: str) -> AccountRecord | None:
        r = self._db.execute("SELECT * FROM accounts WHERE account_no = ?", (account_no,)).fetchone()
        if r is None:
            return None
        return AccountRecord(account_no=r["account_no"], customer_id=r["customer_id"],
                             currency=r["currency"], balance=r["balance"])

    def key(self, name: str) -> str:
        r = self._db.execute("SELECT key_lmk FROM keys WHERE name = ?", (name,)).fetchone()
        if r is None:
            raise KeyError(f"no key named {name!r} in the host key table")
        return str(r["key_lmk"])

    def find_response(self, terminal_id: str, stan: str, local_date: str) -> dict[str, str] | None:
        r = self._db.execute(
            "SELECT response_json FROM authorisations WHERE terminal_id=? AND stan=? AND local_date=?",
            (terminal_id, stan, local_date)).fetchone()
        return None if r is None else dict(json.loads(r["response_json"]))

    def journal(self, *, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT auth_id, created_at, terminal_id, stan, rrn, mti, processing_code, pan_masked, "
            "amount, currency, response_code, auth_code, reason FROM authorisations "
            "ORDER BY auth_id DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) for r in reversed(rows)]

    def totals(self) -> dict[str, int]:
        """Sums used by conservation checks: balances and postings."""
        bal = self._db.execute("SELECT COALESCE(SUM(balance),0) FROM accounts").fetchone()[0]
        post = self._db.execute("SELECT COALESCE(SUM(amount),0) FROM postings").fetchone()[0]
        return {"balances": int(bal), "postings": int(post)}

    # -- the one write path of a financial message --------------------------------------------
    def commit_authorisation(
        self,
        record: AuthorisationRecord,
        *,
        debit: int,
        pan: str | None,
        pin_update: PinTryUpdate,
        build_response: Callable[[CommitOutcome], dict[str, str]],
    ) -> CommitOutcome:
        """Apply PIN-try update, debit and authorisation record atomically.

        ``debit`` > 0 debits the card's account if funds suffice (else the response becomes 51).
        ``build_response`` turns the final outcome into the response fields to store and send.
        """
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            dup = self.find_response(record.terminal_id, record.stan, record.local_date)
            if dup is not None:
                db.execute("ROLLBACK")
                return CommitOutcome(response_code=dup.get("39", "96"), auth_code=dup.get("38"),
                                     balance=None, duplicate=True, response_fields=dup)
            rc, auth_code = record.response_code, record.auth_code
            if pan is not None and pin_update is PinTryUpdate.INCREMENT:
                db.execute("UPDATE cards SET pin_tries = pin_tries + 1 WHERE pan = ?", (pan,))
                tries = db.execute("SELECT pin_tries FROM cards WHERE pan = ?", (pan,)).fetchone()[0]
                if tries >= MAX_PIN_TRIES:
                    rc, auth_code = "75", None
            elif pan is not None and pin_update is PinTryUpdate.RESET:
                db.execute("UPDATE cards SET pin_tries = 0 WHERE pan = ? AND pin_tries <> 0", (pan,))
            balance: int | None = None
            if record.account_no is not None:
                balance = db.execute("SELECT balance FROM accounts WHERE account_no = ?",
                                     (record.account_no,)).fetchone()[0]
            if rc == "00" and debit > 0:
                assert record.account_no is not None and balance is not None
                if balance < debit:
                    rc, auth_code = "51", None
                else:
                    balance -= debit
                    db.execute("UPDATE accounts SET balance = ? WHERE account_no = ?",
                               (balance, record.account_no))
            outcome = CommitOutcome(response_code=rc, auth_code=auth_code, balance=balance)
            response = build_response(outcome)
            stored = {k: v for k, v in response.items() if k != "2"}
            cur = db.execute(
                "INSERT INTO authorisations (terminal_id, stan, local_date, rrn, mti, processing_code, "
                "pan_masked, account_no, amount, currency, response_code, auth_code, reason, "
                "response_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (record.terminal_id, record.stan, record.local_date, record.rrn, record.mti,
                 record.processing_code, record.pan_masked, record.account_no, record.amount,
                 record.currency, rc, auth_code, record.reason if rc == record.response_code else
                 _reason_for(rc, record.reason), json.dumps(stored)))
            if rc == "00" and debit > 0:
                db.execute("INSERT INTO postings (auth_id, account_no, amount, balance_after) "
                           "VALUES (?,?,?,?)", (cur.lastrowid, record.account_no, -debit, balance))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return CommitOutcome(response_code=rc, auth_code=auth_code, balance=balance,
                             response_fields=response)

    # -- administration (seeding) -------------------------------------------------------------
    def upsert(self, table: str, row: dict[str, Any]) -> None:
        if table not in {"customers", "accounts", "cards", "terminals", "keys"}:
            raise ValueError(f"unknown table {table!r}")
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self._db.execute(f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})",  # noqa: S608
                         tuple(row.values()))

    def transaction(self) -> _Tx:
        return _Tx(self._db)


def _reason_for(rc: str, fallback: str) -> str:
    return {"75": "PIN tries exhausted", "51": "insufficient funds"}.get(rc, fallback)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
