"""PostgreSQL ledger: several host instances on one database (the host's one psycopg module).

Same primitives as :mod:`host.store.sqlite`, with PostgreSQL's concurrency control instead of
one writer at a time:

* **one transaction per message** on a connection of an ``AsyncConnectionPool``
  (``READ COMMITTED``; every statement that a decision depends on reads a row it has locked);
* **duplicates**: :meth:`_PgTx.find_message` first takes a transaction-scoped advisory lock on
  the message key (terminal, STAN, local date, message class), then looks the key up in a new
  statement. Two instances racing on the same duplicate are serialised by that lock: the second
  waits for the first to commit and then finds its record (and answers its stored response).
  ``UNIQUE (terminal_id, stan, local_date, message_class)`` stays the backstop;
* **row locks**: cards, the original of a reversal or completion, and accounts are locked with
  ``SELECT ... FOR NO KEY UPDATE`` (accounts in sorted order, see
  :meth:`host.store.base.LedgerTx.lock_accounts`), so balances, holds, PIN-try counters and
  ``reversed_amount`` stay exact under concurrent instances;
* **schema**: created idempotently (``CREATE ... IF NOT EXISTS`` under an advisory lock, so
  two instances starting together do not collide).

The operations side (:class:`host.store.base.AdminStore`: seeding, CLI, journal, totals) is
synchronous and uses its own connection, opened on first use.

The database is named by a libpq URL, e.g. ``postgresql://sst@/sst?host=/run/postgresql``
(unix socket) or ``postgresql://sst:secret@127.0.0.1:5432/sst``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

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

__all__ = ["SCHEMA", "PostgresStore", "is_postgres_url", "message_lock_id"]

_NOW = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    created_at TEXT NOT NULL DEFAULT {_NOW}
);
CREATE TABLE IF NOT EXISTS accounts (
    account_no TEXT PRIMARY KEY,
    customer_id TEXT REFERENCES customers(customer_id),
    currency TEXT NOT NULL,
    balance BIGINT NOT NULL,
    held BIGINT NOT NULL DEFAULT 0,
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
    auth_id BIGSERIAL PRIMARY KEY,
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
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    response_code TEXT NOT NULL,
    auth_code TEXT,
    reason TEXT NOT NULL DEFAULT '',
    reversed_amount BIGINT NOT NULL DEFAULT 0,
    response_json TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT {_NOW},
    CONSTRAINT authorisations_dup UNIQUE (terminal_id, stan, local_date, message_class)
);
CREATE INDEX IF NOT EXISTS authorisations_rrn ON authorisations (terminal_id, rrn);
CREATE INDEX IF NOT EXISTS authorisations_orig
    ON authorisations (terminal_id, stan, transmission_datetime);
CREATE TABLE IF NOT EXISTS postings (
    posting_id BIGSERIAL PRIMARY KEY,
    auth_id BIGINT NOT NULL REFERENCES authorisations(auth_id),
    account_no TEXT NOT NULL REFERENCES accounts(account_no),
    amount BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    created_at TEXT NOT NULL DEFAULT {_NOW}
);
CREATE INDEX IF NOT EXISTS postings_account ON postings (account_no, posting_id);
CREATE INDEX IF NOT EXISTS postings_auth ON postings (auth_id);
CREATE TABLE IF NOT EXISTS holds (
    hold_id BIGSERIAL PRIMARY KEY,
    auth_id BIGINT NOT NULL REFERENCES authorisations(auth_id),
    account_no TEXT NOT NULL REFERENCES accounts(account_no),
    amount BIGINT NOT NULL CHECK (amount >= 0),
    status TEXT NOT NULL DEFAULT 'open'
);
CREATE INDEX IF NOT EXISTS holds_auth ON holds (auth_id);
"""

_INDEXES = (
    "authorisations_dup",
    "authorisations_rrn",
    "authorisations_orig",
    "postings_account",
    "postings_auth",
    "holds_auth",
)

#: Advisory-lock id held while the schema is created (any constant of our own).
_SCHEMA_LOCK = 0x5354_4C45_4447_4552  # "STLEDGER"

_TABLE_KEYS = {
    "customers": "customer_id",
    "accounts": "account_no",
    "cards": "pan",
    "terminals": "terminal_id",
    "keys": "name",
}

_AUTH_COLS = (
    "auth_id, terminal_id, stan, local_date, message_class, transmission_datetime, rrn, mti, "
    "processing_code, pan_masked, account_no, amount, currency, response_code, auth_code, "
    "reason, reversed_amount, response_json"
)


def is_postgres_url(db: str) -> bool:
    """Whether a ``--db`` value names a PostgreSQL database rather than a SQLite file.

    >>> is_postgres_url("postgresql://sst@/sst?host=/tmp"), is_postgres_url("data/host.db")
    (True, False)
    """
    return db.startswith(("postgresql://", "postgres://"))


def message_lock_id(key: MessageKey) -> int:
    """The advisory-lock id (signed 64 bits) that serialises work on one message key.

    >>> k = MessageKey(
    ...     terminal_id="ATM00001", stan="000001", local_date="1129", message_class="0200"
    ... )
    >>> message_lock_id(k) == message_lock_id(k), -(2**63) <= message_lock_id(k) < 2**63
    (True, True)
    """
    text = "\x1f".join((key.terminal_id, key.stan, key.local_date, key.message_class))
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _posting(r: DictRow) -> PostingRecord:
    return PostingRecord(
        posting_id=int(r["posting_id"]),
        auth_id=int(r["auth_id"]),
        account_no=r["account_no"],
        amount=int(r["amount"]),
        balance_after=int(r["balance_after"]),
        created_at=r["created_at"],
        processing_code=r.get("processing_code", ""),
        local_date=r.get("local_date", ""),
    )


class _PgTx:
    """``LedgerTx`` on one pooled connection inside ``BEGIN`` ... ``COMMIT``."""

    def __init__(self, conn: psycopg.AsyncConnection[DictRow]) -> None:
        self._conn = conn

    async def _one(self, sql: str, args: Sequence[Any] = ()) -> DictRow | None:
        cur = await self._conn.execute(sql, args)
        return await cur.fetchone()

    async def find_message(self, key: MessageKey) -> AuthorisationRecord | None:
        # Lock first, read in a second statement: under READ COMMITTED that statement's
        # snapshot is taken after the lock is granted, so it sees a racing twin's commit.
        await self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (message_lock_id(key),))
        r = await self._one(
            f"SELECT {_AUTH_COLS} FROM authorisations WHERE terminal_id=%s AND stan=%s "  # noqa: S608
            "AND local_date=%s AND message_class=%s",
            (key.terminal_id, key.stan, key.local_date, key.message_class),
        )
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
        classes = list(message_classes)
        if rrn is not None:
            where = "terminal_id=%s AND rrn=%s AND message_class = ANY(%s) AND response_code='00'"
            args: tuple[Any, ...] = (terminal_id, rrn, classes)
        elif transmission_datetime:
            where = (
                "terminal_id=%s AND stan=%s AND transmission_datetime=%s "
                "AND message_class = ANY(%s)"
            )
            args = (terminal_id, stan, transmission_datetime, classes)
        else:
            where = "terminal_id=%s AND stan=%s AND message_class = ANY(%s)"
            args = (terminal_id, stan, classes)
        r = await self._one(
            f"SELECT {_AUTH_COLS} FROM authorisations WHERE {where} "  # noqa: S608 - constants
            "ORDER BY auth_id DESC LIMIT 1 FOR NO KEY UPDATE",
            args,
        )
        return None if r is None else _auth(r)

    async def lock_card(self, pan: str) -> CardRecord | None:
        r = await self._one("SELECT * FROM cards WHERE pan = %s FOR NO KEY UPDATE", (pan,))
        return None if r is None else _card(r)

    async def set_pin_tries(self, pan: str, tries: int) -> None:
        await self._conn.execute("UPDATE cards SET pin_tries = %s WHERE pan = %s", (tries, pan))

    async def set_pin_reference(
        self, pan: str, *, pvv: str | None = None, ibm_offset: str | None = None
    ) -> None:
        if pvv is not None:
            await self._conn.execute("UPDATE cards SET pvv = %s WHERE pan = %s", (pvv, pan))
        if ibm_offset is not None:
            await self._conn.execute(
                "UPDATE cards SET ibm_offset = %s WHERE pan = %s", (ibm_offset, pan)
            )

    async def lock_accounts(self, account_nos: Sequence[str]) -> dict[str, AccountRecord]:
        wanted = sorted(set(account_nos))
        if not wanted:
            return {}
        cur = await self._conn.execute(
            "SELECT * FROM accounts WHERE account_no = ANY(%s) ORDER BY account_no "
            "FOR NO KEY UPDATE",
            (wanted,),
        )
        return {r["account_no"]: _account(r) for r in await cur.fetchall()}

    async def insert_message(self, record: AuthorisationRecord) -> int:
        r = await self._one(
            "INSERT INTO authorisations (terminal_id, stan, local_date, message_class, "
            "transmission_datetime, rrn, mti, processing_code, pan_masked, account_no, amount, "
            "currency, response_code, auth_code, reason, response_json) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING auth_id",
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
        assert r is not None
        return int(r["auth_id"])

    async def post(self, *, auth_id: int, account_no: str, amount: int) -> int:
        r = await self._one(
            "WITH u AS (UPDATE accounts SET balance = balance + %s WHERE account_no = %s "
            "RETURNING account_no, balance) "
            "INSERT INTO postings (auth_id, account_no, amount, balance_after) "
            "SELECT %s, account_no, %s, balance FROM u RETURNING balance_after",
            (amount, account_no, auth_id, amount),
        )
        if r is None:
            raise KeyError(f"no account {account_no!r}")
        return int(r["balance_after"])

    async def postings_of(self, auth_id: int) -> list[PostingRecord]:
        cur = await self._conn.execute(
            "SELECT * FROM postings WHERE auth_id = %s ORDER BY posting_id", (auth_id,)
        )
        return [_posting(r) for r in await cur.fetchall()]

    async def add_reversed(self, auth_id: int, amount: int) -> None:
        await self._conn.execute(
            "UPDATE authorisations SET reversed_amount = reversed_amount + %s WHERE auth_id = %s",
            (amount, auth_id),
        )

    async def add_hold(self, *, auth_id: int, account_no: str, amount: int) -> int:
        await self._conn.execute(
            "UPDATE accounts SET held = held + %s WHERE account_no = %s", (amount, account_no)
        )
        r = await self._one(
            "INSERT INTO holds (auth_id, account_no, amount) VALUES (%s,%s,%s) RETURNING hold_id",
            (auth_id, account_no, amount),
        )
        assert r is not None
        return int(r["hold_id"])

    async def open_hold_of(self, auth_id: int) -> HoldRecord | None:
        r = await self._one(
            "SELECT * FROM holds WHERE auth_id = %s AND status = 'open' "
            "ORDER BY hold_id LIMIT 1 FOR NO KEY UPDATE",
            (auth_id,),
        )
        if r is None:
            return None
        return HoldRecord(
            hold_id=int(r["hold_id"]),
            auth_id=int(r["auth_id"]),
            account_no=r["account_no"],
            amount=int(r["amount"]),
            status=HoldStatus(r["status"]),
        )

    async def close_hold(self, hold_id: int, status: HoldStatus) -> None:
        r = await self._one(
            "UPDATE holds SET status = %s WHERE hold_id = %s AND status = 'open' "
            "RETURNING account_no, amount",
            (status.value, hold_id),
        )
        if r is not None:
            await self._conn.execute(
                "UPDATE accounts SET held = held - %s WHERE account_no = %s",
                (r["amount"], r["account_no"]),
            )

    async def set_terminal_key(self, terminal_id: str, *, key: str, key_lmk: str, kcv: str) -> None:
        if key not in ("tpk", "tak"):
            raise ValueError(f"unknown terminal key {key!r}")
        await self._conn.execute(
            f"UPDATE terminals SET {key}_lmk = %s, {key}_kcv = %s WHERE terminal_id = %s",  # noqa: S608
            (key_lmk, kcv, terminal_id),
        )

    async def set_signed_on(self, terminal_id: str, signed_on: bool) -> None:
        await self._conn.execute(
            "UPDATE terminals SET signed_on = %s WHERE terminal_id = %s",
            (int(signed_on), terminal_id),
        )

    async def store_key(self, name: str, key_lmk: str, kcv: str) -> None:
        await self._conn.execute(
            "INSERT INTO keys (name, key_lmk, kcv) VALUES (%s,%s,%s) "
            "ON CONFLICT (name) DO UPDATE SET key_lmk = EXCLUDED.key_lmk, kcv = EXCLUDED.kcv",
            (name, key_lmk, kcv),
        )

    def risk_connection(self) -> psycopg.AsyncConnection[DictRow]:
        """The connection this transaction is open on (an *async* psycopg connection: a
        ledger hook sharing the transaction must be written for it, not for sqlite3)."""
        return self._conn


class PostgresStore:
    """``LedgerStore`` and ``AdminStore`` on one PostgreSQL database.

    Parameters
    ----------
    url
        libpq connection URL (``postgresql://user@/db?host=/socket/dir``).
    min_size, max_size
        Bounds of the async connection pool used by the message pipeline.

    The async pool opens on first use (or explicitly with :meth:`open`); close it with
    :meth:`aclose`. The synchronous admin connection opens on first use and is closed by
    :meth:`close`. The schema is created on first use of either side.
    """

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        if not is_postgres_url(url):
            raise ValueError("a PostgreSQL URL starts with postgresql:// or postgres://")
        self.url = url
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]] | None = None
        self._pool_lock = asyncio.Lock()
        self._min, self._max = min_size, max_size
        self._admin: psycopg.Connection[DictRow] | None = None
        self._schema_done = False

    # -- lifecycle -------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create every table and index that is missing (safe to run from several instances).

        A complete schema is detected first and left alone: ``CREATE INDEX IF NOT EXISTS``
        would take a share lock on its table and stall a running instance's writers.
        """
        conn = self._conn()
        names = [*_TABLE_KEYS, "authorisations", "postings", "holds", *_INDEXES]
        present = conn.execute(
            "SELECT COUNT(*) AS n FROM unnest(%s::text[]) AS t(name) "
            "WHERE to_regclass(t.name) IS NOT NULL",
            (names,),
        ).fetchone()
        if present is not None and present["n"] == len(names):
            self._schema_done = True
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute(SCHEMA)
        self._schema_done = True

    async def open(self) -> None:
        """Create the schema if needed and open the connection pool."""
        await self._get_pool()

    async def _get_pool(self) -> AsyncConnectionPool[psycopg.AsyncConnection[DictRow]]:
        if self._pool is not None:
            return self._pool
        async with self._pool_lock:
            if self._pool is None:
                await asyncio.to_thread(self.ensure_schema)
                pool: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]] = AsyncConnectionPool(
                    self.url,
                    min_size=self._min,
                    max_size=self._max,
                    open=False,
                    connection_class=psycopg.AsyncConnection[DictRow],
                    kwargs={"autocommit": True, "row_factory": dict_row},
                )
                await pool.open(wait=True, timeout=30.0)
                self._pool = pool
        return self._pool

    async def aclose(self) -> None:
        """Close the connection pool and the admin connection."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self.close()

    def close(self) -> None:
        """Close the synchronous admin connection (use :meth:`aclose` for the pool)."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def _conn(self) -> psycopg.Connection[DictRow]:
        if self._admin is None:
            try:
                self._admin = psycopg.connect(self.url, autocommit=True, row_factory=dict_row)
            except psycopg.OperationalError as e:  # an OSError for callers, like sqlite3's
                raise ConnectionError(f"PostgreSQL: {str(e).strip()}") from None
        return self._admin

    def _admin_ready(self) -> psycopg.Connection[DictRow]:
        conn = self._conn()
        if not self._schema_done:
            self.ensure_schema()
        return conn

    # -- LedgerStore reads -----------------------------------------------------------------------
    async def _read_one(self, sql: str, args: Sequence[Any]) -> DictRow | None:
        pool = await self._get_pool()
        async with pool.connection() as conn:
            cur = await conn.execute(sql, args)
            return await cur.fetchone()

    async def get_card(self, pan: str) -> CardRecord | None:
        r = await self._read_one("SELECT * FROM cards WHERE pan = %s", (pan,))
        return None if r is None else _card(r)

    async def get_terminal(self, terminal_id: str) -> TerminalRecord | None:
        r = await self._read_one("SELECT * FROM terminals WHERE terminal_id = %s", (terminal_id,))
        return None if r is None else _terminal(r)

    async def get_account(self, account_no: str) -> AccountRecord | None:
        r = await self._read_one("SELECT * FROM accounts WHERE account_no = %s", (account_no,))
        return None if r is None else _account(r)

    async def get_key(self, name: str) -> str | None:
        r = await self._read_one("SELECT key_lmk FROM keys WHERE name = %s", (name,))
        return None if r is None else str(r["key_lmk"])

    async def get_response(self, key: MessageKey) -> dict[str, str] | None:
        r = await self._read_one(
            "SELECT response_json FROM authorisations WHERE terminal_id=%s AND stan=%s "
            "AND local_date=%s AND message_class=%s",
            (key.terminal_id, key.stan, key.local_date, key.message_class),
        )
        return None if r is None else dict(json.loads(r["response_json"]))

    async def statement(self, account_no: str, *, limit: int) -> list[PostingRecord]:
        pool = await self._get_pool()
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT p.*, a.processing_code, a.local_date FROM postings p JOIN authorisations a "
                "USING (auth_id) WHERE p.account_no = %s ORDER BY p.posting_id DESC LIMIT %s",
                (account_no, limit),
            )
            return [_posting(r) for r in await cur.fetchall()]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[LedgerTx]:
        pool = await self._get_pool()
        async with pool.connection() as conn, conn.transaction():
            yield _PgTx(conn)

    # -- synchronous side (AdminStore, tests, CLI) -----------------------------------------------
    @contextmanager
    def transaction_sync(self) -> Iterator[None]:
        """A synchronous transaction for seeding and administration."""
        with self._admin_ready().transaction():
            yield

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[DictRow]:
        return self._admin_ready().execute(sql, args).fetchall()

    def find_account(self, account_no: str) -> AccountRecord | None:
        return self.account(account_no)

    def account(self, account_no: str) -> AccountRecord | None:
        rows = self._rows("SELECT * FROM accounts WHERE account_no = %s", (account_no,))
        return _account(rows[0]) if rows else None

    def card(self, pan: str) -> CardRecord | None:
        rows = self._rows("SELECT * FROM cards WHERE pan = %s", (pan,))
        return _card(rows[0]) if rows else None

    def terminal(self, terminal_id: str) -> TerminalRecord | None:
        rows = self._rows("SELECT * FROM terminals WHERE terminal_id = %s", (terminal_id,))
        return _terminal(rows[0]) if rows else None

    def journal(self, *, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT auth_id, created_at, terminal_id, stan, rrn, mti, processing_code, "
            "pan_masked, amount, currency, response_code, auth_code, reason, reversed_amount "
            "FROM authorisations ORDER BY auth_id DESC LIMIT %s",
            (limit,),
        )
        return [dict(r) for r in reversed(rows)]

    def totals(self) -> dict[str, int]:
        """Sums used by conservation checks: balances, holds, postings (always 0) and counts."""
        r = self._rows(
            "SELECT (SELECT COALESCE(SUM(balance),0) FROM accounts) AS balances, "
            "(SELECT COALESCE(SUM(held),0) FROM accounts) AS held, "
            "(SELECT COALESCE(SUM(amount),0) FROM postings) AS postings, "
            "(SELECT COALESCE(SUM(amount),0) FROM holds WHERE status='open') AS open_holds, "
            "(SELECT COUNT(*) FROM accounts WHERE kind='customer' AND balance - held < 0) "
            "AS negative_available"
        )[0]
        return {k: int(v) for k, v in r.items()}

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        if table not in _TABLE_KEYS:
            raise ValueError(f"unknown table {table!r}")
        cols = ", ".join(row)
        marks = ", ".join("%s" for _ in row)
        updates = ", ".join(f"{c}=EXCLUDED.{c}" for c in row if c != _TABLE_KEYS[table])
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        self._admin_ready().execute(
            f"INSERT INTO {table} ({cols}) VALUES ({marks}) "  # noqa: S608 - whitelisted
            f"ON CONFLICT ({_TABLE_KEYS[table]}) {action}",
            tuple(row.values()),
        )

    def update(self, table: str, key: str, values: dict[str, Any]) -> bool:
        """Set some columns of one existing row; ``False`` if there is no such row."""
        if table not in _TABLE_KEYS or not values:
            raise ValueError(f"unknown table {table!r} or nothing to update")
        sets = ", ".join(f"{c} = %s" for c in values)
        cur = self._admin_ready().execute(
            f"UPDATE {table} SET {sets} WHERE {_TABLE_KEYS[table]} = %s",  # noqa: S608
            (*values.values(), key),
        )
        return cur.rowcount > 0

    def list_rows(self, table: str, *, limit: int = 100) -> list[dict[str, Any]]:
        if table not in _TABLE_KEYS:
            raise ValueError(f"unknown table {table!r}")
        rows = self._rows(
            f"SELECT * FROM {table} ORDER BY {_TABLE_KEYS[table]} LIMIT %s",  # noqa: S608
            (limit,),
        )
        return [dict(r) for r in rows]

    def get_row(self, table: str, key: str) -> dict[str, Any] | None:
        if table not in _TABLE_KEYS:
            raise ValueError(f"unknown table {table!r}")
        rows = self._rows(
            f"SELECT * FROM {table} WHERE {_TABLE_KEYS[table]} = %s",  # noqa: S608 - whitelisted
            (key,),
        )
        return dict(rows[0]) if rows else None

    def set_status(self, table: str, key: str, status: str) -> bool:
        if table not in _TABLE_KEYS or table == "keys":
            raise ValueError(f"unknown table {table!r}")
        cur = self._admin_ready().execute(
            f"UPDATE {table} SET status = %s WHERE {_TABLE_KEYS[table]} = %s",  # noqa: S608
            (status, key),
        )
        return cur.rowcount > 0
