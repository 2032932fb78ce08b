"""Session fixture: our own PostgreSQL server (a child process, stopped by pid) for host tests.

PostgreSQL must be installed (``scripts/bootstrap.sh`` installs the Debian package ``postgresql``;
CI runs it): a missing server FAILS these tests, it does not skip them, and a system-started
server is never used. The session runs ``initdb`` into a fresh temporary directory, starts
``postgres -D DIR -k SOCKDIR -h ''`` (unix socket only, no TCP) as a child process -- as the
``postgres`` user when the session runs as root, since PostgreSQL refuses to run as root --
waits for ``pg_isready``, hands out fresh databases, and stops the server with SIGINT (fast
shutdown) by its pid at the end.

The server runs with ``fsync=off``: these tests kill host processes, never the database, and
a committed transaction survives a client's death with or without fsync.

``bench/host.py --pg`` loads :class:`PgServer` from this file too.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["PgServer", "PgServerError", "find_pg_bindir"]


class PgServerError(RuntimeError):
    """PostgreSQL is missing, or our server did not start."""


def find_pg_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/*/bin`` holding ``postgres`` and ``initdb``."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for d in reversed(found):
        if (d / "initdb").is_file() and (d / "pg_isready").is_file():
            return d
    which = shutil.which("postgres")
    if which and shutil.which("initdb"):
        return Path(which).parent
    raise PgServerError(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): run "
        "scripts/bootstrap.sh, which installs the Debian package 'postgresql'"
    )


class PgServer:
    """A throw-away PostgreSQL cluster on a unix socket in a private temporary directory."""

    def __init__(self, *, port: int = 5432, fsync: bool = False) -> None:
        self.bindir = find_pg_bindir()
        self.port = port
        self.fsync = fsync
        self.root = Path(tempfile.mkdtemp(prefix="sst-pg-"))
        self.data = self.root / "data"
        self.sockdir = self.root / "sock"
        self.log = self.root / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: dict[str, Any] = {}
        if os.geteuid() == 0:  # postgres refuses to run as root: run it as the postgres user
            import pwd  # noqa: PLC0415 - POSIX only, needed only here

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as e:
                raise PgServerError(
                    "no 'postgres' user to run the server as: install the Debian package "
                    "'postgresql' (scripts/bootstrap.sh)"
                ) from e
            self._user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.sockdir.mkdir()
        if self._user:
            os.chown(self.sockdir, self._user["user"], self._user["group"])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@/{dbname}?host={self.sockdir}&port={self.port}"

    def _run(self, *argv: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(  # noqa: S603 - our own binaries and arguments
            list(argv),
            check=False,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            cwd=self.root,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
            **self._user,
        )

    def start(self, *, timeout: float = 60.0) -> None:
        r = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if r.returncode:
            raise PgServerError(f"initdb failed: {r.stderr.decode(errors='replace')[-2000:]}")
        log = self.log.open("ab")
        settings = {
            "fsync": "on" if self.fsync else "off",
            "synchronous_commit": "on" if self.fsync else "off",
            "full_page_writes": "on" if self.fsync else "off",
            "max_connections": "200",
            "shared_buffers": "64MB",
            "listen_addresses": "",
        }
        argv = [str(self.bindir / "postgres"), "-D", str(self.data), "-k", str(self.sockdir)]
        argv += ["-p", str(self.port)]
        for k, v in settings.items():
            argv += ["-c", f"{k}={v}"]
        self.proc = subprocess.Popen(  # noqa: S603 - our own binary
            argv,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            cwd=self.root,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
            **self._user,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PgServerError(f"postgres exited with {self.proc.returncode}: {self.tail()}")
            ready = [str(self.bindir / "pg_isready"), "-q", "-h", str(self.sockdir)]
            r = subprocess.run(  # noqa: S603
                [*ready, "-p", str(self.port)],
                check=False,
                stdin=subprocess.DEVNULL,
                capture_output=True,
            )
            if r.returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise PgServerError(f"postgres not ready within {timeout:g} s: {self.tail()}")

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-2000:]
        return ""

    def create_database(self, name: str) -> str:
        """Create database ``name`` (dropping an old one) and return its URL."""
        psql = str(self.bindir / "psql")
        for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
            r = subprocess.run(  # noqa: S603
                [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url(), "-c", sql],
                check=False,
                capture_output=True,
                stdin=subprocess.DEVNULL,
            )
            if r.returncode:
                raise PgServerError(f"{sql}: {r.stderr.decode(errors='replace')}")
        return self.url(name)

    def stop(self, *, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT) by pid, SIGKILL if it lingers; then remove the directory."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server (fails, never skips, when PostgreSQL is missing)."""
    try:
        server = PgServer()
    except PgServerError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        server.start()
    except PgServerError as e:
        server.stop()
        pytest.fail(str(e), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database for one test."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    return pg_server.create_database(name)


# ------------------------------------------------------------------------------------------------
# Load driver shared by the crash and scale-out tests: independent pyiso8583 clients (no host
# wire code), each one terminal-like connection with one request in flight, retrying unanswered
# requests with the SAME STAN and reversing those it gives up on.

import asyncio  # noqa: E402 - the driver's imports, kept beside it
import dataclasses  # noqa: E402
import random  # noqa: E402
import sqlite3  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402

import iso8583  # noqa: E402
from iso8583.specs import default_ascii  # noqa: E402

from hsm_sim.crypto import encode_pinblock_iso_0, tdes_encrypt_ecb  # noqa: E402
from sst.common.procs import ServiceProcess  # noqa: E402

LOCAL_DATE = "1129"
FIELD_7 = "1129120000"


@dataclasses.dataclass
class Op:
    """One client operation and what the client saw (rc ``None``: never answered)."""

    client: int
    kind: str  # "wd" withdrawal, "dep" deposit, "rev" voluntary reversal of an approved wd
    terminal_id: str
    account_no: str
    stan: str
    amount: int
    rc: str | None = None
    auth_code: str | None = None
    gave_up: bool = False
    giveup_reversal_rc: str | None = None
    original: Op | None = None  # rev: the withdrawal it reverses
    actual: int = 0  # rev: amount actually dispensed (0 = full reversal)
    twin_rcs: tuple[str | None, str | None] | None = None  # (host A, host B) for twin sends
    twin_codes: tuple[str | None, str | None] | None = None


@dataclasses.dataclass
class Endpoints:
    """Where hosts listen now; ``up`` is cleared while the (single) host is down."""

    ports: list[int]
    up: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    answers: int = 0


class _Conn:
    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def ensure(self, port: int) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)

    def drop(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def exchange(self, frame: bytes, timeout: float) -> dict[str, str]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(struct.pack(">H", len(frame)) + frame)
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        body = await asyncio.wait_for(
            self.reader.readexactly(struct.unpack(">H", head)[0]), timeout
        )
        doc, _ = iso8583.decode(bytearray(body), default_ascii)
        return dict(doc)


class LoadClient:
    """One emulated terminal connection (per host) driving withdrawals, deposits, reversals."""

    def __init__(
        self,
        index: int,
        *,
        cat: dict[str, Any],
        endpoints: Endpoints,
        cards: list[dict[str, Any]],
        rng: random.Random,
        give_up_rate: float = 0.0,
        twin_rate: float = 0.0,
        timeout: float = 5.0,
    ) -> None:
        self.i = index
        self.term = cat["terminals"][index % len(cat["terminals"])]
        self.card = cards[index % len(cards)]
        self.ep = endpoints
        self.rng = rng
        self.give_up_rate = give_up_rate
        self.twin_rate = twin_rate
        self.timeout = timeout
        self.conns = [_Conn() for _ in endpoints.ports]
        self.seq = 0
        self.ops: list[Op] = []
        tpk = bytes.fromhex(self.term["tpk"])
        clear = encode_pinblock_iso_0(self.card["pin"], self.card["pan"])
        self.block = tdes_encrypt_ecb(tpk, clear).hex().upper()

    def _stan(self) -> str:
        self.seq += 1
        return f"{self.i * 10000 + self.seq:06d}"

    def _financial(self, stan: str, pc: str, amount: int) -> dict[str, str]:
        return {
            "t": "0200",
            "2": self.card["pan"],
            "3": pc,
            "4": f"{amount:012d}",
            "7": FIELD_7,
            "11": stan,
            "12": "120000",
            "13": LOCAL_DATE,
            "14": self.card["expiry"],
            "22": "021",
            "35": self.card["track2"],
            "37": f"{self.i:06d}{stan}",
            "41": self.term["terminal_id"],
            "42": self.term["merchant_id"],
            "49": "156",
            "52": self.block,
        }

    def _reversal(self, original: dict[str, str], stan: str, actual: int) -> dict[str, str]:
        f = {k: original[k] for k in ("2", "3", "4", "7", "12", "13", "37", "41", "42", "49")}
        f.update({"t": "0420", "11": stan, "90": "0200" + original["11"] + FIELD_7 + "0" * 22})
        if actual:
            f["95"] = f"{actual:012d}" + "0" * 30
        return f

    async def send(
        self, fields: dict[str, str], *, host: int, may_give_up: bool
    ) -> dict[str, str] | None:
        """Send until answered, repeating with the same STAN (0421 for reversals);
        ``None`` when the connection was lost and the client chose to give up."""
        while True:
            conn = self.conns[host]
            try:
                await conn.ensure(self.ep.ports[host])
                resp = await conn.exchange(
                    bytes(iso8583.encode(dict(fields), default_ascii)[0]), self.timeout
                )
                self.ep.answers += 1
                return resp
            except (ConnectionError, OSError, asyncio.IncompleteReadError):
                conn.drop()
                if may_give_up and self.rng.random() < self.give_up_rate:
                    return None
            except TimeoutError:  # host alive but slow: never give up, just repeat
                conn.drop()
            if fields["t"] == "0420":
                fields = fields | {"t": "0421"}
            await self._wait_up()

    async def _wait_up(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ep.up.wait(), 0.2)
        await asyncio.sleep(0.02)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self.step()
        finally:
            for c in self.conns:
                c.drop()

    async def step(self) -> None:
        r = self.rng.random()
        host = self.rng.randrange(len(self.conns))
        approved = [
            o
            for o in self.ops
            if o.kind == "wd" and o.rc == "00" and not any(x.original is o for x in self.ops)
        ]
        amount = self.rng.randrange(1, 31) * 100
        if r < 0.2 and approved:
            orig = self.rng.choice(approved)
            actual = self.rng.choice((0, 0, orig.amount // 2))
            op = Op(
                client=self.i,
                kind="rev",
                terminal_id=self.term["terminal_id"],
                account_no=self.card["account"],
                stan=self._stan(),
                amount=orig.amount,
                original=orig,
                actual=actual,
            )
            self.ops.append(op)
            f = self._reversal(self._financial(orig.stan, "010000", orig.amount), op.stan, actual)
            resp = await self.send(f, host=host, may_give_up=False)
            assert resp is not None
            op.rc = resp.get("39")
            return
        kind, pc = ("dep", "210000") if r < 0.4 else ("wd", "010000")
        op = Op(
            client=self.i,
            kind=kind,
            terminal_id=self.term["terminal_id"],
            account_no=self.card["account"],
            stan=self._stan(),
            amount=amount,
        )
        self.ops.append(op)
        f = self._financial(op.stan, pc, amount)
        if kind == "wd" and len(self.conns) > 1 and self.rng.random() < self.twin_rate:
            a, b = await asyncio.gather(
                self.send(dict(f), host=0, may_give_up=False),
                self.send(dict(f), host=1, may_give_up=False),
            )
            assert a is not None and b is not None
            op.twin_rcs = (a.get("39"), b.get("39"))
            op.twin_codes = (a.get("38"), b.get("38"))
            op.rc, op.auth_code = a.get("39"), a.get("38")
            return
        resp = await self.send(f, host=host, may_give_up=kind == "wd")
        if resp is None:  # gave up on a lost connection: reverse it (the host may have posted it)
            op.gave_up = True
            rev = await self.send(self._reversal(f, self._stan(), 0), host=host, may_give_up=False)
            assert rev is not None
            op.giveup_reversal_rc = rev.get("39")
            return
        op.rc, op.auth_code = resp.get("39"), resp.get("38")


def expected_deltas(ops: list[Op]) -> dict[str, int]:
    """Per-account balance change implied by what the clients saw (double entry)."""
    out: dict[str, int] = {}

    def move(op: Op, amount: int) -> None:
        out[op.account_no] = out.get(op.account_no, 0) + amount
        settle = f"SETTLE-{op.terminal_id}"
        out[settle] = out.get(settle, 0) - amount

    for op in ops:
        if op.kind == "wd" and op.rc == "00":
            move(op, -op.amount)
        elif op.kind == "dep" and op.rc == "00":
            move(op, op.amount)
        elif op.kind == "rev" and op.rc == "00":
            assert op.original is not None
            move(op, op.amount - op.actual)
    return out


def query(db: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one parameterless SQL statement on the ledger (SQLite file or PostgreSQL URL)."""
    if db.startswith("postgresql://"):
        import psycopg  # noqa: PLC0415 - test-side reader

        with psycopg.connect(db) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
    conn2 = sqlite3.connect(db)
    try:
        return [tuple(r) for r in conn2.execute(sql).fetchall()]
    finally:
        conn2.close()


def verify_ledger(db: str, ops: list[Op], initial: dict[str, int]) -> dict[str, int]:
    """The crash-safety and scale-out proofs; returns counts for the report."""
    balances = {a: int(b) for a, b in query(db, "SELECT account_no, balance FROM accounts")}
    posted = {
        a: int(s)
        for a, s in query(db, "SELECT account_no, SUM(amount) FROM postings GROUP BY account_no")
    }
    # 1. conservation: sum of balances unchanged, postings sum to zero and explain every balance
    assert sum(balances.values()) == sum(initial.values())
    assert sum(posted.values()) == 0
    for acc, bal in balances.items():
        assert bal == initial[acc] + posted.get(acc, 0), acc
    # 2. nothing recorded twice
    dups = query(
        db,
        "SELECT terminal_id, stan, local_date, message_class, COUNT(*) FROM authorisations "
        "GROUP BY terminal_id, stan, local_date, message_class HAVING COUNT(*) > 1",
    )
    assert dups == []
    rows = query(
        db,
        "SELECT a.terminal_id, a.stan, a.message_class, a.response_code, a.auth_code, "
        "a.amount, a.reversed_amount, a.processing_code, a.auth_id FROM authorisations a",
    )
    by_key = {(r[0], r[1], r[2]): r for r in rows}
    per_auth: dict[int, list[int]] = {}
    for auth_id, _acc, amt in query(
        db, "SELECT auth_id, account_no, amount FROM postings WHERE account_no NOT LIKE 'SETTLE-%'"
    ):
        per_auth.setdefault(int(auth_id), []).append(int(amt))
    # 3. every approved 0200 posted exactly once, reversals restored exactly what they owed
    for r in rows:
        if r[2] != "0200" or r[3] != "00":
            continue
        amount, reversed_amount, auth_id = int(r[5]), int(r[6]), int(r[8])
        sign = -1 if r[7].startswith("01") else 1
        mine = per_auth.get(auth_id, [])
        assert mine.count(sign * amount) == 1, (r, mine)
        assert 0 <= reversed_amount <= amount
        assert sum(mine) == sign * (amount - reversed_amount), (r, mine)
    # 4. what the clients saw is what the ledger holds
    seen_approved = gave_up = reversals = 0
    for op in ops:
        row = by_key.get((op.terminal_id, op.stan, "0420" if op.kind == "rev" else "0200"))
        if op.gave_up:
            gave_up += 1
            assert op.giveup_reversal_rc == "00"
            if row is not None and row[3] == "00":  # it was posted before the crash: restored
                assert int(row[6]) == int(row[5]), row
            continue
        if op.rc is None:
            continue  # still in flight when the load stopped (never happens: clients finish)
        assert row is not None, op
        assert row[3] == op.rc, (row, op)
        if op.kind == "rev":
            reversals += 1
            assert op.original is not None
            orig = by_key[(op.terminal_id, op.original.stan, "0200")]
            assert int(orig[6]) == op.amount - op.actual, (orig, op)
        elif op.rc == "00":
            seen_approved += 1
            assert row[4] == op.auth_code, (row, op)  # the original answer, even to a repeat
    # 5. balances equal the ledger the clients' answers imply, to the minor unit
    want = expected_deltas(ops)
    for acc, bal in balances.items():
        assert bal - initial[acc] == want.get(acc, 0), (acc, bal - initial[acc], want.get(acc, 0))
    return {
        "approved_seen": seen_approved,
        "gave_up": gave_up,
        "reversals": reversals,
        "messages": len(rows),
    }


def host_process(db: str, hsm_port: int, log: Path, *, name: str = "host") -> ServiceProcess:
    return ServiceProcess(
        name,
        [
            sys.executable,
            "-m",
            "sst",
            "host",
            "serve",
            "--port",
            "0",
            "--db",
            db,
            "--hsm",
            f"127.0.0.1:{hsm_port}",
            "--log-level",
            "WARNING",
        ],
        log_path=log,
    )


def seed_ledger(db: str, balance: int) -> dict[str, int]:
    """Seed the demo catalogue, give every customer ``balance``; returns the initial balances."""
    from host.seed import load_demo, seed_store  # noqa: PLC0415

    demo = load_demo()
    if db.startswith("postgresql://"):
        from host.store.postgres import PostgresStore  # noqa: PLC0415

        store: Any = PostgresStore(db)
    else:
        from host.store.sqlite import SqliteStore  # noqa: PLC0415

        store = SqliteStore(db)
    try:
        seed_store(store, demo)
        for a in demo["accounts"]:
            store.update("accounts", a["account_no"], {"balance": balance})
        return {r["account_no"]: int(r["balance"]) for r in store.list_rows("accounts")}
    finally:
        store.close()


class LoadKit:
    """The load driver, handed to tests by the ``load`` fixture."""

    Op = Op
    Endpoints = Endpoints
    LoadClient = LoadClient
    expected_deltas = staticmethod(expected_deltas)
    verify_ledger = staticmethod(verify_ledger)
    query = staticmethod(query)
    host_process = staticmethod(host_process)
    seed_ledger = staticmethod(seed_ledger)


@pytest.fixture
def load() -> type[LoadKit]:
    return LoadKit
