"""Scale-out: two ``sst host serve`` instances on one PostgreSQL database under concurrent load.

Twenty-four independent pyiso8583 clients share two cards (so every message contends for the
same two customer accounts and the two settlement accounts) and send to either instance at
random; some withdrawals are sent to BOTH instances at once with the same STAN, a duplicate
racing itself across instances. Balances must equal the ledger implied by the answers exactly,
and both twins must get the same answer (one posting).
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from host.seed import catalogue, load_demo
from sst.common.procs import ServiceProcess, sst_command

CLIENTS = 24
MESSAGES = 1200


@pytest.mark.asyncio
async def test_two_instances_keep_balances_exact(pg_url: str, load: Any, tmp_path: Path) -> None:
    seed = random.randrange(10**6)
    print(f"scale-out seed {seed}")
    initial = load.seed_ledger(pg_url, 200_000)  # low enough that some withdrawals get 51
    cat = catalogue(load_demo())
    hsm = ServiceProcess(
        "hsm",
        sst_command("hsm", "serve", "--port", "0", "--log-level", "WARNING"),
        log_path=tmp_path / "hsm.log",
    )
    hosts: list[ServiceProcess] = []
    try:
        hsm_port = (await asyncio.to_thread(hsm.start))["port"]
        hosts = [load.host_process(pg_url, hsm_port, tmp_path / f"host{i}.log") for i in (0, 1)]
        ports = [(await asyncio.to_thread(h.start))["port"] for h in hosts]
        ep = load.Endpoints(ports=ports)
        ep.up.set()
        clients = [
            load.LoadClient(
                i,
                cat=cat,
                endpoints=ep,
                cards=cat["cards"][:2],
                rng=random.Random(seed * 100 + i),
                twin_rate=0.1,
            )
            for i in range(CLIENTS)
        ]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(c.run(stop)) for c in clients]
        while ep.answers < MESSAGES and not any(t.done() for t in tasks):
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    finally:
        for h in hosts:
            await asyncio.to_thread(h.stop)
        await asyncio.to_thread(hsm.stop)
    ops = [op for c in clients for op in c.ops]
    twins = [op for op in ops if op.twin_rcs is not None]
    for op in twins:  # the same answer from both instances: one of them replayed the other's
        assert op.twin_rcs[0] == op.twin_rcs[1], op
        assert op.twin_codes[0] == op.twin_codes[1], op
    counts = load.verify_ledger(pg_url, ops, initial)
    codes = {rc: sum(op.rc == rc for op in ops) for rc in {op.rc for op in ops}}
    print(f"scale-out: {counts}, twins {len(twins)}, codes {codes}")
    assert twins and counts["approved_seen"] > 0
    assert "96" not in codes  # no deadlock or internal error under contention
