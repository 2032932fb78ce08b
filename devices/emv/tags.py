"""The EMV tag dictionary (EMV Book 3 Annex A) as data, and TLV tracing with redaction.

Each entry names the tag, its format (``b``, ``n``, ``cn``, ``an``, ``ans``) and who supplies
it (ICC, terminal or issuer). Tracing masks the PAN (6+4) and hides track-2 equivalents, names
and discretionary data.

Examples
--------
>>> TAGS[0x9F26].name
'Application Cryptogram'
>>> tag_name(0x9F36)
'Application Transaction Counter (ATC)'
>>> format_value(0x5A, bytes.fromhex("4761739001010010"))
'476173******0010'
>>> format_value(0x57, bytes.fromhex("4761739001010010D2512201"))
'<redacted>'
>>> format_value(0x9F02, bytes.fromhex("000000001000"))
'000000001000'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sst.common.redact import mask_pan
from sst.common.tlv import Tlv, TlvError, decode_tlv

__all__ = [
    "SENSITIVE_TAGS",
    "TAGS",
    "TagFormat",
    "TagInfo",
    "TagSource",
    "format_value",
    "tag_hex",
    "tag_name",
    "trace_tlv",
]


class TagFormat(StrEnum):
    """EMV data element format."""

    B = "b"  # binary
    N = "n"  # BCD numeric, left-padded with 0
    CN = "cn"  # compressed numeric, right-padded with F
    AN = "an"
    ANS = "ans"
    TEMPLATE = "template"


class TagSource(StrEnum):
    """Who supplies the data element."""

    ICC = "icc"
    TERMINAL = "terminal"
    ISSUER = "issuer"


@dataclass(frozen=True, kw_only=True)
class TagInfo:
    """One dictionary entry."""

    tag: int
    name: str
    format: TagFormat
    source: TagSource


_F, _S = TagFormat, TagSource
# fmt: off
_ROWS: tuple[tuple[int, str, TagFormat, TagSource], ...] = (
    (0x42, "Issuer Identification Number (IIN)", _F.N, _S.ICC),
    (0x4F, "Application Identifier (AID) - card", _F.B, _S.ICC),
    (0x50, "Application Label", _F.ANS, _S.ICC),
    (0x57, "Track 2 Equivalent Data", _F.B, _S.ICC),
    (0x5A, "Application Primary Account Number (PAN)", _F.CN, _S.ICC),
    (0x5F20, "Cardholder Name", _F.ANS, _S.ICC),
    (0x5F24, "Application Expiration Date", _F.N, _S.ICC),
    (0x5F25, "Application Effective Date", _F.N, _S.ICC),
    (0x5F28, "Issuer Country Code", _F.N, _S.ICC),
    (0x5F2A, "Transaction Currency Code", _F.N, _S.TERMINAL),
    (0x5F2D, "Language Preference", _F.AN, _S.ICC),
    (0x5F30, "Service Code", _F.N, _S.ICC),
    (0x5F34, "Application PAN Sequence Number", _F.N, _S.ICC),
    (0x61, "Application Template", _F.TEMPLATE, _S.ICC),
    (0x6F, "File Control Information (FCI) Template", _F.TEMPLATE, _S.ICC),
    (0x70, "READ RECORD Response Message Template", _F.TEMPLATE, _S.ICC),
    (0x71, "Issuer Script Template 1", _F.TEMPLATE, _S.ISSUER),
    (0x72, "Issuer Script Template 2", _F.TEMPLATE, _S.ISSUER),
    (0x77, "Response Message Template Format 2", _F.TEMPLATE, _S.ICC),
    (0x80, "Response Message Template Format 1", _F.B, _S.ICC),
    (0x82, "Application Interchange Profile", _F.B, _S.ICC),
    (0x83, "Command Template", _F.B, _S.TERMINAL),
    (0x84, "Dedicated File (DF) Name", _F.B, _S.ICC),
    (0x86, "Issuer Script Command", _F.B, _S.ISSUER),
    (0x87, "Application Priority Indicator", _F.B, _S.ICC),
    (0x88, "Short File Identifier (SFI)", _F.B, _S.ICC),
    (0x8A, "Authorisation Response Code", _F.AN, _S.ISSUER),
    (0x8C, "Card Risk Management Data Object List 1 (CDOL1)", _F.B, _S.ICC),
    (0x8D, "Card Risk Management Data Object List 2 (CDOL2)", _F.B, _S.ICC),
    (0x8E, "Cardholder Verification Method (CVM) List", _F.B, _S.ICC),
    (0x8F, "Certification Authority Public Key Index", _F.B, _S.ICC),
    (0x90, "Issuer Public Key Certificate", _F.B, _S.ICC),
    (0x91, "Issuer Authentication Data", _F.B, _S.ISSUER),
    (0x92, "Issuer Public Key Remainder", _F.B, _S.ICC),
    (0x93, "Signed Static Application Data", _F.B, _S.ICC),
    (0x94, "Application File Locator (AFL)", _F.B, _S.ICC),
    (0x95, "Terminal Verification Results", _F.B, _S.TERMINAL),
    (0x9A, "Transaction Date", _F.N, _S.TERMINAL),
    (0x9B, "Transaction Status Information", _F.B, _S.TERMINAL),
    (0x9C, "Transaction Type", _F.N, _S.TERMINAL),
    (0x9F01, "Acquirer Identifier", _F.N, _S.TERMINAL),
    (0x9F02, "Amount, Authorised (Numeric)", _F.N, _S.TERMINAL),
    (0x9F03, "Amount, Other (Numeric)", _F.N, _S.TERMINAL),
    (0x9F06, "Application Identifier (AID) - terminal", _F.B, _S.TERMINAL),
    (0x9F07, "Application Usage Control", _F.B, _S.ICC),
    (0x9F08, "Application Version Number - card", _F.B, _S.ICC),
    (0x9F09, "Application Version Number - terminal", _F.B, _S.TERMINAL),
    (0x9F0D, "Issuer Action Code - Default", _F.B, _S.ICC),
    (0x9F0E, "Issuer Action Code - Denial", _F.B, _S.ICC),
    (0x9F0F, "Issuer Action Code - Online", _F.B, _S.ICC),
    (0x9F10, "Issuer Application Data", _F.B, _S.ICC),
    (0x9F11, "Issuer Code Table Index", _F.N, _S.ICC),
    (0x9F12, "Application Preferred Name", _F.ANS, _S.ICC),
    (0x9F13, "Last Online ATC Register", _F.B, _S.ICC),
    (0x9F14, "Lower Consecutive Offline Limit", _F.B, _S.ICC),
    (0x9F15, "Merchant Category Code", _F.N, _S.TERMINAL),
    (0x9F16, "Merchant Identifier", _F.ANS, _S.TERMINAL),
    (0x9F17, "PIN Try Counter", _F.B, _S.ICC),
    (0x9F18, "Issuer Script Identifier", _F.B, _S.ISSUER),
    (0x9F1A, "Terminal Country Code", _F.N, _S.TERMINAL),
    (0x9F1B, "Terminal Floor Limit", _F.B, _S.TERMINAL),
    (0x9F1C, "Terminal Identification", _F.AN, _S.TERMINAL),
    (0x9F1E, "Interface Device (IFD) Serial Number", _F.AN, _S.TERMINAL),
    (0x9F1F, "Track 1 Discretionary Data", _F.ANS, _S.ICC),
    (0x9F21, "Transaction Time", _F.N, _S.TERMINAL),
    (0x9F23, "Upper Consecutive Offline Limit", _F.B, _S.ICC),
    (0x9F26, "Application Cryptogram", _F.B, _S.ICC),
    (0x9F27, "Cryptogram Information Data", _F.B, _S.ICC),
    (0x9F33, "Terminal Capabilities", _F.B, _S.TERMINAL),
    (0x9F34, "Cardholder Verification Method (CVM) Results", _F.B, _S.TERMINAL),
    (0x9F35, "Terminal Type", _F.N, _S.TERMINAL),
    (0x9F36, "Application Transaction Counter (ATC)", _F.B, _S.ICC),
    (0x9F37, "Unpredictable Number", _F.B, _S.TERMINAL),
    (0x9F38, "Processing Options Data Object List (PDOL)", _F.B, _S.ICC),
    (0x9F39, "Point-of-Service (POS) Entry Mode", _F.N, _S.TERMINAL),
    (0x9F40, "Additional Terminal Capabilities", _F.B, _S.TERMINAL),
    (0x9F41, "Transaction Sequence Counter", _F.N, _S.TERMINAL),
    (0x9F42, "Application Currency Code", _F.N, _S.ICC),
    (0x9F44, "Application Currency Exponent", _F.N, _S.ICC),
    (0x9F4A, "Static Data Authentication Tag List", _F.B, _S.ICC),
    (0x9F4E, "Merchant Name and Location", _F.ANS, _S.TERMINAL),
    (0x9F53, "Transaction Category Code", _F.AN, _S.TERMINAL),
    (0x9F5B, "Issuer Script Results", _F.B, _S.TERMINAL),
    (0x9F6E, "Form Factor Indicator / Third Party Data", _F.B, _S.ICC),
    (0xA5, "FCI Proprietary Template", _F.TEMPLATE, _S.ICC),
    (0xBF0C, "FCI Issuer Discretionary Data", _F.TEMPLATE, _S.ICC),
)
# fmt: on

TAGS: dict[int, TagInfo] = {
    t: TagInfo(tag=t, name=n, format=f, source=s) for t, n, f, s in _ROWS
}
"""Tag -> :class:`TagInfo` for every tag the kernel and the virtual card use."""

SENSITIVE_TAGS: frozenset[int] = frozenset({0x57, 0x5F20, 0x9F1F, 0x56, 0x9F6B, 0x5A})
"""Tags never traced in clear (5A is shown masked 6+4)."""


def tag_hex(tag: int) -> str:
    """``0x9F26`` -> ``'9F26'``."""
    n = max(1, (tag.bit_length() + 7) // 8)
    return tag.to_bytes(n, "big").hex().upper()


def tag_name(tag: int) -> str:
    """The dictionary name, or ``'unknown'``."""
    info = TAGS.get(tag)
    return info.name if info else "unknown"


def format_value(tag: int, value: bytes) -> str:
    """Render a value for a trace: PAN masked, sensitive data redacted, text decoded."""
    if tag == 0x5A:
        return mask_pan(value.hex().upper().rstrip("F"))
    if tag in SENSITIVE_TAGS:
        return "<redacted>"
    info = TAGS.get(tag)
    if info is not None and info.format in (TagFormat.AN, TagFormat.ANS):
        text = value.decode("ascii", "replace")
        if text.isprintable():
            return text
    return value.hex().upper()


def trace_tlv(data: bytes, *, indent: int = 0) -> list[str]:
    """One line per data object (templates indented), values redacted; never raises.

    Examples
    --------
    >>> for line in trace_tlv(bytes.fromhex("77099F2701809F36020001")):
    ...     print(line)
    77 Response Message Template Format 2
      9F27 Cryptogram Information Data: 80
      9F36 Application Transaction Counter (ATC): 0001
    >>> trace_tlv(b"\\x9f")
    ['<not TLV: 1 bytes>']
    """
    try:
        tlvs = decode_tlv(data)
    except TlvError:
        return [" " * indent + f"<not TLV: {len(data)} bytes>"]
    return _trace(tlvs, indent)


def _trace(tlvs: list[Tlv] | tuple[Tlv, ...], indent: int) -> list[str]:
    out: list[str] = []
    pad = " " * indent
    for t in tlvs:
        if t.children is not None:
            out.append(f"{pad}{tag_hex(t.tag)} {tag_name(t.tag)}")
            out.extend(_trace(t.children, indent + 2))
        else:
            out.append(f"{pad}{tag_hex(t.tag)} {tag_name(t.tag)}: {format_value(t.tag, t.value)}")
    return out
