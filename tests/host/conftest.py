"""Host fixtures: a seeded SQLite ledger, the real HSM server and the host server on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from hsm_sim.client import HsmClient
from hsm_sim.crypto import encode_pinblock_iso_0, tdes_encrypt_ecb
from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.soft_hsm import SoftHsm
from hsm_sim.thales.server import HsmServer, ServerConfig
from host.auth.pipeline import Authoriser, default_participants
from host.iso8583.messages import FinancialRequest
from host.seed import catalogue, load_demo, seed_store
from host.server import HostServer
from host.store.sqlite import SqliteStore


@dataclass
class HostRig:
    port: int
    store: SqliteStore
    catalogue: dict[str, Any]
    hsm_server: HsmServer
    stan: int = 0

    def card(self, label: str) -> dict[str, Any]:
        return next(c for c in self.catalogue["cards"] if c["label"] == label)

    @property
    def terminal(self) -> dict[str, Any]:
        return self.catalogue["terminals"][0]

    def pin_block(self, pin: str, pan: str) -> str:
        tpk = bytes.fromhex(self.terminal["tpk"])
        return tdes_encrypt_ecb(tpk, encode_pinblock_iso_0(pin, pan)).hex().upper()

    def request(self, card: dict[str, Any], *, pin: str | None = None, pc: str = "010000",
                amount: int = 10000, stan: str | None = None) -> FinancialRequest:
        self.stan += 1
        now = dt.datetime(2026, 11, 29, 12, 0, 0)
        s = stan or f"{self.stan:06d}"
        return FinancialRequest(
            pan=card["pan"], processing_code=pc, amount=amount,
            transmission_datetime=now.strftime("%m%d%H%M%S"), stan=s,
            local_time=now.strftime("%H%M%S"), local_date=now.strftime("%m%d"),
            expiry=card["expiry"], pos_entry_mode="021", track2=card["track2"],
            rrn=f"33341200{s[-4:]}", terminal_id=self.terminal["terminal_id"],
            merchant_id=self.terminal["merchant_id"], currency="156",
            pin_block=self.pin_block(pin or card["pin"], card["pan"]))


@pytest_asyncio.fixture
async def host_rig(tmp_path: Path) -> AsyncIterator[HostRig]:
    demo = load_demo()
    store = SqliteStore(tmp_path / "host.db")
    seed_store(store, demo)
    hsm_server = HsmServer(SoftHsm(VariantLmk.test()).handle, ServerConfig(port=0))
    await hsm_server.start()
    hsm = HsmClient("127.0.0.1", hsm_server.port)
    server = HostServer(Authoriser(store, default_participants(store, hsm)))
    port = await server.start("127.0.0.1", 0)
    try:
        yield HostRig(port=port, store=store, catalogue=catalogue(demo), hsm_server=hsm_server)
    finally:
        await server.close()
        await hsm.close()
        await hsm_server.close()
        store.close()
        await asyncio.sleep(0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
