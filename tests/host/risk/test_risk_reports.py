from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from host.risk.engine import RiskConfig
from host.risk.model import Channel, RiskGrade, TxnType
from host.risk.records import card_ref
from host.risk.reports import (
    CaseError,
    build_lvr,
    case_transition,
    decline_stats,
    html_summary,
    id_expiry_job,
    main,
    overdue_reviews,
    retention_job,
    str_report,
)
from host.risk.scoring import ScoringConfig

from .conftest import T0, World

DAY = date(2026, 3, 2)


@pytest.mark.parametrize(
    ("amount", "reported"), [(4999999, False), (5000000, True), (5000001, True)]
)
def test_lvr_cash_boundary(world: World, amount: int, reported: bool) -> None:
    cid, (pan,) = world.customer()
    assert (
        world.run(
            pan, amount, channel=Channel.COUNTER, txn=TxnType.CASH_DEPOSIT, terminal_id="CTR00001"
        )[0]
        == "00"
    )
    got = build_lvr(world.store, DAY)
    assert bool(got) is reported
    if reported:
        (r,) = got
        assert (r.customer_id, r.direction, r.criterion, r.total_fen) == (cid, "IN", "CASH", amount)
        assert r.due_date == "2026-03-09"  # 5 working days after Monday
        assert "PBoC Order" in r.citation


def test_lvr_aggregates_cards_of_one_customer_per_direction(world: World) -> None:
    cid, pans = world.customer(cards=3)
    for k, pan in enumerate(pans):
        for i in range(7):
            amt = 300000 if i < 6 else 200000
            code, _ = world.run(pan, amt, at=T0 + timedelta(hours=k * 3, minutes=i * 20))
            assert code == "00"
    (r,) = build_lvr(world.store, DAY)
    assert (r.customer_id, r.direction, r.total_fen, r.count) == (cid, "OUT", 6000000, 21)
    # inflows are a separate direction and stay under the threshold
    assert (
        world.run(
            pans[0],
            100000,
            channel=Channel.COUNTER,
            txn=TxnType.CASH_DEPOSIT,
            terminal_id="CTR00001",
        )[0]
        == "00"
    )
    assert [x.direction for x in build_lvr(world.store, DAY)] == ["OUT"]


def test_reversal_removes_amount_from_lvr(world: World) -> None:
    _, (pan,) = world.customer()
    _, d = world.run(
        pan, 5000000, channel=Channel.COUNTER, txn=TxnType.CASH_DEPOSIT, terminal_id="CTR00001"
    )
    with world.store.transaction() as conn:
        assert world.store.restore(conn, d.request.txn_ref, reversal_ref="rev1", at=T0) == 5000000
        assert world.store.restore(conn, d.request.txn_ref, reversal_ref="rev1", at=T0) == 0
    assert build_lvr(world.store, DAY) == []


def test_case_workflow_four_eyes(world: World) -> None:
    world.engine.config = RiskConfig(scoring=ScoringConfig(review_band=20, decline_band=90))
    _, (pan,) = world.customer()
    for i in range(6):
        world.run(pan, 100000, at=T0 + timedelta(minutes=i))
    (case_id,) = [r[0] for r in world.store.connection.execute("SELECT case_id FROM risk_cases")]
    with pytest.raises(CaseError, match="cannot file from NEW"):
        case_transition(world.store, case_id, "file", actor="a", at=T0)
    assert case_transition(world.store, case_id, "review", actor="alice", at=T0) == "IN_REVIEW"
    assert (
        case_transition(
            world.store,
            case_id,
            "draft",
            actor="alice",
            at=T0,
            narrative="six withdrawals in six minutes",
        )
        == "STR_DRAFT"
    )
    with pytest.raises(CaseError, match="four-eyes"):
        case_transition(world.store, case_id, "file", actor="alice", at=T0)
    assert case_transition(world.store, case_id, "file", actor="bob", at=T0) == "STR_FILED"
    rep = str_report(world.store, case_id)
    assert rep["approver"] == "bob" and rep["typologies"] == ["VELOCITY_1H"]
    assert [h["to_status"] for h in rep["history"]] == [
        "NEW",
        "IN_REVIEW",
        "STR_DRAFT",
        "STR_FILED",
    ]


def test_id_expiry_job_notices_and_restriction(world: World) -> None:
    cid, _ = world.customer(id_expiry=DAY + timedelta(days=7))
    cid2, _ = world.customer(id_expiry=DAY - timedelta(days=31))
    got = id_expiry_job(world.store, DAY)
    assert {(g["customer_id"], g["notice"]) for g in got} == {
        (cid, "ID_EXPIRY_T-7"),
        (cid2, "RESTRICTED_ID_EXPIRED"),
    }
    assert id_expiry_job(world.store, DAY) == []  # idempotent
    assert world.store.customer(cid2).status.value == "RESTRICTED"


def test_overdue_reviews_and_declines_and_html(world: World) -> None:
    cid, (pan,) = world.customer(grade=RiskGrade.HIGH, next_review_due=DAY - timedelta(days=1))
    assert [
        r["customer_id"] for r in overdue_reviews(world.store, DAY) if r["grade"] == "HIGH"
    ] == [cid]
    world.run(pan, 300001)
    stats = decline_stats(world.store, DAY, DAY)
    assert stats[0]["code"] == "61" and stats[0]["grade"] == "HIGH"
    page = html_summary(world.store, DAY, DAY)
    assert "<svg" in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_retention_anonymises_unless_legal_hold(world: World) -> None:
    old, _ = world.customer(relationship_end=date(2015, 1, 1))
    held, _ = world.customer(relationship_end=date(2015, 1, 1), legal_hold="CASE-9")
    recent, _ = world.customer(relationship_end=date(2020, 1, 1))
    got = retention_job(world.store, DAY)
    assert [g["customer_id"] for g in got] == [old]
    assert world.store.customer(old).name == "ANONYMISED"
    assert world.store.customer(held).name != "ANONYMISED"
    assert world.store.customer(recent).name != "ANONYMISED"


def test_cli_explain_and_otp(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    cid, (pan,) = world.customer(grade=RiskGrade.HIGH)
    _, d = world.run(pan, 300001)
    db = str(world.store.connection.execute("PRAGMA database_list").fetchone()[2])
    assert main(["--db", db, "explain", d.request.rrn]) == 0
    out = capsys.readouterr().out
    assert "R5-AMOUNT-LIMIT" in out and "observed 300001" in out and pan not in out
    assert main(["--db", db, "explain", "nope"]) == 1
    _, d = world.run(pan, 300100, channel=Channel.POS, txn=TxnType.PURCHASE, terminal_id="POS1")
    capsys.readouterr()
    assert main(["--db", db, "otp", "--customer", cid]) == 0
    msgs = json.loads(capsys.readouterr().out)
    assert msgs[0]["challenge_id"] == d.challenge_id
    _ = card_ref
