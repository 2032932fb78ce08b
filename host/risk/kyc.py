"""The customer KYC record (9 identity elements plus risk, restrictions and permissions).

The nine elements of a natural person follow PBoC Order [2007] No.2: name, gender, nationality,
occupation, address, contact, ID type, ID number, ID expiry. The ID number is never stored in
clear: :class:`IdVault` encrypts it (AES-GCM, see ``_crypto``), keeps a salted HMAC for lookup and
a masked form (first 6 + last 4) for display. The risk grade is confidential (银发〔2013〕2号):
nothing here is meant for customer-facing output.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import Enum

from host.risk import _crypto
from host.risk.idcard import IdNumberFormatError, mask_id_number, parse_resident_id
from host.risk.model import Channel, Period, RiskGrade, TxnType

__all__ = [
    "AccountClass",
    "AccountLink",
    "AgreedLimit",
    "ChannelPermission",
    "CustomerRecord",
    "CustomerStatus",
    "CustomerType",
    "Gender",
    "IdType",
    "IdVault",
    "OnboardingChannel",
    "ProtectedId",
    "Restriction",
    "RestrictionReason",
    "RiskFactor",
    "VerificationMethod",
]


class Gender(Enum):
    M = "M"
    F = "F"
    U = "U"


class IdType(Enum):
    CN_RIC = "CN_RIC"                  # 居民身份证
    PASSPORT = "PASSPORT"
    HK_MO_PERMIT = "HK_MO_PERMIT"
    TW_PERMIT = "TW_PERMIT"
    FOREIGN_PR = "FOREIGN_PR"
    HMT_RESIDENCE = "HMT_RESIDENCE"
    OTHER = "OTHER"


class VerificationMethod(Enum):
    COUNTER_IN_PERSON = "COUNTER_IN_PERSON"
    PUBLIC_SECURITY_ONLINE_CHECK = "PUBLIC_SECURITY_ONLINE_CHECK"
    BOUND_ACCOUNT = "BOUND_ACCOUNT"
    VIDEO = "VIDEO"
    FACE_MATCH = "FACE_MATCH"


class OnboardingChannel(Enum):
    FACE_TO_FACE = "FACE_TO_FACE"
    NON_FACE_TO_FACE = "NON_FACE_TO_FACE"


class AccountClass(Enum):
    I = "I"  # noqa: E741 - the regulator's name for the class
    II = "II"
    III = "III"


class CustomerType(Enum):
    NATURAL = "NATURAL"
    NON_NATURAL = "NON_NATURAL"


class CustomerStatus(Enum):
    ACTIVE = "ACTIVE"
    RESTRICTED = "RESTRICTED"
    SUSPENDED = "SUSPENDED"
    CLOSED = "CLOSED"


class RestrictionReason(Enum):
    ID_EXPIRED = "ID_EXPIRED"
    RISK_REVIEW_OVERDUE = "RISK_REVIEW_OVERDUE"
    SUSPECTED_FRAUD = "SUSPECTED_FRAUD"
    COURT_FREEZE = "COURT_FREEZE"
    CUSTOMER_REQUEST = "CUSTOMER_REQUEST"


@dataclass(frozen=True, kw_only=True)
class RiskFactor:
    factor: str
    points: int
    source: str = ""


@dataclass(frozen=True, kw_only=True)
class Restriction:
    """A restriction; empty ``channels`` means every non-counter channel."""

    reason: RestrictionReason
    since: datetime
    channels: tuple[Channel, ...] = ()

    def covers(self, channel: Channel) -> bool:
        return channel in self.channels if self.channels else channel.non_counter


@dataclass(frozen=True, kw_only=True)
class ChannelPermission:
    """What the customer agreed to use a channel for (银发〔2016〕261号 'agree in advance')."""

    enabled: bool = True
    cash_withdrawal: bool = True
    cash_deposit: bool = True
    purchase: bool = True
    transfer_out: bool = True
    cross_border: bool = True

    def permits(self, txn_type: TxnType, *, cross_border: bool) -> str | None:
        """``None`` if permitted, else the name of the missing permission."""
        if not self.enabled:
            return "enabled"
        if cross_border and not self.cross_border:
            return "cross_border"
        need = {TxnType.CASH_WITHDRAWAL: "cash_withdrawal", TxnType.CASH_DEPOSIT: "cash_deposit",
                TxnType.PURCHASE: "purchase", TxnType.TRANSFER_OTHER: "transfer_out",
                TxnType.TRANSFER_OWN: "transfer_out"}.get(txn_type)
        if need is not None and not getattr(self, need):
            return need
        return None


@dataclass(frozen=True, kw_only=True)
class AgreedLimit:
    """A customer-agreed limit (layer 4); it can only lower the effective limit."""

    channel: Channel | None  # None = every channel
    txn_type: TxnType | None  # None = every outflow
    period: Period
    amount: int | None = None
    count: int | None = None


@dataclass(frozen=True, kw_only=True)
class ProtectedId:
    encrypted: bytes = field(repr=False)
    lookup_hash: str = field(repr=False)
    masked: str


@dataclass(frozen=True, kw_only=True)
class AccountLink:
    """An account as the risk engine sees it (account class is per account, 302号)."""

    account_no: str
    customer_id: str
    account_class: AccountClass = AccountClass.I
    bound_account_no: str | None = None


@dataclass(frozen=True, kw_only=True)
class CustomerRecord:
    """One natural or legal person's KYC record (see docs/risk.md for each field)."""

    customer_id: str
    name: str
    gender: Gender
    nationality: str  # ISO 3166-1 alpha-2
    occupation: str
    address: str
    contact_phone: str
    id_type: IdType
    id_number: ProtectedId
    id_expiry: date | None  # None = long-term (长期)
    customer_type: CustomerType = CustomerType.NATURAL
    contact_email: str = ""
    id_verified_at: datetime | None = None
    id_verification_method: VerificationMethod = VerificationMethod.COUNTER_IN_PERSON
    onboarding_channel: OnboardingChannel = OnboardingChannel.FACE_TO_FACE
    risk_grade: RiskGrade = RiskGrade.LOW
    risk_score: int = 0
    risk_factors: tuple[RiskFactor, ...] = ()
    grade_reviewed_at: date | None = None
    next_review_due: date | None = None
    status: CustomerStatus = CustomerStatus.ACTIVE
    restrictions: tuple[Restriction, ...] = ()
    channel_permissions: dict[Channel, ChannelPermission] = field(default_factory=dict)
    agreed_limits: tuple[AgreedLimit, ...] = ()
    expected_monthly_volume: int = 0
    reactivation_pending: bool = False
    relationship_start: date | None = None
    relationship_end: date | None = None
    legal_hold: str = ""  # case reference; non-empty = keep
    anonymised: bool = False

    def __repr__(self) -> str:  # no personal data in logs
        return (f"CustomerRecord(customer_id={self.customer_id!r}, grade={self.risk_grade.value}, "
                f"status={self.status.value}, id={self.id_number.masked})")

    def permission(self, channel: Channel) -> ChannelPermission:
        return self.channel_permissions.get(channel, ChannelPermission())

    def id_expired_days(self, today: date) -> int | None:
        """Days since the ID expired (0 on the expiry day + 1), None if still valid."""
        if self.id_expiry is None or today <= self.id_expiry:
            return None
        return (today - self.id_expiry).days

    def with_id_update(self, *, id_number: ProtectedId, id_expiry: date | None,
                       at: datetime) -> CustomerRecord:
        """The record after the customer presented a renewed ID at the counter."""
        left = tuple(r for r in self.restrictions if r.reason is not RestrictionReason.ID_EXPIRED)
        return replace(self, id_number=id_number, id_expiry=id_expiry, id_verified_at=at,
                       restrictions=left,
                       status=CustomerStatus.ACTIVE if not left and self.status is
                       CustomerStatus.RESTRICTED else self.status)

    def review_due(self, *, months_by_grade: dict[RiskGrade, int], reviewed: date) -> date:
        months = months_by_grade[self.risk_grade]
        return reviewed + timedelta(days=round(months * 30.44))


class IdVault:
    """Encrypts, hashes and masks identity numbers (keys come from the composition root)."""

    def __init__(self, *, key: bytes, salt: bytes) -> None:
        if len(key) not in (16, 24, 32):
            raise ValueError("data key must be 16, 24 or 32 bytes")
        self._key, self._salt = key, salt

    def __repr__(self) -> str:
        return "IdVault(<redacted>)"

    def protect(self, id_type: IdType, number: str, *, today: date | None = None) -> ProtectedId:
        """Validate (resident IDs: GB 11643 checksum) and protect an identity number."""
        n = number.strip().upper()
        if id_type is IdType.CN_RIC:
            parse_resident_id(n, today=today)
        elif not n:
            raise IdNumberFormatError("identity number is empty")
        return ProtectedId(encrypted=_crypto.aes_gcm_encrypt(self._key, n.encode(),
                                                             aad=id_type.value.encode()),
                           lookup_hash=self.lookup(n), masked=mask_id_number(n))

    def lookup(self, number: str) -> str:
        return _crypto.lookup_hash(self._salt, number)

    def reveal(self, id_type: IdType, protected: ProtectedId) -> str:
        """Decrypt (for an authorised operator path only, never for logs)."""
        return _crypto.aes_gcm_decrypt(self._key, protected.encrypted,
                                       aad=id_type.value.encode()).decode()
