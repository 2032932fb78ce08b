"""``host.store.postgres``: schema, duplicate race across instances, row locks, CLI, messages.

The ledger rules are ``host.auth.ledger``'s; these tests check that the PostgreSQL primitives
give them the same answers as SQLite and stay exact with several store instances.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from host.auth.dispatch import MessageHandler
from host.auth.pipeline import Authoriser, default_participants
from host.seed import catalogue, load_demo, seed_store
from host.server import HostServer
from host.store.base import AuthorisationRecord, MessageKey
from host.store.postgres import PostgresStore
from hsm_sim.client import HsmClient
from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.soft_hsm import SoftHsm
from hsm_sim.thales.server import HsmServer, ServerConfig

KEY = MessageKey(terminal_id="ATM00001", stan="000042", local_date="1129", message_class="0200")


def _record(rc: str = "00") -> AuthorisationRecord:
    return AuthorisationRecord(
        terminal_id=KEY.terminal_id,
        stan=KEY.stan,
        local_date=KEY.local_date,
        rrn="333412000042",
        mti="0200",
        processing_code="010000",
        pan_masked="476173******8987",
        account_no="6200000000000001",
        amount=100,
        currency="156",
        response_code=rc,
        auth_code="123456",
        message_class="0200",
        response={"t": "0210", "39": rc, "38": "123456"},
    )


@pytest_asyncio.fixture
async def stores(pg_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two independent store instances (two pools) on one database: two hosts' view."""
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    seed_store(a, load_demo())
    try:
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()


def test_schema_is_idempotent(pg_url: str) -> None:
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        a.ensure_schema()
        seed_store(a, load_demo())
        b.ensure_schema()
        a.ensure_schema()
        seed_store(b, load_demo())  # seeding twice is harmless too
        assert len(b.list_rows("cards")) == len(load_demo()["cards"])
        assert a.totals()["postings"] == 0
    finally:
        a.close()
        b.close()


def test_bad_url_is_refused() -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        PostgresStore("host.db")


@pytest.mark.asyncio
async def test_racing_duplicate_waits_and_sees_the_original(
    stores: tuple[PostgresStore, PostgresStore], load: Any
) -> None:
    """Instance B looks up a key that instance A is processing: B waits for A's commit and
    then finds A's record (so it answers A's stored response instead of posting again)."""
    a, b = stores
    a_inside, a_may_commit = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with a.transaction() as tx:
            assert await tx.find_message(KEY) is None
            await tx.insert_message(_record())
            a_inside.set()
            await a_may_commit.wait()

    async def second() -> AuthorisationRecord | None:
        await a_inside.wait()
        async with b.transaction() as tx:
            return await tx.find_message(KEY)

    t1, t2 = asyncio.create_task(first()), asyncio.create_task(second())
    await a_inside.wait()
    deadline = time.monotonic() + 10  # B is blocked on A's advisory lock, not finished
    while time.monotonic() < deadline:
        waiting = (
            await asyncio.to_thread(
                load.query,
                b.url,
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            )
        )[0][0]
        if waiting:
            break
        await asyncio.sleep(0.01)
    assert waiting == 1 and not t2.done()
    a_may_commit.set()
    await t1
    found = await t2
    assert found is not None and found.response["38"] == "123456"
    assert await b.get_response(KEY) == {"t": "0210", "39": "00", "38": "123456"}


@pytest.mark.asyncio
async def test_concurrent_postings_on_one_account_stay_exact(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = stores
    acc, settle = "6200000000000001", "SETTLE-ATM00001"
    before = a.totals()["balances"]
    start = (await a.get_account(acc)).balance  # type: ignore[union-attr]

    async def debit(store: PostgresStore, n: int) -> None:
        async with store.transaction() as tx:
            locked = await tx.lock_accounts([settle, acc])
            assert list(locked) == sorted(locked)
            auth_id = await tx.insert_message(
                _record().__class__(**{**_record().__dict__, "stan": f"{n:06d}"})
            )
            await tx.post(auth_id=auth_id, account_no=acc, amount=-7)
            await tx.post(auth_id=auth_id, account_no=settle, amount=7)

    await asyncio.gather(*(debit(a if n % 2 else b, n) for n in range(200)))
    assert (await b.get_account(acc)).balance == start - 1400  # type: ignore[union-attr]
    assert (await b.get_account(settle)).balance == 1400  # type: ignore[union-attr]
    t = b.totals()
    assert t["balances"] == before and t["postings"] == 0


@pytest.mark.asyncio
async def test_failed_transaction_rolls_back(stores: tuple[PostgresStore, PostgresStore]) -> None:
    a, _ = stores
    with pytest.raises(KeyError):
        async with a.transaction() as tx:
            auth_id = await tx.insert_message(_record())
            await tx.post(auth_id=auth_id, account_no="6200000000000001", amount=-5)
            await tx.post(auth_id=auth_id, account_no="NO-SUCH-ACCOUNT", amount=5)
    assert await a.get_response(KEY) is None
    assert a.totals()["postings"] == 0


# -- the real message pipeline on PostgreSQL, through the independent pyiso8583 client -------


@pytest_asyncio.fixture
async def pg_host(pg_url: str) -> AsyncIterator[tuple[int, PostgresStore, dict[str, Any]]]:
    demo = load_demo()
    store = PostgresStore(pg_url)
    seed_store(store, demo)
    await store.open()
    hsm_server = HsmServer(SoftHsm(VariantLmk.test()).handle, ServerConfig(port=0))
    await hsm_server.start()
    hsm = HsmClient("127.0.0.1", hsm_server.port)
    server = HostServer(
        MessageHandler(
            authoriser=Authoriser(store, default_participants(store, hsm)), store=store, hsm=hsm
        )
    )
    port = await server.start("127.0.0.1", 0)
    try:
        yield port, store, catalogue(demo)
    finally:
        await server.close()
        await hsm.close()
        await hsm_server.close()
        await store.aclose()
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_withdrawal_duplicate_and_reversal_over_tcp(
    pg_host: tuple[int, PostgresStore, dict[str, Any]], kit: Any
) -> None:
    port, store, cat = pg_host
    card, term = cat["cards"][0], cat["terminals"][0]
    c = await kit.connect(port)
    try:
        req = kit.financial(card, term, stan=501, amount=12300, pin=card["pin"])
        first = await c.send(req)
        assert first["39"] == "00"
        assert kit.balance_54(first) == card["balance"] - 12300
        again = await c.send(req)  # duplicate: the stored original answer
        assert (again["39"], again["38"]) == ("00", first["38"])
        bad = await c.send(kit.financial(card, term, stan=502, amount=100, pin="0000"))
        assert bad["39"] == "55"
        rev = kit.reversal(req, stan=503)
        for _ in range(2):  # 0420 then its repeat: restored once
            assert (await c.send(rev))["39"] == "00"
        bal = await c.send(kit.financial(card, term, stan=504, pc="310000", pin=card["pin"]))
        assert kit.balance_54(bal) == card["balance"]
        huge = await c.send(kit.financial(card, term, stan=505, amount=10**10, pin=card["pin"]))
        assert huge["39"] == "51"
    finally:
        await c.close()
    t = store.totals()
    assert t["postings"] == 0 and t["negative_available"] == 0
    journal = [(r["mti"], r["response_code"]) for r in store.journal()]
    assert journal == [
        ("0200", "00"),
        ("0200", "55"),
        ("0420", "00"),
        ("0200", "00"),
        ("0200", "51"),
    ]


def test_cli_seed_list_journal_on_a_url(pg_url: str) -> None:
    def sst(*args: str) -> str:
        r = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "sst", "host", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout

    pan = catalogue(load_demo())["cards"][0]["pan"]
    sst("seed", "--demo", "--db", pg_url)
    accounts = json.loads(sst("accounts", "list", "--db", pg_url, "--json"))
    assert {a["account_no"] for a in accounts} >= {"6200000000000001", "SETTLE-ATM00001"}
    assert "blocked" in sst("cards", "block", pan, "--db", pg_url)
    assert json.loads(sst("journal", "--db", pg_url, "--json")) == []
    shown = json.loads(sst("cards", "show", pan, "--db", pg_url, "--json"))
    assert shown["status"] == "blocked" and "pvv" not in shown


def test_cli_reports_an_unreachable_database(tmp_path: Path) -> None:
    url = f"postgresql://postgres@/nodb?host={tmp_path}&port=1"
    r = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "sst", "host", "journal", "--db", url],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert r.returncode == 2 and "PostgreSQL" in r.stderr
