"""Typed views of the messages SST uses, converting to and from pyiso8583 field dicts.

Business code never handles raw field dicts: it builds a request object (mandatory fields are
checked on construction, a violation is a :class:`MessageError` naming the field, answered with
field 39 = 30) and turns it into fields only at the wire boundary.

One view per message family (the MTI is a field of the view, checked against the family):

===========================  ===========================  =====================================
request                      response                     MTIs
===========================  ===========================  =====================================
:class:`FinancialRequest`    :class:`FinancialResponse`   0100/0110, 0200/0210, 0220/0230
:class:`ReversalRequest`     :class:`ReversalResponse`    0400/0410, 0420/0430, 0421/0430
:class:`NetworkRequest`      :class:`NetworkResponse`     0800/0810
===========================  ===========================  =====================================

Private-field conventions (see ``docs/iso8583.md``):

* field 18 (0100/0200, optional): merchant type (MCC); the risk engine maps 6011 to ATM;
* field 44 (0110/0210): additional response data from the risk engine (``docs/risk.md``):
  ``SU<OTP|FP|VID>:<challenge id>`` on a 1A (step-up required), ``PENDING24H:<due>`` on an
  approved ATM transfer to another person's account (credited when due, revocable before),
  ``IDEXPIRED:<yyyymmdd>`` on an approval inside the ID-expiry grace period;
* field 48 (0200 retry after a 1A): step-up evidence ``SU<factor>:<challenge id>:<value>``;
* field 48 (0210, processing code 38): the mini-statement, :func:`format_statement` entries;
* field 48 (0800/0810, network code 161): key change, request ``TPK``/``TAK``/``TPKTAK``,
  response :func:`format_key_blocks` entries (key type, key under the TMK, KCV);
* field 53: DUKPT key serial number (20 hex once the spec widens field 53; until then field 62);
* field 90: original data elements (original MTI 4, STAN 6, transmission date-time 10, 22 zeros);
* field 95: replacement amounts, the first 12 digits are the amount actually dispensed;
* field 120: the new PIN block for a PIN change (processing code 92), ISO 0 under the same key
  as field 52.

Examples
--------
>>> req = FinancialRequest(pan="4761739001010010", processing_code="010000", amount=10000,
...     transmission_datetime="1129120000", stan="000001", local_time="120000",
...     local_date="1129", expiry="2812", pos_entry_mode="021",
...     track2="4761739001010010=28122011234", rrn="333412000001", terminal_id="ATM00001",
...     merchant_id="SSTBANK00000001",
...     currency="156", pin_block="0123456789ABCDEF")
>>> req
FinancialRequest(pan='476173******0010', processing_code='010000', amount=10000, stan='000001', terminal_id='ATM00001')
>>> FinancialRequest.from_fields(req.to_fields()) == req
True
>>> rev = ReversalRequest.for_original(req, mti="0420", stan="000002", actual_amount=4000)
>>> rev.original_stan, rev.actual_amount
('000001', 4000)
>>> ReversalRequest.from_fields(rev.to_fields()) == rev
True
"""  # noqa: E501 - a doctest's expected repr is one line and cannot be wrapped

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from enum import Enum

from host.iso8583.errors import MessageError
from sst.common.redact import mask_pan

__all__ = [
    "Balance",
    "FinancialRequest",
    "FinancialResponse",
    "KeyBlock",
    "NetworkCode",
    "NetworkRequest",
    "NetworkResponse",
    "ProcessingCode",
    "ReversalRequest",
    "ReversalResponse",
    "StatementEntry",
    "format_balances",
    "format_key_blocks",
    "format_original_data",
    "format_statement",
    "message_class",
    "parse_balances",
    "parse_key_blocks",
    "parse_statement",
    "response_mti",
]

_DIGITS = re.compile(r"^\d+$")
_HEX = re.compile(r"^[0-9A-Fa-f]+$")

Fields = dict[str, str]


class ProcessingCode(Enum):
    """Field 3, first two digits: the transaction type."""

    PURCHASE = "00"
    WITHDRAWAL = "01"
    REFUND = "20"
    DEPOSIT = "21"
    BALANCE = "31"
    MINI_STATEMENT = "38"
    TRANSFER = "40"
    PIN_CHANGE = "92"


class NetworkCode(Enum):
    """Field 70 of an 0800."""

    SIGN_ON = "001"
    SIGN_OFF = "002"
    KEY_CHANGE = "161"
    ECHO = "301"


#: Processing codes that need a PIN block (field 52) in an 0200.
PIN_REQUIRED = frozenset({"01", "21", "31", "38", "40", "92"})

_FINANCIAL_MTIS = frozenset({"0100", "0200", "0220", "0221"})
_REVERSAL_MTIS = frozenset({"0400", "0401", "0420", "0421"})


def response_mti(mti: str) -> str:
    """The response MTI for a request MTI: third digit + 1, a repeat (xxx1) answered as xxx0.

    >>> response_mti("0200"), response_mti("0421")
    ('0210', '0430')
    """
    if len(mti) != 4 or not mti.isdigit():
        raise MessageError(f"bad MTI {mti!r}", field="t")
    return mti[:2] + str(int(mti[2]) + 1) + ("0" if mti[3] == "1" else mti[3])


def message_class(mti: str) -> str:
    """Duplicate-detection class: a request and its repeat share it (0420/0421 -> ``0420``).

    >>> message_class("0421"), message_class("0200")
    ('0420', '0200')
    """
    return mti[:3] + "0"


def _need(f: Fields, key: str) -> str:
    try:
        return f[key]
    except KeyError:
        raise MessageError("mandatory field missing", field=key) from None


def _digits(value: str, key: str, length: int | None = None) -> str:
    if not _DIGITS.match(value) or (length is not None and len(value) != length):
        raise MessageError(
            "field must be numeric" + (f" of length {length}" if length else ""), field=key
        )
    return value


def _hex(value: str, key: str, length: int) -> str:
    if len(value) != length or not _HEX.match(value):
        raise MessageError(f"field must be {length} hex characters", field=key)
    return value


def _amount(f: Fields, key: str) -> int:
    return int(_digits(_need(f, key), key, 12))


def _opt(f: Fields, key: str) -> str | None:
    v = f.get(key)
    return v if v else None


def _put(out: Fields, key: str, value: str | None) -> None:
    if value is not None and value != "":
        out[key] = value


# ------------------------------------------------------------------------------- sub-fields
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
    """Inverse of ``format_balances``; bad text is a ``MessageError`` on field 54.

    >>> parse_balances("0002156C000000123456")[0].amount
    123456
    """
    if len(text) % 20:
        raise MessageError("field 54 length is not a multiple of 20", field="54")
    out = []
    for i in range(0, len(text), 20):
        e = text[i : i + 20]
        if e[7] not in "CD" or not e[8:].isdigit() or not e[:7].isdigit():
            raise MessageError("bad field 54 entry", field="54")
        amt = int(e[8:])
        out.append(
            Balance(
                account_type=e[:2],
                amount_type=e[2:4],
                currency=e[4:7],
                amount=amt if e[7] == "C" else -amt,
            )
        )
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class StatementEntry:
    """One mini-statement line: date MMDD, transaction type (field 3 digits 1-2), signed amount."""

    date: str
    transaction_type: str
    amount: int


def format_statement(entries: tuple[StatementEntry, ...]) -> str:
    """Field 48 of an 0210 for processing code 38: 19 characters per entry, newest first.

    ``MMDD`` + type (2) + sign ``C``/``D`` + 12 digits.

    >>> format_statement((StatementEntry(date="1129", transaction_type="01", amount=-5000),))
    '112901D000000005000'
    """
    return "".join(
        f"{e.date}{e.transaction_type}{'C' if e.amount >= 0 else 'D'}{abs(e.amount):012d}"
        for e in entries
    )


def parse_statement(text: str) -> tuple[StatementEntry, ...]:
    """Inverse of :func:`format_statement`.

    >>> parse_statement("112901D000000005000")[0].amount
    -5000
    """
    if len(text) % 19:
        raise MessageError("field 48 statement length is not a multiple of 19", field="48")
    out = []
    for i in range(0, len(text), 19):
        e = text[i : i + 19]
        if not (e[:6].isdigit() and e[6] in "CD" and e[7:].isdigit()):
            raise MessageError("bad statement entry", field="48")
        amt = int(e[7:])
        out.append(
            StatementEntry(date=e[:4], transaction_type=e[4:6], amount=amt if e[6] == "C" else -amt)
        )
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class KeyBlock:
    """One key in an 0810 key change.

    Type (``TPK``/``TAK``), key under the TMK (32 hex), KCV (6 hex).
    """

    key_type: str
    key_under_tmk: str = field(repr=False)
    kcv: str


def format_key_blocks(keys: tuple[KeyBlock, ...]) -> str:
    """Field 48 of an 0810 (network code 161): 41 characters per key.

    >>> format_key_blocks((KeyBlock(key_type="TPK", key_under_tmk="0" * 32, kcv="ABCDEF"),))[-9:]
    '000ABCDEF'
    """
    return "".join(f"{k.key_type}{k.key_under_tmk}{k.kcv}" for k in keys)


def parse_key_blocks(text: str) -> tuple[KeyBlock, ...]:
    """Inverse of :func:`format_key_blocks`."""
    if len(text) % 41:
        raise MessageError("field 48 key block length is not a multiple of 41", field="48")
    return tuple(
        KeyBlock(
            key_type=text[i : i + 3], key_under_tmk=text[i + 3 : i + 35], kcv=text[i + 35 : i + 41]
        )
        for i in range(0, len(text), 41)
    )


def format_original_data(mti: str, stan: str, transmission_datetime: str) -> str:
    """Field 90: original MTI, STAN and transmission date-time, then 22 zeros (institution ids).

    >>> format_original_data("0200", "000001", "1129120000")
    '020000000111291200000000000000000000000000'
    """
    return f"{mti}{stan}{transmission_datetime}" + "0" * 22


# ------------------------------------------------------------------------------- 0100/0200/0220
@dataclass(frozen=True, kw_only=True)
class FinancialRequest:
    """0100 authorisation, 0200 financial request, 0220 completion advice.

    ``track2`` is mandatory for 0100/0200, ``pin_block`` for an 0200 whose processing code is in
    ``PIN_REQUIRED``; a transfer (40) needs ``account_from`` (102) and ``account_to`` (103); a PIN
    change (92) needs ``new_pin_block`` (field 120). ``pos_condition`` ``06`` (field 25) marks an
    0100 as a pre-authorisation; every approved 0100 places a hold.
    """

    pan: str
    processing_code: str
    amount: int
    transmission_datetime: str
    stan: str
    local_time: str
    local_date: str
    expiry: str
    pos_entry_mode: str
    track2: str = field(default="", repr=False)
    rrn: str
    terminal_id: str
    merchant_id: str
    currency: str
    pin_block: str = field(default="", repr=False)
    mti: str = "0200"
    merchant_type: str | None = None
    pos_condition: str | None = None
    auth_code: str | None = None
    additional_data: str | None = None
    ksn: str | None = None
    icc_data: str | None = field(default=None, repr=False)
    original_data: str | None = None
    account_from: str | None = None
    account_to: str | None = None
    new_pin_block: str | None = field(default=None, repr=False)
    mac: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:  # noqa: PLR0912 - one check per field
        if self.mti not in _FINANCIAL_MTIS:
            raise MessageError(f"MTI {self.mti} is not a financial request", field="t")
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
        if self.merchant_type is not None:
            _digits(self.merchant_type, "18", 4)
        if len(self.terminal_id) != 8:
            raise MessageError("terminal id must be 8 characters", field="41")
        if len(self.rrn) != 12:
            raise MessageError("RRN must be 12 characters", field="37")
        if self.mti in ("0100", "0200") and not self.track2:
            raise MessageError("mandatory field missing", field="35")
        if self.pin_block:
            _hex(self.pin_block, "52", 16)
        elif self.mti == "0200" and self.transaction_type in PIN_REQUIRED:
            raise MessageError("mandatory field missing", field="52")
        if self.transaction_type == "40" and self.mti == "0200":
            if not self.account_from:
                raise MessageError("mandatory field missing", field="102")
            if not self.account_to:
                raise MessageError("mandatory field missing", field="103")
        if self.transaction_type == "92" and self.mti == "0200":
            if not self.new_pin_block:
                raise MessageError("mandatory field missing", field="120")
            _hex(self.new_pin_block, "120", 16)
        if self.ksn is not None:
            _hex(self.ksn, "53", 20)
        if self.original_data is not None:
            _digits(self.original_data, "90", 42)
        if self.mac is not None:
            _hex(self.mac, "64", 16)

    def __repr__(self) -> str:
        return (
            f"FinancialRequest(pan={mask_pan(self.pan)!r}, "
            f"processing_code={self.processing_code!r}, "
            f"amount={self.amount!r}, stan={self.stan!r}, terminal_id={self.terminal_id!r})"
        )

    @property
    def transaction_type(self) -> str:
        """Field 3, digits 1-2 (a :class:`ProcessingCode` value)."""
        return self.processing_code[:2]

    @property
    def pre_authorisation(self) -> bool:
        return self.mti == "0100" and self.pos_condition == "06"

    def to_fields(self) -> Fields:
        out: Fields = {
            "t": self.mti,
            "2": self.pan,
            "3": self.processing_code,
            "4": f"{self.amount:012d}",
            "7": self.transmission_datetime,
            "11": self.stan,
            "12": self.local_time,
            "13": self.local_date,
            "14": self.expiry,
            "22": self.pos_entry_mode,
            "37": self.rrn,
            "41": self.terminal_id,
            "42": self.merchant_id,
            "49": self.currency,
        }
        _put(out, "18", self.merchant_type)
        _put(out, "25", self.pos_condition)
        _put(out, "35", self.track2)
        _put(out, "38", self.auth_code)
        _put(out, "48", self.additional_data)
        _put(out, "52", self.pin_block.upper() if self.pin_block else None)
        _put(out, "55", self.icc_data)
        _put(out, "62", self.ksn)
        _put(out, "90", self.original_data)
        _put(out, "102", self.account_from)
        _put(out, "103", self.account_to)
        _put(out, "120", self.new_pin_block)
        _put(out, "64", self.mac)
        return out

    @classmethod
    def from_fields(cls, f: Fields) -> FinancialRequest:
        ksn = _opt(f, "53")
        if ksn is None or len(ksn) != 20:
            ksn = _opt(f, "62")
        return cls(
            mti=_need(f, "t"),
            pan=_need(f, "2"),
            processing_code=_need(f, "3"),
            amount=_amount(f, "4"),
            transmission_datetime=_need(f, "7"),
            stan=_need(f, "11"),
            local_time=_need(f, "12"),
            local_date=_need(f, "13"),
            expiry=_need(f, "14"),
            pos_entry_mode=_need(f, "22"),
            track2=f.get("35", ""),
            rrn=_need(f, "37"),
            terminal_id=_need(f, "41"),
            merchant_id=_need(f, "42"),
            currency=_need(f, "49"),
            pin_block=f.get("52", ""),
            merchant_type=_opt(f, "18"),
            pos_condition=_opt(f, "25"),
            auth_code=_opt(f, "38"),
            additional_data=_opt(f, "48"),
            ksn=ksn,
            icc_data=_opt(f, "55"),
            original_data=_opt(f, "90"),
            account_from=_opt(f, "102"),
            account_to=_opt(f, "103"),
            new_pin_block=_opt(f, "120"),
            mac=_opt(f, "64") or _opt(f, "128"),
        )


@dataclass(frozen=True, kw_only=True)
class FinancialResponse:
    """0110 / 0210 / 0230: the request's echo fields, 38, 39, 54 (and 44, 48, 55 when used)."""

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
    additional_data: str | None = None
    icc_data: str | None = field(default=None, repr=False)
    account_from: str | None = None
    account_to: str | None = None
    additional_response: str | None = None

    def __post_init__(self) -> None:
        if len(self.response_code) != 2:
            raise MessageError("response code must be 2 characters", field="39")
        if self.additional_response is not None and len(self.additional_response) > 25:
            raise MessageError("field 44 is at most 25 characters", field="44")

    def __repr__(self) -> str:
        return (
            f"FinancialResponse(mti={self.mti!r}, stan={self.stan!r}, "
            f"terminal_id={self.terminal_id!r}, "
            f"response_code={self.response_code!r}, auth_code={self.auth_code!r})"
        )

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

    def statement(self) -> tuple[StatementEntry, ...]:
        return parse_statement(self.additional_data or "")

    @classmethod
    def for_request(
        cls,
        req: FinancialRequest,
        *,
        response_code: str,
        auth_code: str | None = None,
        balances: tuple[Balance, ...] = (),
        additional_data: str | None = None,
        icc_data: str | None = None,
        additional_response: str | None = None,
    ) -> FinancialResponse:
        return cls(
            mti=response_mti(req.mti),
            pan=req.pan,
            processing_code=req.processing_code,
            amount=req.amount,
            transmission_datetime=req.transmission_datetime,
            stan=req.stan,
            rrn=req.rrn,
            terminal_id=req.terminal_id,
            currency=req.currency,
            auth_code=auth_code,
            response_code=response_code,
            balances=balances,
            additional_data=additional_data,
            icc_data=icc_data,
            account_from=req.account_from,
            account_to=req.account_to,
            additional_response=additional_response,
        )

    def to_fields(self) -> Fields:
        out: Fields = {
            "t": self.mti,
            "11": self.stan,
            "39": self.response_code,
            "41": self.terminal_id,
        }
        opt = {
            "2": self.pan,
            "3": self.processing_code,
            "7": self.transmission_datetime,
            "37": self.rrn,
            "38": self.auth_code,
            "44": self.additional_response,
            "49": self.currency,
            "48": self.additional_data,
            "55": self.icc_data,
            "102": self.account_from,
            "103": self.account_to,
        }
        out.update({k: v for k, v in opt.items() if v is not None})
        if self.amount is not None:
            out["4"] = f"{self.amount:012d}"
        if self.balances:
            out["54"] = format_balances(self.balances)
        return out

    @classmethod
    def from_fields(cls, f: Fields) -> FinancialResponse:
        return cls(
            mti=_need(f, "t"),
            pan=f.get("2"),
            processing_code=f.get("3"),
            amount=int(f["4"]) if f.get("4", "").isdigit() else None,
            transmission_datetime=f.get("7"),
            stan=_need(f, "11"),
            rrn=f.get("37"),
            terminal_id=_need(f, "41"),
            currency=f.get("49"),
            auth_code=f.get("38"),
            response_code=_need(f, "39"),
            balances=parse_balances(f["54"]) if "54" in f else (),
            additional_data=f.get("48"),
            icc_data=f.get("55"),
            account_from=f.get("102"),
            account_to=f.get("103"),
            additional_response=f.get("44"),
        )

    def with_code(self, response_code: str) -> FinancialResponse:
        return replace(self, response_code=response_code)


# ------------------------------------------------------------------------------- 0400/0420/0421
@dataclass(frozen=True, kw_only=True)
class ReversalRequest:
    """0400 reversal request, 0420 reversal advice, 0401/0421 repeats.

    The original is named by field 90 (original MTI, STAN, transmission date-time); without
    field 90 the reversal's own STAN is taken as the original's (single-STAN ATM dialects).
    Field 95's first 12 digits are the amount actually dispensed (partial reversal).
    """

    mti: str = "0420"
    pan: str
    processing_code: str
    amount: int
    transmission_datetime: str
    stan: str
    local_time: str
    local_date: str
    rrn: str
    terminal_id: str
    merchant_id: str | None = None
    currency: str
    auth_code: str | None = None
    reason_code: str | None = None
    original_data: str | None = None
    replacement_amounts: str | None = None
    mac: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mti not in _REVERSAL_MTIS:
            raise MessageError(f"MTI {self.mti} is not a reversal", field="t")
        _digits(self.pan, "2")
        _digits(self.processing_code, "3", 6)
        if not 0 <= self.amount < 10**12:
            raise MessageError("amount out of range", field="4")
        _digits(self.transmission_datetime, "7", 10)
        _digits(self.stan, "11", 6)
        _digits(self.local_time, "12", 6)
        _digits(self.local_date, "13", 4)
        _digits(self.currency, "49", 3)
        if len(self.terminal_id) != 8:
            raise MessageError("terminal id must be 8 characters", field="41")
        if len(self.rrn) != 12:
            raise MessageError("RRN must be 12 characters", field="37")
        if self.original_data is not None:
            _digits(self.original_data, "90", 42)
        if self.replacement_amounts is not None:
            _digits(self.replacement_amounts, "95", 42)
            if int(self.replacement_amounts[:12]) > self.amount:
                raise MessageError("actual amount exceeds the original amount", field="95")
        if self.mac is not None:
            _hex(self.mac, "64", 16)

    def __repr__(self) -> str:
        return (
            f"ReversalRequest(mti={self.mti!r}, pan={mask_pan(self.pan)!r}, "
            f"amount={self.amount!r}, stan={self.stan!r}, terminal_id={self.terminal_id!r}, "
            f"original_stan={self.original_stan!r})"
        )

    @property
    def original_stan(self) -> str:
        return self.original_data[4:10] if self.original_data else self.stan

    @property
    def original_mti(self) -> str | None:
        return self.original_data[:4] if self.original_data else None

    @property
    def original_transmission_datetime(self) -> str | None:
        return self.original_data[10:20] if self.original_data else None

    @property
    def actual_amount(self) -> int:
        """What the customer actually got (0 for a full reversal)."""
        return int(self.replacement_amounts[:12]) if self.replacement_amounts else 0

    @classmethod
    def for_original(
        cls,
        req: FinancialRequest,
        *,
        mti: str = "0420",
        stan: str,
        actual_amount: int | None = None,
        reason_code: str | None = None,
    ) -> ReversalRequest:
        """The reversal of ``req`` (``actual_amount`` set: a partial reversal with field 95)."""
        repl = None if actual_amount is None else f"{actual_amount:012d}" + "0" * 30
        return cls(
            mti=mti,
            pan=req.pan,
            processing_code=req.processing_code,
            amount=req.amount,
            transmission_datetime=req.transmission_datetime,
            stan=stan,
            local_time=req.local_time,
            local_date=req.local_date,
            rrn=req.rrn,
            terminal_id=req.terminal_id,
            merchant_id=req.merchant_id,
            currency=req.currency,
            reason_code=reason_code,
            original_data=format_original_data(req.mti, req.stan, req.transmission_datetime),
            replacement_amounts=repl,
        )

    def to_fields(self) -> Fields:
        out: Fields = {
            "t": self.mti,
            "2": self.pan,
            "3": self.processing_code,
            "4": f"{self.amount:012d}",
            "7": self.transmission_datetime,
            "11": self.stan,
            "12": self.local_time,
            "13": self.local_date,
            "37": self.rrn,
            "41": self.terminal_id,
            "49": self.currency,
        }
        _put(out, "38", self.auth_code)
        _put(out, "39", self.reason_code)
        _put(out, "42", self.merchant_id)
        _put(out, "90", self.original_data)
        _put(out, "95", self.replacement_amounts)
        _put(out, "64", self.mac)
        return out

    @classmethod
    def from_fields(cls, f: Fields) -> ReversalRequest:
        return cls(
            mti=_need(f, "t"),
            pan=_need(f, "2"),
            processing_code=_need(f, "3"),
            amount=_amount(f, "4"),
            transmission_datetime=_need(f, "7"),
            stan=_need(f, "11"),
            local_time=_need(f, "12"),
            local_date=_need(f, "13"),
            rrn=_need(f, "37"),
            terminal_id=_need(f, "41"),
            merchant_id=_opt(f, "42"),
            currency=_need(f, "49"),
            auth_code=_opt(f, "38"),
            reason_code=_opt(f, "39"),
            original_data=_opt(f, "90"),
            replacement_amounts=_opt(f, "95"),
            mac=_opt(f, "64") or _opt(f, "128"),
        )


@dataclass(frozen=True, kw_only=True)
class ReversalResponse:
    """0410 / 0430: always ``00`` once recorded (a reversal of an unknown original too)."""

    mti: str = "0430"
    pan: str | None = None
    processing_code: str | None = None
    amount: int | None = None
    transmission_datetime: str | None = None
    stan: str
    rrn: str | None = None
    terminal_id: str
    currency: str | None = None
    response_code: str
    original_data: str | None = None
    replacement_amounts: str | None = None
    balances: tuple[Balance, ...] = ()

    def __post_init__(self) -> None:
        if len(self.response_code) != 2:
            raise MessageError("response code must be 2 characters", field="39")

    @classmethod
    def for_request(
        cls, req: ReversalRequest, *, response_code: str, balances: tuple[Balance, ...] = ()
    ) -> ReversalResponse:
        return cls(
            mti=response_mti(req.mti),
            pan=req.pan,
            processing_code=req.processing_code,
            amount=req.amount,
            transmission_datetime=req.transmission_datetime,
            stan=req.stan,
            rrn=req.rrn,
            terminal_id=req.terminal_id,
            currency=req.currency,
            response_code=response_code,
            original_data=req.original_data,
            replacement_amounts=req.replacement_amounts,
            balances=balances,
        )

    def to_fields(self) -> Fields:
        out: Fields = {
            "t": self.mti,
            "11": self.stan,
            "39": self.response_code,
            "41": self.terminal_id,
        }
        opt = {
            "2": self.pan,
            "3": self.processing_code,
            "7": self.transmission_datetime,
            "37": self.rrn,
            "49": self.currency,
            "90": self.original_data,
            "95": self.replacement_amounts,
        }
        out.update({k: v for k, v in opt.items() if v is not None})
        if self.amount is not None:
            out["4"] = f"{self.amount:012d}"
        if self.balances:
            out["54"] = format_balances(self.balances)
        return out

    @classmethod
    def from_fields(cls, f: Fields) -> ReversalResponse:
        return cls(
            mti=_need(f, "t"),
            pan=f.get("2"),
            processing_code=f.get("3"),
            amount=int(f["4"]) if f.get("4", "").isdigit() else None,
            transmission_datetime=f.get("7"),
            stan=_need(f, "11"),
            rrn=f.get("37"),
            terminal_id=_need(f, "41"),
            currency=f.get("49"),
            response_code=_need(f, "39"),
            original_data=f.get("90"),
            replacement_amounts=f.get("95"),
            balances=parse_balances(f["54"]) if "54" in f else (),
        )


# ------------------------------------------------------------------------------- 0800/0810
@dataclass(frozen=True, kw_only=True)
class NetworkRequest:
    """0800 network management: sign-on 001, sign-off 002, key change 161, echo 301.

    >>> NetworkRequest(transmission_datetime="1129120000", stan="000001", terminal_id="ATM00001",
    ...     network_code="301").to_fields()["70"]
    '301'
    """

    mti: str = "0800"
    transmission_datetime: str
    stan: str
    terminal_id: str
    network_code: str
    additional_data: str | None = None

    def __post_init__(self) -> None:
        if self.mti != "0800":
            raise MessageError(f"MTI {self.mti} is not a network request", field="t")
        _digits(self.transmission_datetime, "7", 10)
        _digits(self.stan, "11", 6)
        _digits(self.network_code, "70", 3)
        if len(self.terminal_id) != 8:
            raise MessageError("terminal id must be 8 characters", field="41")

    def to_fields(self) -> Fields:
        out: Fields = {
            "t": self.mti,
            "7": self.transmission_datetime,
            "11": self.stan,
            "41": self.terminal_id,
            "70": self.network_code,
        }
        _put(out, "48", self.additional_data)
        return out

    @classmethod
    def from_fields(cls, f: Fields) -> NetworkRequest:
        return cls(
            mti=_need(f, "t"),
            transmission_datetime=_need(f, "7"),
            stan=_need(f, "11"),
            terminal_id=_need(f, "41"),
            network_code=_need(f, "70"),
            additional_data=_opt(f, "48"),
        )


@dataclass(frozen=True, kw_only=True)
class NetworkResponse:
    """0810: echo of 7, 11, 41, 70 plus 39 (and 48 for a key change)."""

    mti: str = "0810"
    transmission_datetime: str
    stan: str
    terminal_id: str
    network_code: str
    response_code: str
    additional_data: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if len(self.response_code) != 2:
            raise MessageError("response code must be 2 characters", field="39")

    @classmethod
    def for_request(
        cls, req: NetworkRequest, *, response_code: str, additional_data: str | None = None
    ) -> NetworkResponse:
        return cls(
            transmission_datetime=req.transmission_datetime,
            stan=req.stan,
            terminal_id=req.terminal_id,
            network_code=req.network_code,
            response_code=response_code,
            additional_data=additional_data,
        )

    def to_fields(self) -> Fields:
        out: Fields = {
            "t": self.mti,
            "7": self.transmission_datetime,
            "11": self.stan,
            "39": self.response_code,
            "41": self.terminal_id,
            "70": self.network_code,
        }
        _put(out, "48", self.additional_data)
        return out

    @classmethod
    def from_fields(cls, f: Fields) -> NetworkResponse:
        return cls(
            mti=_need(f, "t"),
            transmission_datetime=_need(f, "7"),
            stan=_need(f, "11"),
            terminal_id=_need(f, "41"),
            network_code=_need(f, "70"),
            response_code=_need(f, "39"),
            additional_data=_opt(f, "48"),
        )


def field_names(cls: type) -> list[str]:  # pragma: no cover - documentation helper
    return [f.name for f in fields(cls)]
