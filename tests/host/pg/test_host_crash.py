"""Crash safety: ``kill -9`` of ``sst host serve`` under load, for SQLite and PostgreSQL.

``sst hsm serve`` and ``sst host serve`` run as subprocesses. Twenty independent pyiso8583
clients send PIN-verified withdrawals, deposits and reversals (valid ISO 0 PIN blocks under the
demo TPKs) while the host is killed with SIGKILL at random points, several times, and restarted
on the same ledger. A client whose connection dies either repeats its request with the SAME
STAN (a duplicate once the host had committed it) or gives up and sends a reversal. At the end:

* the sum of balances is conserved, postings sum to zero and explain every balance;
* every approval a client saw is in the ledger with the same authorisation code;
* nothing was applied twice: each (terminal, STAN, date, class) once, each approved message
  posted once, every reversal restored exactly what it owed (given-up ones in full);
* every balance equals the ledger implied by the clients' answers, to the minor unit.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import pytest

from host.seed import catalogue, load_demo
from sst.common.procs import ServiceProcess, sst_command

CLIENTS = 20
KILLS = 4


async def _until_answers(ep: Any, tasks: list[asyncio.Task[None]], floor: int) -> None:
    """Wait until the clients have had ``floor`` answers (a failing client fails at once)."""
    deadline = time.monotonic() + 20
    while ep.answers < floor and time.monotonic() < deadline:
        for t in tasks:
            if t.done():
                t.result()
        await asyncio.sleep(0.01)


async def _crash_run(load: Any, db: str, tmp_path: Path, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    initial = load.seed_ledger(db, 10**9)
    cat = catalogue(load_demo())
    hsm = ServiceProcess(
        "hsm",
        sst_command("hsm", "serve", "--port", "0", "--log-level", "WARNING"),
        log_path=tmp_path / "hsm.log",
    )
    hsm_port = (await asyncio.to_thread(hsm.start))["port"]
    host = load.host_process(db, hsm_port, tmp_path / "host.log")
    try:
        ep = load.Endpoints(ports=[(await asyncio.to_thread(host.start))["port"]])
        ep.up.set()
        clients = [
            load.LoadClient(
                i,
                cat=cat,
                endpoints=ep,
                cards=cat["cards"],
                rng=random.Random(seed * 100 + i),
                give_up_rate=0.5,
            )
            for i in range(CLIENTS)
        ]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(c.run(stop)) for c in clients]
        for _ in range(KILLS):
            # let some load through, then kill at a random point
            await _until_answers(ep, tasks, ep.answers + rng.randrange(20, 120))
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            ep.up.clear()
            host.kill9()
            host = load.host_process(db, hsm_port, tmp_path / "host.log")
            ep.ports[0] = (await asyncio.to_thread(host.start))["port"]
            ep.up.set()
        await _until_answers(ep, tasks, ep.answers + 100)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        ops = [op for c in clients for op in c.ops]
    finally:
        await asyncio.to_thread(host.stop)
        await asyncio.to_thread(hsm.stop)
    return dict(load.verify_ledger(db, ops, initial))


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_host_survives_kill9_under_load(
    backend: str, load: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    db = str(tmp_path / "host.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    seed = random.randrange(10**6)
    print(f"crash test seed {seed} ({backend})")  # replay a failure with this seed
    counts = await _crash_run(load, db, tmp_path, seed)
    print(f"{backend}: {counts}")
    assert counts["approved_seen"] > 0
    assert counts["messages"] > CLIENTS
