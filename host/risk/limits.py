"""Limits as versioned, cited configuration, and their resolution for one transaction.

The effective limit of a dimension (scope x counter bucket x period x metric) is the minimum of
four layers: REGULATORY (account-class caps), PRODUCT (e.g. ATM CNY 20,000 per card per day),
GRADE (risk-grade profile) and CUSTOMER (customer-agreed, 银发〔2016〕261号). Every figure in the
TOML carries ``citation``, ``effective_from`` and optionally ``effective_to``.

A counter *bucket* names what a counter sums: ``channel|txn|mcc_group|xb`` where ``txn`` is a
:class:`~host.risk.model.TxnType` value, ``OUT``/``IN`` (all flows of that direction, bound-account
transfers excluded) and ``*`` stands for any.

Examples
--------
>>> book = LimitBook.load_default()
>>> book.version
'2026-01-01'
>>> bucket_of("ATM", "CASH_WITHDRAWAL", "", False)
'ATM|CASH_WITHDRAWAL|*|*'
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

from host.risk.kyc import AccountClass
from host.risk.model import Channel, Direction, Period, RiskGrade, TxnType

__all__ = [
    "DEFAULT_LIMITS",
    "Layer",
    "Limit",
    "LimitBook",
    "LimitConfigError",
    "Metric",
    "ResolvedLimit",
    "Scope",
    "TxnFacts",
    "bucket_of",
    "buckets_for",
]

DEFAULT_LIMITS = "limits.toml"


class LimitConfigError(ValueError):
    """The limits file is malformed (message names the entry)."""


class Layer(Enum):
    REGULATORY = "REGULATORY"
    PRODUCT = "PRODUCT"
    GRADE = "GRADE"
    CUSTOMER = "CUSTOMER"


class Scope(Enum):
    CARD = "CARD"
    CUSTOMER = "CUSTOMER"
    ACCOUNT = "ACCOUNT"


class Metric(Enum):
    AMOUNT = "AMOUNT"
    COUNT = "COUNT"


def bucket_of(channel: str, txn: str, mcc_group: str, cross_border: bool) -> str:
    return f"{channel or '*'}|{txn or '*'}|{mcc_group or '*'}|{'XB' if cross_border else '*'}"


@dataclass(frozen=True, kw_only=True)
class TxnFacts:
    """What limit matching needs to know about a transaction."""

    channel: Channel
    txn_type: TxnType
    mcc_group: str = ""
    cross_border: bool = False
    grade: RiskGrade = RiskGrade.LOW
    account_class: AccountClass = AccountClass.I
    day: date = date(2026, 1, 1)


def buckets_for(t: TxnFacts) -> tuple[str, ...]:
    """The standard buckets a transaction moves (limits may add mcc/cross-border ones)."""
    ch, tt = t.channel.value, t.txn_type.value
    out = [bucket_of(ch, tt, "", False), bucket_of("", tt, "", False)]
    d = t.txn_type.direction
    if d is not Direction.NONE:
        out += [bucket_of(ch, d.value, "", False), bucket_of("", d.value, "", False)]
    if t.mcc_group:
        out.append(bucket_of(ch, tt, t.mcc_group, False))
        out.append(bucket_of("", "*", t.mcc_group, False))
    if t.cross_border:
        out.append(bucket_of(ch, tt, "", True))
        out.append(bucket_of("", tt, "", True))
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class Limit:
    """One cited figure."""

    id: str
    layer: Layer
    scope: Scope
    period: Period
    channel: Channel | None = None
    txn: str = "*"  # TxnType value, OUT, IN or *
    mcc_group: str = ""
    cross_border: bool = False
    amount: int | None = None
    count: int | None = None
    blocked: bool = False
    grades: frozenset[RiskGrade] = frozenset()
    account_classes: frozenset[AccountClass] = frozenset()
    citation: str = ""
    effective_from: date = date(1970, 1, 1)
    effective_to: date | None = None

    @property
    def bucket(self) -> str:
        return bucket_of(self.channel.value if self.channel else "", self.txn, self.mcc_group,
                         self.cross_border)

    def applies(self, t: TxnFacts) -> bool:
        if t.day < self.effective_from or (self.effective_to and t.day > self.effective_to):
            return False
        if self.grades and t.grade not in self.grades:
            return False
        if self.account_classes and t.account_class not in self.account_classes:
            return False
        return self.matches_txn(t)

    def matches_txn(self, t: TxnFacts) -> bool:
        """Channel, transaction type, MCC group and cross-border match (customer ignored)."""
        if self.channel is not None and self.channel is not t.channel:
            return False
        if self.mcc_group and self.mcc_group != t.mcc_group:
            return False
        if self.cross_border and not t.cross_border:
            return False
        if self.txn == "*":
            return True
        if self.txn in ("OUT", "IN"):
            return t.txn_type.direction.value == self.txn
        return self.txn == t.txn_type.value


@dataclass(frozen=True, kw_only=True)
class ResolvedLimit:
    """The effective (minimum) figure of one dimension and where it came from."""

    limit_id: str
    layer: Layer
    scope: Scope
    bucket: str
    period: Period
    metric: Metric
    value: int
    blocked: bool = False
    citation: str = ""


@dataclass(frozen=True, kw_only=True)
class LimitBook:
    version: str
    limits: tuple[Limit, ...]
    mcc_groups: dict[str, frozenset[str]] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> LimitBook:
        p = Path(path)
        return cls.from_dict(tomllib.loads(p.read_text(encoding="utf-8")), source=str(p))

    @classmethod
    def load_default(cls) -> LimitBook:
        text = resources.files("host.risk").joinpath(DEFAULT_LIMITS).read_text(encoding="utf-8")
        return cls.from_dict(tomllib.loads(text), source=f"host.risk/{DEFAULT_LIMITS}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "") -> LimitBook:
        limits = []
        for i, raw in enumerate(data.get("limits", [])):
            where = raw.get("id", f"#{i}")
            try:
                ch = raw.get("channel", "*")
                limits.append(Limit(
                    id=raw["id"], layer=Layer(raw["layer"]), scope=Scope(raw["scope"]),
                    period=Period(raw["period"]), channel=None if ch == "*" else Channel(ch),
                    txn=raw.get("txn", "*"), mcc_group=raw.get("mcc_group", ""),
                    cross_border=bool(raw.get("cross_border", False)),
                    amount=raw.get("amount"), count=raw.get("count"),
                    blocked=bool(raw.get("blocked", False)),
                    grades=frozenset(RiskGrade(g) for g in raw.get("grades", [])),
                    account_classes=frozenset(
                        AccountClass(c) for c in raw.get("account_classes", [])),
                    citation=raw["citation"], effective_from=_date(raw["effective_from"]),
                    effective_to=_date(raw["effective_to"]) if raw.get("effective_to") else None))
            except (KeyError, ValueError, TypeError) as e:
                raise LimitConfigError(f"limit {where}: {e!r}") from e
            lim = limits[-1]
            if lim.txn not in ("*", "OUT", "IN") and lim.txn not in TxnType.__members__:
                raise LimitConfigError(f"limit {where}: unknown txn {lim.txn!r}")
            if lim.amount is None and lim.count is None and not lim.blocked:
                raise LimitConfigError(f"limit {where}: needs amount, count or blocked")
            if not lim.citation:
                raise LimitConfigError(f"limit {where}: citation is required")
        groups = {k: frozenset(str(m) for m in v) for k, v in data.get("mcc_groups", {}).items()}
        return cls(version=str(data["version"]), limits=tuple(limits), mcc_groups=groups,
                   source=source)

    def mcc_group(self, mcc: str) -> str:
        for name, codes in self.mcc_groups.items():
            if mcc in codes:
                return name
        return ""

    def applicable(self, t: TxnFacts, extra: tuple[Limit, ...] = ()) -> list[Limit]:
        return [lim for lim in (*self.limits, *extra) if lim.applies(t)]

    def resolve(self, t: TxnFacts, extra: tuple[Limit, ...] = ()) -> list[ResolvedLimit]:
        """Effective limits of every dimension that applies, ordered TXN, DAY, MONTH, YEAR.

        Within one dimension the smallest figure wins; a tie keeps the lower layer (regulatory
        before product before grade before customer) so the explanation cites the stronger source.
        """
        best: dict[tuple[Scope, str, Period, Metric], ResolvedLimit] = {}
        order = list(Layer)
        for lim in self.applicable(t, extra):
            for metric, value in ((Metric.AMOUNT, lim.amount), (Metric.COUNT, lim.count)):
                if value is None and not (lim.blocked and metric is Metric.AMOUNT):
                    continue
                v = 0 if lim.blocked else int(value or 0)
                key = (lim.scope, lim.bucket, lim.period, metric)
                cur = best.get(key)
                if cur is None or v < cur.value or (v == cur.value and order.index(lim.layer) <
                                                    order.index(cur.layer)):
                    best[key] = ResolvedLimit(limit_id=lim.id, layer=lim.layer, scope=lim.scope,
                                              bucket=lim.bucket, period=lim.period, metric=metric,
                                              value=v, blocked=lim.blocked, citation=lim.citation)
        porder = list(Period)
        return sorted(best.values(), key=lambda r: (porder.index(r.period),
                                                    r.metric is Metric.COUNT))

    def counter_buckets(self, t: TxnFacts) -> dict[Scope, set[str]]:
        """Buckets each scope must count for this transaction (standard plus limit-specific)."""
        std = set(buckets_for(t))
        out = {s: set(std) for s in Scope}
        base = TxnFacts(channel=t.channel, txn_type=t.txn_type, mcc_group=t.mcc_group,
                        cross_border=t.cross_border, day=t.day)
        for lim in self.limits:
            if lim.period is not Period.TXN and lim.matches_txn(base):
                out[lim.scope].add(lim.bucket)
        return out



def _date(v: object) -> date:
    if isinstance(v, date):
        return v
    return date.fromisoformat(str(v))
