"""Errors raised by :mod:`hsm_sim.crypto`.

Every error derives from :class:`CryptoError` (a :class:`ValueError`). Messages are stable
(tests assert them verbatim) and never contain a PIN, a PIN block, a key or a PAN. Where a
Thales payShield error code exists, the class carries it as ``thales_error_code`` so the
host-command layer can map an exception to its response without string matching.

Examples
--------
>>> try:
...     raise PinLengthError("PIN must be 4 to 12 digits")
... except CryptoError as e:
...     (str(e), e.thales_error_code)
('PIN must be 4 to 12 digits', '24')
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CryptoError",
    "KeyBlockError",
    "KeyLengthError",
    "KeySchemeError",
    "KeyTypeError",
    "LmkError",
    "MacVerificationError",
    "PinBlockFormatError",
    "PinLengthError",
    "PinUnderLmkError",
    "UnsupportedPinBlockFormatError",
]


class CryptoError(ValueError):
    """Root of every error raised by :mod:`hsm_sim.crypto` (invalid input data: Thales ``15``)."""

    thales_error_code: ClassVar[str] = "15"


class KeyLengthError(CryptoError):
    """A key has a length the algorithm does not accept (Thales ``27``)."""

    thales_error_code: ClassVar[str] = "27"


class PinBlockFormatError(CryptoError):
    """A PIN block does not hold valid values for its format (Thales ``20``)."""

    thales_error_code: ClassVar[str] = "20"


class UnsupportedPinBlockFormatError(PinBlockFormatError):
    """The PIN block format code is unknown or not supported (Thales ``23``)."""

    thales_error_code: ClassVar[str] = "23"


class PinLengthError(CryptoError):
    """A PIN has fewer than 4 or more than 12 digits (Thales ``24``)."""

    thales_error_code: ClassVar[str] = "24"


class KeyTypeError(CryptoError):
    """An unknown Thales key type code (Thales ``04``)."""

    thales_error_code: ClassVar[str] = "04"


class KeySchemeError(CryptoError):
    """An unknown or unsupported key scheme letter (Thales ``26``)."""

    thales_error_code: ClassVar[str] = "26"


class LmkError(CryptoError):
    """An invalid LMK set or LMK file (Thales ``13``)."""

    thales_error_code: ClassVar[str] = "13"


class PinUnderLmkError(CryptoError):
    """A PIN encrypted under LMK pair 02-03 is invalid (Thales ``14``)."""

    thales_error_code: ClassVar[str] = "14"


class KeyBlockError(CryptoError):
    """A malformed TR-31 / Thales key block (Thales ``83``)."""

    thales_error_code: ClassVar[str] = "83"


class MacVerificationError(KeyBlockError):
    """A key block's MAC does not verify (Thales ``A4``, key block authentication failure)."""

    thales_error_code: ClassVar[str] = "A4"
