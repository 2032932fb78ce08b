"""Typed views of the messages SST uses, converting to and from pyiso8583 field dicts.

Business code never handles raw field dicts: it builds a request object (mandatory fields are
checked on construction) and turns it into fields only at the wire boundary.

Examples
--------
>>> req = FinancialRequest(pan="4761739001010010", processing_code="010000", amount=10000,
...     transmission_datetime="1129120000", stan="000001", local_time="120000",
...     local_date="1129", expiry="2812", pos_entry_mode="021", track2="4761739001010010=28122011234",
...     rrn="333412000001", terminal_id="ATM00001", merchant_id="SSTBANK00000001",
...     currency="156", pin_block="0123456789ABCDEF")
>>> req
FinancialRequest(pan='476173******0010', processing_code='010000', amount=10000, stan='000001', terminal_id='ATM00001')
>>> FinancialRequest.from_fields(req.to_fields()) == req
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace

from host.iso8583.errors import MessageError
from sst.common.redact import mask_pan

__all__ = [
    "Balance",
    "FinancialRequest",
    "FinancialResponse",
    "response_mti",
    "parse_balances",
    "format_balances",
]

_DIGITS = re.compile(r"^\d+$")
_HEX16 = re.compile(r"^[0-9A-Fa-f]{16}$")


def response_mti(mti: str) -> str:
    """The response MTI for a request MTI: third digit + 1.

    >>> response_mti("0200")
    '0210'
    """
    if len(mti) != 4 or not mti.isdigit():
        raise MessageError(f"bad MTI {mti!r}", field="t")
    return mti[:2] + str(int(mti[2]) + 1) + mti[3]


def _need(fields_: dict[str, str], key: str) -> str:
    try:
        return fields_[key]
    except KeyError:
        raise MessageError("mandatory field missing", field=key) from None


def _digits(value: str, key: str, length: int | None = None) -> str:
    if not _DIGITS.match(value) or (length is not None and len(value) != length):
        raise MessageError("field must be numeric" + (f" of length {length}" if length else ""), field=key)
    return value


@dataclass(frozen=True, kw_only=True)
class Balance:
    """One field 54 entry: account type, amount type (01 ledger, 02 available), currency, amount."""

    account_type: str = "00"
    amount_type: str = "02"
    currency: str = "156"
    amount: int = 0


def format_balances(balances: tuple[Balance, ...]) -> str:
    """Field 54: 20 characters per entry, sign C/D then 12 digits.

    >>> format_balances((Balance(amount=123456),))
    '0002156C000000123456'
    """
    out = []
    for b in balances:
        sign = "C" if b.amount >= 0 else "D"
        out.append(f"{b.account_type}{b.amount_type}{b.currency}{sign}{abs(b.amount):012d}")
    return "".join(out)


def parse_balances(text: str) -> tuple[Balance, ...]:
    """Inverse of ``format_balances``; bad text is a ``MessageError`` on field 54."""
    if len(text) % 20:
        raise MessageError("field 54 length is not a multiple of 20", field="54")
    out = []
    for i in range(0, len(text), 20):
        e = text[i : i + 20]
        if e[7] not in "CD" or not e[8:].isdigit() or not e[:7].isdigit():
            raise MessageError("bad field 54 entry", field="54")
        amt = int(e[8:])
        out.append(Balance(account_type=e[:2], amount_type=e[2:4], currency=e[4:7],
                           amount=amt if e[7] == "C" else -amt))
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class FinancialRequest:
    """0200 financial request (withdrawal ``01xxxx``, balance ``31xxxx``)."""

    pan: str
    processing_code: str
    amount: int
    transmission_datetime: str
    stan: str
    local_time: str
    local_date: str
    expiry: str
    pos_entry_mode: str
    track2: str = field(repr=False)
    rrn: str
    terminal_id: str
    merchant_id: str
    currency: str
    pin_block: str = field(repr=False)
    mti: str = "0200"

    def __post_init__(self) -> None:
        _digits(self.pan, "2")
        if not 12 <= len(self.pan) <= 19:
            raise MessageError("PAN length out of range", field="2")
        _digits(self.processing_code, "3", 6)
        if not 0 <= self.amount < 10**12:
            raise MessageError("amount out of range", field="4")
        _digits(self.transmission_datetime, "7", 10)
        _digits(self.stan, "11", 6)
        _digits(self.local_time, "12", 6)
        _digits(self.local_date, "13", 4)
        _digits(self.expiry, "14", 4)
        _digits(self.pos_entry_mode, "22", 3)
        _digits(self.currency, "49", 3)
        if not _HEX16.match(self.pin_block):
            raise MessageError("PIN block must be 16 hex characters", field="52")
        if len(self.terminal_id) != 8:
            raise MessageError("terminal id must be 8 characters", field="41")
        if len(self.rrn) != 12:
            raise MessageError("RRN must be 12 characters", field="37")

    def __repr__(self) -> str:
        return (f"FinancialRequest(pan={mask_pan(self.pan)!r}, processing_code={self.processing_code!r}, "
                f"amount={self.amount!r}, stan={self.stan!r}, terminal_id={self.terminal_id!r})")

    @property
    def transaction_type(self) -> str:
        return self.processing_code[:2]

    def to_fields(self) -> dict[str, str]:
        return {
            "t": self.mti, "2": self.pan, "3": self.processing_code, "4": f"{self.amount:012d}",
            "7": self.transmission_datetime, "11": self.stan, "12": self.local_time,
            "13": self.local_date, "14": self.expiry, "22": self.pos_entry_mode, "35": self.track2,
            "37": self.rrn, "41": self.terminal_id, "42": self.merchant_id, "49": self.currency,
            "52": self.pin_block.upper(),
        }

    @classmethod
    def from_fields(cls, f: dict[str, str]) -> FinancialRequest:
        amount = _digits(_need(f, "4"), "4", 12)
        return cls(
            mti=_need(f, "t"), pan=_need(f, "2"), processing_code=_need(f, "3"), amount=int(amount),
            transmission_datetime=_need(f, "7"), stan=_need(f, "11"), local_time=_need(f, "12"),
            local_date=_need(f, "13"), expiry=_need(f, "14"), pos_entry_mode=_need(f, "22"),
            track2=_need(f, "35"), rrn=_need(f, "37"), terminal_id=_need(f, "41"),
            merchant_id=_need(f, "42"), currency=_need(f, "49"), pin_block=_need(f, "52"),
        )


@dataclass(frozen=True, kw_only=True)
class FinancialResponse:
    """0210 financial response: the request's echo fields plus 38, 39 and 54."""

    mti: str = "0210"
    pan: str | None = None
    processing_code: str | None = None
    amount: int | None = None
    transmission_datetime: str | None = None
    stan: str
    rrn: str | None = None
    terminal_id: str
    currency: str | None = None
    auth_code: str | None = None
    response_code: str
    balances: tuple[Balance, ...] = ()

    def __post_init__(self) -> None:
        if len(self.response_code) != 2:
            raise MessageError("response code must be 2 characters", field="39")

    def __repr__(self) -> str:
        return (f"FinancialResponse(mti={self.mti!r}, stan={self.stan!r}, terminal_id={self.terminal_id!r}, "
                f"response_code={self.response_code!r}, auth_code={self.auth_code!r})")

    @property
    def approved(self) -> bool:
        return self.response_code == "00"

    def available_balance(self) -> int | None:
        for b in self.balances:
            if b.amount_type == "02":
                return b.amount
        return None

    def ledger_balance(self) -> int | None:
        for b in self.balances:
            if b.amount_type == "01":
                return b.amount
        return None

    @classmethod
    def for_request(cls, req: FinancialRequest, *, response_code: str, auth_code: str | None = None,
                    balances: tuple[Balance, ...] = ()) -> FinancialResponse:
        return cls(mti=response_mti(req.mti), pan=req.pan, processing_code=req.processing_code,
                   amount=req.amount, transmission_datetime=req.transmission_datetime, stan=req.stan,
                   rrn=req.rrn, terminal_id=req.terminal_id, currency=req.currency,
                   auth_code=auth_code, response_code=response_code, balances=balances)

    def to_fields(self) -> dict[str, str]:
        out: dict[str, str] = {"t": self.mti, "11": self.stan, "39": self.response_code,
                               "41": self.terminal_id}
        opt = {"2": self.pan, "3": self.processing_code, "7": self.transmission_datetime,
               "37": self.rrn, "38": self.auth_code, "49": self.currency}
        out.update({k: v for k, v in opt.items() if v is not None})
        if self.amount is not None:
            out["4"] = f"{self.amount:012d}"
        if self.balances:
            out["54"] = format_balances(self.balances)
        return out

    @classmethod
    def from_fields(cls, f: dict[str, str]) -> FinancialResponse:
        return cls(
            mti=_need(f, "t"), pan=f.get("2"), processing_code=f.get("3"),
            amount=int(f["4"]) if f.get("4", "").isdigit() else None,
            transmission_datetime=f.get("7"), stan=_need(f, "11"), rrn=f.get("37"),
            terminal_id=_need(f, "41"), currency=f.get("49"), auth_code=f.get("38"),
            response_code=_need(f, "39"), balances=parse_balances(f["54"]) if "54" in f else (),
        )

    def with_code(self, response_code: str) -> FinancialResponse:
        return replace(self, response_code=response_code)


def field_names(cls: type) -> list[str]:  # pragma: no cover - documentation helper
    return [f.name for f in fields(cls)]
