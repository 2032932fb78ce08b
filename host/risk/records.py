"""Values that cross the risk package boundary: the request, the decision and its reasons."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from host.risk.limits import Scope
from host.risk.model import Channel, Outcome, TxnType
from sst.common.redact import mask_pan

__all__ = [
    "CardLink",
    "CounterMove",
    "Decision",
    "Evidence",
    "Factor",
    "LimitCheck",
    "Reason",
    "RiskEvent",
    "RiskRequest",
    "ScorePart",
    "card_ref",
]


def card_ref(pan: str) -> str:
    """A stable, non-reversible card reference for risk tables (no clear PAN is stored).

    Examples
    --------
    >>> card_ref("4761739001010010")
    'c:f188afe94ab7793cf85c'
    """
    return "c:" + hashlib.sha256(("sst-risk-card:" + pan).encode()).hexdigest()[:20]


class Factor(Enum):
    """Step-up factors the host may ask for in a 1A answer (field 44)."""

    OTP = "OTP"   # SMS one-time code
    FP = "FP"     # fingerprint match
    VID = "VID"   # real-time video snapshot


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """Step-up evidence carried by the terminal's retry (field 48 tag ``SU``)."""

    factor: Factor
    challenge_id: str
    value: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class RiskRequest:
    """What the risk engine needs to know about one authorisation request."""

    txn_ref: str  # unique per request: terminal/local_date/stan
    rrn: str
    card: str  # card reference (see card_ref)
    pan_masked: str
    channel: Channel
    txn_type: TxnType
    amount: int
    at: datetime
    terminal_id: str = ""
    mcc: str = ""
    currency: str = "156"
    account_no: str = ""
    customer_id: str = ""
    cross_border: bool = False
    payee_account: str = ""
    payee_customer_id: str = ""
    counterparty: str = ""  # for inbound transfers: the payer's reference
    pin_verified: bool | None = None  # None: PIN not checked by an earlier participant
    pin_locked: bool = False
    evidence: Evidence | None = None

    @classmethod
    def for_pan(cls, pan: str, **kw: object) -> RiskRequest:
        return cls(card=card_ref(pan), pan_masked=mask_pan(pan), **kw)  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class CardLink:
    card: str
    customer_id: str
    account_no: str
    pan_masked: str = ""
    last_pin_change_at: datetime | None = None
    pin_reset_pending: bool = False
    fingerprint_ref: str = ""


@dataclass(frozen=True, kw_only=True)
class Reason:
    """Why a rule fired: rule id, field 39 code, observed value, limit and source layer."""

    rule_id: str
    code: str
    observed: int | str = ""
    limit: int | str = ""
    layer: str = ""
    limit_id: str = ""
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class ScorePart:
    name: str
    points: int
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class CounterMove:
    scope: Scope
    scope_id: str
    bucket: str
    period: str  # period key, e.g. D2026-03-02
    amount: int
    count: int


@dataclass(frozen=True, kw_only=True)
class LimitCheck:
    """A limit checked at decision time; ``apply`` re-checks it inside the ledger transaction."""

    limit_id: str
    layer: str
    scope: Scope
    scope_id: str
    bucket: str
    period: str
    metric: str  # AMOUNT | COUNT
    limit: int
    code: str  # 61 or 65


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The risk engine's answer for one request (internal; never sent to the customer as is)."""

    request: RiskRequest
    outcome: Outcome
    response_code: str
    reason: Reason | None = None
    customer_id: str = ""
    account_no: str = ""
    grade: str = ""
    factor: Factor | None = None
    challenge_id: str = ""
    stepup_verified: Factor | None = None
    score: int = 0
    score_parts: tuple[ScorePart, ...] = ()
    moves: tuple[CounterMove, ...] = ()
    checks: tuple[LimitCheck, ...] = ()
    pending_until: datetime | None = None
    open_case: bool = False
    notices: tuple[str, ...] = ()
    limits_version: str = ""

    @property
    def approved(self) -> bool:
        return self.outcome.approved

    def response_fields(self) -> dict[str, str]:
        """Extra ISO 8583 response fields: field 44 names the step-up factor on a 1A.

        Field 44 (additional response data, ans..25): ``SU<factor>:<challenge id>``, e.g.
        ``SUOTP:7f3a9c21``. Nothing else is added: cases, scores and grades never reach the
        customer (no tipping-off).
        """
        if self.response_code == "1A" and self.factor is not None:
            return {"44": f"SU{self.factor.value}:{self.challenge_id}"[:25]}
        return {}

    def summary(self) -> str:
        """One line for the host log and the authorisation record's reason (internal)."""
        if self.reason is None:
            return f"risk {self.outcome.value} score={self.score}"
        r = self.reason
        return (f"risk {r.rule_id} rc={r.code} observed={r.observed} limit={r.limit} "
                f"layer={r.layer} {r.limit_id}".strip())


@dataclass(frozen=True, kw_only=True)
class RiskEvent:
    """One transaction in the risk history (approved or declined)."""

    txn_ref: str
    customer_id: str
    card: str
    account_no: str
    terminal_id: str
    channel: Channel
    txn_type: TxnType
    amount: int
    at: datetime
    response_code: str
    cross_border: bool = False
    counterparty: str = ""
    reversed: bool = False
