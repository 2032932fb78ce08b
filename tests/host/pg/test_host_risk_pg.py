"""The risk engine on PostgreSQL: two ``sst host serve`` instances race for one customer's limits.

The demo catalogue is seeded into a fresh database (ledger + KYC records); two customers get a
customer-agreed ATM daily limit (one by count, one by amount) through :class:`PgRiskStore`.
Independent pyiso8583 clients then send many more withdrawals than fit, all at once, half to
each instance. Exactly the allowance is approved, every other answer is 65 (count) or 61
(amount), and the counters in the database equal the approved total. A reversal sent to both
instances at once (0420 and its 0421 repeat) gives the allowance back exactly once.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

import iso8583
import pytest
from iso8583.specs import default_ascii

from host.risk.kyc import AgreedLimit
from host.risk.model import Channel, Period
from host.risk.records import card_ref
from host.risk.store_pg import PgRiskStore
from host.seed import catalogue, load_demo
from hsm_sim.crypto import encode_pinblock_iso_0, tdes_encrypt_ecb
from sst.common.procs import ServiceProcess, sst_command

AMOUNT = 12_345  # not round: no scoring points
COUNT_N = 4  # customer of card A: 4 ATM withdrawals per day
AMOUNT_N = 3  # customer of card B: 3 * AMOUNT per day
SENT = 10  # withdrawals sent per card, all at once


async def _exchange(port: int, fields: dict[str, str]) -> dict[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        raw = bytes(iso8583.encode(dict(fields), default_ascii)[0])
        writer.write(struct.pack(">H", len(raw)) + raw)
        await writer.drain()
        head = await asyncio.wait_for(reader.readexactly(2), 30)
        body = await asyncio.wait_for(reader.readexactly(struct.unpack(">H", head)[0]), 30)
        return dict(iso8583.decode(bytearray(body), default_ascii)[0])
    finally:
        writer.close()


def _withdrawal(card: dict[str, Any], term: dict[str, Any], stan: int) -> dict[str, str]:
    tpk = bytes.fromhex(term["tpk"])
    block = tdes_encrypt_ecb(tpk, encode_pinblock_iso_0(card["pin"], card["pan"])).hex().upper()
    return {
        "t": "0200", "2": card["pan"], "3": "010000", "4": f"{AMOUNT:012d}",
        "7": "1129120000", "11": f"{stan:06d}", "12": "120000", "13": "1129",
        "14": card["expiry"], "22": "021", "35": card["track2"], "37": f"000000{stan:06d}",
        "41": term["terminal_id"], "42": term["merchant_id"], "49": "156", "52": block,
    }


def _reversal(original: dict[str, str], stan: int, mti: str) -> dict[str, str]:
    f = {k: original[k] for k in ("2", "3", "4", "7", "12", "13", "37", "41", "42", "49")}
    f.update({"t": mti, "11": f"{stan:06d}", "90": "0200" + original["11"] + original["7"]
              + "0" * 22})
    return f


def _day_total(risk: PgRiskStore, customer_id: str) -> tuple[int, int]:
    """(amount, count) of the customer's ATM cash counter of today (the busiest bucket)."""
    rows = [r for r in risk.counter_totals()
            if r[0] == "CUSTOMER" and r[1] == customer_id and r[2].startswith("D")]
    return max(((r[4], r[5]) for r in rows), default=(0, 0))


@pytest.mark.asyncio
async def test_two_instances_share_exact_risk_counters(
    pg_url: str, load: Any, tmp_path: Path
) -> None:
    load.seed_ledger(pg_url, 10_000_000)
    cat = catalogue(load_demo())
    card_a = next(c for c in cat["cards"] if c["label"] == "visa-pvv-rich")
    card_b = next(c for c in cat["cards"] if c["label"] == "unionpay-pvv")
    risk = PgRiskStore(pg_url)
    try:
        cust: dict[str, str] = {}
        for card, limit in (
            (card_a, AgreedLimit(channel=Channel.ATM, txn_type=None, period=Period.DAY,
                                 count=COUNT_N)),
            (card_b, AgreedLimit(channel=Channel.ATM, txn_type=None, period=Period.DAY,
                                 amount=AMOUNT_N * AMOUNT)),
        ):
            link = risk.card(card_ref(card["pan"]))
            assert link is not None, "seed wrote no KYC card link on PostgreSQL"
            rec = risk.customer(link.customer_id)
            assert rec is not None
            risk.put_customer(replace(rec, agreed_limits=(limit,)))
            cust[card["label"]] = link.customer_id
        hsm = ServiceProcess(
            "hsm", sst_command("hsm", "serve", "--port", "0", "--log-level", "WARNING"),
            log_path=tmp_path / "hsm.log",
        )
        hosts: list[ServiceProcess] = []
        try:
            hsm_port = (await asyncio.to_thread(hsm.start))["port"]
            hosts = [load.host_process(pg_url, hsm_port, tmp_path / f"host{i}.log")
                     for i in (0, 1)]
            ports = [(await asyncio.to_thread(h.start))["port"] for h in hosts]
            terms = cat["terminals"]
            sends = [
                (ports[i % 2], _withdrawal(card, terms[i % len(terms)], n * 100 + i + 1))
                for n, card in enumerate((card_a, card_b))
                for i in range(SENT)
            ]
            answers = await asyncio.gather(*(_exchange(p, f) for p, f in sends))
            by_card: dict[str, list[str]] = {"A": [], "B": []}
            for (_, f), a in zip(sends, answers, strict=True):
                by_card["A" if f["2"] == card_a["pan"] else "B"].append(a["39"])
            assert sorted(by_card["A"]) == ["00"] * COUNT_N + ["65"] * (SENT - COUNT_N)
            assert sorted(by_card["B"]) == ["00"] * AMOUNT_N + ["61"] * (SENT - AMOUNT_N)
            assert _day_total(risk, cust["visa-pvv-rich"]) == (COUNT_N * AMOUNT, COUNT_N)
            assert _day_total(risk, cust["unionpay-pvv"]) == (AMOUNT_N * AMOUNT, AMOUNT_N)

            # one approved withdrawal of A reversed on both instances at once: restored once
            approved = next(f for (_, f), a in zip(sends, answers, strict=True)
                            if f["2"] == card_a["pan"] and a["39"] == "00")
            revs = await asyncio.gather(
                _exchange(ports[0], _reversal(approved, 900, "0420")),
                _exchange(ports[1], _reversal(approved, 900, "0421")),
            )
            assert [r["39"] for r in revs] == ["00", "00"]
            assert _day_total(risk, cust["visa-pvv-rich"]) == ((COUNT_N - 1) * AMOUNT, COUNT_N - 1)
            again = await asyncio.gather(*(
                _exchange(ports[i % 2], _withdrawal(card_a, terms[0], 950 + i)) for i in range(3)
            ))
            assert sorted(a["39"] for a in again) == ["00", "65", "65"]
            assert _day_total(risk, cust["visa-pvv-rich"]) == (COUNT_N * AMOUNT, COUNT_N)
            d = risk.decision(next(f["37"] for (_, f), a in zip(sends, answers, strict=True)
                                   if f["2"] == card_a["pan"] and a["39"] == "65"))
            assert d is not None and d["final_code"] == "65"
        finally:
            for h in hosts:
                await asyncio.to_thread(h.stop)
            await asyncio.to_thread(hsm.stop)
    finally:
        risk.close()
