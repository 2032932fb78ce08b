"""SQLite ledger (the embedded default): WAL mode, one ``BEGIN IMMEDIATE`` transaction per message.

Everything one message does (PIN-try counter, postings, holds, the message record with its
response) is written in the same transaction, so a crash leaves either all of it or none.
Writers are serialised by SQLite itself and, inside the process, by an ``asyncio.Lock`` (no
``await`` ever happens between ``BEGIN`` and ``COMMIT`` in practice, the lock makes it a rule).

``synchronous=FULL`` is the default (durable at ``COMMIT``); ``durability="normal"`` trades the
last transactions before a power cut (never consistency) for speed, as WAL allows.

Group commit: each message's transaction is a ``SAVEPOINT`` inside a batch that one
``BEGIN IMMEDIATE`` opens; the batch commits (one fsync) at the next turn of the event loop,
after every message that was ready in the meantime has added its own savepoint. A message
that fails rolls back to its savepoint only, so it is applied whole or not at all; a batch
commits whole or not at all. ``transaction()`` returns to its caller only once the batch is
durable, so no answer leaves the host before the transaction it reports is on disk (a crash
loses only messages that were never answered). Reads between messages see the open batch:
a duplicate answered from :meth:`SqliteStore.get_response` therefore also waits for it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from host.store.base import (
    AccountRecord,
    AuthorisationRecord,
    CardRecord,
    HoldRecord,
    HoldStatus,
    LedgerTx,
    MessageKey,
    PostingRecord,
    TerminalRecord,
)
from host.store.rows import account_record as _account
from host.store.rows import auth_record as _auth
from host.store.rows import card_record as _card
from host.store.rows import terminal_record as _terminal

__all__ = ["SCHEMA", "CacheEpoch", "SqliteStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE TABLE IF NOT EXISTS accounts (
    account_no TEXT PRIMARY KEY,
    customer_id TEXT REFERENCES customers(customer_id),
    currency TEXT NOT NULL,
    balance INTEGER NOT NULL,
    held INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL DEFAULT 'customer',
    status TEXT NOT NULL DEFAULT 'active',
    CHECK (kind <> 'customer' OR balance >= 0),
    CHECK (held >= 0)
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
    status TEXT NOT NULL DEFAULT 'active',
    mk_ac_name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS terminals (
    terminal_id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    tpk_lmk TEXT NOT NULL,
    tpk_kcv TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    tmk_lmk TEXT NOT NULL DEFAULT '',
    tak_lmk TEXT NOT NULL DEFAULT '',
    tak_kcv TEXT NOT NULL DEFAULT '',
    pin_mode TEXT NOT NULL DEFAULT 'tpk',
    bdk_name TEXT NOT NULL DEFAULT '',
    mac_required INTEGER NOT NULL DEFAULT 0,
    settlement_account TEXT NOT NULL DEFAULT '',
    signed_on INTEGER NOT NULL DEFAULT 0
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
    message_class TEXT NOT NULL DEFAULT '0200',
    transmission_datetime TEXT NOT NULL DEFAULT '',
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
    reversed_amount INTEGER NOT NULL DEFAULT 0,
    response_json TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE UNIQUE INDEX IF NOT EXISTS authorisations_dup
    ON authorisations (terminal_id, stan, local_date, message_class);
CREATE INDEX IF NOT EXISTS authorisations_rrn ON authorisations (terminal_id, rrn);
CREATE TABLE IF NOT EXISTS postings (
    posting_id INTEGER PRIMARY KEY AUTOINCREMENT,
    auth_id INTEGER NOT NULL REFERENCES authorisations(auth_id),
    account_no TEXT NOT NULL REFERENCES accounts(account_no),
    amount INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX IF NOT EXISTS postings_account ON postings (account_no, posting_id);
CREATE INDEX IF NOT EXISTS postings_auth ON postings (auth_id);
CREATE TABLE IF NOT EXISTS holds (
    hold_id INTEGER PRIMARY KEY AUTOINCREMENT,
    auth_id INTEGER NOT NULL REFERENCES authorisations(auth_id),
    account_no TEXT NOT NULL REFERENCES accounts(account_no),
    amount INTEGER NOT NULL CHECK (amount >= 0),
    status TEXT NOT NULL DEFAULT 'open'
);
CREATE INDEX IF NOT EXISTS holds_auth ON holds (auth_id);
"""

#: Columns added after the walking skeleton (old ledgers are upgraded in place on open).
_MIGRATIONS: tuple[tuple[str, str, str], ...] = (
    ("customers", "status", "TEXT NOT NULL DEFAULT 'active'"),
    ("accounts", "held", "INTEGER NOT NULL DEFAULT 0"),
    ("accounts", "kind", "TEXT NOT NULL DEFAULT 'customer'"),
    ("accounts", "status", "TEXT NOT NULL DEFAULT 'active'"),
    ("cards", "mk_ac_name", "TEXT NOT NULL DEFAULT ''"),
    ("terminals", "tmk_lmk", "TEXT NOT NULL DEFAULT ''"),
    ("terminals", "tak_lmk", "TEXT NOT NULL DEFAULT ''"),
    ("terminals", "tak_kcv", "TEXT NOT NULL DEFAULT ''"),
    ("terminals", "pin_mode", "TEXT NOT NULL DEFAULT 'tpk'"),
    ("terminals", "bdk_name", "TEXT NOT NULL DEFAULT ''"),
    ("terminals", "mac_required", "INTEGER NOT NULL DEFAULT 0"),
    ("terminals", "settlement_account", "TEXT NOT NULL DEFAULT ''"),
    ("terminals", "signed_on", "INTEGER NOT NULL DEFAULT 0"),
    ("authorisations", "message_class", "TEXT NOT NULL DEFAULT '0200'"),
    ("authorisations", "transmission_datetime", "TEXT NOT NULL DEFAULT ''"),
    ("authorisations", "reversed_amount", "INTEGER NOT NULL DEFAULT 0"),
)

_TABLE_KEYS = {
    "customers": "customer_id",
    "accounts": "account_no",
    "cards": "pan",
    "terminals": "terminal_id",
    "keys": "name",
}

#: Bound of the read cache of terminals, cards and keys (entries); emptied when full.
_CACHE_SIZE = 100_000

_AUTH_COLS = (
    "auth_id, terminal_id, stan, local_date, message_class, transmission_datetime, rrn, mti, "
    "processing_code, pan_masked, account_no, amount, currency, response_code, auth_code, "
    "reason, reversed_amount, response_json"
)


class CacheEpoch:
    """When read caches on one connection must be dropped because *another* connection committed.

    ``PRAGMA data_version`` changes when another connection (another process, the CLI) commits
    to the file. Inside an event loop it is read at most once per turn of the loop: every read
    of that turn comes after the loop's poll, so a commit that happened before a message
    arrived is always seen by that message. Without a running loop it is read every time.
    Writes on the same connection are not reported here: their writers drop caches themselves.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._version: int | None = None
        self._fresh = False
        self.generation = 0

    def check(self) -> int:
        """The current generation (it changes whenever caches must be dropped)."""
        if not self._fresh:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._version = version
                self.generation += 1
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return self.generation
            self._fresh = True
            loop.call_soon(self._expire)
        return self.generation

    def _expire(self) -> None:
        self._fresh = False


class _SqliteTx:
    """``LedgerTx`` on the store's connection (only valid inside ``SqliteStore.transaction``)."""

    def __init__(self, db: sqlite3.Connection, changed: Callable[[], None]) -> None:
        self._db = db
        self._changed = changed  # cards or terminals written: forget cached reads

    async def find_message(self, key: MessageKey) -> AuthorisationRecord | None:
        r = self._db.execute(
            f"SELECT {_AUTH_COLS} FROM authorisations WHERE terminal_id=? AND stan=? "  # noqa: S608
            "AND local_date=? AND message_class=?",
            (key.terminal_id, key.stan, key.local_date, key.message_class),
        ).fetchone()
        return None if r is None else _auth(r)

    async def find_original(
        self,
        *,
        terminal_id: str,
        stan: str,
        message_classes: Sequence[str],
        transmission_datetime: str | None,
        rrn: str | None = None,
    ) -> AuthorisationRecord | None:
        marks = ",".join("?" for _ in message_classes)
        if rrn is not None:
            sql = (
                f"SELECT {_AUTH_COLS} FROM authorisations WHERE terminal_id=? AND rrn=? "  # noqa: S608
                f"AND message_class IN ({marks}) AND response_code='00' "
                "ORDER BY auth_id DESC LIMIT 1"
            )
            args: tuple[Any, ...] = (terminal_id, rrn, *message_classes)
        elif transmission_datetime:
            sql = (
                f"SELECT {_AUTH_COLS} FROM authorisations WHERE terminal_id=? AND stan=? "  # noqa: S608
                f"AND transmission_datetime=? AND message_class IN ({marks}) "
                "ORDER BY auth_id DESC LIMIT 1"
            )
            args = (terminal_id, stan, transmission_datetime, *message_classes)
        else:
            sql = (
                f"SELECT {_AUTH_COLS} FROM authorisations WHERE terminal_id=? AND stan=? "  # noqa: S608
                f"AND message_class IN ({marks}) ORDER BY auth_id DESC LIMIT 1"
            )
            args = (terminal_id, stan, *message_classes)
        r = self._db.execute(sql, args).fetchone()
        return None if r is None else _auth(r)

    async def lock_card(self, pan: str) -> CardRecord | None:
        r = self._db.execute("SELECT * FROM cards WHERE pan = ?", (pan,)).fetchone()
        return None if r is None else _card(r)

    async def set_pin_tries(self, pan: str, tries: int) -> None:
        self._db.execute("UPDATE cards SET pin_tries = ? WHERE pan = ?", (tries, pan))
        self._changed()

    async def set_pin_reference(
        self, pan: str, *, pvv: str | None = None, ibm_offset: str | None = None
    ) -> None:
        if pvv is not None:
            self._db.execute("UPDATE cards SET pvv = ? WHERE pan = ?", (pvv, pan))
        if ibm_offset is not None:
            self._db.execute("UPDATE cards SET ibm_offset = ? WHERE pan = ?", (ibm_offset, pan))
        self._changed()

    async def lock_accounts(self, account_nos: Sequence[str]) -> dict[str, AccountRecord]:
        out: dict[str, AccountRecord] = {}
        for no in sorted(set(account_nos)):
            r = self._db.execute("SELECT * FROM accounts WHERE account_no = ?", (no,)).fetchone()
            if r is not None:
                out[no] = _account(r)
        return out

    async def insert_message(self, record: AuthorisationRecord) -> int:
        cur = self._db.execute(
            "INSERT INTO authorisations (terminal_id, stan, local_date, message_class, "
            "transmission_datetime, rrn, mti, processing_code, pan_masked, account_no, amount, "
            "currency, response_code, auth_code, reason, response_json) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                record.terminal_id,
                record.stan,
                record.local_date,
                record.message_class,
                record.transmission_datetime,
                record.rrn,
                record.mti,
                record.processing_code,
                record.pan_masked,
                record.account_no,
                record.amount,
                record.currency,
                record.response_code,
                record.auth_code,
                record.reason,
                json.dumps(record.response, separators=(",", ":")),
            ),
        )
        return int(cur.lastrowid or 0)

    async def post(self, *, auth_id: int, account_no: str, amount: int) -> int:
        r = self._db.execute(
            "UPDATE accounts SET balance = balance + ? WHERE account_no = ? RETURNING balance",
            (amount, account_no),
        ).fetchone()
        if r is None:
            raise KeyError(f"no account {account_no!r}")
        balance = int(r[0])
        self._db.execute(
            "INSERT INTO postings (auth_id, account_no, amount, balance_after) VALUES (?,?,?,?)",
            (auth_id, account_no, amount, balance),
        )
        return balance

    async def postings_of(self, auth_id: int) -> list[PostingRecord]:
        rows = self._db.execute(
            "SELECT * FROM postings WHERE auth_id = ? ORDER BY posting_id", (auth_id,)
        ).fetchall()
        return [
            PostingRecord(
                posting_id=r["posting_id"],
                auth_id=r["auth_id"],
                account_no=r["account_no"],
                amount=r["amount"],
                balance_after=r["balance_after"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    async def add_reversed(self, auth_id: int, amount: int) -> None:
        self._db.execute(
            "UPDATE authorisations SET reversed_amount = reversed_amount + ? WHERE auth_id = ?",
            (amount, auth_id),
        )

    async def add_hold(self, *, auth_id: int, account_no: str, amount: int) -> int:
        self._db.execute(
            "UPDATE accounts SET held = held + ? WHERE account_no = ?", (amount, account_no)
        )
        cur = self._db.execute(
            "INSERT INTO holds (auth_id, account_no, amount) VALUES (?,?,?)",
            (auth_id, account_no, amount),
        )
        return int(cur.lastrowid or 0)

    async def open_hold_of(self, auth_id: int) -> HoldRecord | None:
        r = self._db.execute(
            "SELECT * FROM holds WHERE auth_id = ? AND status = 'open'", (auth_id,)
        ).fetchone()
        if r is None:
            return None
        return HoldRecord(
            hold_id=r["hold_id"],
            auth_id=r["auth_id"],
            account_no=r["account_no"],
            amount=r["amount"],
            status=HoldStatus(r["status"]),
        )

    async def close_hold(self, hold_id: int, status: HoldStatus) -> None:
        r = self._db.execute(
            "UPDATE holds SET status = ? WHERE hold_id = ? AND status = 'open' "
            "RETURNING account_no, amount",
            (status.value, hold_id),
        ).fetchone()
        if r is not None:
            self._db.execute(
                "UPDATE accounts SET held = held - ? WHERE account_no = ?", (r[1], r[0])
            )

    async def set_terminal_key(self, terminal_id: str, *, key: str, key_lmk: str, kcv: str) -> None:
        if key not in ("tpk", "tak"):
            raise ValueError(f"unknown terminal key {key!r}")
        self._db.execute(
            f"UPDATE terminals SET {key}_lmk = ?, {key}_kcv = ? WHERE terminal_id = ?",  # noqa: S608
            (key_lmk, kcv, terminal_id),
        )
        self._changed()

    async def set_signed_on(self, terminal_id: str, signed_on: bool) -> None:
        self._db.execute(
            "UPDATE terminals SET signed_on = ? WHERE terminal_id = ?",
            (int(signed_on), terminal_id),
        )
        self._changed()

    async def store_key(self, name: str, key_lmk: str, kcv: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO keys (name, key_lmk, kcv) VALUES (?,?,?)", (name, key_lmk, kcv)
        )
        self._changed()

    def risk_connection(self) -> sqlite3.Connection:
        return self._db


class SqliteStore:
    """``LedgerStore`` and ``AdminStore`` on one SQLite file."""

    def __init__(
        self, path: str | Path, *, durability: str = "full", group_commit_ticks: int = 2
    ) -> None:
        if durability not in ("full", "normal"):
            raise ValueError("durability must be 'full' or 'normal'")
        if group_commit_ticks < 1:
            raise ValueError("group_commit_ticks must be at least 1")
        self._ticks = group_commit_ticks
        self.path = str(path)
        self._db = sqlite3.connect(
            self.path,
            isolation_level=None,
            timeout=30.0,
            check_same_thread=False,
            cached_statements=256,
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={durability.upper()}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA temp_store=MEMORY")
        self._db.execute("PRAGMA cache_size=-16000")
        self._migrate()
        self._lock = asyncio.Lock()
        self._tx = _SqliteTx(self._db, self._forget)
        # Reads of terminals, cards and keys between messages, cached: emptied by every write
        # to them on this connection (transactions, admin helpers), by a rollback, and when
        # another connection commits (``PRAGMA data_version``, checked on every cached read).
        self._cache: dict[tuple[str, str], Any] = {}
        self._cache_generation = -1
        self.epoch = CacheEpoch(self._db)
        #: The open group-commit batch: resolved when its COMMIT returned (durable).
        self._batch: asyncio.Future[None] | None = None
        self._rollback_listeners: list[Callable[[], None]] = []
        self.batches = 0  #: group commits so far (one fsync each)
        self.transactions = 0  #: message transactions so far (savepoints released)

    def _migrate(self) -> None:
        existing = {
            r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        for table, col, ddl in _MIGRATIONS:
            if table in existing:
                cols = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
                if col not in cols:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {col} {ddl}")
        if "authorisations" in existing:  # the skeleton's UNIQUE did not include the class
            sql = self._db.execute(
                "SELECT sql FROM sqlite_master WHERE name='authorisations'"
            ).fetchone()[0]
            if "UNIQUE (terminal_id, stan, local_date)" in sql:
                self._rebuild_authorisations()
        self._db.executescript(SCHEMA)

    def _rebuild_authorisations(self) -> None:
        self._db.execute("PRAGMA legacy_alter_table=ON")  # keep postings' FK on the new table
        self._db.execute("ALTER TABLE authorisations RENAME TO authorisations_old")
        self._db.execute("DROP INDEX IF EXISTS authorisations_dup")
        self._db.execute("DROP INDEX IF EXISTS authorisations_rrn")
        self._db.executescript(SCHEMA)
        self._db.executescript(
            f"BEGIN; INSERT INTO authorisations ({_AUTH_COLS}, created_at) "  # noqa: S608 - constants
            f"SELECT {_AUTH_COLS}, created_at "
            "FROM authorisations_old; DROP TABLE authorisations_old; COMMIT;"
        )
        self._db.execute("PRAGMA legacy_alter_table=OFF")

    def close(self) -> None:
        self.flush()
        self._db.close()

    def _forget(self) -> None:
        self._cache.clear()

    def _cached(self, kind: str, key: str, load: Callable[[], Any]) -> Any:
        generation = self.epoch.check()
        if generation != self._cache_generation or len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
            self._cache_generation = generation
        k = (kind, key)
        if k in self._cache:
            return self._cache[k]
        value = self._cache[k] = load()
        return value

    def on_rollback(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever written state is undone (caches on this connection)."""
        self._rollback_listeners.append(listener)

    def _rolled_back(self) -> None:
        self._cache.clear()
        for listener in self._rollback_listeners:
            listener()

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's connection (the SQLite risk store shares it: one transaction per message)."""
        return self._db

    # -- LedgerStore reads ----------------------------------------------------------------------
    async def get_card(self, pan: str) -> CardRecord | None:
        return self._cached("card", pan, lambda: self.card(pan))  # type: ignore[no-any-return]

    async def get_terminal(self, terminal_id: str) -> TerminalRecord | None:
        return self._cached(  # type: ignore[no-any-return]
            "terminal", terminal_id, lambda: self.terminal(terminal_id)
        )

    async def get_account(self, account_no: str) -> AccountRecord | None:
        return self.account(account_no)

    async def get_key(self, name: str) -> str | None:
        def load() -> str | None:
            r = self._db.execute("SELECT key_lmk FROM keys WHERE name = ?", (name,)).fetchone()
            return None if r is None else str(r[0])

        return self._cached("key", name, load)  # type: ignore[no-any-return]

    async def get_response(self, key: MessageKey) -> dict[str, str] | None:
        r = self._db.execute(
            "SELECT response_json FROM authorisations WHERE terminal_id=? AND stan=? "
            "AND local_date=? AND message_class=?",
            (key.terminal_id, key.stan, key.local_date, key.message_class),
        ).fetchone()
        if r is None:
            return None
        await self.durable()  # the original may still be in the open batch: answer once on disk
        return dict(json.loads(r[0]))

    async def statement(self, account_no: str, *, limit: int) -> list[PostingRecord]:
        rows = self._db.execute(
            "SELECT p.*, a.processing_code, a.local_date FROM postings p JOIN authorisations a "
            "USING (auth_id) WHERE p.account_no = ? ORDER BY p.posting_id DESC LIMIT ?",
            (account_no, limit),
        ).fetchall()
        return [
            PostingRecord(
                posting_id=r["posting_id"],
                auth_id=r["auth_id"],
                account_no=r["account_no"],
                amount=r["amount"],
                balance_after=r["balance_after"],
                created_at=r["created_at"],
                processing_code=r["processing_code"],
                local_date=r["local_date"],
            )
            for r in rows
        ]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[LedgerTx]:
        """One message's transaction: a savepoint in the open batch; exits once it is durable."""
        db = self._db
        async with self._lock:
            if self._batch is not None and not db.in_transaction:
                self.flush()  # ended by someone else on this connection: nothing left to commit
            batch = self._batch
            if batch is None:
                db.execute("BEGIN IMMEDIATE")
                batch = self._batch = asyncio.get_running_loop().create_future()
                asyncio.get_running_loop().call_soon(self._flush_when_idle, self._ticks)
            db.execute("SAVEPOINT msg")
            try:
                yield self._tx
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK TO msg")
                    db.execute("RELEASE msg")
                else:  # SQLite rolled the whole batch back (I/O error, disk full)
                    self._fail_batch(sqlite3.OperationalError("batch rolled back"))
                self._rolled_back()
                raise
            db.execute("RELEASE msg")
            self.transactions += 1
        await asyncio.shield(batch)

    async def durable(self) -> None:
        """Wait until everything written so far on this connection is committed."""
        if self._batch is not None:
            await asyncio.shield(self._batch)

    def _flush_when_idle(self, ticks: int) -> None:
        # Wait ``ticks`` turns of the event loop so that messages woken by the same I/O poll
        # (HSM answers) join the batch, and never while a message is inside its savepoint.
        if ticks > 1 or self._lock.locked():
            asyncio.get_running_loop().call_soon(self._flush_when_idle, ticks - 1)
            return
        self.flush()

    def flush(self) -> None:
        """Commit the open batch now and release its messages (no-op without one)."""
        batch, self._batch = self._batch, None
        if batch is None:
            return
        try:
            if self._db.in_transaction:
                self._db.execute("COMMIT")
        except sqlite3.Error as e:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._rolled_back()
            if not batch.done():
                batch.set_exception(OSError(f"group commit failed: {e}"))
            return
        self.batches += 1
        if not batch.done():
            batch.set_result(None)

    def _fail_batch(self, error: Exception) -> None:
        batch, self._batch = self._batch, None
        if batch is not None and not batch.done():
            batch.set_exception(OSError(f"group commit failed: {error}"))

    # -- synchronous helpers (tests, CLI) -------------------------------------------------------
    def find_account(self, account_no: str) -> AccountRecord | None:
        """Synchronous account read (the skeleton's name, kept for tools and tests)."""
        return self.account(account_no)

    def account(self, account_no: str) -> AccountRecord | None:
        r = self._db.execute(
            "SELECT * FROM accounts WHERE account_no = ?", (account_no,)
        ).fetchone()
        return None if r is None else _account(r)

    def card(self, pan: str) -> CardRecord | None:
        r = self._db.execute("SELECT * FROM cards WHERE pan = ?", (pan,)).fetchone()
        return None if r is None else _card(r)

    def terminal(self, terminal_id: str) -> TerminalRecord | None:
        r = self._db.execute(
            "SELECT * FROM terminals WHERE terminal_id = ?", (terminal_id,)
        ).fetchone()
        return None if r is None else _terminal(r)

    def journal(self, *, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT auth_id, created_at, terminal_id, stan, rrn, mti, processing_code, pan_masked, "
            "amount, currency, response_code, auth_code, reason, reversed_amount "
            "FROM authorisations ORDER BY auth_id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [dict(r) for r in reversed(rows)]

    def totals(self) -> dict[str, int]:
        """Sums used by conservation checks: balances, holds, postings (always 0) and counts."""
        bal, held = self._db.execute(
            "SELECT COALESCE(SUM(balance),0), COALESCE(SUM(held),0) FROM accounts"
        ).fetchone()
        post = self._db.execute("SELECT COALESCE(SUM(amount),0) FROM postings").fetchone()[0]
        open_holds = self._db.execute(
            "SELECT COALESCE(SUM(amount),0) FROM holds WHERE status='open'"
        ).fetchone()[0]
        neg = self._db.execute(
            "SELECT COUNT(*) FROM accounts WHERE kind='customer' AND balance - held < 0"
        ).fetchone()[0]
        return {
            "balances": int(bal),
            "held": int(held),
            "postings": int(post),
            "open_holds": int(open_holds),
            "negative_available": int(neg),
        }

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        if table not in _TABLE_KEYS:
            raise ValueError(f"unknown table {table!r}")
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        updates = ", ".join(f"{c}=excluded.{c}" for c in row if c != _TABLE_KEYS[table])
        self._db.execute(
            f"INSERT INTO {table} ({cols}) VALUES ({marks}) "  # noqa: S608
            f"ON CONFLICT({_TABLE_KEYS[table]}) DO UPDATE SET {updates}",
            tuple(row.values()),
        )
        self._forget()

    def update(self, table: str, key: str, values: dict[str, Any]) -> bool:
        """Set some columns of one existing row; ``False`` if there is no such row."""
        if table not in _TABLE_KEYS or not values:
            raise ValueError(f"unknown table {table!r} or nothing to update")
        sets = ", ".join(f"{c} = ?" for c in values)
        cur = self._db.execute(
            f"UPDATE {table} SET {sets} WHERE {_TABLE_KEYS[table]} = ?",  # noqa: S608
            (*values.values(), key),
        )
        self._forget()
        return cur.rowcount > 0

    def list_rows(self, table: str, *, limit: int = 100) -> list[dict[str, Any]]:
        if table not in _TABLE_KEYS:
            raise ValueError(f"unknown table {table!r}")
        rows = self._db.execute(
            f"SELECT * FROM {table} ORDER BY {_TABLE_KEYS[table]} LIMIT ?",  # noqa: S608
            (limit,),
        ).fetchall()
        return [dict(r) for r in rows]

    def get_row(self, table: str, key: str) -> dict[str, Any] | None:
        if table not in _TABLE_KEYS:
            raise ValueError(f"unknown table {table!r}")
        r = self._db.execute(
            f"SELECT * FROM {table} WHERE {_TABLE_KEYS[table]} = ?",  # noqa: S608 - whitelisted
            (key,),
        ).fetchone()
        return None if r is None else dict(r)

    def set_status(self, table: str, key: str, status: str) -> bool:
        if table not in _TABLE_KEYS or table == "keys":
            raise ValueError(f"unknown table {table!r}")
        cur = self._db.execute(
            f"UPDATE {table} SET status = ? WHERE {_TABLE_KEYS[table]} = ?",  # noqa: S608
            (status, key),
        )
        self._forget()
        return cur.rowcount > 0

    def transaction_sync(self) -> _Tx:
        """A synchronous ``BEGIN IMMEDIATE`` block for seeding and administration."""
        self.flush()
        self._forget()
        return _Tx(self._db, self._forget)


class _Tx:
    def __init__(self, db: sqlite3.Connection, forget: Callable[[], None]) -> None:
        self._db = db
        self._forget = forget

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        self._forget()
