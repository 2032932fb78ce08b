"""Chinese resident identity card numbers (GB 11643-1999): checksum, birth date, masking.

An 18-character number is a 6-digit region code, an 8-digit birth date (YYYYMMDD), a 3-digit
sequence (odd for men, even for women) and a check character computed with ISO 7064 MOD 11-2
(``X`` stands for 10). Errors are typed so callers (onboarding, tests) can say exactly what is
wrong without echoing the number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

__all__ = [
    "IdNumberChecksumError",
    "IdNumberDateError",
    "IdNumberError",
    "IdNumberFormatError",
    "ResidentId",
    "check_character",
    "mask_id_number",
    "parse_resident_id",
]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_FORMAT = re.compile(r"^[1-9]\d{16}[0-9X]$")


class IdNumberError(ValueError):
    """An identity number is invalid. The message never contains the number itself."""

    def __init__(self, msg: str, *, position: int | None = None) -> None:
        super().__init__(msg)
        self.position = position

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.args[0],), {"position": self.position})


class IdNumberFormatError(IdNumberError):
    """Wrong length or characters."""


class IdNumberDateError(IdNumberError):
    """The birth date part is not a real date (or lies in the future)."""


class IdNumberChecksumError(IdNumberError):
    """The check character does not match (ISO 7064 MOD 11-2)."""


@dataclass(frozen=True, kw_only=True)
class ResidentId:
    """The decoded parts of a valid resident ID (repr hides the number)."""

    region: str
    birth_date: date
    gender: str  # "M" or "F"

    def __repr__(self) -> str:
        return f"ResidentId(region={self.region[:2]}****, gender={self.gender!r})"


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits.

    Examples
    --------
    >>> check_character("11010519491231002")
    'X'
    >>> check_character("44052418800101001")
    '4'
    """
    if len(first17) != 17 or not first17.isdigit():
        raise IdNumberFormatError("need exactly 17 digits")
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def parse_resident_id(number: str, *, today: date | None = None) -> ResidentId:
    """Validate an 18-character resident ID and decode region, birth date and gender.

    Examples
    --------
    >>> parse_resident_id("11010519491231002X").gender
    'F'
    >>> parse_resident_id("110105194912310021")
    Traceback (most recent call last):
    ...
    host.risk.idcard.IdNumberChecksumError: check character mismatch
    >>> parse_resident_id("1101051949123100")
    Traceback (most recent call last):
    ...
    host.risk.idcard.IdNumberFormatError: resident ID must be 17 digits and a digit or X
    """
    n = number.strip().upper()
    if not _FORMAT.match(n):
        raise IdNumberFormatError("resident ID must be 17 digits and a digit or X")
    try:
        born = date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    except ValueError as e:
        raise IdNumberDateError("birth date is not a valid date", position=6) from e
    if born.year < 1900 or (today is not None and born > today):
        raise IdNumberDateError("birth date out of range", position=6)
    if check_character(n[:17]) != n[17]:
        raise IdNumberChecksumError("check character mismatch", position=17)
    return ResidentId(region=n[:6], birth_date=born, gender="M" if int(n[16]) % 2 else "F")


def mask_id_number(number: str) -> str:
    """Show first 6 and last 4 characters only.

    Examples
    --------
    >>> mask_id_number("11010519491231002X")
    '110105********002X'
    >>> mask_id_number("E1234")
    '*****'
    """
    n = number.strip()
    if len(n) < 11:
        return "*" * len(n)
    return n[:6] + "*" * (len(n) - 10) + n[-4:]
