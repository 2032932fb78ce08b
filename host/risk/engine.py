"""The in-event decision engine and its authorisation participant (HSM-3).

``RiskEngine.decide(request)`` evaluates the rules in order; the first blocking rule wins and its
field 39 code is the answer (declines are values, never exceptions):

==== ======================================================= ===================
rule condition                                                 field 39
==== ======================================================= ===================
R1   card PIN locked                                           75
R2   wrong PIN (reported by the PIN participant)                55
R3   customer suspended/closed, restricted for this channel,   62
     or ID expired past the grace period (non-counter)
R4   channel / transaction / MCC not permitted, or blocked     57
R5   amount limit (effective = min of the four layers)         61
R6   count limit                                               65
R7   step-up required (HIGH over threshold, first use after    1A (factor in 44);
     PIN reset, reactivation); wrong evidence                  63
R9   fraud score >= decline band                               59 (+ case)
R10  fraud score in the review band                            00 (+ case)
R8   ATM transfer to another person's account                  00, pending 24 h
==== ======================================================= ===================

``decide`` only reads (and writes step-up challenges); the counter moves, the decision record
and pending transfers are written by ``RiskStore.apply`` inside the ledger transaction.

Host integration (``host.auth.riskhook``): :class:`RiskParticipant` runs after the PIN check
and also after any earlier decline (``after_decline``), so every decline is recorded with a rule
id (``R1``/``R2`` for PIN outcomes, ``HOST-<code>`` for other host checks) and ``explain`` can
answer for it. Advices (0220/0221) are not judged again: their 0100 moved the counters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from host.risk.kyc import AccountClass, CustomerRecord, CustomerStatus
from host.risk.limits import Layer, Limit, LimitBook, Metric, ResolvedLimit, Scope, TxnFacts
from host.risk.model import Channel, Outcome, Period, RiskGrade, TxnType, local_day, period_key
from host.risk.records import (
    CardLink,
    CounterMove,
    Decision,
    Evidence,
    Factor,
    LimitCheck,
    Reason,
    RiskRequest,
    card_ref,
)
from host.risk.scoring import ScoringConfig, score
from host.risk.stepup import StepUp, parse_evidence
from host.risk.store import RiskStore
from sst.common.redact import mask_pan

__all__ = [
    "PROCESSING_CODES",
    "RiskConfig",
    "RiskEngine",
    "RiskParticipant",
    "channel_for",
    "request_from_context",
]

_LOG = logging.getLogger(__name__)
#: Bound of the engine's limit-resolution memo (entries); emptied when full.
MEMO_SIZE = 4096
_MISS = object()

PROCESSING_CODES: dict[str, TxnType] = {
    "00": TxnType.PURCHASE, "01": TxnType.CASH_WITHDRAWAL, "21": TxnType.CASH_DEPOSIT,
    "31": TxnType.BALANCE_INQUIRY, "40": TxnType.TRANSFER_OTHER, "92": TxnType.PIN_CHANGE,
}


@dataclass(frozen=True, kw_only=True)
class RiskConfig:
    """Engine options (defaults are the reference's starting values)."""

    id_expiry_grace_days: int = 30
    # HIGH grade: step-up above CNY 2,000 (below the ATM per-transaction cap, so it can fire)
    stepup_high_grade_amount: int = 200000
    stepup_failed_code: str = "63"            # wrong / expired step-up evidence
    transfer_delay_hours: int = 24            # 银发〔2016〕261号
    pass_unknown_cards: bool = True           # cards without a risk record pass untouched
    scoring: ScoringConfig = field(default_factory=ScoringConfig)


def channel_for(mcc: str, terminal_id: str) -> Channel:
    """Default channel mapping: MCC 6011 or terminal ids starting ATM are ATM, else POS."""
    if mcc == "6011" or terminal_id.upper().startswith("ATM"):
        return Channel.ATM
    if mcc == "6010":
        return Channel.COUNTER
    return Channel.POS


class RiskEngine:
    """Evaluates R1..R10 for one request. Collaborators come in through the constructor."""

    def __init__(self, store: RiskStore, limits: LimitBook, *, config: RiskConfig | None = None,
                 stepup: StepUp | None = None) -> None:
        self.store, self.limits = store, limits
        self.config = config or RiskConfig()
        self.stepup = stepup or StepUp(store)
        # Limit resolution is a pure function of (book, facts, agreed limits): memoised per
        # book (``self.limits`` may be replaced), bounded by MEMO_SIZE.
        self._memo_book: LimitBook | None = None
        self._memo: dict[Any, Any] = {}

    def _memoised(self, key: Any, compute: Callable[[], Any]) -> Any:
        if self._memo_book is not self.limits or len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
            self._memo_book = self.limits
        hit = self._memo.get(key, _MISS)
        if hit is _MISS:
            hit = self._memo[key] = compute()
        return hit

    def _resolved(self, facts: TxnFacts, cust: CustomerRecord) -> list[ResolvedLimit]:
        """``limits.resolve`` with the customer's agreed limits, ordered as R5/R6 check them."""
        def compute() -> tuple[ResolvedLimit, ...]:
            out = self.limits.resolve(facts, agreed_limits(cust))
            out.sort(key=lambda r: (r.metric is Metric.COUNT, list(Period).index(r.period)))
            return tuple(out)
        key = ("resolve", facts, cust.customer_id if cust.agreed_limits else "",
               cust.agreed_limits)
        return list(self._memoised(key, compute))

    def _counter_buckets(self, facts: TxnFacts) -> dict[Scope, tuple[str, ...]]:
        def compute() -> dict[Scope, tuple[str, ...]]:
            return {scope: tuple(sorted(b)) for scope, b in
                    self.limits.counter_buckets(facts).items()}
        return self._memoised(("buckets", facts), compute)  # type: ignore[no-any-return]

    # -- the decision ------------------------------------------------------------------------
    def decide(self, req: RiskRequest) -> Decision:  # noqa: PLR0911, PLR0912, PLR0915 - the rule engine: one ordered list of checks, each may decide
        cfg = self.config
        card = self.store.card(req.card)
        if card is None:
            if cfg.pass_unknown_cards:
                return Decision(request=req, outcome=Outcome.APPROVE, response_code="00",
                                limits_version=self.limits.version)
            return self._decline(req, Reason(rule_id="R4-UNKNOWN-CUSTOMER", code="57",
                                             detail="card has no KYC record"))
        cust = self.store.customer(card.customer_id)
        if cust is None:
            return self._decline(req, Reason(rule_id="R4-UNKNOWN-CUSTOMER", code="57",
                                             detail="customer has no KYC record"))
        acct = self.store.account(req.account_no or card.account_no)
        account_no = acct.account_no if acct else (req.account_no or card.account_no)
        if req.txn_type is TxnType.TRANSFER_OTHER and req.payee_account:
            payee = self.store.account(req.payee_account)
            if payee is not None and payee.customer_id == cust.customer_id:
                req = replace(req, txn_type=TxnType.TRANSFER_OWN)
        base = dict(request=req, customer_id=cust.customer_id, account_no=account_no,
                    grade=cust.risk_grade.value, limits_version=self.limits.version)
        day = local_day(req.at)
        notices: list[str] = []

        def decline(reason: Reason, **kw: Any) -> Decision:
            return Decision(outcome=Outcome.DECLINE, response_code=reason.code, reason=reason,
                            notices=tuple(notices), **base, **kw)  # type: ignore[arg-type]

        # R1, R2: PIN outcome from the PIN participant
        if req.pin_locked:
            return decline(Reason(rule_id="R1-PIN-LOCKED", code="75", observed="locked",
                                  limit="3 tries", layer="PRODUCT"))
        if req.pin_verified is False:
            return decline(Reason(rule_id="R2-WRONG-PIN", code="55", detail="PIN check failed"))
        # R3: status, restrictions, ID expiry
        if cust.status in (CustomerStatus.SUSPENDED, CustomerStatus.CLOSED):
            return decline(Reason(rule_id="R3-STATUS", code="62", observed=cust.status.value,
                                  layer="KYC"))
        expired = cust.id_expired_days(day)
        if expired is not None and req.channel.non_counter:
            if expired > cfg.id_expiry_grace_days:
                return decline(Reason(rule_id="R3-ID-EXPIRED", code="62",
                                      observed=f"{expired} days past expiry",
                                      limit=f"{cfg.id_expiry_grace_days} days grace",
                                      layer="REGULATORY",
                                      detail="PBoC Order 〔2007〕 No.2 Art. 19: update the ID"))
            notices.append(f"ID_EXPIRED_GRACE:{cust.id_expiry}")
            grace_end = (cust.id_expiry + timedelta(days=cfg.id_expiry_grace_days + 1)
                         if cust.id_expiry else "")
            self.store.add_notice(cust.customer_id, "ID_EXPIRED_GRACE", day,
                                  f"expired {cust.id_expiry}; grace ends {grace_end}")
        for r in cust.restrictions:
            if r.covers(req.channel) and not (r.reason.value == "ID_EXPIRED" and expired is not None
                                              and expired <= cfg.id_expiry_grace_days):
                return decline(Reason(rule_id=f"R3-RESTRICTED-{r.reason.value}", code="62",
                                      observed=r.reason.value, layer="KYC"))
        # R4: permissions
        missing = cust.permission(req.channel).permits(req.txn_type, cross_border=req.cross_border)
        if missing is not None:
            return decline(Reason(rule_id="R4-NOT-PERMITTED", code="57",
                                  observed=f"{req.channel.value}/{req.txn_type.value}",
                                  limit=f"permission {missing}", layer="CUSTOMER"))
        facts = TxnFacts(channel=req.channel, txn_type=req.txn_type,
                         mcc_group=self.limits.mcc_group(req.mcc), cross_border=req.cross_border,
                         grade=cust.risk_grade,
                         account_class=acct.account_class if acct else AccountClass.I, day=day)
        checks: list[LimitCheck] = []
        moves: list[CounterMove] = []
        if req.txn_type.financial:
            ids = {Scope.CARD: req.card, Scope.CUSTOMER: cust.customer_id,
                   Scope.ACCOUNT: account_no}
            periods = {p: period_key(p, day) for p in (Period.DAY, Period.MONTH, Period.YEAR)}
            resolved = self._resolved(facts, cust)
            counters = self.store.counters(list(ids.items()), list(periods.values()))
            for lim in resolved:
                if lim.blocked or (lim.metric is Metric.AMOUNT and lim.value == 0):
                    return decline(Reason(rule_id="R4-NOT-PERMITTED", code="57",
                                          observed=req.amount, limit=0, layer=lim.layer.value,
                                          limit_id=lim.limit_id, detail=lim.citation))
            for lim in resolved:
                code = "61" if lim.metric is Metric.AMOUNT else "65"
                if lim.period is Period.TXN:
                    if lim.metric is Metric.AMOUNT and req.amount > lim.value:
                        return decline(Reason(rule_id="R5-AMOUNT-LIMIT", code="61",
                                              observed=req.amount, limit=lim.value,
                                              layer=lim.layer.value, limit_id=lim.limit_id,
                                              detail=lim.citation))
                    continue
                sid, pk = ids[lim.scope], periods[lim.period]
                amount, count = counters.get((lim.scope, sid, lim.bucket, pk), (0, 0))
                observed = amount + req.amount if lim.metric is Metric.AMOUNT else count + 1
                if observed > lim.value:
                    return decline(Reason(rule_id="R5-AMOUNT-LIMIT" if code == "61" else
                                          "R6-COUNT-LIMIT", code=code, observed=observed,
                                          limit=lim.value, layer=lim.layer.value,
                                          limit_id=lim.limit_id, detail=lim.citation))
                checks.append(LimitCheck(limit_id=lim.limit_id, layer=lim.layer.value,
                                         scope=lim.scope, scope_id=sid, bucket=lim.bucket,
                                         period=pk, metric=lim.metric.value, limit=lim.value,
                                         code=code))
            for scope, buckets in self._counter_buckets(facts).items():
                for b in buckets:
                    for pk in periods.values():
                        moves.append(CounterMove(scope=scope, scope_id=ids[scope], bucket=b,
                                                 period=pk, amount=req.amount, count=1))
        # R7: step-up
        verified: Factor | None = None
        need = self._stepup_needed(req, cust, card)
        if need is not None:
            factor, why = need
            ev = req.evidence
            if ev is None:
                cid = self.stepup.issue(factor=factor, customer_id=cust.customer_id,
                                        card=req.card, phone=cust.contact_phone, at=req.at)
                return Decision(outcome=Outcome.CHALLENGE, response_code="1A",
                                reason=Reason(rule_id="R7-STEP-UP", code="1A", observed=why,
                                              limit=factor.value, layer="AUTH"),
                                factor=factor, challenge_id=cid, notices=tuple(notices),
                                **base)  # type: ignore[arg-type]
            ok, detail = self.stepup.verify(ev, customer_id=cust.customer_id, card=req.card,
                                            fingerprint_ref=card.fingerprint_ref, at=req.at,
                                            txn_ref=req.txn_ref)
            if not ok or ev.factor is not factor:
                return decline(Reason(rule_id="R7-STEP-UP-FAILED", code=cfg.stepup_failed_code,
                                      observed=detail, limit=factor.value, layer="AUTH"),
                               factor=factor, challenge_id=ev.challenge_id)
            verified = factor
        # R9/R10: scores
        sc = cfg.scoring
        hist = self.store.events([cust.customer_id], req.at - timedelta(days=sc.history_days))
        linked_ids = self.store.linked(cust.customer_id)
        linked = (self.store.events(linked_ids, req.at - timedelta(days=sc.near_window_days))
                  if linked_ids else [])
        parts = score(req, cust, card, hist, linked, self.store.last_activity(cust.customer_id),
                      sc) if req.txn_type.financial else []
        total = sum(p.points for p in parts)
        common = dict(score=total, score_parts=tuple(parts), stepup_verified=verified,
                      notices=tuple(notices), **base)
        if total >= sc.decline_band or (
                total >= sc.review_band and cust.risk_grade is RiskGrade.HIGH and
                req.txn_type in (TxnType.TRANSFER_OTHER, TxnType.TRANSFER_OWN)):
            top = max(parts, key=lambda p: p.points)
            return Decision(outcome=Outcome.DECLINE, response_code="59", open_case=True,
                            reason=Reason(rule_id="R9-FRAUD-SCORE", code="59", observed=total,
                                          limit=sc.decline_band, layer="SCORING",
                                          detail=", ".join(f"{p.name}+{p.points}" for p in parts)
                                          or top.name),
                            **common)  # type: ignore[arg-type]
        review = total >= sc.review_band
        # R8: ATM transfer to another person's account: pending 24 h, revocable
        if req.channel is Channel.ATM and req.txn_type is TxnType.TRANSFER_OTHER:
            return Decision(outcome=Outcome.APPROVE_PENDING_24H, response_code="00",
                            reason=Reason(rule_id="R8-ATM-TRANSFER-DELAY", code="00",
                                          observed="payee not own account",
                                          limit=f"{cfg.transfer_delay_hours} h",
                                          layer="REGULATORY", detail="银发〔2016〕261号"),
                            pending_until=req.at + timedelta(hours=cfg.transfer_delay_hours),
                            moves=tuple(moves), checks=tuple(checks), open_case=review,
                            **common)  # type: ignore[arg-type]
        return Decision(outcome=Outcome.REVIEW if review else Outcome.APPROVE, response_code="00",
                        reason=Reason(rule_id="R10-REVIEW", code="00", observed=total,
                                      limit=sc.review_band, layer="SCORING",
                                      detail=", ".join(f"{p.name}+{p.points}" for p in parts))
                        if review else None,
                        moves=tuple(moves), checks=tuple(checks), open_case=review,
                        **common)  # type: ignore[arg-type]

    def _stepup_needed(self, req: RiskRequest, cust: CustomerRecord, card: CardLink
                       ) -> tuple[Factor, str] | None:
        if cust.reactivation_pending:
            return Factor.VID, "restricted customer re-activating"
        if card.pin_reset_pending:
            return (Factor.FP if card.fingerprint_ref else Factor.OTP), "first use after PIN reset"
        if (cust.risk_grade is RiskGrade.HIGH and req.txn_type.financial and
                req.amount > self.config.stepup_high_grade_amount):
            return Factor.OTP, (f"HIGH grade amount {req.amount} > "
                                f"{self.config.stepup_high_grade_amount}")
        return None

    def host_decline(self, req: RiskRequest, code: str, detail: str) -> Decision:
        """Record a decline made by an earlier host participant (no rule evaluated)."""
        rule = {"75": "R1-PIN-LOCKED", "55": "R2-WRONG-PIN"}.get(code, f"HOST-{code}")
        card = self.store.card(req.card)
        cust = self.store.customer(card.customer_id) if card is not None else None
        return Decision(request=req, outcome=Outcome.DECLINE, response_code=code,
                        reason=Reason(rule_id=rule, code=code, layer="HOST", detail=detail),
                        customer_id=cust.customer_id if cust else "",
                        account_no=req.account_no or (card.account_no if card else ""),
                        grade=cust.risk_grade.value if cust else "",
                        limits_version=self.limits.version)

    def _decline(self, req: RiskRequest, reason: Reason) -> Decision:
        return Decision(request=req, outcome=Outcome.DECLINE, response_code=reason.code,
                        reason=reason, limits_version=self.limits.version)

    # -- convenience for callers without a ledger (tests, bench, CLI) --------------------------
    def commit(self, decision: Decision, ledger_code: str | None = None) -> str:
        """Apply a decision in its own transaction on the store's connection."""
        code = ledger_code or decision.response_code
        with self.store.transaction() as conn:  # type: ignore[attr-defined]
            return self.store.apply(conn, decision, code).response_code


def agreed_limits(cust: CustomerRecord) -> tuple[Limit, ...]:
    """The customer's agreed limits as layer-4 limits (scope CUSTOMER)."""
    out = []
    for i, a in enumerate(cust.agreed_limits):
        out.append(Limit(id=f"CUST-{cust.customer_id}-{i}", layer=Layer.CUSTOMER,
                         scope=Scope.CUSTOMER, period=a.period, channel=a.channel,
                         txn=a.txn_type.value if a.txn_type else "OUT", amount=a.amount,
                         count=a.count, citation="customer-agreed limit (银发〔2016〕261号)"))
    return tuple(out)


def request_from_context(ctx: Any, *, now: Callable[[], datetime] | None = None
                         ) -> RiskRequest | None:
    """Build a :class:`RiskRequest` from the host's ``AuthContext`` (duck-typed).

    Reads ``ctx.request.{pan, processing_code, amount, terminal_id, rrn, stan, local_date}``,
    optionally ``ctx.request.mcc`` (field 18), ``ctx.request.additional_data`` (field 48, step-up
    evidence), ``ctx.request.payee_account`` (field 103), ``ctx.request.cross_border``,
    ``ctx.card.account_no``, ``ctx.pin_update`` (RESET = verified, INCREMENT = wrong PIN) and
    ``ctx.at`` (the host's clock). Returns None for requests the risk engine does not judge.
    """
    r = ctx.request
    if str(getattr(r, "mti", "0200")) in ("0220", "0221"):
        return None
    pc = str(getattr(r, "processing_code", "") or getattr(r, "transaction_type", ""))[:2]
    tt = PROCESSING_CODES.get(pc)
    if tt is None:
        return None
    pan = str(r.pan)
    mcc = str(getattr(r, "mcc", "") or getattr(r, "merchant_type", "") or "")
    term = str(getattr(r, "terminal_id", ""))
    pin_update = getattr(getattr(ctx, "pin_update", None), "value", "")
    ev = None
    raw48 = getattr(r, "additional_data", "") or ""
    if raw48:
        ev = parse_evidence(str(raw48))
    card = getattr(ctx, "card", None)
    at = getattr(ctx, "at", None) or (now() if now else datetime.now(UTC))
    return RiskRequest(
        txn_ref=f"{term}/{getattr(r, 'local_date', '')}/{getattr(r, 'stan', '')}",
        rrn=str(getattr(r, "rrn", "")), card=card_ref(pan), pan_masked=mask_pan(pan),
        channel=channel_for(mcc, term), txn_type=tt, amount=int(getattr(r, "amount", 0) or 0),
        at=at, terminal_id=term, mcc=mcc, currency=str(getattr(r, "currency", "156")),
        account_no=str(getattr(card, "account_no", "") or ""),
        cross_border=bool(getattr(r, "cross_border", False)),
        payee_account=str(getattr(r, "payee_account", "") or getattr(r, "account_to", "") or ""),
        pin_verified=True if pin_update == "reset" else False if pin_update == "increment"
        else None,
        pin_locked=str(getattr(ctx, "response_code", "")) == "75",
        evidence=ev)


class RiskParticipant:
    """The authorisation participant: ``await prepare(ctx)``.

    On a decline it calls ``ctx.decline(code, reason)``; in every case it leaves the decision on
    ``ctx.risk`` so the ledger commit can call ``store.apply(conn, ctx.risk, final_code)`` and the
    response builder can add ``ctx.risk.response_fields()`` (field 44 on a 1A).
    """

    name = "risk"
    after_decline = True  # records declines of earlier participants too (explain, statistics)

    def __init__(self, engine: RiskEngine, *,
                 request_from: Callable[[Any], RiskRequest | None] = request_from_context
                 ) -> None:
        self.engine, self._from = engine, request_from

    async def prepare(self, ctx: Any) -> None:
        req = self._from(ctx)
        if req is None:
            return
        if ctx.declined:
            ctx.risk = self.engine.host_decline(req, ctx.response_code, ctx.reason)
            return
        decision = self.engine.decide(req)
        ctx.risk = decision
        if not decision.approved:
            ctx.decline(decision.response_code, decision.summary())


_ = (Evidence,)
