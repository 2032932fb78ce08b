"""Redaction by construction.

A PAN is shown as first 6 + last 4 digits everywhere a person can see it; PINs, PIN blocks, keys,
track 2 and CVVs are never shown at all. ``Secret`` wraps such a value so that ``repr``/``str``
cannot leak it, and ``scrub`` is a last line of defence for free text (log messages).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Secret", "mask_pan", "scrub"]

T = TypeVar("T")

_PAN_RE = re.compile(r"(?<![0-9A-Fa-f])(\d{6})(\d{3,9})(\d{4})(?![0-9A-Fa-f])")
_TRACK2_RE = re.compile(r";?\d{12,19}[=Dd]\d{4}\d{3}[0-9A-Fa-f]*\??")


def mask_pan(pan: str) -> str:
    """Mask a PAN as first 6 + last 4.

    Examples
    --------
    >>> mask_pan("4761739001010010")
    '476173******0010'
    >>> mask_pan("1234")
    '****'
    """
    digits = pan.strip()
    if len(digits) < 13:
        return "*" * len(digits)
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def scrub(text: str) -> str:
    """Mask anything in free text that looks like track 2 or a PAN.

    Examples
    --------
    >>> scrub("card 4761739001010010 ok")
    'card 476173******0010 ok'
    >>> scrub("t2 4761739001010010=25122011234567890")
    't2 <track2>'
    """
    text = _TRACK2_RE.sub("<track2>", text)
    return _PAN_RE.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)


@dataclass(frozen=True)
class Secret(Generic[T]):
    """A value that must never be printed, logged or stored in clear.

    Examples
    --------
    >>> s = Secret("1234")
    >>> s
    <redacted>
    >>> s.reveal()
    '1234'
    """

    _value: T = field(repr=False)

    def reveal(self) -> T:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__
