"""Risk engine acceptance over TCP: the independent pyiso8583 client against the real HSM + host.

The host runs with the configured participant list (risk after the PIN check), the demo
catalogue with KYC records (``host/seeds/demo.toml``) and an injected clock, so tests cross
days, the ID-expiry grace period and the 24-hour transfer delay without sleeping. Operator
commands (``report``, ``explain``, ``otp``, ``customers``, ``transfers``) run through
``host.__main__.main`` on the same database file.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from host.__main__ import main as host_main
from host.auth.dispatch import MessageHandler
from host.auth.ledger import TRANSFER_SUSPENSE
from host.auth.riskhook import build_authoriser
from host.config import HostConfig
from host.risk.records import card_ref
from host.risk.store_sqlite import SqliteRiskStore
from host.seed import catalogue, load_demo, seed_store
from host.server import HostServer
from host.store.sqlite import SqliteStore
from hsm_sim.client import HsmClient
from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.soft_hsm import SoftHsm
from hsm_sim.thales.server import HsmServer, ServerConfig

T0 = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@dataclass
class RiskRig:
    port: int
    db: Path
    store: SqliteStore
    risk: SqliteRiskStore
    clock: Clock
    catalogue: dict[str, Any]
    stan: int = 0
    declines: list[str] = field(default_factory=list)

    def card(self, label: str) -> dict[str, Any]:
        return next(c for c in self.catalogue["cards"] if c["label"] == label)

    @property
    def terminal(self) -> dict[str, Any]:
        return dict(self.catalogue["terminals"][0])

    def next_stan(self) -> int:
        self.stan += 1
        return self.stan

    def balance(self, account: str) -> int:
        acc = self.store.account(account)
        assert acc is not None
        return int(acc.balance)

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str) -> str:
        capsys.readouterr()
        rc = host_main([*args, "--db", str(self.db)])
        out = capsys.readouterr().out
        assert rc == 0, out
        return out


@pytest_asyncio.fixture
async def risk_rig(tmp_path: Path) -> AsyncIterator[RiskRig]:
    demo = load_demo()
    db = tmp_path / "host.db"
    store = SqliteStore(db)
    seed_store(store, demo)
    hsm_server = HsmServer(SoftHsm(VariantLmk.test()).handle, ServerConfig(port=0))
    await hsm_server.start()
    hsm = HsmClient("127.0.0.1", hsm_server.port)
    clock = Clock(T0)
    auth, risk = build_authoriser(store, hsm, HostConfig(db=str(db)), clock=clock)
    assert risk is not None
    server = HostServer(MessageHandler(authoriser=auth, store=store, hsm=hsm))
    port = await server.start("127.0.0.1", 0)
    try:
        yield RiskRig(
            port=port, db=db, store=store, risk=risk, clock=clock, catalogue=catalogue(demo)
        )
    finally:
        await server.close()
        await hsm.close()
        await hsm_server.close()
        store.close()


async def send(
    rig: RiskRig,
    kit: Any,
    label: str,
    *,
    pc: str = "010000",
    amount: int,
    pin: str | None = "card",
    extra: dict[str, str] | None = None,
    conn: Any = None,
) -> tuple[dict[str, str], dict[str, Any]]:
    """One 0200 from the first demo ATM; returns (request fields, response)."""
    card = rig.card(label)
    req = kit.financial(
        card,
        rig.terminal,
        stan=rig.next_stan(),
        pc=pc,
        amount=amount,
        pin=card["pin"] if pin == "card" else pin,
        extra=extra,
    )
    c = conn or await kit.connect(rig.port)
    try:
        resp = await c.send(req)
    finally:
        if conn is None:
            await c.close()
    if resp["39"] != "00":
        rig.declines.append(req["37"])
    return req, resp


def explain(rig: RiskRig, capsys: pytest.CaptureFixture[str], rrn: str) -> str:
    return rig.cli(capsys, "explain", rrn)


# -- large-value report boundaries and aggregation ------------------------------------------
@pytest.mark.asyncio
async def test_lvr_boundaries_and_aggregation_across_cards(
    risk_rig: RiskRig, kit: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = risk_rig
    days = {}
    for i, amount in enumerate((4_999_999, 5_000_000, 5_000_001)):
        rig.clock.at = T0 + timedelta(days=i)
        _, r = await send(rig, kit, "multi-card-a", pc="210000", amount=amount)
        assert r["39"] == "00", r
        days[amount] = (T0 + timedelta(days=i)).date().isoformat()
    found = {}
    for amount, day in days.items():
        rows = json.loads(rig.cli(capsys, "report", "lvr", "--date", day))
        found[amount] = [
            (x["customer_id"], x["direction"], x["criterion"], x["total_fen"]) for x in rows
        ]
    # fmt: off
    assert found == {
        4_999_999: [],
        5_000_000: [("C000008", "IN", "CASH", 5_000_000)],
        5_000_001: [("C000008", "IN", "CASH", 5_000_001)],
    }
    # fmt: on
    # Two cards of one customer on one day: 30,000.00 + 20,000.00 = one report line.
    rig.clock.at = T0 + timedelta(days=5)
    for label, amount in (("multi-card-a", 3_000_000), ("multi-card-b", 2_000_000)):
        _, r = await send(rig, kit, label, pc="210000", amount=amount)
        assert r["39"] == "00"
    day = rig.clock.at.date().isoformat()
    rows = json.loads(rig.cli(capsys, "report", "lvr", "--date", day))
    assert [(x["customer_id"], x["total_fen"], x["count"]) for x in rows] == [
        ("C000008", 5_000_000, 2)
    ]
    assert rows[0]["id_number_masked"].count("*") == 8 and rows[0]["due_date"] > day
    # Each card alone stays under the threshold: the sum is per customer, not per card.
    csv_text = rig.cli(capsys, "report", "lvr", "--date", day, "--format", "csv")
    assert csv_text.splitlines()[0].startswith("customer_id,")


# -- grade-specific limits ----------------------------------------------------------------------
@pytest.mark.asyncio
async def test_grade_specific_limits_answer_61_and_65(
    risk_rig: RiskRig, kit: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = risk_rig
    # HIGH grade: 3 ATM withdrawals a day (GRADE-HIGH-ATM-CASH-DAY count), CNY 5,000 a day.
    codes = [(await send(rig, kit, "high-grade", amount=100_000))[1]["39"] for _ in range(4)]
    assert codes == ["00", "00", "00", "65"]
    text = explain(rig, capsys, rig.declines[-1])
    assert "R6-COUNT-LIMIT" in text and "GRADE-HIGH-ATM-CASH-DAY" in text and "observed 4" in text
    rig.clock.at = T0 + timedelta(days=1)
    # (at most CNY 2,000 each: above that a HIGH-grade customer is asked to step up)
    codes = [(await send(rig, kit, "high-grade", amount=a))[1]["39"]
             for a in (200_000, 200_000, 100_001)]
    assert codes == ["00", "00", "61"]
    text = explain(rig, capsys, rig.declines[-1])
    assert "R5-AMOUNT-LIMIT" in text and "limit 500000" in text and "layer GRADE" in text
    # LOW grade at the same amounts is fine; its per-transaction product limit is CNY 3,000.
    codes = [
        (await send(rig, kit, "visa-pvv-rich", amount=a))[1]["39"]
        for a in (100_000, 100_000, 100_000, 100_000, 300_001)
    ]
    assert codes == ["00", "00", "00", "00", "61"]
    assert "PROD-ATM-CASH-TXN" in explain(rig, capsys, rig.declines[-1])
    # Class II account: the regulatory cap of CNY 10,000 a day on outflows (302号).
    codes = [
        (await send(rig, kit, "class-ii", pc="000000", amount=a, pin=None))[1]["39"]
        for a in (600_000, 400_000, 1)
    ]
    assert codes == ["00", "00", "61"]
    assert "REG-II-OUT-DAY" in explain(rig, capsys, rig.declines[-1])


@pytest.mark.asyncio
async def test_race_for_the_last_allowance_turns_00_into_61(
    risk_rig: RiskRig, kit: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = risk_rig
    acct = rig.card("high-grade")["account"]
    assert (await send(rig, kit, "high-grade", amount=200_000))[1]["39"] == "00"
    before = rig.balance(acct)
    c1, c2 = await kit.connect(rig.port), await kit.connect(rig.port)
    (_, r1), (_, r2) = await asyncio.gather(
        send(rig, kit, "high-grade", amount=200_000, conn=c1),
        send(rig, kit, "high-grade", amount=200_000, conn=c2),
    )
    await c1.close()
    await c2.close()
    assert sorted([r1["39"], r2["39"]]) == ["00", "61"]
    assert rig.balance(acct) == before - 200_000
    text = explain(rig, capsys, rig.declines[-1])
    assert "61" in text and "GRADE-HIGH-ATM-CASH-DAY" in text


# -- ID expiry ------------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_id_expiry_grace_then_62_then_update(
    risk_rig: RiskRig, kit: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = risk_rig  # card "id-expired": ID expired 2026-11-01, grace 30 days
    _, r = await send(rig, kit, "id-expired", amount=10_000)
    assert (r["39"], r.get("44")) == ("00", "IDEXPIRED:20261101")
    notices = rig.risk.notices()
    assert [(n["customer_id"], n["kind"]) for n in notices] == [("C000006", "ID_EXPIRED_GRACE")]
    rig.clock.at = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)  # 34 days after expiry
    _, r = await send(rig, kit, "id-expired", amount=10_000)
    assert r["39"] == "62" and "44" not in r
    text = explain(rig, capsys, r["37"])
    assert "R3-ID-EXPIRED" in text and "34 days past expiry" in text and "30 days grace" in text
    out = rig.cli(
        capsys,
        "customers",
        "update-id",
        "C000006",
        "id_number=320102196009090082",
        "id_expiry=2046-12-01",
    )
    assert "2046-12-01" in out and "320102196009090082" not in out
    _, r = await send(rig, kit, "id-expired", amount=10_000)
    assert r["39"] == "00" and "44" not in r


# -- 24-hour delayed ATM transfer -----------------------------------------------------------
@pytest.mark.asyncio
async def test_atm_transfer_to_another_person_waits_24h_and_can_be_revoked(
    risk_rig: RiskRig, kit: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = risk_rig
    payer, payee = rig.card("visa-pvv-rich")["account"], rig.card("ibm-offset-poor")["account"]
    totals = rig.store.totals()
    p0, q0 = rig.balance(payer), rig.balance(payee)
    xfer = {"102": payer, "103": payee}
    req1, r = await send(rig, kit, "visa-pvv-rich", pc="401000", amount=70_000, extra=xfer)
    assert r["39"] == "00" and r["44"] == "PENDING24H:202611301200"
    assert (rig.balance(payer), rig.balance(payee)) == (p0 - 70_000, q0)
    assert rig.balance(TRANSFER_SUSPENSE) == 70_000
    assert "R8-ATM-TRANSFER-DELAY" in explain(rig, capsys, req1["37"])
    # A second transfer, revoked within the 24 hours by a reversal of the transfer.
    rig.clock.at = T0 + timedelta(hours=1)
    req2, r = await send(rig, kit, "visa-pvv-rich", pc="401000", amount=20_000, extra=xfer)
    assert r["39"] == "00"
    c = await kit.connect(rig.port)
    rev = kit.reversal(req2, stan=rig.next_stan(), mti="0400")
    assert (await c.send(rev))["39"] == "00"
    assert (await c.send(rev))["39"] == "00"  # repeat: idempotent
    await c.close()
    assert rig.balance(payer) == p0 - 70_000 and rig.balance(TRANSFER_SUSPENSE) == 70_000
    ref2 = f"ATM00001/{req2['13']}/{req2['11']}"
    pending = rig.risk.pending_transfer(ref2)
    assert pending is not None and pending.status == "REVOKED"
    # Not due yet at T+23h59: nothing credited.
    run_at = (T0 + timedelta(hours=23, minutes=59)).isoformat()
    assert (
        json.loads(
            await asyncio.to_thread(
                rig.cli, capsys, "transfers", "run-due", "--at", run_at, "--json"
            )
        )
        == []
    )
    assert rig.balance(payee) == q0
    run_at = (T0 + timedelta(hours=24)).isoformat()
    done = json.loads(
        await asyncio.to_thread(rig.cli, capsys, "transfers", "run-due", "--at", run_at, "--json")
    )
    assert [(d["amount"], d["credited"]) for d in done] == [(70_000, True)]
    assert (rig.balance(payer), rig.balance(payee)) == (p0 - 70_000, q0 + 70_000)
    assert rig.balance(TRANSFER_SUSPENSE) == 0
    assert (
        json.loads(
            await asyncio.to_thread(
                rig.cli, capsys, "transfers", "run-due", "--at", run_at, "--json"
            )
        )
        == []
    )
    # After crediting, a reversal of the first transfer is refused (recorded, nothing moves).
    rig.clock.at = T0 + timedelta(hours=25)
    c = await kit.connect(rig.port)
    assert (await c.send(kit.reversal(req1, stan=rig.next_stan(), mti="0420")))["39"] == "00"
    await c.close()
    assert (rig.balance(payer), rig.balance(payee)) == (p0 - 70_000, q0 + 70_000)
    now = rig.store.totals()
    assert now["balances"] == totals["balances"] and now["postings"] == 0


# -- step-up ------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_step_up_otp_right_and_wrong(
    risk_rig: RiskRig, kit: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = risk_rig  # HIGH grade above CNY 3,000 needs an SMS OTP
    _, r = await send(rig, kit, "high-grade", pc="210000", amount=500_000)
    assert r["39"] == "1A"
    m = re.fullmatch(r"SUOTP:([0-9a-f]+)", r["44"])
    assert m is not None
    challenge = m.group(1)
    sms = rig.cli(capsys, "otp", "--customer", "C000005")
    code = re.search(rf"\[{challenge}\].*verification code (\d{{6}})", sms)
    assert code is not None, sms
    assert "+86*" not in sms  # QA sees the simulated SMS as sent
    _, r = await send(
        rig,
        kit,
        "high-grade",
        pc="210000",
        amount=500_000,
        extra={"48": f"SUOTP:{challenge}:{code.group(1)}"},
    )
    assert r["39"] == "00" and "44" not in r
    # Wrong OTP: declined (63), and the decline explains itself.
    _, r = await send(rig, kit, "high-grade", pc="210000", amount=500_000)
    assert r["39"] == "1A"
    challenge = r["44"].split(":")[1]
    sms = json.loads(rig.cli(capsys, "otp", "--customer", "C000005", "--json"))
    right = re.search(r"code (\d{6})", sms[-1]["text"])
    assert right is not None
    wrong = f"{(int(right.group(1)) + 1) % 10**6:06d}"
    _, r = await send(
        rig,
        kit,
        "high-grade",
        pc="210000",
        amount=500_000,
        extra={"48": f"SUOTP:{challenge}:{wrong}"},
    )
    assert r["39"] == "63"
    text = explain(rig, capsys, r["37"])
    assert "R7-STEP-UP-FAILED" in text and "otp mismatch" in text


# -- PIN declines, PIN change and the explain contract -------------------------------------
@pytest.mark.asyncio
async def test_every_decline_explains_itself(
    risk_rig: RiskRig, kit: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = risk_rig
    _, r = await send(rig, kit, "visa-pvv-lockable", amount=10_000, pin="0000")
    assert r["39"] == "55"
    assert "R2-WRONG-PIN" in explain(rig, capsys, r["37"])
    _, r = await send(rig, kit, "ibm-offset-poor", amount=4_000_000)
    assert r["39"] in ("51", "61")
    _, r = await send(rig, kit, "ibm-offset-poor", amount=200_000)
    assert r["39"] == "51"
    text = explain(rig, capsys, r["37"])
    assert "ledger answered 51" in text and "answered 51" in text
    # Blocked customer: 62 by R3-STATUS.
    rig.cli(capsys, "customers", "block", "C000004")
    _, r = await send(rig, kit, "unionpay-pvv", amount=10_000)
    assert r["39"] == "62"
    for rrn in rig.declines:
        text = explain(rig, capsys, rrn)
        assert re.search(r"rule (R\d|HOST)|answered \d\d  \(\w", text), text
    assert rig.cli(capsys, "report", "declines", "--since", "2026-11-01", "--until", "2026-12-31")


@pytest.mark.asyncio
async def test_pin_change_is_recorded_for_the_risk_engine(risk_rig: RiskRig, kit: Any) -> None:
    rig = risk_rig
    card = rig.card("visa-pvv-rich")
    new_block = kit.pin_block(rig.terminal["tpk"], "9999", card["pan"])
    _, r = await send(rig, kit, "visa-pvv-rich", pc="920000", amount=0, extra={"120": new_block})
    assert r["39"] == "00"
    link = rig.risk.card(card_ref(card["pan"]))
    assert link is not None and link.last_pin_change_at == T0


# -- operator views -------------------------------------------------------------------------------
def test_customers_cli_masks_kyc_and_never_shows_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "host.db"
    store = SqliteStore(db)
    seed_store(store, load_demo())
    store.close()
    assert host_main(["customers", "list", "--db", str(db), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 8 and all(re.fullmatch(r"\d{6}\*{8}[\dX]{4}", r["id_number"]) for r in rows)
    assert host_main(["customers", "show", "C000001", "--db", str(db)]) == 0
    shown = capsys.readouterr().out
    assert "110105198503120039" not in shown and "8613800000001" not in shown
    assert "case" not in shown.lower() and "score" not in shown.lower()
    assert (
        host_main(
            [
                "customers",
                "add",
                "--db",
                str(db),
                "customer_id=C000099",
                "name=TEST ADD",
                "id_number=11010519491231002X",
                "id_expiry=2030-01-01",
            ]
        )
        == 0
    )
    assert "110105********002X" in capsys.readouterr().out
    assert (
        host_main(
            [
                "customers",
                "add",
                "--db",
                str(db),
                "customer_id=C000098",
                "name=BAD",
                "id_number=110105194912310021",
            ]
        )
        == 2
    )
    assert "check character mismatch" in capsys.readouterr().err
