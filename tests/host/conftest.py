"""Host fixtures: a seeded SQLite ledger, the real HSM server and the host server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import iso8583
import pytest
import pytest_asyncio
from iso8583.specs import default_ascii

from host.auth.dispatch import MessageHandler
from host.auth.pipeline import Authoriser, default_participants
from host.iso8583.messages import FinancialRequest
from host.seed import catalogue, load_demo, seed_store
from host.server import HostServer
from host.store.sqlite import SqliteStore
from hsm_sim.client import HsmClient
from hsm_sim.crypto import encode_pinblock_iso_0, tdes_encrypt_ecb
from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.soft_hsm import SoftHsm
from hsm_sim.thales.server import HsmServer, ServerConfig


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
        return dict(self.catalogue["terminals"][0])

    def pin_block(self, pin: str, pan: str) -> str:
        tpk = bytes.fromhex(self.terminal["tpk"])
        return tdes_encrypt_ecb(tpk, encode_pinblock_iso_0(pin, pan)).hex().upper()

    def request(
        self,
        card: dict[str, Any],
        *,
        pin: str | None = None,
        pc: str = "010000",
        amount: int = 10000,
        stan: str | None = None,
    ) -> FinancialRequest:
        self.stan += 1
        now = dt.datetime(2026, 11, 29, 12, 0, 0)
        s = stan or f"{self.stan:06d}"
        return FinancialRequest(
            pan=card["pan"],
            processing_code=pc,
            amount=amount,
            transmission_datetime=now.strftime("%m%d%H%M%S"),
            stan=s,
            local_time=now.strftime("%H%M%S"),
            local_date=now.strftime("%m%d"),
            expiry=card["expiry"],
            pos_entry_mode="021",
            track2=card["track2"],
            rrn=f"33341200{s[-4:]}",
            terminal_id=self.terminal["terminal_id"],
            merchant_id=self.terminal["merchant_id"],
            currency="156",
            pin_block=self.pin_block(pin or card["pin"], card["pan"]),
        )


@pytest_asyncio.fixture
async def host_rig(tmp_path: Path) -> AsyncIterator[HostRig]:
    demo = load_demo()
    store = SqliteStore(tmp_path / "host.db")
    seed_store(store, demo)
    hsm_server = HsmServer(SoftHsm(VariantLmk.test()).handle, ServerConfig(port=0))
    await hsm_server.start()
    hsm = HsmClient("127.0.0.1", hsm_server.port)
    handler = MessageHandler(
        authoriser=Authoriser(store, default_participants(store, hsm)), store=store, hsm=hsm
    )
    server = HostServer(handler)
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


# ------------------------------------------------------------------------------------------------
# An independent ISO 8583 test client: pyiso8583 + asyncio streams, none of the host's wire code.

NOW = dt.datetime(2026, 11, 29, 12, 0, 0)


class WireClient:
    """One TCP connection; ``send`` writes one framed message and reads one framed answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> WireClient:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w)

    async def send_raw(self, body: bytes) -> dict[str, Any] | None:
        self.writer.write(struct.pack(">H", len(body)) + body)
        await self.writer.drain()
        try:
            head = await asyncio.wait_for(self.reader.readexactly(2), 10)
            n = struct.unpack(">H", head)[0]
            raw = await self.reader.readexactly(n)
        except asyncio.IncompleteReadError:
            return None
        doc, _ = iso8583.decode(bytearray(raw), default_ascii)
        out: dict[str, Any] = dict(doc)
        out["_raw"] = raw
        return out

    async def send(self, fields: dict[str, str]) -> dict[str, Any]:
        raw, _ = iso8583.encode(dict(fields), default_ascii)
        doc = await self.send_raw(bytes(raw))
        assert doc is not None
        return doc

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


def pin_block(tpk_hex: str, pin: str, pan: str) -> str:
    return tdes_encrypt_ecb(bytes.fromhex(tpk_hex), encode_pinblock_iso_0(pin, pan)).hex().upper()


def financial(
    card: dict[str, Any],
    terminal: dict[str, Any],
    *,
    stan: int,
    mti: str = "0200",
    pc: str = "010000",
    amount: int = 0,
    pin: str | None = None,
    tpk: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    s = f"{stan:06d}"
    f = {
        "t": mti,
        "2": card["pan"],
        "3": pc,
        "4": f"{amount:012d}",
        "7": NOW.strftime("%m%d%H%M%S"),
        "11": s,
        "12": NOW.strftime("%H%M%S"),
        "13": NOW.strftime("%m%d"),
        "14": card["expiry"],
        "22": "021",
        "35": card["track2"],
        "37": f"33341200{s[-4:]}",
        "41": terminal["terminal_id"],
        "42": terminal["merchant_id"],
        "49": "156",
    }
    if pin is not None:
        f["52"] = pin_block(tpk or terminal["tpk"], pin, card["pan"])
    if mti in ("0220", "0221"):
        f.pop("35", None)
    f.update(extra or {})
    return f


def reversal(
    original: dict[str, str],
    *,
    stan: int,
    mti: str = "0420",
    actual: int | None = None,
    with_90: bool = True,
) -> dict[str, str]:
    f = {k: original[k] for k in ("2", "3", "4", "7", "12", "13", "37", "41", "42", "49")}
    f["t"] = mti
    f["11"] = f"{stan:06d}"
    if with_90:
        f["90"] = original["t"] + original["11"] + original["7"] + "0" * 22
    if actual is not None:
        f["95"] = f"{actual:012d}" + "0" * 30
    return f


def balance_54(resp: dict[str, Any], amount_type: str = "02") -> int:
    text = resp["54"]
    for i in range(0, len(text), 20):
        e = text[i : i + 20]
        if e[2:4] == amount_type:
            return int(e[8:]) * (1 if e[7] == "C" else -1)
    raise AssertionError("no such amount type in field 54")


class Kit:
    """The independent client's helpers, handed to tests by the ``kit`` fixture."""

    connect = staticmethod(WireClient.connect)
    financial = staticmethod(financial)
    reversal = staticmethod(reversal)
    balance_54 = staticmethod(balance_54)
    pin_block = staticmethod(pin_block)
    NOW = NOW


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
