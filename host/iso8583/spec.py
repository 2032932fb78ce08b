"""ISO 8583 layouts and the interface catalogue, as data.

Two wire dialects, both pyiso8583 spec dicts:

``DEFAULT_SPEC`` (``"ascii"``)
    pyiso8583's ``default_ascii`` unchanged: ASCII MTI, hex-ASCII bitmaps, ASCII lengths, field 52
    as 16 hex characters, field 55 as hex text. This is the walking skeleton's wire contract.
``BCD_SPEC`` (``"bcd"``)
    a copy of pyiso8583's binary ``default`` with overrides: binary MTI and bitmaps, numeric
    fields packed BCD (odd lengths left-padded with ``0``, PAN and track 2 right-padded with ``F``),
    BCD lengths on every variable field, field 52 and 53 as 8 binary bytes, field 55 binary LLLVAR.

The rest of the module is the catalogue a bank hands to a terminal vendor: field usage per MTI
(M mandatory, C conditional, O optional), processing codes, response codes and network
management codes. ``host.iso8583.docgen`` renders it into ``docs/iso8583.md``.

Examples
--------
>>> sorted(SPECS)
['ascii', 'bcd']
>>> BCD_SPEC["3"]["data_enc"], BCD_SPEC["3"]["len_count"], BCD_SPEC["2"]["len_enc"]
('b', 'nibbles', 'bcd')
>>> FIELDS["39"].usage["0210"] is Presence.MANDATORY
True
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from iso8583.specs import default as _default
from iso8583.specs import default_ascii as _default_ascii

__all__ = [
    "BCD_SPEC",
    "DEFAULT_SPEC",
    "FIELDS",
    "FIELD_NAMES",
    "MTIS",
    "NETWORK_CODES",
    "PROCESSING_CODES",
    "RESPONSE_CODES",
    "SPECS",
    "TRANSACTIONS",
    "FieldInfo",
    "Presence",
    "Spec",
    "TransactionType",
    "spec_name",
]

Spec = dict[str, dict[str, Any]]

#: The skeleton's wire contract: pyiso8583 ``default_ascii`` unchanged.
DEFAULT_SPEC: Spec = copy.deepcopy(_default_ascii)

# ---------------------------------------------------------------------------------------------
# BCD dialect: overrides on a copy of pyiso8583 ``default`` (binary MTI and bitmaps).

#: Fixed-length numeric fields packed BCD: field -> number of digits.
_BCD_FIXED: dict[str, int] = {
    "3": 6, "4": 12, "7": 10, "11": 6, "12": 6, "13": 4, "14": 4, "18": 4, "22": 3, "23": 3,
    "25": 2, "49": 3, "70": 3, "90": 42,
}
#: Variable numeric fields packed BCD (digits are counted, odd counts padded): field -> pad.
_BCD_VAR: dict[str, dict[str, str]] = {
    "2": {"right_pad": "F"}, "32": {"right_pad": "F"}, "35": {"right_pad": "F"},
}
#: Binary fields of the BCD dialect (lengths in bytes).
_BCD_BINARY: dict[str, dict[str, Any]] = {
    "t": {"data_enc": "b", "max_len": 2},
    "52": {"data_enc": "b", "len_type": 0, "max_len": 8},
    "53": {"data_enc": "b", "len_type": 0, "max_len": 8},
    "55": {"data_enc": "b", "len_enc": "bcd", "len_type": 2, "max_len": 255},
}
#: ASCII length digits -> BCD length bytes.
_BCD_LEN_TYPE = {2: 1, 3: 2, 4: 2}


def _bcd_spec() -> Spec:
    spec: Spec = copy.deepcopy(_default)
    for key, f in spec.items():
        if f["len_type"] and key not in ("h",):
            f["len_enc"], f["len_type"] = "bcd", _BCD_LEN_TYPE[f["len_type"]]
    for key, digits in _BCD_FIXED.items():
        spec[key].update(data_enc="b", len_count="nibbles", max_len=digits)
        if digits % 2:
            spec[key]["left_pad"] = "0"
    for key, pad in _BCD_VAR.items():
        spec[key].update(data_enc="b", len_count="nibbles", **pad)
    for key, over in _BCD_BINARY.items():
        spec[key].update(over)
    return spec


#: Binary MTI and bitmaps, BCD numerics and lengths (see the module docstring).
BCD_SPEC: Spec = _bcd_spec()

#: Dialect name -> spec. The names are what configs, the doctor and the docs use.
SPECS: Mapping[str, Spec] = MappingProxyType({"ascii": DEFAULT_SPEC, "bcd": BCD_SPEC})


def spec_name(spec: Spec) -> str:
    """The catalogue name of a spec dict (``"custom"`` if it is none of ours).

    >>> spec_name(BCD_SPEC)
    'bcd'
    """
    return next((name for name, s in SPECS.items() if s is spec or s == spec), "custom")


FIELD_NAMES: dict[str, str] = {k: str(v["desc"]) for k, v in DEFAULT_SPEC.items()}

# ---------------------------------------------------------------------------------------------
# Interface catalogue


class Presence(enum.Enum):
    """How a field appears in a message."""

    MANDATORY = "M"
    CONDITIONAL = "C"
    OPTIONAL = "O"


#: MTIs SST sends or answers, with their meaning.
MTIS: dict[str, str] = {
    "0100": "authorisation request (POS pre-authorisation)",
    "0110": "authorisation response",
    "0200": "financial request (ATM and POS transactions)",
    "0210": "financial response",
    "0400": "reversal request",
    "0410": "reversal response",
    "0420": "reversal advice (store and forward, repeated as 0421)",
    "0430": "reversal advice response",
    "0800": "network management request",
    "0810": "network management response",
}

_REQ = ("0100", "0200", "0400", "0420")
_RESP = ("0110", "0210", "0410", "0430")
_NET = ("0800", "0810")
_ALL = _REQ + _RESP + _NET
M, C, O = Presence.MANDATORY, Presence.CONDITIONAL, Presence.OPTIONAL  # noqa: E741 - the spec's M/C/O letters


def _use(mtis: tuple[str, ...], p: Presence) -> dict[str, Presence]:
    return dict.fromkeys(mtis, p)


@dataclass(frozen=True, kw_only=True)
class FieldInfo:
    """One data element as the interface uses it."""

    number: str
    name: str
    iso_format: str
    usage: Mapping[str, Presence]
    note: str = ""
    sensitive: bool = False
    example: str = field(default="", repr=False)


def _fields(*infos: FieldInfo) -> dict[str, FieldInfo]:
    return {f.number: f for f in infos}


#: Every data element the interface uses, in field order.
FIELDS: dict[str, FieldInfo] = _fields(
    FieldInfo(number="2", name="Primary account number", iso_format="n..19 LLVAR",
              usage=_use(_REQ, M) | _use(_RESP, C),
              note="Shown 6+4 masked in every log. Echoed in responses.", sensitive=True),
    FieldInfo(number="3", name="Processing code", iso_format="n 6",
              usage=_use(_REQ + _RESP, M),
              note="Transaction type (2 digits), from account, to account; see Processing codes."),
    FieldInfo(number="4", name="Amount, transaction", iso_format="n 12",
              usage=_use(_REQ + _RESP, M),
              note="Minor units; zero for balance and mini-statement."),
    FieldInfo(number="7", name="Transmission date and time", iso_format="n 10",
              usage=_use(_ALL, M), note="MMDDhhmmss, UTC."),
    FieldInfo(number="11", name="System trace audit number (STAN)", iso_format="n 6",
              usage=_use(_ALL, M), note="Unique per terminal per day; part of the MUX key."),
    FieldInfo(number="12", name="Time, local transaction", iso_format="n 6",
              usage=_use(_REQ, M), note="hhmmss"),
    FieldInfo(number="13", name="Date, local transaction", iso_format="n 4",
              usage=_use(_REQ, M), note="MMDD"),
    FieldInfo(number="14", name="Date, expiration", iso_format="n 4",
              usage=_use(("0100", "0200"), C), note="YYMM, when read from the card."),
    FieldInfo(number="18", name="Merchant type (MCC)", iso_format="n 4",
              usage=_use(("0100", "0200"), O),
              note="ISO 18245 MCC. 6011 (or a terminal id starting ATM) is the ATM channel, 6010 "
                   "the counter, anything else POS; the risk engine's limits use MCC groups."),
    FieldInfo(number="22", name="Point-of-service entry mode", iso_format="n 3",
              usage=_use(("0100", "0200"), M),
              note="021 magstripe + PIN, 051 chip + PIN, 071 contactless + PIN, 012 manual."),
    FieldInfo(number="23", name="Card sequence number", iso_format="n 3",
              usage=_use(("0100", "0200"), C), note="Chip transactions (with field 55)."),
    FieldInfo(number="35", name="Track 2 data", iso_format="z..37 LLVAR",
              usage=_use(("0100", "0200"), C),
              note="Magstripe track 2 or chip tag 57. Never logged. BCD dialect: separator D.",
              sensitive=True),
    FieldInfo(number="37", name="Retrieval reference number", iso_format="an 12",
              usage=_use(_REQ + _RESP, M), note="YDDDhh + STAN."),
    FieldInfo(number="38", name="Authorisation identification response", iso_format="an 6",
              usage=_use(_RESP, C), note="Present when field 39 is 00."),
    FieldInfo(number="39", name="Response code", iso_format="an 2",
              usage=_use((*_RESP, "0810"), M), note="See Response codes."),
    FieldInfo(number="41", name="Card acceptor terminal identification", iso_format="ans 8",
              usage=_use(_ALL, M), note="Part of the MUX key."),
    FieldInfo(number="42", name="Card acceptor identification code", iso_format="ans 15",
              usage=_use(_REQ, M)),
    FieldInfo(number="44", name="Additional response data", iso_format="ans..25 LLVAR",
              usage={"0210": C, "0110": C},
              note="Risk notices: SU<OTP|FP|VID>:<challenge> with 1A (step-up required, retry "
                   "with field 48 evidence); PENDING24H:<yyyymmddhhmm> with 00 (ATM transfer to "
                   "another person's account, credited then, revocable by a full reversal "
                   "before); IDEXPIRED:<yyyymmdd> with 00 (ID expired, inside the grace period)."),
    FieldInfo(number="48", name="Additional data, private", iso_format="ans..999 LLLVAR",
              usage={"0200": C, "0210": C, "0800": C, "0810": C},
              note="0200 step-up retry: SU<factor>:<challenge>:<evidence> (OTP digits, "
                   "fingerprint match reference, video snapshot reference; never logged); "
                   "0210 mini-statement (38): statement lines; 0810 key change (161): new key "
                   "under the TMK + KCV (never logged)."),
    FieldInfo(number="49", name="Currency code, transaction", iso_format="n 3",
              usage=_use(_REQ, M) | _use(_RESP, C), note="ISO 4217 numeric (156 CNY)."),
    FieldInfo(number="52", name="PIN data", iso_format="b 64",
              usage=_use(("0100", "0200"), C),
              note="ISO 9564 format 0 block under the TPK. ASCII dialect: 16 hex characters. "
                   "Never logged.", sensitive=True),
    FieldInfo(number="53", name="Security related control information", iso_format="n 16",
              usage={"0100": C, "0200": C},
              note="DUKPT terminals: the 20-hex-digit KSN of the PIN block (field 62 is accepted "
                   "when 53 does not hold 20 digits)."),
    FieldInfo(number="54", name="Additional amounts", iso_format="an..120 LLLVAR",
              usage={"0210": C, "0110": C},
              note="20 characters per balance: account type, amount type (01 ledger, "
                   "02 available), currency, C/D, 12 digits."),
    FieldInfo(number="55", name="ICC system related data", iso_format="b..255 LLLVAR",
              usage={"0100": C, "0200": C, "0110": C, "0210": C, "0400": C, "0420": C},
              note="BER-TLV. ASCII dialect: hex text (two characters per byte). Requests: the "
                   "ARQC (9F26) and its data objects; responses: tag 91 (issuer authentication "
                   "data: ARPC + response code) when the ARQC was verified. Never logged.",
              sensitive=True),
    FieldInfo(number="62", name="Reserved private (KSN)", iso_format="ans..999 LLLVAR",
              usage={"0100": C, "0200": C},
              note="DUKPT KSN when a terminal cannot put it in field 53 (20 hex digits)."),
    FieldInfo(number="64", name="Message authentication code", iso_format="b 64",
              usage=_use(_REQ + _RESP, C),
              note="Terminals with mac_required: ISO 9797-1 MAC under the TAK over the message "
                   "without the MAC, both ways; a bad MAC is answered 63 without a MAC."),
    FieldInfo(number="70", name="Network management information code", iso_format="n 3",
              usage=_use(_NET, M), note="See Network management."),
    FieldInfo(number="90", name="Original data elements", iso_format="n 42",
              usage=_use(("0400", "0420"), M),
              note="Original MTI (4), STAN (6), transmission date-time (10), acquirer and "
                   "forwarder ids (22, zeros); also names the 0100 an 0220 completes."),
    FieldInfo(number="95", name="Replacement amounts", iso_format="an 42",
              usage=_use(("0400", "0420"), C),
              note="Partial dispense: the first 12 digits are the actual amount dispensed; "
                   "the host restores field 4 minus that (ledger and risk counters)."),
    FieldInfo(number="102", name="Account identification 1", iso_format="ans..28 LLVAR",
              usage={"0200": C, "0210": C}, note="Transfer (40): from account."),
    FieldInfo(number="103", name="Account identification 2", iso_format="ans..28 LLVAR",
              usage={"0200": C, "0210": C},
              note="Transfer (40): to account (payee); another customer's account at an ATM is "
                   "pending 24 h (field 44 PENDING24H)."),
    FieldInfo(number="120", name="Record data (new PIN block)", iso_format="ans..999 LLLVAR",
              usage={"0200": C},
              note="PIN change (92): the new PIN block, same key and format as field 52 "
                   "(16 hex). Never logged.", sensitive=True),
    FieldInfo(number="128", name="Message authentication code (secondary bitmap)",
              iso_format="b 64", usage=_use(_REQ + _RESP, C),
              note="The MAC when the secondary bitmap is present (same rules as field 64)."),
)


@dataclass(frozen=True, kw_only=True)
class TransactionType:
    """A processing code (field 3 digits 1-2) and what it needs beyond the common fields."""

    code: str
    name: str
    channel: str
    mti: str = "0200"
    request_fields: tuple[str, ...] = ()
    response_fields: tuple[str, ...] = ()
    note: str = ""


#: Processing codes SST serves, in documentation order.
TRANSACTIONS: dict[str, TransactionType] = {t.code: t for t in (
    TransactionType(code="01", name="cash withdrawal", channel="ATM",
                    request_fields=("52",), response_fields=("38", "54"),
                    note="Reverse with 0420 (field 95 on partial dispense) if cash is not taken."),
    TransactionType(code="31", name="balance inquiry", channel="ATM", request_fields=("52",),
                    response_fields=("54",), note="Field 4 is zero."),
    TransactionType(code="40", name="funds transfer", channel="ATM",
                    request_fields=("52", "102", "103"), response_fields=("38", "54")),
    TransactionType(code="92", name="PIN change", channel="ATM", request_fields=("52", "120"),
                    note="Field 4 is zero; field 120 carries the new PIN block."),
    TransactionType(code="38", name="mini-statement", channel="ATM", request_fields=("52",),
                    response_fields=("48", "54"),
                    note="Field 48: up to 10 lines of 40 characters (date, description, amount)."),
    TransactionType(code="21", name="cash deposit", channel="ATM", response_fields=("38", "54"),
                    note="Amount counted by the acceptor; no PIN when the card was verified."),
    TransactionType(code="00", name="purchase", channel="POS", request_fields=("52", "55"),
                    response_fields=("38", "55"), note="Field 52 when online PIN was entered."),
    TransactionType(code="20", name="refund", channel="POS", response_fields=("38",)),
)}

#: Processing codes (field 3, first two digits) -> name.
PROCESSING_CODES: dict[str, str] = {code: t.name for code, t in TRANSACTIONS.items()}

#: Field 39 response codes (meaning shown to operators; never to customers verbatim).
RESPONSE_CODES: dict[str, str] = {
    "00": "approved",
    "03": "invalid merchant (unknown or inactive terminal)",
    "05": "do not honour (chip: ARQC not verified or unsupported cryptogram version)",
    "12": "invalid transaction",
    "13": "invalid amount",
    "14": "unknown card",
    "30": "format error",
    "51": "insufficient funds",
    "52": "no checking account (transfer: from-account unknown)",
    "53": "no savings account (transfer: to-account unknown)",
    "55": "wrong PIN",
    "57": "transaction not permitted to cardholder",
    "59": "suspected fraud",
    "61": "exceeds withdrawal amount limit",
    "62": "restricted card (card, account or customer restricted; ID expired past grace)",
    "63": "security violation (bad MAC; wrong or expired step-up evidence)",
    "65": "exceeds withdrawal frequency limit",
    "75": "PIN tries exceeded",
    "91": "issuer or switch inoperative",
    "94": "duplicate transmission",
    "96": "system error",
    "1A": "additional customer authentication required",
}

#: Field 70 network management codes.
NETWORK_CODES: dict[str, str] = {
    "001": "sign-on",
    "002": "sign-off",
    "161": "key change (new TPK under the TMK in field 48 of the 0810)",
    "301": "echo test (keep-alive)",
}
