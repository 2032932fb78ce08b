"""PIN verification values: Visa PVV and IBM 3624 natural PIN / offset.

Examples
--------
>>> pvk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
>>> generate_visa_pvv(pvk, "1122334455667788", 3, "4524")
'4021'
>>> generate_ibm3624_offset(pvk, "4524", "1122334455667788", "1234567890123456", 4)
'0000'
"""

from __future__ import annotations

import hmac

from hsm_sim.crypto import _primitives as _p
from hsm_sim.crypto import _validate as _v
from hsm_sim.crypto.errors import CryptoError

__all__ = [
    "decimalize",
    "derive_ibm3624_pin",
    "generate_ibm3624_natural_pin",
    "generate_ibm3624_offset",
    "generate_visa_pvv",
    "verify_ibm3624_offset",
    "verify_visa_pvv",
]


def decimalize(block: bytes, count: int) -> str:
    """Visa decimalisation: the decimal nibbles left to right, then A-F minus 10; first ``count``.

    Examples
    --------
    >>> decimalize(bytes.fromhex("A1B2C3D4E5F6ABCD"), 8)
    '12345601'
    """
    h = block.hex().upper()
    digits = [c for c in h if c.isdigit()]
    letters = [str(int(c, 16) - 10) for c in h if not c.isdigit()]
    return "".join((digits + letters)[:count])


def generate_visa_pvv(pvk: bytes, pan: str, pvki: int, pin: str) -> str:
    """Visa PIN verification value (4 digits).

    TSP = 11 right-most PAN digits excluding the check digit || PVKI || leftmost 4 PIN digits,
    TDES-encrypted with the PVK pair and decimalised.

    Parameters
    ----------
    pvk : bytes
        PVK pair (16 bytes; 8 or 24 are accepted too).
    pan : str
        Full PAN (13-19 digits) or the 12-digit account number (check digit already dropped).
    pvki : int
        PIN verification key index, 0 to 9.
    pin : str
        4 to 12 digits (the leftmost 4 are used).

    Examples
    --------
    >>> generate_visa_pvv(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
    ...                   "233445566778", 3, "4524")
    '4021'
    """
    pvk = _v.tdes_key(pvk, "PVK")
    _v.pin(pin)
    if isinstance(pvki, bool) or not isinstance(pvki, int) or not 0 <= pvki <= 9:
        raise CryptoError("PVKI must be 0 to 9")
    tsp = _v.account_number_12(pan)[-11:] + str(pvki) + pin[:4]
    return decimalize(_p.tdes_encrypt_ecb(pvk, bytes.fromhex(tsp)), 4)


def verify_visa_pvv(pvk: bytes, pan: str, pvki: int, pin: str, pvv: str) -> bool:
    """Whether ``pvv`` is the Visa PVV of ``pin`` (constant-time compare).

    Examples
    --------
    >>> verify_visa_pvv(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
    ...                 "1122334455667788", 3, "4524", "4021")
    True
    """
    _v.digits(pvv, "PVV", 4, 4)
    return hmac.compare_digest(generate_visa_pvv(pvk, pan, pvki, pin), pvv)


def _check_ibm_inputs(validation_data: str, decimalization_table: str, check_length: int) -> None:
    if len(validation_data) != 16 or not _v.is_hex(validation_data):
        raise CryptoError("validation data must be 16 hexadecimal characters")
    _v.digits(decimalization_table, "decimalisation table", 16, 16)
    if isinstance(check_length, bool) or not isinstance(check_length, int):
        raise CryptoError("check length must be 4 to 12")
    if not 4 <= check_length <= 12:
        raise CryptoError("check length must be 4 to 12")


def generate_ibm3624_natural_pin(
    pvk: bytes, validation_data: str, decimalization_table: str, check_length: int
) -> str:
    """IBM 3624 natural (intermediate) PIN.

    Each nibble of ``TDES(PVK, validation data)`` mapped through the decimalisation table;
    the first ``check_length`` digits.

    Parameters
    ----------
    pvk : bytes
        PVK (8, 16 or 24 bytes).
    validation_data : str
        16 hex characters (already padded by the caller, e.g. with ``F`` or the Thales pad char).
    decimalization_table : str
        16 decimal digits mapping hex nibbles 0-F.
    check_length : int
        4 to 12.

    Examples
    --------
    >>> generate_ibm3624_natural_pin(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
    ...     "1122334455667788", "1234567890123456", 4)
    '4524'
    """
    pvk = _v.tdes_key(pvk, "PVK")
    _check_ibm_inputs(validation_data, decimalization_table, check_length)
    enc = _p.tdes_encrypt_ecb(pvk, bytes.fromhex(validation_data)).hex().upper()
    table = str.maketrans("0123456789ABCDEF", decimalization_table)
    return enc.translate(table)[:check_length]


def generate_ibm3624_offset(
    pvk: bytes, pin: str, validation_data: str, decimalization_table: str, check_length: int
) -> str:
    """IBM 3624 PIN offset: ``(PIN - natural PIN) mod 10`` per digit over ``check_length`` digits.

    The leftmost ``check_length`` PIN digits are used; the PIN must be at least that long.

    Examples
    --------
    >>> generate_ibm3624_offset(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
    ...     "1234", "1122334455667788", "1234567890123456", 4)
    '7710'
    """
    _v.pin(pin)
    natural = generate_ibm3624_natural_pin(pvk, validation_data, decimalization_table, check_length)
    if len(pin) < check_length:
        raise CryptoError("PIN is shorter than the check length")
    return "".join(str((int(p) - int(n)) % 10) for p, n in zip(pin, natural, strict=False))


def derive_ibm3624_pin(
    pvk: bytes, validation_data: str, decimalization_table: str, offset: str
) -> str:
    """The customer PIN from the natural PIN plus the offset (digit-wise mod 10).

    Examples
    --------
    >>> derive_ibm3624_pin(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
    ...     "1122334455667788", "1234567890123456", "7710")
    '1234'
    """
    _v.digits(offset, "offset", 4, 12)
    natural = generate_ibm3624_natural_pin(pvk, validation_data, decimalization_table, len(offset))
    return "".join(str((int(n) + int(o)) % 10) for n, o in zip(natural, offset, strict=True))


def verify_ibm3624_offset(
    pvk: bytes, pin: str, validation_data: str, decimalization_table: str, offset: str
) -> bool:
    """Whether ``offset`` matches ``pin`` (check length = offset length).

    Examples
    --------
    >>> verify_ibm3624_offset(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
    ...     "4524", "1122334455667788", "1234567890123456", "0000")
    True
    """
    _v.digits(offset, "offset", 4, 12)
    expected = generate_ibm3624_offset(
        pvk, pin, validation_data, decimalization_table, len(offset)
    )
    return hmac.compare_digest(expected, offset)
