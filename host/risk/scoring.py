"""Scored heuristics (in-event). Points add up; the review band opens a case, the decline band
answers 59. Weights and thresholds are starting values (reference §5.6), all configurable.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from host.risk.kyc import CustomerRecord
from host.risk.model import Direction, RiskGrade, TxnType, local_day
from host.risk.records import CardLink, RiskEvent, RiskRequest, ScorePart

__all__ = ["ScoringConfig", "score"]


@dataclass(frozen=True, kw_only=True)
class ScoringConfig:
    review_band: int = 40
    decline_band: int = 70
    velocity_1h_count: int = 5          # V1: per customer, 1 hour
    velocity_24h_count: int = 15        # V2: per customer, 24 hours
    w_velocity_1h: int = 25
    w_velocity_24h: int = 15
    lvr_cash_threshold: int = 5000000   # PBoC Order 2016 No.3 Art. 5(1)
    near_low_pct: int = 90              # [90%, 100%) of the threshold per transaction
    near_day_low: int = 4500000         # daily total in [45k, 50k) CNY
    near_days_min: int = 2
    near_window_days: int = 7
    w_near_threshold: int = 35
    pin_change_hours: int = 24
    w_cash_after_pin_change: int = 25
    dormant_days: int = 365
    dormant_amount: int = 1000000
    w_dormant: int = 30
    round_unit: int = 100000            # CNY 1,000
    round_min: int = 1000000            # only from CNY 10,000
    w_round: int = 10
    flow_window_hours: int = 72
    flow_in_min_count: int = 5
    flow_in_min_sources: int = 3
    flow_out_pct: int = 80
    w_dispersed_in_concentrated_out: int = 30
    volume_multiple: int = 3
    w_volume: int = 20
    w_high_grade: int = 10

    @property
    def history_days(self) -> int:
        return max(self.near_window_days, 31)


def score(req: RiskRequest, cust: CustomerRecord, card: CardLink | None,  # noqa: PLR0917 - public API; keyword-only would break callers
          history: list[RiskEvent], linked_history: list[RiskEvent],
          last_activity: datetime | None, cfg: ScoringConfig) -> list[ScorePart]:
    """Score parts for one request (only those that fired)."""
    at, parts = req.at, []
    ok = [e for e in history if e.response_code == "00" and not e.reversed]
    n1 = sum(1 for e in history if e.at > at - timedelta(hours=1))
    n24 = sum(1 for e in history if e.at > at - timedelta(hours=24))
    if n1 + 1 > cfg.velocity_1h_count:
        parts.append(ScorePart(name="VELOCITY_1H", points=cfg.w_velocity_1h,
                               detail=f"{n1 + 1} in 1h > {cfg.velocity_1h_count}"))
    elif n24 + 1 > cfg.velocity_24h_count:
        parts.append(ScorePart(name="VELOCITY_24H", points=cfg.w_velocity_24h,
                               detail=f"{n24 + 1} in 24h > {cfg.velocity_24h_count}"))
    if req.txn_type.cash:
        parts += _near_threshold(req, [*ok, *(e for e in linked_history if e.response_code ==
                                                "00" and not e.reversed)], cfg)
        if (card and card.last_pin_change_at and req.txn_type is TxnType.CASH_WITHDRAWAL and
                at - card.last_pin_change_at < timedelta(hours=cfg.pin_change_hours)):
            parts.append(ScorePart(name="CASH_AFTER_PIN_CHANGE", points=cfg.w_cash_after_pin_change,
                                   detail=f"PIN changed {card.last_pin_change_at.isoformat()}"))
    if (last_activity is not None and at - last_activity > timedelta(days=cfg.dormant_days) and
            req.amount >= cfg.dormant_amount):
        parts.append(ScorePart(name="DORMANT_WAKING", points=cfg.w_dormant,
                               detail=f"idle {(at - last_activity).days} days"))
    if (req.txn_type in (TxnType.TRANSFER_OTHER, TxnType.TRANSFER_OWN, TxnType.TRANSFER_IN) and
            req.amount >= cfg.round_min and req.amount % cfg.round_unit == 0):
        parts.append(ScorePart(name="ROUND_AMOUNT", points=cfg.w_round,
                               detail=f"multiple of {cfg.round_unit // 100} CNY"))
    if req.txn_type.direction is Direction.OUT:
        since = at - timedelta(hours=cfg.flow_window_hours)
        ins = [e for e in ok if e.at >= since and e.txn_type.direction is Direction.IN]
        sources = {e.counterparty for e in ins if e.counterparty}
        total_in = sum(e.amount for e in ins)
        if (len(ins) >= cfg.flow_in_min_count and len(sources) >= cfg.flow_in_min_sources and
                req.amount * 100 >= total_in * cfg.flow_out_pct):
            parts.append(ScorePart(name="DISPERSED_IN_CONCENTRATED_OUT",
                                   points=cfg.w_dispersed_in_concentrated_out,
                                   detail=f"{len(ins)} in from {len(sources)} sources"))
        if cust.expected_monthly_volume > 0:
            month_start = at - timedelta(days=30)
            out = sum(e.amount for e in ok if e.at >= month_start and
                      e.txn_type.direction is Direction.OUT) + req.amount
            if out > cust.expected_monthly_volume * cfg.volume_multiple:
                parts.append(ScorePart(name="VOLUME_ABOVE_EXPECTED", points=cfg.w_volume,
                                       detail=f"30d out {out} > {cfg.volume_multiple}x "
                                              f"{cust.expected_monthly_volume}"))
    if parts and cust.risk_grade is RiskGrade.HIGH:
        parts.append(ScorePart(name="HIGH_GRADE", points=cfg.w_high_grade, detail="grade HIGH"))
    return parts


def _near_threshold(req: RiskRequest, events: list[RiskEvent], cfg: ScoringConfig
                    ) -> list[ScorePart]:
    """Structuring: cash just under the LVR threshold across days, cards and linked customers."""
    th = cfg.lvr_cash_threshold
    low = th * cfg.near_low_pct // 100
    direction = req.txn_type.direction
    since = req.at - timedelta(days=cfg.near_window_days)
    cash = [e for e in events if e.txn_type.cash and e.txn_type.direction is direction and
            e.at >= since]
    near_single = [e for e in cash if low <= e.amount < th and e.at > req.at - timedelta(days=1)]
    if low <= req.amount < th and near_single:
        return [ScorePart(name="NEAR_THRESHOLD", points=cfg.w_near_threshold,
                          detail=f"{len(near_single) + 1} cash txns in [{low}, {th}) within 24h")]
    per_day: dict[object, int] = defaultdict(int)
    for e in cash:
        per_day[local_day(e.at)] += e.amount
    per_day[local_day(req.at)] += req.amount
    days = sorted(d for d, v in per_day.items() if cfg.near_day_low <= v < th)  # type: ignore
    if len(days) >= cfg.near_days_min:
        return [ScorePart(name="NEAR_THRESHOLD", points=cfg.w_near_threshold,
                          detail=f"daily cash in [{cfg.near_day_low}, {th}) on {len(days)} days "
                                 f"(cards and linked customers)")]
    return []
