"""ISO/IEC 7813 magnetic-stripe tracks 1 and 2: parse, validate and build (a pure codec).

Track 1 (IATA, 6-bit + odd parity): ``%B<PAN>^<NAME>^<YYMM><SSS><discretionary>?<LRC>``.
Track 2 (ABA, 4-bit + odd parity): ``;<PAN>=<YYMM><SSS><discretionary>?<LRC>``.

The LRC is the XOR of the data bits (parity excluded) of every character from the start sentinel
through the end sentinel; its own parity bit is odd parity over the LRC character.
Readers normally check the LRC themselves and deliver the track without it, so the parsers
accept the track with or without sentinels and with or without a trailing LRC character.

Errors are :class:`TrackError` with a :class:`TrackErrorReason`; messages never contain track
data. Nothing here does I/O.

Examples
--------
>>> t2 = build_track2("4761739001010010", "2512", "201", "1234567890")
>>> t2
Track2(pan='476173******0010', expiry='2512', service_code='201')
>>> t2.service.chip_present, t2.service.pin_required
(True, False)
>>> parse_track2(";4761739001010010=25122011234567890?") == t2
True
>>> track2_lrc(";4761739001010010=25122011234567890?")
'7'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from sst.common.redact import mask_pan

__all__ = [
    "ServiceCode",
    "Track1",
    "Track2",
    "TrackError",
    "TrackErrorReason",
    "build_track1",
    "build_track2",
    "luhn_check_digit",
    "luhn_valid",
    "parse_track1",
    "parse_track2",
    "to_5bit",
    "to_7bit",
    "track1_lrc",
    "track2_lrc",
]

TRACK1_MAX = 79  # characters including start sentinel, end sentinel and LRC
TRACK2_MAX = 40
TRACK2_DATA_MAX = TRACK2_MAX - 3  # 37: the ISO 8583 field 35 maximum
TRACK1_DATA_MAX = TRACK1_MAX - 3

_DIGITS = re.compile(r"[0-9]*", re.ASCII)
_PAN = re.compile(r"[0-9]{12,19}", re.ASCII)
_NAME = re.compile(r"[ !-$&-\]_]{2,26}", re.ASCII)  # 0x20..0x5F except % ? ^
_T1_FREE = re.compile(r"[ !-$&-\]_]*", re.ASCII)


class TrackErrorReason(StrEnum):
    """Why a track was rejected."""

    NO_START_SENTINEL = "no start sentinel"
    NO_END_SENTINEL = "no end sentinel"
    BAD_LRC = "LRC mismatch"
    BAD_FORMAT = "malformed track"
    BAD_FORMAT_CODE = "format code is not B"
    BAD_CHARACTER = "character not allowed on this track"
    NO_SEPARATOR = "field separator missing"
    BAD_PAN = "PAN must be 12 to 19 digits"
    BAD_LUHN = "PAN fails the Luhn check"
    BAD_EXPIRY = "expiry must be YYMM"
    BAD_SERVICE_CODE = "service code must be 3 digits"
    BAD_NAME = "name must be 2 to 26 track 1 characters"
    TOO_LONG = "track too long"


class TrackError(ValueError):
    """A track failed to parse or validate; carries the reason and the track number, no data.

    Examples
    --------
    >>> try:
    ...     parse_track2("4761739001010011=2512201")
    ... except TrackError as e:
    ...     print(e.reason.name, e)
    BAD_LUHN track 2: PAN fails the Luhn check
    """

    def __init__(self, reason: TrackErrorReason, track: int = 2) -> None:
        super().__init__(f"track {track}: {reason.value}")
        self.reason = reason
        self.track = track

    def __reduce__(self) -> tuple[type[TrackError], tuple[TrackErrorReason, int]]:
        return (type(self), (self.reason, self.track))


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (ASCII) passes the Luhn mod-10 check.

    Examples
    --------
    >>> luhn_valid("4761739001010010"), luhn_valid("4761739001010011")
    (True, False)
    """
    if not digits or _DIGITS.fullmatch(digits) is None:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """The Luhn check digit to append to ``partial``.

    Examples
    --------
    >>> luhn_check_digit("476173900101001")
    '0'
    """
    for d in "0123456789":
        if luhn_valid(partial + d):
            return d
    raise ValueError("partial PAN must be ASCII digits")


def _parity(value: int, bits: int) -> int:
    """Odd parity bit for ``value`` of ``bits`` data bits."""
    return 0 if bin(value & ((1 << bits) - 1)).count("1") % 2 else 1


def _t2_value(ch: str, track: int = 2) -> int:
    v = ord(ch) - 0x30
    if not 0 <= v <= 0x0F:
        raise TrackError(TrackErrorReason.BAD_CHARACTER, track)
    return v


def _t1_value(ch: str) -> int:
    v = ord(ch) - 0x20
    if not 0 <= v <= 0x3F:
        raise TrackError(TrackErrorReason.BAD_CHARACTER, 1)
    return v


def to_5bit(text: str) -> bytes:
    """Track 2 characters as 5-bit codes: 4 data bits + odd parity in bit 4.

    Examples
    --------
    >>> to_5bit(";0?").hex()
    '0b101f'
    """
    return bytes(v | (_parity(v, 4) << 4) for v in (_t2_value(c) for c in text))


def to_7bit(text: str) -> bytes:
    """Track 1 characters as 7-bit codes: 6 data bits + odd parity in bit 6.

    Examples
    --------
    >>> to_7bit("%B?").hex()
    '45621f'
    """
    return bytes(v | (_parity(v, 6) << 6) for v in (_t1_value(c) for c in text))


def track2_lrc(text: str) -> str:
    """The LRC character of a track 2 string written from ``;`` through ``?``.

    Examples
    --------
    >>> track2_lrc(";4761739001010010=25122011234567890?")
    '7'
    """
    lrc = 0
    for c in text:
        lrc ^= _t2_value(c)
    return chr(0x30 + lrc)


def track1_lrc(text: str) -> str:
    """The LRC character of a track 1 string written from ``%`` through ``?``.

    Examples
    --------
    >>> track1_lrc("%B4761739001010010^DOE/JOHN^2512201000?")
    '5'
    """
    lrc = 0
    for c in text:
        lrc ^= _t1_value(c)
    return chr(0x20 + lrc)


def _check_common(pan: str, expiry: str, service_code: str, track: int) -> None:
    if _PAN.fullmatch(pan) is None:
        raise TrackError(TrackErrorReason.BAD_PAN, track)
    if not luhn_valid(pan):
        raise TrackError(TrackErrorReason.BAD_LUHN, track)
    if re.fullmatch(r"[0-9]{2}(0[1-9]|1[0-2])", expiry, re.ASCII) is None:
        raise TrackError(TrackErrorReason.BAD_EXPIRY, track)
    if re.fullmatch(r"[0-9]{3}", service_code, re.ASCII) is None:
        raise TrackError(TrackErrorReason.BAD_SERVICE_CODE, track)


@dataclass(frozen=True)
class ServiceCode:
    """The three service-code digits with their meaning (ISO 7813).

    Examples
    --------
    >>> sc = ServiceCode("203")
    >>> sc.chip_present, sc.international, sc.pin_required, sc.atm_only
    (True, True, True, True)
    """

    digits: str

    def __post_init__(self) -> None:
        if re.fullmatch(r"[0-9]{3}", self.digits, re.ASCII) is None:
            raise TrackError(TrackErrorReason.BAD_SERVICE_CODE)

    @property
    def chip_present(self) -> bool:
        """Digit 1 is 2 or 6: the card has a chip, use it where feasible."""
        return self.digits[0] in "26"

    @property
    def international(self) -> bool:
        """Digit 1 is 1 or 2: international interchange."""
        return self.digits[0] in "12"

    @property
    def national_only(self) -> bool:
        """Digit 1 is 5 or 6: national interchange only."""
        return self.digits[0] in "56"

    @property
    def private(self) -> bool:
        """Digit 1 is 7: private / closed loop."""
        return self.digits[0] == "7"

    @property
    def test_card(self) -> bool:
        """Digit 1 is 9: test card."""
        return self.digits[0] == "9"

    @property
    def online_required(self) -> bool:
        """Digit 2 is 2 or 4: authorise online with the issuer."""
        return self.digits[1] in "24"

    @property
    def pin_required(self) -> bool:
        """Digit 3 is 0, 3 or 5: PIN required."""
        return self.digits[2] in "035"

    @property
    def pin_if_pinpad(self) -> bool:
        """Digit 3 is 6 or 7: PIN when a PIN pad is present."""
        return self.digits[2] in "67"

    @property
    def atm_only(self) -> bool:
        """Digit 3 is 3: ATM only."""
        return self.digits[2] == "3"

    @property
    def cash_only(self) -> bool:
        """Digit 3 is 4: cash only."""
        return self.digits[2] == "4"

    @property
    def goods_and_services_only(self) -> bool:
        """Digit 3 is 2, 5 or 7: goods and services only (no cash)."""
        return self.digits[2] in "257"

    @property
    def cash_allowed(self) -> bool:
        """True unless the card is restricted to goods and services."""
        return not self.goods_and_services_only


@dataclass(frozen=True)
class Track2:
    """Validated track 2 data. ``repr`` masks the PAN and omits the discretionary data.

    Parameters
    ----------
    pan:
        12 to 19 ASCII digits passing Luhn.
    expiry:
        YYMM.
    service_code:
        Three digits.
    discretionary:
        Digits (PVKI, PVV, CVV, ...); never shown.
    """

    pan: str
    expiry: str
    service_code: str
    discretionary: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        _check_common(self.pan, self.expiry, self.service_code, 2)
        if _DIGITS.fullmatch(self.discretionary) is None:
            raise TrackError(TrackErrorReason.BAD_CHARACTER, 2)
        if len(self.encode()) > TRACK2_DATA_MAX:
            raise TrackError(TrackErrorReason.TOO_LONG, 2)

    def __repr__(self) -> str:
        return (
            f"Track2(pan={mask_pan(self.pan)!r}, expiry={self.expiry!r}, "
            f"service_code={self.service_code!r})"
        )

    __str__ = __repr__

    @property
    def service(self) -> ServiceCode:
        """The service code with its meaning."""
        return ServiceCode(self.service_code)

    @property
    def masked_pan(self) -> str:
        """First 6 + last 4."""
        return mask_pan(self.pan)

    def encode(self) -> str:
        """ISO 8583 field 35 form: ``PAN=YYMMSSS<discretionary>``, no sentinels."""
        return f"{self.pan}={self.expiry}{self.service_code}{self.discretionary}"

    def raw(self, *, lrc: bool = True) -> str:
        """The stripe form ``;...?`` followed by the LRC character when ``lrc``."""
        text = f";{self.encode()}?"
        return text + track2_lrc(text) if lrc else text


@dataclass(frozen=True)
class Track1:
    """Validated track 1 (format B). ``repr`` masks the PAN and omits name and discretionary."""

    pan: str
    name: str = field(repr=False)
    expiry: str
    service_code: str
    discretionary: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        _check_common(self.pan, self.expiry, self.service_code, 1)
        if _NAME.fullmatch(self.name) is None:
            raise TrackError(TrackErrorReason.BAD_NAME, 1)
        if _T1_FREE.fullmatch(self.discretionary) is None:
            raise TrackError(TrackErrorReason.BAD_CHARACTER, 1)
        if len(self.encode()) > TRACK1_DATA_MAX:
            raise TrackError(TrackErrorReason.TOO_LONG, 1)

    def __repr__(self) -> str:
        return (
            f"Track1(pan={mask_pan(self.pan)!r}, expiry={self.expiry!r}, "
            f"service_code={self.service_code!r})"
        )

    __str__ = __repr__

    @property
    def service(self) -> ServiceCode:
        """The service code with its meaning."""
        return ServiceCode(self.service_code)

    def encode(self) -> str:
        """ISO 8583 field 45 form: ``B<PAN>^<NAME>^YYMMSSS<discretionary>``, no sentinels."""
        return f"B{self.pan}^{self.name}^{self.expiry}{self.service_code}{self.discretionary}"

    def raw(self, *, lrc: bool = True) -> str:
        """The stripe form ``%...?`` followed by the LRC character when ``lrc``."""
        text = f"%{self.encode()}?"
        return text + track1_lrc(text) if lrc else text


def build_track2(pan: str, expiry: str, service_code: str, discretionary: str = "") -> Track2:
    """Build and validate track 2 data (raises :class:`TrackError`)."""
    return Track2(pan, expiry, service_code, discretionary)


def build_track1(
    pan: str, name: str, expiry: str, service_code: str, discretionary: str = ""
) -> Track1:
    """Build and validate track 1 data (raises :class:`TrackError`).

    Examples
    --------
    >>> build_track1("4761739001010010", "DOE/JOHN", "2512", "201", "000").raw()
    '%B4761739001010010^DOE/JOHN^2512201000?5'
    """
    return Track1(pan, name, expiry, service_code, discretionary)


def _strip_sentinels(text: str, start: str, track: int, lrc_of: object) -> str:
    """Remove start/end sentinels and check an optional trailing LRC."""
    end = text.find("?")
    if text.startswith(start):
        if end < 0:
            raise TrackError(TrackErrorReason.NO_END_SENTINEL, track)
        rest = text[end + 1 :]
        if len(rest) > 1:
            raise TrackError(TrackErrorReason.BAD_FORMAT, track)
        framed = text[: end + 1]
        if rest:
            assert callable(lrc_of)
            if lrc_of(framed) != rest:
                raise TrackError(TrackErrorReason.BAD_LRC, track)
        return framed[1:-1]
    if end >= 0:
        raise TrackError(TrackErrorReason.NO_START_SENTINEL, track)
    return text


def parse_track2(text: str) -> Track2:
    """Parse track 2 as read from a stripe, a reader or ISO 8583 field 35.

    Accepts ``;...?`` with or without a trailing LRC, or the bare data; ``=`` or ``D`` as the
    separator (tag 57 style, where trailing ``F`` padding is ignored).

    Examples
    --------
    >>> parse_track2("4761739001010010D2512201123F").service_code
    '201'
    """
    body = _strip_sentinels(text, ";", 2, track2_lrc)
    if "=" not in body:
        if "D" in body or "d" in body:
            body = body.replace("d", "D").replace("D", "=", 1).rstrip("Ff")
        else:
            raise TrackError(TrackErrorReason.NO_SEPARATOR, 2)
    if len(body) > TRACK2_DATA_MAX:
        raise TrackError(TrackErrorReason.TOO_LONG, 2)
    pan, _, rest = body.partition("=")
    if _PAN.fullmatch(pan) is None:
        raise TrackError(TrackErrorReason.BAD_PAN, 2)
    if _DIGITS.fullmatch(rest) is None:
        raise TrackError(TrackErrorReason.BAD_CHARACTER, 2)
    if len(rest) < 7:
        raise TrackError(TrackErrorReason.BAD_FORMAT, 2)
    return Track2(pan, rest[:4], rest[4:7], rest[7:])


def parse_track1(text: str) -> Track1:
    """Parse track 1 (format B) with or without sentinels and LRC.

    Examples
    --------
    >>> parse_track1("%B4761739001010010^DOE/JOHN^2512201000?5").expiry
    '2512'
    """
    body = _strip_sentinels(text, "%", 1, track1_lrc)
    if len(body) > TRACK1_DATA_MAX:
        raise TrackError(TrackErrorReason.TOO_LONG, 1)
    if not body.startswith("B"):
        raise TrackError(TrackErrorReason.BAD_FORMAT_CODE, 1)
    parts = body[1:].split("^")
    if len(parts) != 3:
        raise TrackError(TrackErrorReason.NO_SEPARATOR, 1)
    pan, name, rest = parts
    if _PAN.fullmatch(pan) is None:
        raise TrackError(TrackErrorReason.BAD_PAN, 1)
    if len(rest) < 7:
        raise TrackError(TrackErrorReason.BAD_FORMAT, 1)
    return Track1(pan, name, rest[:4], rest[4:7], rest[7:])
